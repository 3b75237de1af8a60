// A writer process for the durability and multi-process tests, run from the TypeScript sources
// with `node --import ./ts-register.mjs audit-writer.ts <db> <mode> …`:
//   load <concurrency>              append forever; print `<seq> <n>` for each acknowledged event
//   append <count> <concurrency> <tag>   print `ready`, append `count` events tagged `tag`, close, print `done`
// An acknowledgement is printed only after the event's append promise resolved.
import { openSqliteAuditLog } from '../../src/sqlite/audit-log.js';
import { sampleEvent } from './events.js';

const [path, mode, ...rest] = process.argv.slice(2);
if (path === undefined || (mode !== 'load' && mode !== 'append')) {
  process.stderr.write(
    'usage: audit-writer.ts <db> load <concurrency> | append <count> <concurrency> <tag>\n',
  );
  process.exit(2);
}

const log = await openSqliteAuditLog({ path, checkpointEvery: { events: 2000 } });

// stdout on a pipe is synchronous on Linux: gather acknowledgements and write them a few at a time.
let pending: string[] = [];
const flush = () => {
  if (pending.length === 0) return;
  process.stdout.write(pending.join(''));
  pending = [];
};

if (mode === 'load') {
  const concurrency = Number(rest[0] ?? 64);
  let next = 0;
  const flusher = setInterval(flush, 5);
  process.stdout.write('ready\n');
  const worker = async () => {
    for (;;) {
      const n = next++;
      const stored = await log.append(sampleEvent(n));
      pending.push(`${stored.seq} ${n}\n`);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  clearInterval(flusher);
} else {
  const [count, concurrency, tag] = [Number(rest[0]), Number(rest[1]), rest[2] ?? 'child'];
  let next = 0;
  process.stdout.write('ready\n');
  const worker = async () => {
    while (next < count) {
      const n = next++;
      await log.append(sampleEvent(n, { session: tag }));
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  await log.close();
  process.stdout.write('done\n');
}
