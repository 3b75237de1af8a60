// A writer process appends under load and is killed with SIGKILL; every event it acknowledged must
// be in the database afterwards, exactly as written, in a contiguous log that verifies.
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
  it('keeps every acknowledged event when the writer is killed under load', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'posture-durability-'));
    dirs.push(dir);
    const path = join(dir, 'posture.db');
    const child = spawnWriter([path, 'load', '64']);
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
    // Under load: a second of appends from 64 concurrent callers.
    expect(acknowledged.size).toBeGreaterThan(1000);

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
  });
});
