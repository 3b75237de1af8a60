// One of several processes hammering one shared Counters store: every transaction bumps a
// session of its own and one record every process shares (the hot rate log of one agent), so
// every commit can conflict with the other processes'. Prints `{ calls, errors, ms, firstError }` when done.
// Usage: node worker.js <sqlite|redis|postgres> <file, prefix or schema> <seconds> <in flight> <start at (ms)>
import {
  openPostgresCounters,
  openRedisCounters,
  openSqliteCounters,
} from '../../../packages/storage/dist/index.js';

const [backend, where, seconds, inFlight, startAt] = process.argv.slice(2);
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const POSTGRES_URL = process.env.POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const counters =
  backend === 'sqlite'
    ? await openSqliteCounters(where)
    : backend === 'redis'
      ? await openRedisCounters({ url: REDIS_URL, prefix: where })
      : await openPostgresCounters({
          config: {
            connectionString: POSTGRES_URL,
            options: `-c search_path=${where}`,
            max: Number(inFlight),
          },
        });

await new Promise((resolve) => setTimeout(resolve, Math.max(0, Number(startAt) - Date.now())));
const end = performance.now() + Number(seconds) * 1000;
let calls = 0;
let errors = 0;
let firstError;
let i = 0;
const worker = async () => {
  while (performance.now() < end) {
    const session = `${process.pid}-${i++ % 1000}`;
    const keys = { session, rates: [{ key: 'hot', windowMs: 60_000 }] };
    try {
      await counters.transact(keys, Date.now(), (state) => {
        state.session(session).calls++;
        const log = state.rateLog('hot');
        log.times[0] = (log.times[0] ?? 0) + 1;
        log.next = 0;
      });
      calls++;
    } catch (error) {
      if (errors++ === 0) firstError = error.message;
    }
  }
};
const t0 = performance.now();
await Promise.all(Array.from({ length: Number(inFlight) }, worker));
const ms = performance.now() - t0;
await counters.close();
process.stdout.write(`${JSON.stringify({ calls, errors, ms, firstError })}\n`);
