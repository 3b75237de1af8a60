// Sessions in this process's memory: one gateway, no sharing. Records are copied in and out so a
// caller cannot change a stored one behind the store's back, as with the shared backends.
import type { SessionOpenResult, SessionRecord, SessionStore, TokenRevocation } from '../ports.js';
import { checkRevocation, checkSessionJson, checkSessionRecord } from '../session-rules.js';

export interface MemorySessionStoreOptions {
  /** Sessions kept at most (100,000 unless set); past that, expired ones go, then the oldest. */
  maxSessions?: number;
}

export function createMemorySessionStore(options: MemorySessionStoreOptions = {}): SessionStore {
  const maxSessions = options.maxSessions ?? 100_000;
  const sessions = new Map<string, SessionRecord>();
  /** jti → the session it opened, until the token expires. */
  const spent = new Map<string, { session: string; expiresAt: number }>();
  const revoked = new Map<string, TokenRevocation>();
  let version = 0;
  let closed = false;
  const check = () => {
    if (closed) throw new Error('the session store is closed');
  };
  const copy = (record: SessionRecord): SessionRecord => structuredClone(record);
  const sweep = (now: number) => {
    for (const [id, record] of sessions) if (record.expires_at <= now) sessions.delete(id);
    for (const [jti, binding] of spent) if (binding.expiresAt <= now) spent.delete(jti);
  };

  return {
    async open(input, now): Promise<SessionOpenResult> {
      check();
      checkSessionRecord(input, now);
      const bound = spent.get(input.jti);
      if (bound && bound.expiresAt > now) return { ok: false, code: 'replay', session: bound.session };
      if (sessions.size >= maxSessions || spent.size >= maxSessions) sweep(now);
      // Still full: the oldest go (a Map iterates in insertion order).
      while (sessions.size >= maxSessions) sessions.delete(sessions.keys().next().value!);
      while (spent.size >= maxSessions) spent.delete(spent.keys().next().value!);
      const record = { ...structuredClone(input), version: ++version };
      sessions.set(record.id, record);
      spent.set(record.jti, { session: record.id, expiresAt: record.expires_at });
      return { ok: true, session: copy(record) };
    },
    async get(id, now) {
      check();
      const record = sessions.get(id);
      return record && record.expires_at > now ? copy(record) : undefined;
    },
    async plan(id, now) {
      check();
      const record = sessions.get(id);
      if (!record || record.expires_at <= now) return undefined;
      return record.plan === undefined
        ? { version: record.version }
        : { plan: structuredClone(record.plan), version: record.version };
    },
    async setPlan(id, plan, expected, now) {
      check();
      if (plan !== undefined) checkSessionJson('plan', plan);
      const record = sessions.get(id);
      if (!record || record.expires_at <= now || record.version !== expected) return undefined;
      const next: SessionRecord = { ...record, version: ++version };
      if (plan === undefined) delete next.plan;
      else next.plan = structuredClone(plan);
      sessions.set(id, next);
      return copy(next);
    },
    async end(id) {
      check();
      sessions.delete(id);
    },
    async revoke(revocation, now) {
      check();
      checkRevocation(revocation, now);
      const key = `${revocation.subject}:${revocation.id}`;
      const before = revoked.get(key);
      revoked.set(key, {
        ...revocation,
        at: Math.max(revocation.at, before?.at ?? 0),
        until: Math.max(revocation.until, before?.until ?? 0),
      });
    },
    async revocations(now) {
      check();
      for (const [key, revocation] of revoked) if (revocation.until <= now) revoked.delete(key);
      return [...revoked.values()].map((revocation) => ({ ...revocation }));
    },
    async close() {
      closed = true;
    },
  };
}
