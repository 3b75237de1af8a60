// Counters in this process's memory: one process, no conflicts (a transaction runs start to end
// without yielding). It holds the records as objects and gives `fn` copies, written back only if
// `fn` returns and changed something — the semantics of the shared backends (a throwing function
// leaves no trace, reads do not extend a record's life) at a fraction of their cost, so the
// enforcer can use Counters on one gateway too.
import type { DecisionState, RateLog, SessionState, StateKeys } from '@posture/core';
import type { Counters } from '../ports.js';
import { checkNow, checkOptions, type CountersOptions } from '../counter-records.js';

export interface MemoryCountersOptions extends CountersOptions {
  /**
   * Sessions kept at most (100,000 unless set); beyond that the least recently written is
   * forgotten, as `createMemoryState` does, so many sessions cannot exhaust memory.
   */
  maxSessions?: number;
}

interface Stored<T> {
  value: T;
  expiresAt: number;
}

const sameNumbers = (a: readonly number[], b: readonly number[]) => {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
};

const sameSession = (a: SessionState, b: SessionState) =>
  a.calls === b.calls &&
  sameNumbers(a.history, b.history) &&
  a.labels.length === b.labels.length &&
  a.labels.every((label, i) => label === b.labels[i]);

const sameRate = (a: RateLog, b: RateLog) => a.next === b.next && sameNumbers(a.times, b.times);

const EMPTY_SESSION: SessionState = Object.freeze({ calls: 0, labels: [], history: [] }) as SessionState;
const EMPTY_RATE: RateLog = Object.freeze({ times: [], next: 0 }) as RateLog;

export function createMemoryCounters(options: MemoryCountersOptions = {}): Counters {
  const { sessionTtlMs } = checkOptions(options);
  const maxSessions = options.maxSessions ?? 100_000;
  if (!Number.isInteger(maxSessions) || maxSessions < 1) {
    throw new Error(`\`maxSessions\` must be a positive integer, not \`${maxSessions}\``);
  }
  const sessions = new Map<string, Stored<SessionState>>();
  const rates = new Map<string, Stored<RateLog>>();
  let transactions = 0;
  let closed = false;

  /** Drops expired records, once per as many transactions as there are records: O(1) amortised. */
  function sweep(now: number): void {
    if (++transactions < Math.max(1024, sessions.size + rates.size)) return;
    transactions = 0;
    for (const map of [sessions, rates] as const) {
      for (const [id, stored] of map) if (stored.expiresAt <= now) map.delete(id);
    }
  }

  function live<T>(map: Map<string, Stored<T>>, id: string, now: number, empty: T): T {
    const stored = map.get(id);
    return stored && stored.expiresAt > now ? stored.value : empty;
  }

  return {
    async transact<T>(keys: StateKeys, now: number, fn: (state: DecisionState) => T): Promise<T> {
      if (closed) throw new Error('the counters store is closed');
      checkNow(now);
      sweep(now);
      let session: { id: string; base: SessionState; copy: SessionState } | undefined;
      const logs: Array<{ key: string; ttlMs: number; base: RateLog; copy: RateLog }> = [];
      const state: DecisionState = {
        session(id) {
          if (id !== keys.session) throw new Error(`the session \`${id}\` was not named by stateKeys`);
          if (!session) {
            const base = live(sessions, id, now, EMPTY_SESSION);
            session = {
              id,
              base,
              copy: { calls: base.calls, labels: base.labels.slice(), history: base.history.slice() },
            };
          }
          return session.copy;
        },
        rateLog(key) {
          const found = logs.find((log) => log.key === key);
          if (found) return found.copy;
          const named = keys.rates.find((rate) => rate.key === key);
          if (!named) throw new Error(`the rate log \`${key}\` was not named by stateKeys`);
          const base = live(rates, key, now, EMPTY_RATE);
          const log = {
            key,
            ttlMs: named.windowMs,
            base,
            copy: { times: base.times.slice(), next: base.next },
          };
          logs.push(log);
          return log.copy;
        },
      };
      const result = fn(state);
      const changed =
        (session !== undefined && !sameSession(session.copy, session.base)) ||
        logs.some((log) => !sameRate(log.copy, log.base));
      if (changed) {
        if (session) {
          // Deleted first, so that the map's order is the order of last writes.
          sessions.delete(session.id);
          if (sessions.size >= maxSessions) sessions.delete(sessions.keys().next().value!);
          sessions.set(session.id, { value: session.copy, expiresAt: Math.ceil(now + sessionTtlMs) });
        }
        for (const log of logs) {
          rates.set(log.key, {
            value: log.copy,
            expiresAt: Math.ceil(now + Math.max(1, Math.ceil(log.ttlMs))),
          });
        }
      }
      return result;
    },
    async close() {
      closed = true;
      sessions.clear();
      rates.clear();
    },
  };
}
