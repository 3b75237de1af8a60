// Console login sessions behind a small port, so that consoles sharing a store share their logins:
// a cookie made by one is accepted by another, and a logout or an expiry on one holds on all. In
// memory for one process, in the SQLite file beside the users, or in PostgreSQL
// (postgres/sessions.ts). Stores key sessions by the SHA-256 of the cookie value, never the value
// itself: whoever reads the table cannot log in with what they read. Expiry is the console's
// decision (its clock, its limits); a store keeps the times and deletes what `sweep` names. Failed
// logins are counted here too, per user name and per client address, so that consoles sharing a
// store enforce one limit: an attempt is counted (atomically, against the limit) before its password
// is checked, and forgiven when the password was right.
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

/** At most `limit` failed logins under `key` (a user name, a client address) in the window. */
export interface LoginLimit {
  key: string;
  limit: number;
}

/** Whether an attempt was counted; if not, the key that is full and its oldest failure in the window. */
export type LoginCount = { counted: true } | { counted: false; key: string; oldest: number };

/** What `sweep` deletes: sessions idle or alive too long, and challenges and failed logins older. */
export interface SweepBefore {
  lastSeen: number;
  created: number;
  challenge: number;
  loginFailure: number;
}

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
  /**
   * Counts login attempt `attempt` (a random id) as failed at `at` under every key of `limits`,
   * unless one of them already holds its `limit` of failures at or after `since`: then nothing is
   * counted, and the answer names that key and its oldest failure in the window. One atomic step,
   * so that attempts racing on consoles sharing the store cannot pass one limit together.
   */
  countLoginFailure(
    attempt: string,
    limits: readonly LoginLimit[],
    at: number,
    since: number,
  ): Promise<LoginCount>;
  /** Takes the attempt back under the keys: the password was right, or was never checked. */
  forgiveLoginFailure(attempt: string, keys: readonly string[]): Promise<void>;
  /** Forgets every failure under the key (its user logged in). */
  clearLoginFailures(key: string): Promise<void>;
  /** Deletes sessions idle since or created before the given times, and older challenges and failures. */
  sweep(before: SweepBefore): Promise<void>;
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
const MAX_MEMORY_FAILURE_KEYS = 100_000;

export function createMemoryConsoleSessions(): ConsoleSessions {
  const sessions = new Map<string, ConsoleSession>();
  const challenges = new Map<string, Challenge & { scope: string }>();
  /** Failed logins: key → attempt → when. */
  const failures = new Map<string, Map<string, number>>();
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
    async countLoginFailure(attempt, limits, at, since) {
      open();
      for (const { key, limit } of limits) {
        const times = [...(failures.get(key)?.values() ?? [])].filter((t) => t >= since);
        if (times.length >= limit)
          return { counted: false, key, oldest: times.length > 0 ? Math.min(...times) : at };
      }
      // Only failed attempts make keys; still, memory stays bounded.
      if (failures.size >= MAX_MEMORY_FAILURE_KEYS) failures.clear();
      for (const { key } of limits) {
        const attempts = failures.get(key) ?? new Map<string, number>();
        attempts.set(attempt, at);
        failures.set(key, attempts);
      }
      return { counted: true };
    },
    async forgiveLoginFailure(attempt, keys) {
      open();
      for (const key of keys) {
        const attempts = failures.get(key);
        attempts?.delete(attempt);
        if (attempts?.size === 0) failures.delete(key);
      }
    },
    async clearLoginFailures(key) {
      open();
      failures.delete(key);
    },
    async sweep(before) {
      open();
      for (const [key, session] of sessions) {
        if (session.lastSeen < before.lastSeen || session.created < before.created) sessions.delete(key);
      }
      for (const [key, challenge] of challenges) if (challenge.at < before.challenge) challenges.delete(key);
      for (const [key, attempts] of failures) {
        for (const [attempt, at] of attempts) if (at < before.loginFailure) attempts.delete(attempt);
        if (attempts.size === 0) failures.delete(key);
      }
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
) STRICT;
CREATE TABLE IF NOT EXISTS posture_console_login_failures (
  key TEXT NOT NULL,
  attempt TEXT NOT NULL,
  at INTEGER NOT NULL,
  PRIMARY KEY (key, attempt)
) STRICT;
CREATE INDEX IF NOT EXISTS posture_console_login_failures_at ON posture_console_login_failures (at);`;

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
    failures: db.prepare(
      `SELECT count(*) AS n, min(at) AS oldest FROM posture_console_login_failures
       WHERE key = @key AND at >= @since`,
    ),
    addFailure: db.prepare(
      `INSERT INTO posture_console_login_failures (key, attempt, at) VALUES (@key, @attempt, @at)
       ON CONFLICT (key, attempt) DO NOTHING`,
    ),
    forgive: db.prepare('DELETE FROM posture_console_login_failures WHERE key = ? AND attempt = ?'),
    clearFailures: db.prepare('DELETE FROM posture_console_login_failures WHERE key = ?'),
    sweepFailures: db.prepare('DELETE FROM posture_console_login_failures WHERE at < ?'),
  };
  // Run as BEGIN IMMEDIATE: the write lock is taken before counting, so consoles on one file count
  // one at a time, and none adds a failure past a limit another just reached.
  const countFailure = db.transaction(
    (attempt: string, limits: readonly LoginLimit[], at: number, since: number): LoginCount => {
      for (const { key, limit } of limits) {
        const row = statements.failures.get({ key, since }) as { n: number; oldest: number | null };
        if (row.n >= limit) return { counted: false, key, oldest: row.oldest ?? at };
      }
      for (const { key } of limits) statements.addFailure.run({ key, attempt, at });
      return { counted: true };
    },
  );
  const forgive = db.transaction((attempt: string, keys: readonly string[]) => {
    for (const key of keys) statements.forgive.run(key, attempt);
  });
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
    async countLoginFailure(attempt, limits, at, since) {
      return countFailure.immediate(attempt, limits, at, since);
    },
    async forgiveLoginFailure(attempt, keys) {
      forgive(attempt, keys);
    },
    async clearLoginFailures(key) {
      statements.clearFailures.run(key);
    },
    async sweep(before) {
      statements.sweepSessions.run({ lastSeen: before.lastSeen, created: before.created });
      statements.sweepChallenges.run(before.challenge);
      statements.sweepFailures.run(before.loginFailure);
    },
    async close() {
      db.close();
    },
  };
}
