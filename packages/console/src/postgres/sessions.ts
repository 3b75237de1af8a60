// Console login sessions in PostgreSQL, shared by every console replica: a cookie made by one is
// accepted by all, a logout on one ends it on all. Rows are keyed by the SHA-256 of the cookie.
// A challenge is taken by DELETE … RETURNING, so of two replicas answering one at once, one gets
// it; step-up failures count with one UPDATE … RETURNING, so replicas cannot lose a failure. A
// failed login is counted in a transaction holding an advisory lock per key (user, address), so
// replicas count one at a time per key and none passes a limit another just reached.
import type pg from 'pg';
import {
  challengeKey,
  sessionKey,
  toSession,
  type Challenge,
  type ConsoleSessions,
  type LoginCount,
  type SessionRow,
} from '../sessions.js';
import { guardClient } from '@posture/storage';
import { openConsolePool, type PostgresConsoleOptions } from './schema.js';

export type PostgresConsoleSessionsOptions = PostgresConsoleOptions;

export async function openPostgresConsoleSessions(
  options: PostgresConsoleSessionsOptions,
): Promise<ConsoleSessions> {
  const { pool, owned } = await openConsolePool(options, 'the console sessions store');
  let closed = false;
  const query = <R extends pg.QueryResultRow>(text: string, values: unknown[]) => {
    if (closed) throw new Error('the console sessions store is closed');
    return pool.query<R>(text, values);
  };
  return {
    async create(id, session) {
      await query(
        `INSERT INTO posture_console_sessions (id_hash, user_name, csrf, created, last_seen, step_up_failures)
         VALUES ($1, $2, $3, $4, $5, $6)`,
        [
          sessionKey(id),
          session.user,
          session.csrf,
          session.created,
          session.lastSeen,
          session.stepUpFailures,
        ],
      );
    },
    async get(id) {
      const { rows } = await query<SessionRow>(
        `SELECT user_name AS "user", csrf, created, last_seen, step_up_failures
         FROM posture_console_sessions WHERE id_hash = $1`,
        [sessionKey(id)],
      );
      return rows[0] ? toSession(rows[0]) : undefined;
    },
    async touch(id, at) {
      await query(
        'UPDATE posture_console_sessions SET last_seen = $2 WHERE id_hash = $1 AND last_seen < $2',
        [sessionKey(id), at],
      );
    },
    async remove(id) {
      const key = sessionKey(id);
      // One statement: the session and its challenges go together.
      await query(
        `WITH gone AS (DELETE FROM posture_console_sessions WHERE id_hash = $1)
         DELETE FROM posture_console_challenges WHERE scope = $1 AND kind <> 'login'`,
        [key],
      );
    },
    async addStepUpFailure(id) {
      const { rows } = await query<{ step_up_failures: number }>(
        `UPDATE posture_console_sessions SET step_up_failures = step_up_failures + 1 WHERE id_hash = $1
         RETURNING step_up_failures`,
        [sessionKey(id)],
      );
      return rows[0]?.step_up_failures ?? 0;
    },
    async clearStepUpFailures(id) {
      await query(
        'UPDATE posture_console_sessions SET step_up_failures = 0 WHERE id_hash = $1 AND step_up_failures <> 0',
        [sessionKey(id)],
      );
    },
    async setChallenge(scope, challenge) {
      const { scope: owner, kind } = challengeKey(scope);
      await query(
        `INSERT INTO posture_console_challenges (scope, kind, challenge, at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (scope, kind) DO UPDATE SET challenge = excluded.challenge, at = excluded.at`,
        [owner, kind, challenge.challenge, challenge.at],
      );
    },
    async takeChallenge(scope): Promise<Challenge | undefined> {
      const { scope: owner, kind } = challengeKey(scope);
      const { rows } = await query<{ challenge: string; at: string }>(
        'DELETE FROM posture_console_challenges WHERE scope = $1 AND kind = $2 RETURNING challenge, at',
        [owner, kind],
      );
      return rows[0] ? { challenge: rows[0].challenge, at: Number(rows[0].at) } : undefined;
    },
    async countLoginFailure(attempt, limits, at, since): Promise<LoginCount> {
      if (closed) throw new Error('the console sessions store is closed');
      const client = await pool.connect();
      const unguard = guardClient(client);
      let failure: Error | undefined;
      try {
        await client.query('BEGIN');
        // In one order everywhere, so two replicas locking the same keys cannot deadlock.
        const keys = [...new Set(limits.map((l) => l.key))].sort();
        for (const key of keys) {
          await client.query(`SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, [
            `posture_console_login:${key}`,
          ]);
        }
        const { rows } = await client.query<{ key: string; n: number; oldest: string }>(
          `SELECT key, count(*)::int AS n, min(at) AS oldest FROM posture_console_login_failures
           WHERE key = ANY($1) AND at >= $2 GROUP BY key`,
          [keys, since],
        );
        for (const { key, limit } of limits) {
          const row = rows.find((r) => r.key === key);
          if ((row?.n ?? 0) >= limit) {
            await client.query('COMMIT');
            return { counted: false, key, oldest: row ? Number(row.oldest) : at };
          }
        }
        await client.query(
          `INSERT INTO posture_console_login_failures (key, attempt, at)
           SELECT key, $2, $3 FROM unnest($1::text[]) AS key ON CONFLICT (key, attempt) DO NOTHING`,
          [keys, attempt, at],
        );
        await client.query('COMMIT');
        return { counted: true };
      } catch (error) {
        failure = error as Error;
        await client.query('ROLLBACK').catch(() => {});
        throw error;
      } finally {
        // A client whose connection failed is discarded, not returned to the pool.
        unguard();
        client.release(failure);
      }
    },
    async forgiveLoginFailure(attempt, keys) {
      await query('DELETE FROM posture_console_login_failures WHERE key = ANY($1) AND attempt = $2', [
        [...keys],
        attempt,
      ]);
    },
    async clearLoginFailures(key) {
      await query('DELETE FROM posture_console_login_failures WHERE key = $1', [key]);
    },
    async sweep(before) {
      await query('DELETE FROM posture_console_sessions WHERE last_seen < $1 OR created < $2', [
        before.lastSeen,
        before.created,
      ]);
      await query('DELETE FROM posture_console_challenges WHERE at < $1', [before.challenge]);
      await query('DELETE FROM posture_console_login_failures WHERE at < $1', [before.loginFailure]);
    },
    async close() {
      if (closed) return;
      closed = true;
      if (owned) await pool.end();
    },
  };
}
