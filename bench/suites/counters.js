// Shared execution state: stateful decisions through `stateKeys` + `Counters.transact` + decide()
// on memory, Redis and PostgreSQL, 16 in flight, side by side in interleaved rounds with decide()
// on plain in-process state (the ceiling) and, as the floor of any shared limiter, a bare Redis
// fixed-window counter (one MULTI of INCR + PEXPIRE per call: one round trip, no exactness
// across windows, no sessions, no loop detection).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { compile, createMemoryState, decide, loadPolicy, stateKeys } from '../../packages/core/dist/index.js';
import {
  createMemoryCounters,
  openPostgresCounters,
  openRedisCounters,
  openSqliteCounters,
} from '../../packages/storage/dist/index.js';
import { BENCH_DIR, format } from '../lib.js';

export const description =
  'stateful decide() through Counters.transact: memory vs SQLite vs Redis vs PostgreSQL, with plain state and a bare Redis counter';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const POSTGRES_URL = process.env.POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const IN_FLIGHT = 16;
const ROUNDS = 3;
const SECONDS = 1.5;
const SESSIONS = 1000;
const STEP_MS = 20; // simulated time per call: each agent at half its 100/s, so every call is allowed

const policyText = (agents) => `version: 1
users:
  alice: {}
agents:
${Array.from(
  { length: agents },
  (_, i) => `  bot-${i}:
    owner: alice
    run_by: [alice]
    grants:
      - tools: [echo/*]
    limits: { rate: 100/s, max_calls: 1000000000, loop: { repeats: 5, within: 1s } }
`,
).join('')}servers:
  echo:
    tools:
      say: { tier: 1, access: read, returns: [internal] }
`;

function compiled(agents) {
  const { policy, problems } = loadPolicy(policyText(agents), 'bench');
  if (!policy) throw new Error(`bench policy does not load: ${JSON.stringify(problems)}`);
  return compile(policy);
}

/** Runs `call(i)` with IN_FLIGHT in flight for `seconds`; returns calls/s and per-call latencies. */
async function drive(call, seconds) {
  const latencies = [];
  const end = performance.now() + seconds * 1000;
  let i = 0;
  const worker = async () => {
    while (performance.now() < end) {
      const t0 = performance.now();
      await call(i++);
      latencies.push(performance.now() - t0);
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  return { calls: latencies.length, ms: performance.now() - t0, latencies };
}

/** Runs `processes` workers on one store location at once; returns their summed figures. */
async function several(backend, where, processes) {
  const startAt = Date.now() + 1000;
  const worker = join(BENCH_DIR, 'suites/counters/worker.js');
  const runs = Array.from(
    { length: processes },
    () =>
      new Promise((resolve, reject) => {
        const child = spawn(process.execPath, [
          worker,
          backend,
          where,
          String(SECONDS),
          String(IN_FLIGHT),
          String(startAt),
        ]);
        let out = '';
        let err = '';
        child.stdout.on('data', (chunk) => (out += chunk));
        child.stderr.on('data', (chunk) => (err += chunk));
        child.on('close', (code) =>
          code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`worker failed: ${err}`)),
        );
      }),
  );
  const results = await Promise.all(runs);
  return {
    calls: results.reduce((sum, r) => sum + r.calls, 0),
    errors: results.reduce((sum, r) => sum + r.errors, 0),
    ms: Math.max(...results.map((r) => r.ms)),
  };
}

const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];

export async function run(report) {
  const run = `posture-bench-${randomBytes(4).toString('hex')}:`;
  const schema = `posture_bench_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Pool({ connectionString: POSTGRES_URL, max: 1 });
  await admin.query(`CREATE SCHEMA ${schema}`);
  const redis = new Redis(REDIS_URL);
  const folder = mkdtempSync(join(tmpdir(), 'posture-bench-counters-'));
  const stores = {
    sqlite: await openSqliteCounters(join(folder, 'counters.db')),
    memory: createMemoryCounters(),
    redis: await openRedisCounters({ url: REDIS_URL, prefix: run }),
    postgres: await openPostgresCounters({
      config: { connectionString: POSTGRES_URL, options: `-c search_path=${schema}`, max: IN_FLIGHT },
    }),
  };

  let clock = 1_900_000_000_000;
  try {
    for (const agents of [1, 64]) {
      const policy = compiled(agents);
      const requests = Array.from({ length: 4096 }, (_, i) => ({
        agent: `bot-${i % agents}`,
        user: 'alice',
        tool: 'echo/say',
        args: { n: i },
        session: `s-${i % SESSIONS}`,
      }));
      const keys = requests.map((request) => stateKeys(request, policy));
      // A minute past the previous workload: its rate logs and loop windows have all expired.
      clock += 60_000;
      const viaStore = (store) => async (i) => {
        const j = i % requests.length;
        const now = (clock += STEP_MS / agents);
        const decision = await store.transact(keys[j], now, (state) =>
          decide(requests[j], policy, state, { now }),
        );
        if (decision.decision !== 'allow')
          throw new Error(`bench call denied: ${JSON.stringify(decision.reasons)}`);
      };
      const plain = createMemoryState();
      const contenders = {
        'decide() on plain memory state': async (i) => {
          const j = i % requests.length;
          const now = (clock += STEP_MS / agents);
          decide(requests[j], policy, plain, { now });
        },
        'Counters, memory': viaStore(stores.memory),
        'Counters, SQLite': viaStore(stores.sqlite),
        'Counters, Redis': viaStore(stores.redis),
        'Counters, PostgreSQL': viaStore(stores.postgres),
        'floor: bare Redis INCR + PEXPIRE': async (i) => {
          const agent = requests[i % requests.length].agent;
          await redis.multi().incr(`${run}floor:${agent}`).pexpire(`${run}floor:${agent}`, 1000).exec();
        },
      };
      const totals = Object.fromEntries(
        Object.keys(contenders).map((name) => [name, { calls: 0, ms: 0, latencies: [] }]),
      );
      for (let round = 0; round < ROUNDS; round++) {
        for (const [name, call] of Object.entries(contenders)) {
          const result = await drive(call, SECONDS);
          totals[name].calls += result.calls;
          totals[name].ms += result.ms;
          for (const latency of result.latencies) totals[name].latencies.push(latency);
        }
      }
      const rows = Object.entries(totals).map(([name, total]) => {
        const sorted = total.latencies.sort((a, b) => a - b);
        return {
          name,
          perSecond: (total.calls / total.ms) * 1000,
          p50: percentile(sorted, 0.5) * 1000,
          p99: percentile(sorted, 0.99) * 1000,
        };
      });
      const label = agents === 1 ? 'one agent (every call shares its rate log)' : `${agents} agents`;
      report.heading(
        `${label}, ${SESSIONS} sessions, ${IN_FLIGHT} in flight, every call allowed and written`,
      );
      report.table(rows, [
        ['contender', (row) => row.name],
        ['decisions/s', (row) => format.count(row.perSecond)],
        ['p50 µs', (row) => format.us(row.p50)],
        ['p99 µs', (row) => format.us(row.p99)],
      ]);
      report.set(agents === 1 ? 'one_agent' : 'many_agents', rows);
      const by = Object.fromEntries(rows.map((row) => [row.name, row.perSecond]));
      report.ratio(
        `${agents === 1 ? 'one agent' : 'many agents'}: Redis Counters / bare Redis counter`,
        by['Counters, Redis'],
        by['floor: bare Redis INCR + PEXPIRE'],
        'exact shared state vs one-round-trip fixed window',
      );
      report.ratio(
        `${agents === 1 ? 'one agent' : 'many agents'}: PostgreSQL Counters / Redis Counters`,
        by['Counters, PostgreSQL'],
        by['Counters, Redis'],
      );
    }

    // Several gateways on one store: every transaction writes a record every process shares.
    const rows = [];
    for (const processes of [1, 2, 4]) {
      for (const backend of ['sqlite', 'redis', 'postgres']) {
        const where = {
          sqlite: join(folder, `hot-${processes}.db`),
          redis: `${run}hot-${processes}:`,
          postgres: schema,
        }[backend];
        const store =
          backend === 'redis'
            ? await openRedisCounters({ url: REDIS_URL, prefix: where })
            : backend === 'sqlite'
              ? await openSqliteCounters(where)
              : stores.postgres;
        if (backend === 'postgres') await admin.query(`TRUNCATE ${schema}.posture_counters`);
        const result = await several(backend, where, processes);
        const hot = await store.transact(
          { session: undefined, rates: [{ key: 'hot', windowMs: 60_000 }] },
          Date.now(),
          (state) => state.rateLog('hot').times[0] ?? 0,
        );
        if (backend !== 'postgres') await store.close();
        if (hot !== result.calls)
          throw new Error(
            `${backend}: the shared record counts ${hot}, the workers committed ${result.calls}`,
          );
        rows.push({
          backend,
          processes,
          perSecond: (result.calls / result.ms) * 1000,
          errors: result.errors,
          committed: result.calls,
          hot,
        });
      }
    }
    report.heading(
      `several processes, ${IN_FLIGHT} in flight each, every transaction writes one record all share`,
    );
    report.table(rows, [
      ['store', (row) => ({ sqlite: 'SQLite', redis: 'Redis', postgres: 'PostgreSQL' })[row.backend]],
      ['processes', (row) => row.processes],
      ['transactions/s', (row) => format.count(row.perSecond)],
      ['failed', (row) => row.errors],
      ['shared record / commits', (row) => `${row.hot} / ${row.committed}`],
    ]);
    report.set('several_processes', rows);
  } finally {
    await Promise.all(Object.values(stores).map((store) => store.close()));
    let cursor = '0';
    do {
      const [next, found] = await redis.scan(cursor, 'MATCH', `${run}*`, 'COUNT', 1000);
      if (found.length > 0) await redis.del(...found);
      cursor = next;
    } while (cursor !== '0');
    await redis.quit();
    rmSync(folder, { recursive: true, force: true });
    await admin.query(`DROP SCHEMA ${schema} CASCADE`);
    await admin.end();
  }
}
