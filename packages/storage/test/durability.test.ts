// A writer process appends under load and is killed with SIGKILL; every event it acknowledged must
// be in the database afterwards, exactly as written, in a contiguous log that verifies. Both ways
// of flushing are killed: inline (this machine's disk flushes fast) and in the thread pool (as on a
// slow disk), each with many appends in flight and with one at a time.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openSqliteAuditLog } from '../src/sqlite/audit-log.js';
import { verifyLog } from '../src/audit/verify.js';
import { exited, onLines, spawnWriter } from './support/child.js';
import { sampleEvent } from './support/events.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('durability', () => {
  it.each([
    { flush: 'inline', inlineFlushMs: '1000', concurrency: 64, least: 1000 },
    { flush: 'in the thread pool', inlineFlushMs: '0', concurrency: 64, least: 1000 },
    { flush: 'inline', inlineFlushMs: '1000', concurrency: 1, least: 100 },
    { flush: 'in the thread pool', inlineFlushMs: '0', concurrency: 1, least: 100 },
  ])(
    'keeps every acknowledged event when the writer is killed, flushing $flush, $concurrency in flight',
    async ({ inlineFlushMs, concurrency, least }) => {
      const dir = mkdtempSync(join(tmpdir(), 'posture-durability-'));
      dirs.push(dir);
      const path = join(dir, 'posture.db');
      const child = spawnWriter([path, 'load', String(concurrency)], {
        POSTURE_TEST_INLINE_FLUSH_MS: inlineFlushMs,
        // Checkpoints are signed inside the writes too, often enough for one at a time.
        POSTURE_TEST_CHECKPOINT_EVERY: String(least),
      });
      const done = exited(child);
      const acknowledged = new Map<number, number>();
      let started: number | undefined;
      onLines(child, (line) => {
        if (line === 'ready') {
          started = performance.now();
          setTimeout(() => child.kill('SIGKILL'), 1000);
          return;
        }
        const [seq, n] = line.split(' ').map(Number) as [number, number];
        acknowledged.set(seq, n);
      });
      const { signal, stderr } = await done;
      expect(stderr).toBe('');
      expect(started).toBeDefined();
      expect(signal).toBe('SIGKILL');
      // A second of appends.
      expect(acknowledged.size).toBeGreaterThan(least);

      const log = await openSqliteAuditLog({ path });
      try {
        const size = await log.size();
        expect(size).toBeGreaterThan(Math.max(...acknowledged.keys()));
        const events = await log.read(0, size);
        expect(events.map((e) => e.seq)).toEqual([...Array(size).keys()]);
        for (const [seq, n] of acknowledged) expect(events[seq]).toEqual({ ...sampleEvent(n), seq });
        const notes = (await log.checkpoints()).map((c) => c.note);
        expect(notes.length).toBeGreaterThan(0);
        const result = await verifyLog(log.entries(), notes, [log.verifierKey]);
        expect(result).toMatchObject({ ok: true, checked: size });
        expect(result.covered).toBeGreaterThan(0);
      } finally {
        await log.close();
      }
    },
  );
});
