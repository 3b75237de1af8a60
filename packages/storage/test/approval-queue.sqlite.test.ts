// The approvals contract on SQLite files: each test gets a new file; several processes share one.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openSqliteApprovalQueue, openSqliteExceptionStore } from '../src/sqlite/approval-queue.js';
import { defineApprovalQueueContract } from './conformance/approval-queue.js';

const folder = mkdtempSync(join(tmpdir(), 'posture-approvals-sqlite-'));
let files = 0;

afterAll(() => rmSync(folder, { recursive: true, force: true }));

describe('sqlite approvals', () => {
  defineApprovalQueueContract({
    persistent: true,
    fresh: async () => {
      const path = join(folder, `approvals-${files++}.db`);
      return {
        open: async (options) => ({
          queue: openSqliteApprovalQueue(path),
          exceptions: openSqliteExceptionStore(path, { maxDurationMs: options?.maxExceptionMs }),
        }),
        child: {
          module: new URL('../src/sqlite/approval-queue.ts', import.meta.url).href,
          opener: 'openSqliteApprovalQueue',
          args: [path, { create: false }],
        },
      };
    },
  });

  it('creates the file and its folder, in WAL mode, with a versioned schema of its own', async () => {
    const path = join(folder, 'nested', 'dir', 'posture.db');
    const queue = openSqliteApprovalQueue(path);
    await queue.close();
    const Database = (await import('better-sqlite3')).default;
    const db = new Database(path, { readonly: true });
    try {
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
      expect(db.prepare('SELECT version FROM posture_approvals_schema').all()).toEqual([{ version: 1 }]);
    } finally {
      db.close();
    }
    // Opening again applies nothing twice.
    await openSqliteExceptionStore(path).close();
  });

  it('does not create a missing file when told not to', () => {
    expect(() => openSqliteApprovalQueue(join(folder, 'missing.db'), { create: false })).toThrow(
      `no approvals store at \`${join(folder, 'missing.db')}\``,
    );
  });

  it('names the file when it is not a database, and leaves it as it was', async () => {
    const path = join(folder, 'corrupt.db');
    writeFileSync(path, 'this is not a database, and must not be replaced by one'.repeat(100));
    expect(() => openSqliteApprovalQueue(path)).toThrow(
      `cannot open approvals store \`${path}\`: file is not a database`,
    );
    const { readFileSync } = await import('node:fs');
    expect(readFileSync(path, 'utf8')).toMatch(/^this is not a database/);
  });

  it('refuses a schema newer than it knows', async () => {
    const path = join(folder, 'newer.db');
    await openSqliteApprovalQueue(path).close();
    const Database = (await import('better-sqlite3')).default;
    const db = new Database(path);
    db.prepare("INSERT INTO posture_approvals_schema (version, applied_at) VALUES (99, 'x')").run();
    db.close();
    expect(() => openSqliteApprovalQueue(path)).toThrow(
      'approvals schema version `99` is newer than this posture supports (`1`)',
    );
  });
});
