// Counters in PostgreSQL (`pg`), shared by every gateway replica: one row per record with a
// version from a sequence (never reused, so a row deleted and created again cannot pass for the
// old one). Loading is one SELECT (one snapshot); committing is one call of a function that
// updates each row only if it still has the version it was loaded with — or inserts it if it was
// absent — and raises `serialization_failure` (40001) otherwise, so the whole call rolls back and
// the transaction runs again. Rows are written in one global order, so commits cannot deadlock.
// A transaction that keeps losing takes the store's turn: an exclusive advisory lock, in a
// transaction of its own, that every commit's shared lock waits for.
import type { DecisionState, StateKeys } from '@posture/core';
import type pg from 'pg';
import { guardClient, newPool } from './pool.js';
import { migrateSchema } from './schema.js';
import type { Counters } from '../ports.js';
import {
  TransactionQueue,
  checkOptions,
  type CounterDriver,
  type CountersOptions,
  type RecordSpec,
} from '../counter-records.js';

/**
 * Versioned schema steps, tracked in `posture_counters_schema` so they never collide with other
 * stores' migrations in the same database. Append; never edit a shipped step.
 */
const MIGRATIONS: readonly string[] = [
  `CREATE SEQUENCE posture_counters_version;
   CREATE TABLE posture_counters (
     id text PRIMARY KEY,
     version bigint NOT NULL,
     -- The JSON exactly as written (text, not jsonb): unchanged records compare equal to it.
     data text NOT NULL,
     -- Milliseconds since the epoch, by the enforcer's clock.
     expires_at bigint NOT NULL
   );
   CREATE INDEX posture_counters_expires ON posture_counters (expires_at);
   CREATE FUNCTION posture_counters_commit(ids text[], versions bigint[], datas text[], expires bigint[])
   RETURNS bigint LANGUAGE plpgsql AS $$
   DECLARE
     next_version bigint := nextval('posture_counters_version');
     written integer;
   BEGIN
     FOR i IN 1 .. cardinality(ids) LOOP
       IF versions[i] = 0 THEN
         INSERT INTO posture_counters (id, version, data, expires_at)
           VALUES (ids[i], next_version, datas[i], expires[i])
           ON CONFLICT (id) DO NOTHING;
       ELSE
         UPDATE posture_counters SET version = next_version, data = datas[i], expires_at = expires[i]
           WHERE id = ids[i] AND version = versions[i];
       END IF;
       GET DIAGNOSTICS written = ROW_COUNT;
       IF written = 0 THEN
         RAISE EXCEPTION 'posture counters record % changed concurrently', ids[i]
           USING ERRCODE = 'serialization_failure';
       END IF;
     END LOOP;
     RETURN next_version;
   END
   $$;`,
  // The store's turn: every commit takes the turn lock shared, the starving one takes it exclusive.
  `CREATE OR REPLACE FUNCTION posture_counters_commit(ids text[], versions bigint[], datas text[], expires bigint[])
   RETURNS bigint LANGUAGE plpgsql AS $$
   DECLARE
     next_version bigint;
     written integer;
   BEGIN
     PERFORM pg_advisory_xact_lock_shared(hashtext('posture_counters_turn'));
     next_version := nextval('posture_counters_version');
     FOR i IN 1 .. cardinality(ids) LOOP
       IF versions[i] = 0 THEN
         INSERT INTO posture_counters (id, version, data, expires_at)
           VALUES (ids[i], next_version, datas[i], expires[i])
           ON CONFLICT (id) DO NOTHING;
       ELSE
         UPDATE posture_counters SET version = next_version, data = datas[i], expires_at = expires[i]
           WHERE id = ids[i] AND version = versions[i];
       END IF;
       GET DIAGNOSTICS written = ROW_COUNT;
       IF written = 0 THEN
         RAISE EXCEPTION 'posture counters record % changed concurrently', ids[i]
           USING ERRCODE = 'serialization_failure';
       END IF;
     END LOOP;
     RETURN next_version;
   END
   $$;`,
];

export type PostgresCountersOptions = CountersOptions &
  ({ /** A pool the caller owns; close() leaves it open. */ pool: pg.Pool } | { config: pg.PoolConfig }) & {
    /** Delete expired rows after this many commits (one bounded DELETE); 1000 unless set. */
    sweepEvery?: number;
  };

export async function openPostgresCounters(options: PostgresCountersOptions): Promise<Counters> {
  const settings = checkOptions(options);
  const owned = !('pool' in options);
  const pool = 'pool' in options ? options.pool : await newPool(options.config);
  // An idle client dropped by the server (a restart) must not crash the process.
  if (owned) pool.on('error', () => {});
  try {
    await migrateSchema(pool, 'counters', MIGRATIONS);
  } catch (error) {
    if (owned) await pool.end().catch(() => {});
    throw new Error(`cannot open counters store on postgresql: ${(error as Error).message}`, {
      cause: error,
    });
  }

  const sweepEvery = options.sweepEvery ?? 1000;
  let commits = 0;
  let sweeping: Promise<unknown> | undefined;

  const load = async (client: pg.Pool | pg.PoolClient, specs: readonly RecordSpec[], now: number) => {
    const ids = specs.map((spec) => spec.id);
    const { rows } = await client.query<{ id: string; version: string; data: string; expires_at: string }>(
      'SELECT id, version, data, expires_at FROM posture_counters WHERE id = ANY($1::text[])',
      [ids],
    );
    const byId = new Map(rows.map((row) => [row.id, row]));
    return specs.map((spec) => {
      const row = byId.get(spec.id);
      if (!row) return { json: undefined, version: '0' };
      // An expired row reads as empty but keeps its version, so the commit updates it in place.
      return { json: Number(row.expires_at) > now ? row.data : undefined, version: row.version };
    });
  };
  const commit = async (
    client: pg.Pool | pg.PoolClient,
    writes: Parameters<CounterDriver<string>['commit']>[0],
  ): Promise<boolean> => {
    try {
      await client.query(
        'SELECT posture_counters_commit($1::text[], $2::bigint[], $3::text[], $4::bigint[])',
        [
          writes.map((write) => write.spec.id),
          writes.map((write) => write.version),
          writes.map((write) => write.json),
          writes.map((write) => write.expiresAt),
        ],
      );
    } catch (error) {
      if ((error as { code?: string }).code === '40001') return false;
      throw error;
    }
    if (++commits >= sweepEvery && !sweeping) {
      commits = 0;
      const now = writes[0]!.expiresAt - writes[0]!.spec.ttlMs;
      sweeping = pool
        .query(
          `DELETE FROM posture_counters WHERE id IN
             (SELECT id FROM posture_counters WHERE expires_at <= $1 LIMIT 10000)`,
          [now],
        )
        .catch(() => {})
        .finally(() => (sweeping = undefined));
    }
    return true;
  };

  const driver: CounterDriver<string> = {
    load: (specs, now) => load(pool, specs, now),
    commit: (writes) => commit(pool, writes),
    async exclusive(body) {
      const client = await pool.connect();
      const unguard = guardClient(client);
      try {
        await client.query('BEGIN');
        // Waits for commits in flight; commits asked for from now on wait for this transaction.
        await client.query(`SELECT pg_advisory_xact_lock(hashtext('posture_counters_turn'))`);
        const result = await body({
          load: (specs, now) => load(client, specs, now),
          commit: (writes) => commit(client, writes),
        });
        await client.query('COMMIT');
        return result;
      } catch (error) {
        await client.query('ROLLBACK').catch(() => {});
        throw error;
      } finally {
        unguard();
        client.release();
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
      await sweeping;
      if (owned && !pool.ended && !pool.ending) await pool.end();
    },
  };
}
