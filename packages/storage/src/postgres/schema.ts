// Versioned schema steps for a PostgreSQL store: each store keeps its own version table
// (`posture_<component>_schema`), runs the steps it lacks in one transaction, and refuses a
// database that a newer Posture has migrated further. Replicas starting together serialise on an
// advisory lock: the second waits, then finds the work done.
import type pg from 'pg';
import { guardClient } from './pool.js';

export async function migrateSchema(
  pool: pg.Pool,
  /** `approvals`, `counters`, …, or another package's (`console`): names its version table. */
  component: string,
  steps: readonly string[],
): Promise<void> {
  const table = `posture_${component}_schema`;
  const client = await pool.connect();
  const unguard = guardClient(client);
  let failure: Error | undefined;
  try {
    await client.query('BEGIN');
    await client.query(`SELECT pg_advisory_xact_lock(hashtext('${table}'))`);
    await client.query(`CREATE TABLE IF NOT EXISTS ${table} (
                          version integer PRIMARY KEY,
                          applied_at timestamptz NOT NULL
                        )`);
    const { rows } = await client.query<{ version: number | null }>(
      `SELECT max(version) AS version FROM ${table}`,
    );
    const current = rows[0]?.version ?? 0;
    if (current > steps.length) {
      throw new Error(
        `${component} schema version \`${current}\` is newer than this posture supports (\`${steps.length}\`)`,
      );
    }
    for (let version = current + 1; version <= steps.length; version++) {
      await client.query(steps[version - 1]!);
      await client.query(`INSERT INTO ${table} (version, applied_at) VALUES ($1, now())`, [version]);
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
