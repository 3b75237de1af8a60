// Sessions in a SQLite file (better-sqlite3): the gateways of one machine share them, and a
// restarted gateway takes up its clients' sessions instead of refusing their tokens as spent.
// A token's binding is its own row (`posture_session_tokens`), written in the same IMMEDIATE
// transaction as the session, so of two processes opening a session with one token, one wins.
import type Database from 'better-sqlite3';
import type { SessionOpenResult, SessionRecord, SessionStore, TokenRevocation } from '../ports.js';
import { checkRevocation, checkSessionJson, checkSessionRecord } from '../session-rules.js';
import { openStoreFile } from './store-file.js';

/** Append; never edit a shipped step. */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE posture_sessions (
     id TEXT PRIMARY KEY,
     agent TEXT NOT NULL,
     user TEXT NOT NULL,
     jti TEXT NOT NULL,
     expires_at INTEGER NOT NULL,
     init TEXT NOT NULL,
     plan TEXT,
     version INTEGER NOT NULL
   ) STRICT;
   CREATE INDEX posture_sessions_expires ON posture_sessions (expires_at);
   CREATE TABLE posture_session_tokens (
     jti TEXT PRIMARY KEY,
     session TEXT NOT NULL,
     expires_at INTEGER NOT NULL
   ) STRICT;
   CREATE INDEX posture_session_tokens_expires ON posture_session_tokens (expires_at);`,
  `CREATE TABLE posture_token_revocations (
     subject TEXT NOT NULL,
     id TEXT NOT NULL,
     at INTEGER NOT NULL,
     until INTEGER NOT NULL,
     PRIMARY KEY (subject, id)
   ) STRICT;`,
];

export interface SqliteSessionStoreOptions {
  create?: boolean;
  busyTimeoutMs?: number;
  /** Delete expired rows after this many opens; 1000 unless set. */
  sweepEvery?: number;
}

interface Row {
  id: string;
  agent: string;
  user: string;
  jti: string;
  expires_at: number;
  init: string;
  plan: string | null;
  version: number;
}

export async function openSqliteSessionStore(
  path: string,
  options: SqliteSessionStoreOptions = {},
): Promise<SessionStore> {
  // Sessions are state, not evidence: a power loss may lose the last ones (their clients open new
  // ones), never the file. A crashed process loses none.
  const db: Database.Database = openStoreFile(path, {
    component: 'sessions',
    label: 'session store',
    steps: MIGRATIONS,
    synchronous: 'NORMAL',
    ...(options.create !== undefined ? { create: options.create } : {}),
    ...(options.busyTimeoutMs !== undefined ? { busyTimeoutMs: options.busyTimeoutMs } : {}),
  });
  const bindingOf = db.prepare<[string, number], { session: string }>(
    'SELECT session FROM posture_session_tokens WHERE jti = ? AND expires_at > ?',
  );
  const bind = db.prepare<[string, string, number]>(
    'INSERT OR REPLACE INTO posture_session_tokens (jti, session, expires_at) VALUES (?, ?, ?)',
  );
  const insert = db.prepare<[string, string, string, string, number, string, string | null]>(
    `INSERT INTO posture_sessions (id, agent, user, jti, expires_at, init, plan, version)
     VALUES (?, ?, ?, ?, ?, ?, ?, 1)`,
  );
  const select = db.prepare<[string, number], Row>(
    'SELECT * FROM posture_sessions WHERE id = ? AND expires_at > ?',
  );
  const selectPlan = db.prepare<[string, number], { plan: string | null; version: number }>(
    'SELECT plan, version FROM posture_sessions WHERE id = ? AND expires_at > ?',
  );
  const updatePlan = db.prepare<[string | null, string, number, number], Row>(
    `UPDATE posture_sessions SET plan = ?, version = version + 1
     WHERE id = ? AND version = ? AND expires_at > ? RETURNING *`,
  );
  const remove = db.prepare<[string]>('DELETE FROM posture_sessions WHERE id = ?');
  const sweepSessions = db.prepare<[number]>('DELETE FROM posture_sessions WHERE expires_at <= ?');
  const sweepTokens = db.prepare<[number]>('DELETE FROM posture_session_tokens WHERE expires_at <= ?');
  const revoke = db.prepare<[string, string, number, number]>(
    `INSERT INTO posture_token_revocations (subject, id, at, until) VALUES (?, ?, ?, ?)
     ON CONFLICT (subject, id) DO UPDATE SET at = max(at, excluded.at), until = max(until, excluded.until)`,
  );
  const inForce = db.prepare<[number], TokenRevocation>(
    'SELECT subject, id, at, until FROM posture_token_revocations WHERE until > ? ORDER BY subject, id',
  );
  const sweepRevocations = db.prepare<[number]>('DELETE FROM posture_token_revocations WHERE until <= ?');
  const sweepEvery = options.sweepEvery ?? 1000;
  let opens = 0;

  const openNow = db.transaction((input: Omit<SessionRecord, 'version'>, now: number): SessionOpenResult => {
    const bound = bindingOf.get(input.jti, now);
    if (bound) return { ok: false, code: 'replay', session: bound.session };
    if (++opens >= sweepEvery) {
      opens = 0;
      sweepSessions.run(now);
      sweepTokens.run(now);
    }
    bind.run(input.jti, input.id, input.expires_at);
    const plan = input.plan === undefined ? null : checkSessionJson('plan', input.plan);
    insert.run(
      input.id,
      input.agent,
      input.user,
      input.jti,
      input.expires_at,
      checkSessionJson('init', input.init),
      plan,
    );
    return { ok: true, session: { ...structuredClone(input), version: 1 } };
  });
  let closed = false;
  const check = () => {
    if (closed) throw new Error('the session store is closed');
  };

  return {
    async open(input, now) {
      check();
      checkSessionRecord(input, now);
      return openNow.immediate(input, now);
    },
    async get(id, now) {
      check();
      const row = select.get(id, now);
      return row ? toRecord(row) : undefined;
    },
    async plan(id, now) {
      check();
      const row = selectPlan.get(id, now);
      if (!row) return undefined;
      return row.plan === null
        ? { version: row.version }
        : { plan: JSON.parse(row.plan) as unknown, version: row.version };
    },
    async setPlan(id, plan, version, now) {
      check();
      const json = plan === undefined ? null : checkSessionJson('plan', plan);
      const row = updatePlan.get(json, id, version, now);
      return row ? toRecord(row) : undefined;
    },
    async end(id) {
      check();
      remove.run(id);
    },
    async revoke(revocation, now) {
      check();
      checkRevocation(revocation, now);
      sweepRevocations.run(now);
      revoke.run(revocation.subject, revocation.id, revocation.at, revocation.until);
    },
    async revocations(now) {
      check();
      return inForce.all(now);
    },
    async close() {
      if (closed) return;
      closed = true;
      db.close();
    },
  };
}

function toRecord(row: Row): SessionRecord {
  return {
    id: row.id,
    agent: row.agent,
    user: row.user,
    jti: row.jti,
    expires_at: row.expires_at,
    init: JSON.parse(row.init) as unknown,
    ...(row.plan !== null ? { plan: JSON.parse(row.plan) as unknown } : {}),
    version: row.version,
  };
}
