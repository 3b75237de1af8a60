// A writer process for the durability and multi-process tests, run from the TypeScript sources
// with `node --import ./ts-register.mjs audit-writer.ts <store> <mode> …`, where the store is an
// SQLite file or `{"postgres": <pool config>, "keyFile": <path>}`:
//   load <concurrency>              append forever; print `<seq> <n>` for each acknowledged event
//   append <count> <concurrency> <tag> [go]   print `ready` (with `go`: wait for a line on stdin),
//                                        append `count` events tagged `tag`, close, print `done`
//   begin <count>                   record `count` calls before they run (`begin`), print `begun`,
//                                        then wait to be killed, their events never written
// An acknowledgement is printed only after the event's append promise resolved. The environment's
// POSTURE_TEST_INLINE_FLUSH_MS, when set, is the SQLite log's `inlineFlushMs`, and
// POSTURE_TEST_CHECKPOINT_EVERY how many events a checkpoint is signed after (default 2000).
import type { AuditLog } from '../../src/ports.js';
import { openSqliteAuditLog } from '../../src/sqlite/audit-log.js';
import { sampleEvent } from './events.js';

const [path, mode, ...rest] = process.argv.slice(2);
if (path === undefined || (mode !== 'load' && mode !== 'append' && mode !== 'begin')) {
  process.stderr.write(
    'usage: audit-writer.ts <db> load <concurrency> | append <count> <concurrency> <tag>\n',
  );
  process.exit(2);
}

async function openStore(store: string): Promise<AuditLog> {
  const checkpointEvery = { events: Number(process.env.POSTURE_TEST_CHECKPOINT_EVERY ?? 2000) };
  const inline = process.env.POSTURE_TEST_INLINE_FLUSH_MS;
  if (!store.startsWith('{')) {
    return openSqliteAuditLog({
      path: store,
      checkpointEvery,
      ...(inline !== undefined ? { inlineFlushMs: Number(inline) } : {}),
    });
  }
  const { openPostgresAuditLog } = await import('../../src/postgres/audit-log.js');
  const { postgres, keyFile } = JSON.parse(store) as { postgres: object; keyFile: string };
  return openPostgresAuditLog({ config: postgres, keyFile, checkpointEvery });
}

const log = await openStore(path);

// stdout on a pipe is synchronous on Linux: gather acknowledgements and write them a few at a time.
let pending: string[] = [];
const flush = () => {
  if (pending.length === 0) return;
  process.stdout.write(pending.join(''));
  pending = [];
};

if (mode === 'begin') {
  for (let n = 0; n < Number(rest[0] ?? 1); n++)
    await log.begin!(sampleEvent(n, { session: 'crashed', outcome: undefined, latency_ms: undefined }));
  process.stdout.write('begun\n');
  setInterval(() => {}, 60_000);
} else if (mode === 'load') {
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
  // With `go` as the last argument, wait for a line on stdin first, so several writers start together.
  if (rest[3] === 'go') {
    await new Promise((resolve) => process.stdin.once('data', resolve));
    process.stdin.destroy();
  }
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
