/**
 * The execution state stateful rules read and update: plain JSON-shaped records, so the same core
 * runs on in-memory state here and on records loaded from and stored to Redis by the enforcer.
 */
export interface SessionState {
  /** Calls allowed in this session. */
  calls: number;
  /** Data classes the session has carried (`untrusted`, `pii`, …). */
  labels: string[];
  /**
   * Recent allowed calls, oldest first, flat as `[fingerprint, time, fingerprint, time, …]`:
   * numbers only, so it costs no object per call and stores as-is in Redis.
   */
  history: number[];
}

/**
 * The times of the last `limit` allowed calls, as a ring: `times[next]` is the oldest once the
 * ring is full. A call is over the limit exactly when that oldest time is still inside the
 * window, so an exact sliding-window log costs O(1) per call and `limit` numbers of memory.
 */
export interface RateLog {
  times: number[];
  next: number;
}

export interface DecisionState {
  /** The session's record, created empty on first use. */
  session(id: string): SessionState;
  /** The allowed calls counted against one rate limit. */
  rateLog(key: string): RateLog;
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
  const rates = new Map<string, RateLog>();
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
        log = { times: [], next: 0 };
        rates.set(key, log);
      }
      return log;
    },
  };
}
