// Console login sessions behind a small port, so that consoles sharing a store share their logins:
// a cookie made by one is accepted by another, and a logout or an expiry on one holds on all. In
// memory for one process, in the SQLite file beside the users, or in PostgreSQL
// (postgres/sessions.ts). Stores key sessions by the SHA-256 of the cookie value, never the value
// itself: whoever reads the table cannot log in with what they read. Expiry is the console's
// decision (its clock, its limits); a store keeps the times and deletes what `sweep` names.
import { createHash } from 'node:crypto';
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

export interface ConsoleSession {
  user: string;
  csrf: string;
  /** Milliseconds since the epoch, by the console's clock. */
  created: number;
  lastSeen: number;
  /** Failed step-ups in a row (five end the session). */
  stepUpFailures: number;
}

/** A WebAuthn challenge and when it was issued (milliseconds since the epoch). */
export interface Challenge {
  challenge: string;
  at: number;
}

/** Whose challenge: a session's (passkey registration, step-up) or a login's, by user name. */
export type ChallengeScope = { session: string; kind: 'register' | 'stepUp' } | { login: string };

export interface ConsoleSessions {
  /** Stores a new session under the hash of `id` (the cookie value). */
  create(id: string, session: ConsoleSession): Promise<void>;
  get(id: string): Promise<ConsoleSession | undefined>;
  /** Moves `lastSeen` forward to `at`, never back. */
  touch(id: string, at: number): Promise<void>;
  /** Deletes the session and its challenges. */
  remove(id: string): Promise<void>;
  /** Counts one more failed step-up; the new count (0 when there is no such session). */
  addStepUpFailure(id: string): Promise<number>;
  clearStepUpFailures(id: string): Promise<void>;
  /** Sets the pending challenge of the scope, replacing any before it. */
  setChallenge(scope: ChallengeScope, challenge: Challenge): Promise<void>;
  /** The pending challenge of the scope, removed: of consoles taking it at once, one gets it. */
  takeChallenge(scope: ChallengeScope): Promise<Challenge | undefined>;
  /** Deletes sessions idle since or created before the given times, and older challenges. */
  sweep(before: { lastSeen: number; created: number; challenge: number }): Promise<void>;
  close(): Promise<void>;
}

/** The key a session is stored under: the hex SHA-256 of the cookie value. */
export function sessionKey(id: string): string {
  return createHash('sha256').update(id).digest('hex');
}

/** A challenge scope as a (scope, kind) pair; a login's kind differs from a session's. */
export function challengeKey(scope: ChallengeScope): { scope: string; kind: string } {
  return 'login' in scope
    ? { scope: scope.login, kind: 'login' }
    : { scope: sessionKey(scope.session), kind: scope.kind };
}

const MAX_MEMORY_CHALLENGES = 10_000;

export function createMemoryConsoleSessions(): ConsoleSessions {
  const sessions = new Map<string, ConsoleSession>();
  const challenges = new Map<string, Challenge & { scope: string }>();
  let closed = false;
  const open = () => {
    if (closed) throw new Error('the console sessions store is closed');
  };
  const keyOf = (scope: ChallengeScope) => {
    const { scope: owner, kind } = challengeKey(scope);
    return { owner, key: `${kind}\n${owner}` };
  };
  return {
    async create(id, session) {
      open();
      sessions.set(sessionKey(id), { ...session });
    },
    async get(id) {
      open();
      const session = sessions.get(sessionKey(id));
      return session ? { ...session } : undefined;
    },
    async touch(id, at) {
      open();
      const session = sessions.get(sessionKey(id));
      if (session) session.lastSeen = Math.max(session.lastSeen, at);
    },
    async remove(id) {
      open();
      const key = sessionKey(id);
      sessions.delete(key);
      for (const [k, challenge] of challenges)
        if (challenge.scope === key && !k.startsWith('login\n')) challenges.delete(k);
    },
    async addStepUpFailure(id) {
      open();
      const session = sessions.get(sessionKey(id));
      if (!session) return 0;
      return ++session.stepUpFailures;
    },
    async clearStepUpFailures(id) {
      open();
      const session = sessions.get(sessionKey(id));
      if (session) session.stepUpFailures = 0;
    },
    async setChallenge(scope, challenge) {
      open();
      // Only a logged-in user or a right password makes one; still, memory stays bounded.
      if (challenges.size >= MAX_MEMORY_CHALLENGES) challenges.clear();
      const { owner, key } = keyOf(scope);
      challenges.set(key, { challenge: challenge.challenge, at: challenge.at, scope: owner });
    },
    async takeChallenge(scope) {
      open();
      const { key } = keyOf(scope);
      const found = challenges.get(key);
      challenges.delete(key);
      return found ? { challenge: found.challenge, at: found.at } : undefined;
    },
    async sweep(before) {
      open();
      for (const [key, session] of sessions) {
        if (session.lastSeen < before.lastSeen || session.created < before.created) sessions.delete(key);
      }
      for (const [key, challenge] of challenges) if (challenge.at < before.challenge) challenges.delete(key);
    },
    async close() {
      closed = true;
    },
  };
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS posture_console_sessions (
  id_hash TEXT PRIMARY KEY,
  user TEXT NOT NULL,
  csrf TEXT NOT NULL,
  created INTEGER NOT NULL,
  last_seen INTEGER NOT NULL,
  step_up_failures INTEGER NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS posture_console_sessions_last_seen ON posture_console_sessions (last_seen);
CREATE INDEX IF NOT EXISTS posture_console_sessions_created ON posture_console_sessions (created);
CREATE TABLE IF NOT EXISTS posture_console_challenges (
  scope TEXT NOT NULL,
  kind TEXT NOT NULL,
  challenge TEXT NOT NULL,
  at INTEGER NOT NULL,
  PRIMARY KEY (scope, kind)
) STRICT;`;

/** A stored session; PostgreSQL returns its bigint columns as strings. */
export interface SessionRow {
  user: string;
  csrf: string;
  created: number | string;
  last_seen: number | string;
  step_up_failures: number;
}

export const toSession = (row: SessionRow): ConsoleSession => ({
  user: row.user,
  csrf: row.csrf,
  created: Number(row.created),
  lastSeen: Number(row.last_seen),
  stepUpFailures: Number(row.step_up_failures),
});

/**
 * Console sessions in the SQLite file at `path` (where the console users are), created if
 * missing: consoles on one machine over one file share their logins.
 */
export function openSqliteConsoleSessions(path: string): ConsoleSessions {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  let db: Database.Database;
  try {
    db = new Database(path);
    db.pragma('busy_timeout = 5000');
    if (path !== ':memory:' && db.pragma('journal_mode', { simple: true }) !== 'wal')
      db.pragma('journal_mode = WAL');
    db.exec(SCHEMA);
  } catch (error) {
    throw new Error(`cannot open the console sessions store \`${path}\`: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const statements = {
    create: db.prepare(
      `INSERT INTO posture_console_sessions (id_hash, user, csrf, created, last_seen, step_up_failures)
       VALUES (@id_hash, @user, @csrf, @created, @last_seen, @step_up_failures)`,
    ),
    get: db.prepare(
      'SELECT user, csrf, created, last_seen, step_up_failures FROM posture_console_sessions WHERE id_hash = ?',
    ),
    touch: db.prepare(
      'UPDATE posture_console_sessions SET last_seen = max(last_seen, @at) WHERE id_hash = @id_hash',
    ),
    remove: db.prepare('DELETE FROM posture_console_sessions WHERE id_hash = ?'),
    removeChallenges: db.prepare('DELETE FROM posture_console_challenges WHERE scope = ? AND kind <> ?'),
    fail: db.prepare(
      `UPDATE posture_console_sessions SET step_up_failures = step_up_failures + 1 WHERE id_hash = ?
       RETURNING step_up_failures`,
    ),
    clear: db.prepare('UPDATE posture_console_sessions SET step_up_failures = 0 WHERE id_hash = ?'),
    setChallenge: db.prepare(
      `INSERT INTO posture_console_challenges (scope, kind, challenge, at) VALUES (@scope, @kind, @challenge, @at)
       ON CONFLICT (scope, kind) DO UPDATE SET challenge = excluded.challenge, at = excluded.at`,
    ),
    // One statement: of two connections taking it at once, one deletes the row and gets it.
    takeChallenge: db.prepare(
      'DELETE FROM posture_console_challenges WHERE scope = @scope AND kind = @kind RETURNING challenge, at',
    ),
    sweepSessions: db.prepare(
      'DELETE FROM posture_console_sessions WHERE last_seen < @lastSeen OR created < @created',
    ),
    sweepChallenges: db.prepare('DELETE FROM posture_console_challenges WHERE at < ?'),
  };
  const remove = db.transaction((key: string) => {
    statements.remove.run(key);
    statements.removeChallenges.run(key, 'login');
  });
  return {
    async create(id, session) {
      statements.create.run({
        id_hash: sessionKey(id),
        user: session.user,
        csrf: session.csrf,
        created: session.created,
        last_seen: session.lastSeen,
        step_up_failures: session.stepUpFailures,
      });
    },
    async get(id) {
      const row = statements.get.get(sessionKey(id)) as SessionRow | undefined;
      return row ? toSession(row) : undefined;
    },
    async touch(id, at) {
      statements.touch.run({ id_hash: sessionKey(id), at });
    },
    async remove(id) {
      remove.immediate(sessionKey(id));
    },
    async addStepUpFailure(id) {
      const row = statements.fail.get(sessionKey(id)) as { step_up_failures: number } | undefined;
      return row?.step_up_failures ?? 0;
    },
    async clearStepUpFailures(id) {
      statements.clear.run(sessionKey(id));
    },
    async setChallenge(scope, challenge) {
      statements.setChallenge.run({
        ...challengeKey(scope),
        challenge: challenge.challenge,
        at: challenge.at,
      });
    },
    async takeChallenge(scope) {
      const row = statements.takeChallenge.get(challengeKey(scope)) as Challenge | undefined;
      return row ? { challenge: row.challenge, at: row.at } : undefined;
    },
    async sweep(before) {
      statements.sweepSessions.run({ lastSeen: before.lastSeen, created: before.created });
      statements.sweepChallenges.run(before.challenge);
    },
    async close() {
      db.close();
    },
  };
}
