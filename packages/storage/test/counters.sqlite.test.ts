// The Counters contract on SQLite files: each location is a new file; several processes share one.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { openSqliteCounters } from '../src/sqlite/counters.js';
import { defineCountersContract } from './conformance/counters.js';

const folder = mkdtempSync(join(tmpdir(), 'posture-counters-sqlite-'));
let files = 0;

afterAll(() => rmSync(folder, { recursive: true, force: true }));

describe('sqlite counters', () => {
  defineCountersContract({
    shared: true,
    fresh: async () => {
      const path = join(folder, `counters-${files++}.db`);
      return {
        open: (options) => openSqliteCounters(path, options),
        child: {
          module: new URL('../src/sqlite/counters.ts', import.meta.url).href,
          opener: 'openSqliteCounters',
          // One optimistic attempt: the children take the store's turn often, and must still agree.
          args: [path, { optimisticAttempts: 1 }],
        },
        interfere: (id, json) => {
          const db = new Database(path);
          try {
            db.transaction(() => {
              const { version } = db
                .prepare('UPDATE posture_counters_version SET version = version + 1 RETURNING version')
                .get() as { version: number };
              db.prepare(
                `INSERT INTO posture_counters (id, version, data, expires_at) VALUES (?, ?, ?, 4102444800000)
                 ON CONFLICT (id) DO UPDATE SET version = excluded.version, data = excluded.data`,
              ).run(id, version, json);
            })();
          } finally {
            db.close();
          }
        },
      };
    },
  });

  it('keeps its schema version in a table of its own, in WAL mode', async () => {
    const path = join(folder, 'layout.db');
    await (await openSqliteCounters(path)).close();
    await (await openSqliteCounters(path)).close();
    const db = new Database(path, { readonly: true });
    try {
      expect(db.prepare('SELECT version FROM posture_counters_schema').all()).toEqual([{ version: 1 }]);
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    } finally {
      db.close();
    }
  });

  it('deletes expired rows as it goes, and never a live one', async () => {
    const path = join(folder, 'sweep.db');
    const counters = await openSqliteCounters(path, { sweepEvery: 5 });
    for (let i = 0; i < 4; i++) {
      await counters.transact(
        { session: undefined, rates: [{ key: `old-${i}`, windowMs: 1000 }] },
        1000,
        (state) => {
          state.rateLog(`old-${i}`).times.push(1000);
        },
      );
    }
    await counters.transact(
      { session: 'live', rates: [] },
      100_000,
      (state) => void state.session('live').calls++,
    );
    await counters.close();
    const db = new Database(path, { readonly: true });
    try {
      expect(db.prepare('SELECT id FROM posture_counters').all()).toEqual([{ id: 's:"live"' }]);
    } finally {
      db.close();
    }
  });

  it('names the file when it is not a database, and leaves it as it was', async () => {
    const path = join(folder, 'corrupt.db');
    writeFileSync(path, 'not a database '.repeat(100));
    await expect(openSqliteCounters(path)).rejects.toThrow(
      `cannot open counters store \`${path}\`: file is not a database`,
    );
    expect(readFileSync(path, 'utf8')).toMatch(/^not a database/);
  });

  it('does not create a missing file when told not to', async () => {
    const path = join(folder, 'missing.db');
    await expect(openSqliteCounters(path, { create: false })).rejects.toThrow(
      `no counters store at \`${path}\``,
    );
  });
});
