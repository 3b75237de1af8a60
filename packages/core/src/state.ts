/**
 * The execution state stateful rules read and update: plain JSON-shaped records, so the same core
 * runs on in-memory state here and on records loaded from and stored to Redis by the enforcer.
 */
export interface SessionState {
  /** Calls allowed in this session. */
  calls: number;
  /** Data classes the session has carried (`untrusted`, `pii`, …). */
  labels: string[];
  /** Recent allowed calls, oldest first: a fingerprint of tool and arguments, and when. */
  history: Array<{ fp: string; at: number }>;
}

export interface DecisionState {
  /** The session's record, created empty on first use. */
  session(id: string): SessionState;
  /** Times of the allowed calls counted against one rate limit, oldest first. */
  rateLog(key: string): number[];
}

export interface MemoryStateOptions {
  /** Sessions kept before the oldest is forgotten; bounds memory under many sessions. */
  maxSessions?: number;
  maxRateKeys?: number;
}

/** State in this process's memory: for the SDK, `posture eval` and a single gateway. */
export function createMemoryState(options: MemoryStateOptions = {}): DecisionState {
  const maxSessions = options.maxSessions ?? 100_000;
  const maxRateKeys = options.maxRateKeys ?? 100_000;
  const sessions = new Map<string, SessionState>();
  const rates = new Map<string, number[]>();
  return {
    session(id) {
      let record = sessions.get(id);
      if (!record) {
        if (sessions.size >= maxSessions) sessions.delete(sessions.keys().next().value!);
        record = { calls: 0, labels: [], history: [] };
        sessions.set(id, record);
      }
      return record;
    },
    rateLog(key) {
      let log = rates.get(key);
      if (!log) {
        if (rates.size >= maxRateKeys) rates.delete(rates.keys().next().value!);
        log = [];
        rates.set(key, log);
      }
      return log;
    },
  };
}
