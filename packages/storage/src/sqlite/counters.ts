// Counters in a SQLite file (better-sqlite3), shared by the processes of one machine: one row per
// record with a version from a counter row. Loading is one SELECT (one snapshot, WAL); committing
// is one IMMEDIATE transaction that checks every version and writes — SQLite runs one writer at a
// time, so of two racing commits the second sees the first's versions and writes nothing. The
// store's turn is an IMMEDIATE transaction held from load to commit.
import type { DecisionState, StateKeys } from '@posture/core';
import type Database from 'better-sqlite3';
import type { Counters } from '../ports.js';
import {
  TransactionQueue,
  checkOptions,
  type CounterDriver,
  type CountersOptions,
  type RecordAccess,
} from '../counter-records.js';
import { openStoreFile } from './store-file.js';

/**
 * Versioned schema steps, tracked in `posture_counters_schema` so they never collide with other
 * stores' migrations in the same file. Append; never edit a shipped step.
 */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE posture_counters (
     id TEXT PRIMARY KEY,
     version INTEGER NOT NULL,
     data TEXT NOT NULL,
     expires_at INTEGER NOT NULL
   ) STRICT;
   CREATE INDEX posture_counters_expires ON posture_counters (expires_at);
   -- The last version handed out: versions never repeat, even for a row deleted and created again.
   CREATE TABLE posture_counters_version (
     id INTEGER PRIMARY KEY CHECK (id = 0),
     version INTEGER NOT NULL
   ) STRICT;
   INSERT INTO posture_counters_version (id, version) VALUES (0, 0);`,
];

export interface SqliteCountersOptions extends CountersOptions {
  /** Create the file (and its folder) when missing; true unless set. */
  create?: boolean;
  /** How long a writer waits for another process's lock before failing, in ms; 5000 unless set. */
  busyTimeoutMs?: number;
  /** Delete expired rows after this many commits; 1000 unless set. */
  sweepEvery?: number;
}

interface Row {
  id: string;
  version: number;
  data: string;
  expires_at: number;
}

export async function openSqliteCounters(
  path: string,
  options: SqliteCountersOptions = {},
): Promise<Counters> {
  const settings = checkOptions(options);
  const db = openDatabase(path, options);
  const select = db.prepare<[string], Row>(
    'SELECT id, version, data, expires_at FROM posture_counters WHERE id IN (SELECT value FROM json_each(?))',
  );
  const versionOf = db.prepare<[string], { version: number }>(
    'SELECT version FROM posture_counters WHERE id = ?',
  );
  const nextVersion = db.prepare<[], { version: number }>(
    'UPDATE posture_counters_version SET version = version + 1 WHERE id = 0 RETURNING version',
  );
  const put = db.prepare<[string, number, string, number]>(
    `INSERT INTO posture_counters (id, version, data, expires_at) VALUES (?, ?, ?, ?)
     ON CONFLICT (id) DO UPDATE SET version = excluded.version, data = excluded.data, expires_at = excluded.expires_at`,
  );
  const sweep = db.prepare<[number]>(
    'DELETE FROM posture_counters WHERE id IN (SELECT id FROM posture_counters WHERE expires_at <= ? LIMIT 10000)',
  );
  const sweepEvery = options.sweepEvery ?? 1000;
  let commits = 0;

  const commitNow = db.transaction((writes: Parameters<CounterDriver<number>['commit']>[0]): boolean => {
    for (const write of writes) {
      if ((versionOf.get(write.spec.id)?.version ?? 0) !== write.version) return false;
    }
    const version = nextVersion.get()!.version;
    for (const write of writes) put.run(write.spec.id, version, write.json, write.expiresAt);
    if (++commits >= sweepEvery) {
      commits = 0;
      sweep.run(writes[0]!.expiresAt - writes[0]!.spec.ttlMs);
    }
    return true;
  });

  const access: RecordAccess<number> = {
    async load(specs, now) {
      const byId = new Map(
        select.all(JSON.stringify(specs.map((spec) => spec.id))).map((row) => [row.id, row]),
      );
      return specs.map((spec) => {
        const row = byId.get(spec.id);
        if (!row) return { json: undefined, version: 0 };
        return { json: row.expires_at > now ? row.data : undefined, version: row.version };
      });
    },
    // Inside the turn this nests as a savepoint of the turn's transaction.
    async commit(writes) {
      return db.inTransaction ? commitNow(writes) : commitNow.immediate(writes);
    },
  };
  const driver: CounterDriver<number> = {
    ...access,
    async exclusive(body) {
      db.exec('BEGIN IMMEDIATE');
      try {
        const result = await body(access);
        db.exec('COMMIT');
        return result;
      } catch (error) {
        if (db.inTransaction) db.exec('ROLLBACK');
        throw error;
      }
    },
  };
  const transactions = new TransactionQueue(driver, settings);
  let closed = false;

  return {
    async transact<T>(keys: StateKeys, now: number, fn: (state: DecisionState) => T): Promise<T> {
      if (closed) throw new Error('the counters store is closed');
      return transactions.transact(keys, now, fn);
    },
    async close() {
      if (closed) return;
      closed = true;
      await transactions.idle();
      db.close();
    },
  };
}

function openDatabase(path: string, options: SqliteCountersOptions): Database.Database {
  // Limits are state, not evidence: a power loss may lose the last commits (a crashed process
  // loses none), never the file.
  return openStoreFile(path, {
    component: 'counters',
    label: 'counters store',
    steps: MIGRATIONS,
    synchronous: 'NORMAL',
    ...(options.create !== undefined ? { create: options.create } : {}),
    ...(options.busyTimeoutMs !== undefined ? { busyTimeoutMs: options.busyTimeoutMs } : {}),
  });
}
