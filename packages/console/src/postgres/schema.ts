// The console's PostgreSQL schema (users, their WebAuthn credentials, login sessions, pending
// challenges, failed logins), as ordered steps tracked in `posture_console_schema`, apart from the evidence
// stores' own tables. Each step runs once, in one transaction under an advisory lock, so consoles
// starting together migrate once. A released step is never edited: append one.
import type pg from 'pg';
import { migrateSchema } from '@posture/storage';

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
    await migrateSchema(pool, 'console', STEPS);
  } catch (error) {
    if (owned) await pool.end().catch(() => {});
    throw new Error(`cannot open ${what} on postgresql: ${(error as Error).message}`, { cause: error });
  }
  return { pool, owned };
}
