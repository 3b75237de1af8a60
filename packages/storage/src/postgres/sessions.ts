// Sessions in PostgreSQL (`pg`), shared by every gateway replica. Opening is one statement: the
// token's binding is inserted, or taken over only if the one there has expired (ON CONFLICT …
// WHERE), and the session is inserted only if the binding was — so of two replicas opening a
// session with one token, the second waits on the first's row lock and then finds it bound.
// A plan update is an UPDATE where the version is still the one read (compare-and-set).
import type pg from 'pg';
import { newPool } from './pool.js';
import { migrateSchema } from './schema.js';
import type { SessionOpenResult, SessionRecord, SessionStore } from '../ports.js';
import { checkRevocation, checkSessionJson, checkSessionRecord } from '../session-rules.js';

/** Append; never edit a shipped step. */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE posture_sessions (
     id text PRIMARY KEY,
     agent text NOT NULL,
     user_name text NOT NULL,
     jti text NOT NULL,
     -- Milliseconds since the epoch, by the gateway's clock.
     expires_at bigint NOT NULL,
     init text NOT NULL,
     plan text,
     version bigint NOT NULL
   );
   CREATE INDEX posture_sessions_expires ON posture_sessions (expires_at);
   CREATE TABLE posture_session_tokens (
     jti text PRIMARY KEY,
     session text NOT NULL,
     expires_at bigint NOT NULL
   );
   CREATE INDEX posture_session_tokens_expires ON posture_session_tokens (expires_at);`,
  `CREATE TABLE posture_token_revocations (
     subject text NOT NULL,
     id text NOT NULL,
     at bigint NOT NULL,
     until bigint NOT NULL,
     PRIMARY KEY (subject, id)
   );`,
];

export type PostgresSessionStoreOptions = ({ pool: pg.Pool } | { config: pg.PoolConfig }) & {
  /** Delete expired rows after this many opens; 1000 unless set. */
  sweepEvery?: number;
};

interface Row {
  id: string;
  agent: string;
  user_name: string;
  jti: string;
  expires_at: string;
  init: string;
  plan: string | null;
  version: string;
}

const OPEN = `
  WITH bound AS (
    INSERT INTO posture_session_tokens AS t (jti, session, expires_at) VALUES ($1, $2, $3)
    ON CONFLICT (jti) DO UPDATE SET session = EXCLUDED.session, expires_at = EXCLUDED.expires_at
      WHERE t.expires_at <= $4
    RETURNING session
  ), opened AS (
    INSERT INTO posture_sessions (id, agent, user_name, jti, expires_at, init, plan, version)
    SELECT $2, $5, $6, $1, $3, $7, $8, 1 FROM bound
    RETURNING id
  )
  SELECT (SELECT id FROM opened) AS opened`;

export async function openPostgresSessionStore(options: PostgresSessionStoreOptions): Promise<SessionStore> {
  const owned = !('pool' in options);
  const pool = 'pool' in options ? options.pool : await newPool(options.config);
  if (owned) pool.on('error', () => {});
  try {
    await migrateSchema(pool, 'sessions', MIGRATIONS);
  } catch (error) {
    if (owned) await pool.end().catch(() => {});
    throw new Error(`cannot open session store on postgresql: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const sweepEvery = options.sweepEvery ?? 1000;
  let opens = 0;
  let closed = false;
  const check = () => {
    if (closed) throw new Error('the session store is closed');
  };

  return {
    async open(input, now): Promise<SessionOpenResult> {
      check();
      checkSessionRecord(input, now);
      if (++opens >= sweepEvery) {
        opens = 0;
        await pool.query('DELETE FROM posture_sessions WHERE expires_at <= $1', [now]);
        await pool.query('DELETE FROM posture_session_tokens WHERE expires_at <= $1', [now]);
      }
      const plan = input.plan === undefined ? null : checkSessionJson('plan', input.plan);
      const { rows } = await pool.query<{ opened: string | null }>(OPEN, [
        input.jti,
        input.id,
        input.expires_at,
        now,
        input.agent,
        input.user,
        checkSessionJson('init', input.init),
        plan,
      ]);
      if (rows[0]?.opened) return { ok: true, session: { ...structuredClone(input), version: 1 } };
      const bound = await pool.query<{ session: string }>(
        'SELECT session FROM posture_session_tokens WHERE jti = $1',
        [input.jti],
      );
      return { ok: false, code: 'replay', session: bound.rows[0]?.session ?? '' };
    },
    async get(id, now) {
      check();
      const { rows } = await pool.query<Row>(
        'SELECT * FROM posture_sessions WHERE id = $1 AND expires_at > $2',
        [id, now],
      );
      return rows[0] ? toRecord(rows[0]) : undefined;
    },
    async plan(id, now) {
      check();
      const { rows } = await pool.query<{ plan: string | null; version: string }>(
        'SELECT plan, version FROM posture_sessions WHERE id = $1 AND expires_at > $2',
        [id, now],
      );
      const row = rows[0];
      if (!row) return undefined;
      return row.plan === null
        ? { version: Number(row.version) }
        : { plan: JSON.parse(row.plan) as unknown, version: Number(row.version) };
    },
    async setPlan(id, plan, version, now) {
      check();
      const json = plan === undefined ? null : checkSessionJson('plan', plan);
      const { rows } = await pool.query<Row>(
        `UPDATE posture_sessions SET plan = $1, version = version + 1
         WHERE id = $2 AND version = $3 AND expires_at > $4 RETURNING *`,
        [json, id, version, now],
      );
      return rows[0] ? toRecord(rows[0]) : undefined;
    },
    async end(id) {
      check();
      await pool.query('DELETE FROM posture_sessions WHERE id = $1', [id]);
    },
    async revoke(revocation, now) {
      check();
      checkRevocation(revocation, now);
      await pool.query('DELETE FROM posture_token_revocations WHERE until <= $1', [now]);
      await pool.query(
        `INSERT INTO posture_token_revocations AS r (subject, id, at, until) VALUES ($1, $2, $3, $4)
         ON CONFLICT (subject, id) DO UPDATE
           SET at = greatest(r.at, excluded.at), until = greatest(r.until, excluded.until)`,
        [revocation.subject, revocation.id, revocation.at, revocation.until],
      );
    },
    async revocations(now) {
      check();
      const { rows } = await pool.query<{ subject: 'jti' | 'agent'; id: string; at: string; until: string }>(
        'SELECT subject, id, at, until FROM posture_token_revocations WHERE until > $1 ORDER BY subject, id',
        [now],
      );
      return rows.map((row) => ({ ...row, at: Number(row.at), until: Number(row.until) }));
    },
    async close() {
      if (closed) return;
      closed = true;
      if (owned) await pool.end();
    },
  };
}

function toRecord(row: Row): SessionRecord {
  return {
    id: row.id,
    agent: row.agent,
    user: row.user_name,
    jti: row.jti,
    expires_at: Number(row.expires_at),
    init: JSON.parse(row.init) as unknown,
    ...(row.plan !== null ? { plan: JSON.parse(row.plan) as unknown } : {}),
    version: Number(row.version),
  };
}
