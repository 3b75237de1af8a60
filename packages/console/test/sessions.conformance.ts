// The contract every ConsoleSessions backend must pass (memory, SQLite, PostgreSQL): a session
// is read back as stored and only under its cookie value, which the store never keeps in clear;
// `lastSeen` only moves forward; removal takes the session's challenges with it; a challenge is
// taken once; step-up failures count; failed logins count per key within their window, up to a
// limit and never past it, and are forgiven or cleared; a sweep deletes what is past the given
// times. For stores several consoles share: one store's session is the other's, a removal holds on
// both, of several taking one challenge at once one gets it, and failed logins counted at once
// through several stores stop at one limit.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { sessionKey, type ConsoleSession, type ConsoleSessions } from '../src/sessions.js';

export interface SessionsLocation {
  open(): Promise<ConsoleSessions>;
  /** Everything the backend keeps, as text (persistent backends). */
  dump?(): Promise<string>;
}

export interface SessionsBackend {
  /** Whether several stores over one location share their sessions (SQLite, PostgreSQL). */
  shared: boolean;
  fresh(): Promise<SessionsLocation>;
}

const T0 = Date.parse('2026-12-01T12:00:00.000Z');
const newId = () => randomBytes(32).toString('base64url');
const session = (user: string, at = T0): ConsoleSession => ({
  user,
  csrf: randomBytes(32).toString('base64url'),
  created: at,
  lastSeen: at,
  stepUpFailures: 0,
});

export function defineConsoleSessionsContract(backend: SessionsBackend): void {
  const withStore = async (
    body: (sessions: ConsoleSessions, location: SessionsLocation) => Promise<void>,
  ) => {
    const location = await backend.fresh();
    const sessions = await location.open();
    try {
      await body(sessions, location);
    } finally {
      await sessions.close();
    }
  };

  it('reads a session back as stored, under its id only', () =>
    withStore(async (sessions) => {
      const id = newId();
      const stored = session('bob');
      await sessions.create(id, stored);
      expect(await sessions.get(id)).toEqual(stored);
      expect(await sessions.get(newId())).toBeUndefined();
      expect(await sessions.get(sessionKey(id))).toBeUndefined();
      // A copy: changing what was read changes nothing stored.
      const read = (await sessions.get(id))!;
      read.user = 'mallory';
      expect((await sessions.get(id))!.user).toBe('bob');
    }));

  it('moves lastSeen only forward', () =>
    withStore(async (sessions) => {
      const id = newId();
      await sessions.create(id, session('bob'));
      await sessions.touch(id, T0 + 5_000);
      expect((await sessions.get(id))!.lastSeen).toBe(T0 + 5_000);
      await sessions.touch(id, T0 + 1_000);
      expect((await sessions.get(id))!.lastSeen).toBe(T0 + 5_000);
      expect((await sessions.get(id))!.created).toBe(T0);
      await sessions.touch(newId(), T0);
    }));

  it('removes a session with its challenges, and leaves the others', () =>
    withStore(async (sessions) => {
      const [one, two] = [newId(), newId()];
      await sessions.create(one, session('bob'));
      await sessions.create(two, session('bob'));
      const challenge = { challenge: 'c-1', at: T0 };
      await sessions.setChallenge({ session: one, kind: 'stepUp' }, challenge);
      await sessions.setChallenge({ session: two, kind: 'stepUp' }, challenge);
      await sessions.setChallenge({ login: 'bob' }, challenge);
      await sessions.remove(one);
      await sessions.remove(one);
      expect(await sessions.get(one)).toBeUndefined();
      expect(await sessions.get(two)).toBeDefined();
      // A new session under the old id (never in practice) finds no old challenge.
      await sessions.create(one, session('bob'));
      expect(await sessions.takeChallenge({ session: one, kind: 'stepUp' })).toBeUndefined();
      expect(await sessions.takeChallenge({ session: two, kind: 'stepUp' })).toEqual(challenge);
      expect(await sessions.takeChallenge({ login: 'bob' })).toEqual(challenge);
    }));

  it('gives a challenge once, per scope and kind; a new one replaces the old', () =>
    withStore(async (sessions) => {
      const id = newId();
      await sessions.create(id, session('bob'));
      const register = { session: id, kind: 'register' } as const;
      const stepUp = { session: id, kind: 'stepUp' } as const;
      await sessions.setChallenge(register, { challenge: 'r-1', at: T0 });
      await sessions.setChallenge(register, { challenge: 'r-2', at: T0 + 1 });
      await sessions.setChallenge(stepUp, { challenge: 's-1', at: T0 + 2 });
      await sessions.setChallenge({ login: 'bob' }, { challenge: 'l-1', at: T0 + 3 });
      // A user named like the session's key is another scope.
      await sessions.setChallenge({ login: sessionKey(id) }, { challenge: 'l-2', at: T0 + 4 });
      expect(await sessions.takeChallenge(register)).toEqual({ challenge: 'r-2', at: T0 + 1 });
      expect(await sessions.takeChallenge(register)).toBeUndefined();
      expect(await sessions.takeChallenge(stepUp)).toEqual({ challenge: 's-1', at: T0 + 2 });
      expect(await sessions.takeChallenge(stepUp)).toBeUndefined();
      expect(await sessions.takeChallenge({ login: 'alice' })).toBeUndefined();
      await sessions.remove(id);
      expect(await sessions.takeChallenge({ login: 'bob' })).toEqual({ challenge: 'l-1', at: T0 + 3 });
      expect(await sessions.takeChallenge({ login: sessionKey(id) })).toEqual({
        challenge: 'l-2',
        at: T0 + 4,
      });
      expect(await sessions.takeChallenge({ login: 'bob' })).toBeUndefined();
    }));

  it('counts failed step-ups until cleared', () =>
    withStore(async (sessions) => {
      const id = newId();
      await sessions.create(id, session('bob'));
      expect(await sessions.addStepUpFailure(id)).toBe(1);
      expect(await sessions.addStepUpFailure(id)).toBe(2);
      expect((await sessions.get(id))!.stepUpFailures).toBe(2);
      await sessions.clearStepUpFailures(id);
      expect((await sessions.get(id))!.stepUpFailures).toBe(0);
      expect(await sessions.addStepUpFailure(id)).toBe(1);
      expect(await sessions.addStepUpFailure(newId())).toBe(0);
    }));

  it('sweeps sessions idle or alive too long, and old challenges', () =>
    withStore(async (sessions) => {
      const [idle, old, fresh] = [newId(), newId(), newId()];
      await sessions.create(idle, session('a', T0));
      await sessions.create(old, { ...session('b', T0 - 10_000), lastSeen: T0 + 9_000 });
      await sessions.create(fresh, session('c', T0 + 5_000));
      await sessions.setChallenge({ login: 'a' }, { challenge: 'old', at: T0 });
      await sessions.setChallenge({ login: 'b' }, { challenge: 'new', at: T0 + 5_000 });
      await sessions.sweep({ lastSeen: T0 + 1, created: T0 - 5_000, challenge: T0 + 1, loginFailure: T0 });
      expect(await sessions.get(idle)).toBeUndefined();
      expect(await sessions.get(old)).toBeUndefined();
      expect(await sessions.get(fresh)).toBeDefined();
      expect(await sessions.takeChallenge({ login: 'a' })).toBeUndefined();
      expect(await sessions.takeChallenge({ login: 'b' })).toEqual({ challenge: 'new', at: T0 + 5_000 });
    }));

  /** Whether `key` holds at least `n` failures since `since` (asked by counting a probe, then taking it back). */
  const holds = async (sessions: ConsoleSessions, key: string, n: number, since = T0 - 60_000) => {
    const probe = newId();
    const result = await sessions.countLoginFailure(probe, [{ key, limit: n }], T0, since);
    if (result.counted) await sessions.forgiveLoginFailure(probe, [key]);
    return !result.counted;
  };
  /** Exactly `n` failures under `key`. */
  const failuresAre = async (sessions: ConsoleSessions, key: string, n: number, since?: number) =>
    expect([await holds(sessions, key, n, since), await holds(sessions, key, n + 1, since)]).toEqual([
      true,
      false,
    ]);

  it('counts failed logins per key up to the limit; a full key counts nothing, and names itself', () =>
    withStore(async (sessions) => {
      const limits = [
        { key: 'user:bob', limit: 2 },
        { key: 'address:10.0.0.1', limit: 5 },
      ];
      expect(await sessions.countLoginFailure('a-1', limits, T0, T0 - 60_000)).toEqual({ counted: true });
      expect(await sessions.countLoginFailure('a-2', limits, T0 + 10, T0 - 60_000)).toEqual({
        counted: true,
      });
      expect(await sessions.countLoginFailure('a-3', limits, T0 + 20, T0 - 60_000)).toEqual({
        counted: false,
        key: 'user:bob',
        oldest: T0,
      });
      // The refused attempt was counted under no key.
      await failuresAre(sessions, 'address:10.0.0.1', 2);
      await failuresAre(sessions, 'user:bob', 2);
      await failuresAre(sessions, 'user:alice', 0);
      // Only failures inside the window count, and the oldest named is the oldest inside it.
      await failuresAre(sessions, 'user:bob', 1, T0 + 1);
      expect(
        await sessions.countLoginFailure('a-4', [{ key: 'user:bob', limit: 1 }], T0 + 30, T0 + 1),
      ).toEqual({ counted: false, key: 'user:bob', oldest: T0 + 10 });
      expect(await sessions.countLoginFailure('a-5', limits, T0 + 40, T0 + 11)).toEqual({ counted: true });
    }));

  it('forgives one attempt under the keys given, and clears a key', () =>
    withStore(async (sessions) => {
      const limits = [
        { key: 'user:bob', limit: 10 },
        { key: 'address:10.0.0.1', limit: 10 },
      ];
      for (const attempt of ['a-1', 'a-2', 'a-3']) await sessions.countLoginFailure(attempt, limits, T0, T0);
      await sessions.forgiveLoginFailure('a-2', ['user:bob', 'address:10.0.0.1']);
      await sessions.forgiveLoginFailure('a-missing', ['user:bob']);
      await failuresAre(sessions, 'user:bob', 2);
      await failuresAre(sessions, 'address:10.0.0.1', 2);
      await sessions.clearLoginFailures('user:bob');
      await failuresAre(sessions, 'user:bob', 0);
      await failuresAre(sessions, 'address:10.0.0.1', 2);
    }));

  it('sweeps failed logins older than given', () =>
    withStore(async (sessions) => {
      await sessions.countLoginFailure('old', [{ key: 'user:bob', limit: 10 }], T0 - 1_000, 0);
      await sessions.countLoginFailure('new', [{ key: 'user:bob', limit: 10 }], T0, 0);
      await sessions.sweep({ lastSeen: 0, created: 0, challenge: 0, loginFailure: T0 - 500 });
      await failuresAre(sessions, 'user:bob', 1, 0);
    }));

  it('refuses calls once closed', async () => {
    const location = await backend.fresh();
    const sessions = await location.open();
    await sessions.close();
    await expect(sessions.get(newId())).rejects.toThrow();
    await expect(sessions.create(newId(), session('bob'))).rejects.toThrow();
  });

  it('keeps the SHA-256 of the session id, never the id', async () => {
    const location = await backend.fresh();
    if (!location.dump) return;
    const sessions = await location.open();
    const id = newId();
    await sessions.create(id, session('bob'));
    await sessions.setChallenge({ session: id, kind: 'stepUp' }, { challenge: 'c', at: T0 });
    await sessions.close();
    const dump = await location.dump();
    expect(dump).toContain(sessionKey(id));
    expect(dump).not.toContain(id);
  });

  // Only backends whose stores share state have these to pass (memory stores do not share).
  if (backend.shared) {
    describe('shared by several stores', () => {
      const withTwo = async (body: (a: ConsoleSessions, b: ConsoleSessions) => Promise<void>) => {
        const location = await backend.fresh();
        const a = await location.open();
        const b = await location.open();
        try {
          await body(a, b);
        } finally {
          await a.close();
          await b.close();
        }
      };

      it('a session one store made is read, touched, counted and removed through the other', () =>
        withTwo(async (a, b) => {
          const id = newId();
          const stored = session('bob');
          await a.create(id, stored);
          expect(await b.get(id)).toEqual(stored);
          await b.touch(id, T0 + 1_000);
          expect(await b.addStepUpFailure(id)).toBe(1);
          expect(await a.addStepUpFailure(id)).toBe(2);
          expect(await a.get(id)).toEqual({ ...stored, lastSeen: T0 + 1_000, stepUpFailures: 2 });
          await a.setChallenge({ session: id, kind: 'stepUp' }, { challenge: 'c', at: T0 });
          expect(await b.takeChallenge({ session: id, kind: 'stepUp' })).toEqual({ challenge: 'c', at: T0 });
          await b.remove(id);
          expect(await a.get(id)).toBeUndefined();
        }));

      it('of several taking one challenge at once, exactly one gets it', () =>
        withTwo(async (a, b) => {
          for (let round = 0; round < 5; round++) {
            const id = newId();
            await a.create(id, session('bob'));
            await a.setChallenge({ session: id, kind: 'stepUp' }, { challenge: `c-${round}`, at: T0 });
            const taken = await Promise.all(
              [a, b, a, b].map((s) => s.takeChallenge({ session: id, kind: 'stepUp' })),
            );
            expect(taken.filter((t) => t !== undefined)).toEqual([{ challenge: `c-${round}`, at: T0 }]);
            const failures = await Promise.all([a, b, a, b].map((s) => s.addStepUpFailure(id)));
            expect(failures.sort()).toEqual([1, 2, 3, 4]);
          }
        }));

      it('failed logins counted at once through several stores stop at one limit', () =>
        withTwo(async (a, b) => {
          for (let round = 0; round < 3; round++) {
            const limits = [
              { key: `user:racer${round}`, limit: 3 },
              { key: `address:10.0.0.${round}`, limit: 100 },
            ];
            const results = await Promise.all(
              Array.from({ length: 12 }, (_, i) =>
                (i % 2 ? a : b).countLoginFailure(`r${round}-${i}`, limits, T0 + i, T0 - 60_000),
              ),
            );
            expect(results.filter((r) => r.counted)).toHaveLength(3);
            // Each store sees the other's failures: the limit is one, not one per store.
            await failuresAre(a, `user:racer${round}`, 3);
            await failuresAre(b, `address:10.0.0.${round}`, 3);
          }
        }));
    });
  }
}
