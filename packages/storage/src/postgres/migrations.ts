// The audit log's PostgreSQL schema, as ordered migrations tracked in `posture_audit_schema` (apart
// from other stores' steps in the same database). Each runs once, in one transaction under an
// advisory lock, so replicas starting together migrate once. A released step is never edited.
import type pg from 'pg';
import { guardClient } from './pool.js';

export interface Migration {
  version: number;
  description: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'audit log: events with search columns, checkpoints, merkle frontier, batches, log identity',
    sql: `
      CREATE TABLE posture_audit_meta (
        key text PRIMARY KEY,
        value text NOT NULL
      );

      -- seq is the log position; json is the canonical JSON the leaf hash commits to; the other
      -- columns copy fields of json for search (collation "C": they compare as the filter does, by
      -- code point) and are not part of the evidence.
      CREATE TABLE posture_audit_events (
        seq bigint PRIMARY KEY,
        time text COLLATE "C" NOT NULL,
        kind text COLLATE "C" NOT NULL,
        actor_user text COLLATE "C",
        actor_agent text COLLATE "C",
        tool text COLLATE "C",
        decision text COLLATE "C",
        outcome text COLLATE "C",
        json text NOT NULL,
        leaf_hash bytea NOT NULL
      );
      -- With seq second, each index returns its matches in log order.
      CREATE INDEX posture_audit_events_time ON posture_audit_events (time, seq);
      CREATE INDEX posture_audit_events_user ON posture_audit_events (actor_user, seq);
      CREATE INDEX posture_audit_events_agent ON posture_audit_events (actor_agent, seq);
      CREATE INDEX posture_audit_events_tool ON posture_audit_events (tool, seq);
      CREATE INDEX posture_audit_events_decision ON posture_audit_events (decision, seq);
      CREATE INDEX posture_audit_events_outcome ON posture_audit_events (outcome, seq);
      CREATE INDEX posture_audit_events_kind ON posture_audit_events (kind, seq);

      -- One checkpoint per size: a log must never sign two roots for one size.
      CREATE TABLE posture_audit_checkpoints (
        size bigint PRIMARY KEY,
        root bytea NOT NULL,
        note text NOT NULL,
        signed_at timestamptz NOT NULL
      );

      -- The compact range of the tree. Every batch locks this row (FOR UPDATE) before it assigns
      -- seqs and updates it in the same transaction: the lock that orders writers across processes.
      CREATE TABLE posture_audit_head (
        id integer PRIMARY KEY CHECK (id = 0),
        size bigint NOT NULL,
        hashes text NOT NULL
      );
      INSERT INTO posture_audit_head (id, size, hashes) VALUES (0, 0, '[]');

      -- One row per committed batch, so a writer whose connection broke during COMMIT can tell
      -- whether that batch was kept before it writes the batch again.
      CREATE TABLE posture_audit_batches (
        id uuid PRIMARY KEY,
        first_seq bigint NOT NULL,
        count integer NOT NULL
      );
    `,
  },
];

/** Applies the migrations the database has not seen, one process at a time. */
export async function migrate(pool: pg.Pool, migrations: readonly Migration[] = MIGRATIONS): Promise<void> {
  const latest = migrations.at(-1)?.version ?? 0;
  const client = await pool.connect();
  const unguard = guardClient(client);
  let failure: Error | undefined;
  try {
    await client.query('BEGIN');
    // Serialises replicas starting together: the second waits here, then finds the work done.
    await client.query(`SELECT pg_advisory_xact_lock(hashtext('posture_audit_schema'))`);
    await client.query(`CREATE TABLE IF NOT EXISTS posture_audit_schema (
                          version integer PRIMARY KEY,
                          description text NOT NULL,
                          applied_at timestamptz NOT NULL
                        )`);
    const { rows } = await client.query<{ version: number | null }>(
      'SELECT max(version) AS version FROM posture_audit_schema',
    );
    const current = rows[0]?.version ?? 0;
    if (current > latest) {
      throw new Error(
        `audit schema version \`${current}\` is newer than this Posture knows (\`${latest}\`): upgrade Posture`,
      );
    }
    for (const migration of migrations) {
      if (migration.version <= current) continue;
      await client.query(migration.sql);
      await client.query(
        'INSERT INTO posture_audit_schema (version, description, applied_at) VALUES ($1, $2, now())',
        [migration.version, migration.description],
      );
    }
    await client.query('COMMIT');
  } catch (error) {
    failure = error as Error;
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  } finally {
    // A client whose connection failed is discarded, not returned to the pool.
    unguard();
    client.release(failure);
  }
}

/** For a read-only open: the database holds an audit schema this Posture can read. */
export async function checkSchema(
  pool: pg.Pool,
  migrations: readonly Migration[] = MIGRATIONS,
): Promise<void> {
  const latest = migrations.at(-1)?.version ?? 0;
  const exists = await pool.query<{ found: string | null }>(
    "SELECT to_regclass('posture_audit_schema')::text AS found",
  );
  const { rows } =
    exists.rows[0]?.found == null
      ? { rows: [] }
      : await pool.query<{ version: number | null }>(
          'SELECT max(version) AS version FROM posture_audit_schema',
        );
  const current = rows[0]?.version ?? 0;
  if (current === 0) throw new Error('the database holds no audit log');
  if (current > latest) {
    throw new Error(
      `audit schema version \`${current}\` is newer than this Posture knows (\`${latest}\`): upgrade Posture`,
    );
  }
}
