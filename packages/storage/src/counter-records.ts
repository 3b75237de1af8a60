// What every Counters backend shares: the records a transaction names, a snapshot DecisionState
// over their loaded JSON, and the optimistic load → decide → compare-and-set loop with bounded,
// jittered retries. Backends supply only `load` and `commit`.
import type { DecisionState, RateLog, SessionState, StateKeys } from '@posture/core';

export const DEFAULT_SESSION_TTL_MS = 24 * 60 * 60 * 1000;
export const DEFAULT_MAX_ATTEMPTS = 16;

export interface CountersOptions {
  /** How long an idle session's record (calls, labels, history) is kept; 24 h unless set. */
  sessionTtlMs?: number;
  /** Attempts at a transaction that keeps conflicting with other processes before it fails; 16. */
  maxAttempts?: number;
}

/** One record a transaction names: its storage id, and how long it lives after a write. */
export interface RecordSpec {
  /** `s:` or `r:` and the JSON string of the session id or rate key: injective, and free of NUL. */
  id: string;
  kind: 'session' | 'rate';
  name: string;
  ttlMs: number;
}

export function recordSpecs(keys: StateKeys, sessionTtlMs: number): RecordSpec[] {
  const specs: RecordSpec[] = [];
  if (keys.session !== undefined) {
    specs.push({
      id: `s:${JSON.stringify(keys.session)}`,
      kind: 'session',
      name: keys.session,
      ttlMs: sessionTtlMs,
    });
  }
  for (const rate of keys.rates) {
    const id = `r:${JSON.stringify(rate.key)}`;
    if (specs.some((spec) => spec.id === id)) continue;
    specs.push({ id, kind: 'rate', name: rate.key, ttlMs: Math.max(1, Math.ceil(rate.windowMs)) });
  }
  // One order for every process: commits lock rows in it, so they cannot deadlock.
  return specs.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** A time every backend can store and compare: NaN would make every record read as expired. */
export function checkNow(now: number): void {
  if (typeof now !== 'number' || !Number.isFinite(now)) {
    throw new Error(`\`now\` must be a finite number of milliseconds, not \`${String(now)}\``);
  }
}

/** When a record written at `now` expires: whole milliseconds, rounded up, for every store. */
export function expiryOf(now: number, spec: RecordSpec): number {
  return Math.ceil(now + spec.ttlMs);
}

export function checkOptions(options: CountersOptions): Required<CountersOptions> {
  const sessionTtlMs = options.sessionTtlMs ?? DEFAULT_SESSION_TTL_MS;
  const maxAttempts = options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
  if (!Number.isInteger(sessionTtlMs) || sessionTtlMs < 1) {
    throw new Error(`\`sessionTtlMs\` must be a positive integer, not \`${sessionTtlMs}\``);
  }
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1) {
    throw new Error(`\`maxAttempts\` must be a positive integer, not \`${maxAttempts}\``);
  }
  return { sessionTtlMs, maxAttempts };
}

function isNumberArray(value: unknown): value is number[] {
  return Array.isArray(value) && value.every((item) => typeof item === 'number' && Number.isFinite(item));
}

function parseSession(id: string, json: string | undefined): SessionState {
  if (json === undefined) return { calls: 0, labels: [], history: [] };
  const value = parseRecord(id, json) as Partial<SessionState>;
  if (
    !Number.isInteger(value.calls) ||
    !Array.isArray(value.labels) ||
    !value.labels.every((label) => typeof label === 'string') ||
    !isNumberArray(value.history) ||
    value.history.length % 2 !== 0
  ) {
    throw new Error(`counters record \`${id}\` is not a session record`);
  }
  return { calls: value.calls!, labels: value.labels, history: value.history };
}

function parseRate(id: string, json: string | undefined): RateLog {
  if (json === undefined) return { times: [], next: 0 };
  const value = parseRecord(id, json) as Partial<RateLog>;
  if (
    !isNumberArray(value.times) ||
    !Number.isInteger(value.next) ||
    value.next! < 0 ||
    value.next! > value.times.length
  ) {
    throw new Error(`counters record \`${id}\` is not a rate log`);
  }
  return { times: value.times, next: value.next! };
}

function parseRecord(id: string, json: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    throw new Error(`counters record \`${id}\` is not JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new Error(`counters record \`${id}\` is not an object`);
  }
  return value as Record<string, unknown>;
}

/** A record as loaded: its JSON (`undefined` when absent or expired) and the version to compare. */
export interface Loaded<V> {
  json: string | undefined;
  version: V;
}

export interface Snapshot {
  state: DecisionState;
  /**
   * The new JSON of every record `fn` reached, if it changed any of them; `undefined` if it
   * changed none (then its reads came from one consistent load, and nothing needs committing).
   */
  writes(): Array<{ index: number; json: string }> | undefined;
}

/**
 * A DecisionState over loaded records. Records parse on first use, so a corrupt record fails only
 * the decisions that reach it, and inside decide(), which turns the error into a deny.
 */
export function openSnapshot(
  specs: readonly RecordSpec[],
  loaded: ReadonlyArray<{ json: string | undefined }>,
) {
  const values = new Array<SessionState | RateLog | undefined>(specs.length);
  const find = (kind: RecordSpec['kind'], name: string): number => {
    for (let i = 0; i < specs.length; i++) {
      if (specs[i]!.kind === kind && specs[i]!.name === name) return i;
    }
    throw new Error(
      `the ${kind === 'session' ? 'session' : 'rate log'} \`${name}\` was not named by stateKeys`,
    );
  };
  const state: DecisionState = {
    session(id) {
      const i = find('session', id);
      return (values[i] ??= parseSession(specs[i]!.id, loaded[i]!.json)) as SessionState;
    },
    rateLog(key) {
      const i = find('rate', key);
      return (values[i] ??= parseRate(specs[i]!.id, loaded[i]!.json)) as RateLog;
    },
  };
  return {
    state,
    writes() {
      const writes: Array<{ index: number; json: string }> = [];
      let changed = false;
      for (let i = 0; i < values.length; i++) {
        const value = values[i];
        if (value === undefined) continue;
        const json = JSON.stringify(value);
        if (json !== loaded[i]!.json) changed = true;
        writes.push({ index: i, json });
      }
      return changed ? writes : undefined;
    },
  } satisfies Snapshot;
}

/** What an asynchronous backend does: read records at one instant, and compare-and-set them. */
export interface CounterDriver<V> {
  /** The records, in the order given, as of one instant (a single atomic read). */
  load(specs: readonly RecordSpec[], now: number): Promise<Array<Loaded<V>>>;
  /**
   * Writes every record if each still has the version it was loaded with, else none; resolves
   * whether it wrote. `expiresAt` is `now + ttlMs`, for stores that keep expiry as a time.
   */
  commit(
    writes: ReadonlyArray<{ spec: RecordSpec; version: V; json: string; expiresAt: number }>,
  ): Promise<boolean>;
}

const NO_STATE: DecisionState = {
  session(id) {
    throw new Error(`the session \`${id}\` was not named by stateKeys`);
  },
  rateLog(key) {
    throw new Error(`the rate log \`${key}\` was not named by stateKeys`);
  },
};

/**
 * Serialises this process's transactions on shared records, so they queue here instead of
 * conflicting in the store; only transactions of other processes can make a commit fail.
 */
export class RecordLocks {
  private readonly tails = new Map<string, Promise<void>>();

  async run<T>(specs: readonly RecordSpec[], body: () => Promise<T>): Promise<T> {
    const waits: Array<Promise<void>> = [];
    for (const spec of specs) {
      const tail = this.tails.get(spec.id);
      if (tail) waits.push(tail);
    }
    let release!: () => void;
    const done = new Promise<void>((resolve) => (release = resolve));
    for (const spec of specs) this.tails.set(spec.id, done);
    try {
      if (waits.length > 0) await Promise.all(waits);
      return await body();
    } finally {
      release();
      for (const spec of specs) if (this.tails.get(spec.id) === done) this.tails.delete(spec.id);
    }
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The optimistic transaction every asynchronous backend runs. */
export async function runTransaction<V, T>(
  driver: CounterDriver<V>,
  locks: RecordLocks,
  options: Required<CountersOptions>,
  keys: StateKeys,
  now: number,
  fn: (state: DecisionState) => T,
): Promise<T> {
  checkNow(now);
  const specs = recordSpecs(keys, options.sessionTtlMs);
  if (specs.length === 0) return fn(NO_STATE);
  return locks.run(specs, async () => {
    for (let attempt = 0; attempt < options.maxAttempts; attempt++) {
      if (attempt > 0) await sleep(Math.random() * Math.min(2 ** attempt, 50));
      const loaded = await driver.load(specs, now);
      const snapshot = openSnapshot(specs, loaded);
      const result = fn(snapshot.state);
      const writes = snapshot.writes();
      if (writes === undefined) return result;
      const committed = await driver.commit(
        writes.map(({ index, json }) => ({
          spec: specs[index]!,
          version: loaded[index]!.version,
          json,
          expiresAt: expiryOf(now, specs[index]!),
        })),
      );
      if (committed) return result;
    }
    throw new Error(
      `counters: \`${options.maxAttempts}\` attempts conflicted with other writers on ${specs.map((spec) => `\`${spec.id}\``).join(', ')}`,
    );
  });
}
