// The console's PostgreSQL schema (users, their WebAuthn credentials, login sessions, pending
// challenges, failed logins), as ordered steps tracked in `posture_console_schema`, apart from the evidence
// stores' own tables. Each step runs once, in one transaction under an advisory lock, so consoles
// starting together migrate once. A released step is never edited: append one.
import type pg from 'pg';

const STEPS: readonly string[] = [
  // Names compare `COLLATE "C"` (code-point order), as in the other backends.
  `CREATE TABLE posture_console_users (
     name text COLLATE "C" PRIMARY KEY,
     password_hash text NOT NULL,
     roles text NOT NULL,
     created_at text NOT NULL,
     totp_secret text,
     totp_pending text,
     totp_last_step bigint
   );
   CREATE TABLE posture_console_credentials (
     id text PRIMARY KEY,
     user_name text COLLATE "C" NOT NULL REFERENCES posture_console_users (name) ON DELETE CASCADE,
     public_key text NOT NULL,
     counter bigint NOT NULL,
     transports text NOT NULL,
     created_at text NOT NULL
   );
   CREATE INDEX posture_console_credentials_user ON posture_console_credentials (user_name, created_at);
   -- id_hash is the hex SHA-256 of the session cookie; times are milliseconds by the console's clock.
   CREATE TABLE posture_console_sessions (
     id_hash text PRIMARY KEY,
     user_name text NOT NULL,
     csrf text NOT NULL,
     created bigint NOT NULL,
     last_seen bigint NOT NULL,
     step_up_failures integer NOT NULL
   );
   CREATE INDEX posture_console_sessions_last_seen ON posture_console_sessions (last_seen);
   CREATE INDEX posture_console_sessions_created ON posture_console_sessions (created);
   CREATE TABLE posture_console_challenges (
     scope text NOT NULL,
     kind text NOT NULL,
     challenge text NOT NULL,
     at bigint NOT NULL,
     PRIMARY KEY (scope, kind)
   );`,
  // Failed logins, one row per attempt and key (a user name, a client address), shared by replicas.
  `CREATE TABLE posture_console_login_failures (
     key text NOT NULL,
     attempt text NOT NULL,
     at bigint NOT NULL,
     PRIMARY KEY (key, attempt)
   );
   CREATE INDEX posture_console_login_failures_at ON posture_console_login_failures (at);`,
];

export type PostgresConsoleOptions = { pool: pg.Pool } | { config: pg.PoolConfig };

/**
 * The pool the options name, or a new one (the driver loaded only now, so a console that uses no
 * PostgreSQL does not carry it), with the console's schema migrated. `what` names the store in
 * the error when the database cannot be reached or migrated.
 */
export async function openConsolePool(
  options: PostgresConsoleOptions,
  what: string,
): Promise<{ pool: pg.Pool; owned: boolean }> {
  const owned = !('pool' in options);
  let pool: pg.Pool;
  if ('pool' in options) pool = options.pool;
  else {
    const { default: driver } = await import('pg');
    // A database that does not answer fails the request (503) instead of holding it.
    pool = new driver.Pool({ connectionTimeoutMillis: 10_000, ...options.config });
    // An idle connection the server ends (a restart, a failover) must not end the process.
    pool.on('error', () => {});
  }
  try {
    await migrate(pool);
  } catch (error) {
    if (owned) await pool.end().catch(() => {});
    throw new Error(`cannot open ${what} on postgresql: ${(error as Error).message}`, { cause: error });
  }
  return { pool, owned };
}

async function migrate(pool: pg.Pool): Promise<void> {
  const client = await pool.connect();
  let failure: Error | undefined;
  try {
    await client.query('BEGIN');
    await client.query(`SELECT pg_advisory_xact_lock(hashtext('posture_console_schema'))`);
    await client.query(`CREATE TABLE IF NOT EXISTS posture_console_schema (
                          version integer PRIMARY KEY,
                          applied_at timestamptz NOT NULL
                        )`);
    const { rows } = await client.query<{ version: number | null }>(
      'SELECT max(version) AS version FROM posture_console_schema',
    );
    const current = rows[0]?.version ?? 0;
    if (current > STEPS.length) {
      throw new Error(
        `console schema version \`${current}\` is newer than this posture supports (\`${STEPS.length}\`)`,
      );
    }
    for (let version = current + 1; version <= STEPS.length; version++) {
      await client.query(STEPS[version - 1]!);
      await client.query('INSERT INTO posture_console_schema (version, applied_at) VALUES ($1, now())', [
        version,
      ]);
    }
    await client.query('COMMIT');
  } catch (error) {
    failure = error as Error;
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  } finally {
    // A client whose connection failed is discarded, not returned to the pool.
    client.release(failure);
  }
}
