// The SQLite log's WAL handling: pages reach the database file from the checkpointer thread while
// appends go on (the writer's own automatic checkpoints are off), and the log stays whole.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { verifyLog } from '../src/audit/verify.js';
import { openSqliteAuditLog } from '../src/sqlite/audit-log.js';
import { sampleEvent } from './support/events.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('the SQLite WAL', () => {
  it('is checkpointed into the database file by the checkpointer thread under load', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'posture-wal-'));
    dirs.push(dir);
    const path = join(dir, 'posture.db');
    const log = await openSqliteAuditLog({ path });
    const before = statSync(path).size;
    // About 10 MB of WAL: well past the 4 MB at which the checkpointer moves pages.
    for (let round = 0; round < 20; round++) {
      await Promise.all(Array.from({ length: 1000 }, (_, i) => log.append(sampleEvent(round * 1000 + i))));
    }
    const deadline = Date.now() + 5000;
    while (statSync(path).size < before + 2 * 1024 * 1024 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    // While the log is open, only a checkpoint writes pages into the database file itself.
    expect(statSync(path).size).toBeGreaterThan(before + 2 * 1024 * 1024);
    await log.close();
    const reopened = await openSqliteAuditLog({ path });
    try {
      const notes = (await reopened.checkpoints()).map((c) => c.note);
      expect(await verifyLog(reopened.entries(), notes, [reopened.verifierKey])).toEqual({
        ok: true,
        checked: 20_000,
        covered: 20_000,
      });
    } finally {
      await reopened.close();
    }
  });
});
