// Driving a store for the audit suite: many appends in flight for a while, or plain batches.
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';

/**
 * Keeps `inFlight` appends going for `seconds` (or until `limit` were acknowledged) and counts
 * the acknowledged ones. A contender with `batch(n)` instead writes batches of `n` back to back.
 */
export async function sustain(contender, seconds, inFlight, limit = Infinity) {
  const started = performance.now();
  const until = started + seconds * 1000;
  let acknowledged = 0;
  if (contender.batch !== undefined) {
    while (performance.now() < until && acknowledged < limit) {
      await contender.batch(1000);
      acknowledged += 1000;
    }
    return { events: acknowledged, seconds: (performance.now() - started) / 1000 };
  }
  let issued = 0;
  const worker = async () => {
    while (issued < limit && performance.now() < until) {
      issued++;
      await contender.append();
      acknowledged++;
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  return { events: acknowledged, seconds: (performance.now() - started) / 1000 };
}

/** Writes each line of `lines` to a new file. */
export async function writeLines(file, lines) {
  const out = createWriteStream(file);
  for await (const line of lines) if (!out.write(`${line}\n`)) await once(out, 'drain');
  out.end();
  await once(out, 'finish');
}
