// What the shared Counters backends (Redis, PostgreSQL) have in common, and the options and checks
// the memory one uses too: the records a transaction names, a snapshot DecisionState over their
// loaded JSON, and the optimistic load → decide → compare-and-set loop with jittered retries
// that, if other processes keep winning, ends with one attempt in the store's turn, during which
// no other process can commit: no transaction starves. Backends supply load, commit, exclusive.
import type { DecisionState, RateLog, SessionState, StateKeys } from '@posture/core';

export const DEFAULT_SESSION_TTL_MS = 24 * 60 * 60 * 1000;
export const DEFAULT_OPTIMISTIC_ATTEMPTS = 4;

export interface CountersOptions {
  /** How long an idle session's record (calls, labels, history) is kept; 24 h unless set. */
  sessionTtlMs?: number;
  /**
   * Optimistic attempts at a transaction that other processes' commits keep invalidating before
   * it takes the store's turn (one exclusive attempt that cannot conflict); 4 unless set.
   */
  optimisticAttempts?: number;
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
  const optimisticAttempts = options.optimisticAttempts ?? DEFAULT_OPTIMISTIC_ATTEMPTS;
  if (!Number.isInteger(sessionTtlMs) || sessionTtlMs < 1) {
    throw new Error(`\`sessionTtlMs\` must be a positive integer, not \`${sessionTtlMs}\``);
  }
  if (!Number.isInteger(optimisticAttempts) || optimisticAttempts < 1) {
    throw new Error(`\`optimisticAttempts\` must be a positive integer, not \`${optimisticAttempts}\``);
  }
  return { sessionTtlMs, optimisticAttempts };
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
  /** The state over the records `specs` name (a subset of those loaded), and no others. */
  view(specs: readonly RecordSpec[]): DecisionState;
  /**
   * The new JSON of every record reached, if any of them changed; `undefined` if none did (then
   * every read came from one consistent load, and nothing needs committing).
   */
  writes(): Array<{ index: number; json: string }> | undefined;
}

const notNamed = (kind: RecordSpec['kind'], name: string) =>
  new Error(`the ${kind === 'session' ? 'session' : 'rate log'} \`${name}\` was not named by stateKeys`);

/**
 * A DecisionState over loaded records. Records parse on first use, so a corrupt record fails only
 * the decisions that reach it, and inside decide(), which turns the error into a deny.
 */
export function openSnapshot(
  specs: readonly RecordSpec[],
  loaded: ReadonlyArray<{ json: string | undefined }>,
): Snapshot {
  const values = new Array<SessionState | RateLog | undefined>(specs.length);
  const index = new Map<string, number>();
  specs.forEach((spec, i) => index.set(spec.id, i));
  const reach = (kind: RecordSpec['kind'], name: string, allowed: ReadonlySet<string>) => {
    const id = `${kind === 'session' ? 's' : 'r'}:${JSON.stringify(name)}`;
    const i = index.get(id);
    if (i === undefined || !allowed.has(id)) throw notNamed(kind, name);
    return i;
  };
  const stateOver = (allowed: ReadonlySet<string>): DecisionState => ({
    session(id) {
      const i = reach('session', id, allowed);
      return (values[i] ??= parseSession(specs[i]!.id, loaded[i]!.json)) as SessionState;
    },
    rateLog(key) {
      const i = reach('rate', key, allowed);
      return (values[i] ??= parseRate(specs[i]!.id, loaded[i]!.json)) as RateLog;
    },
  });
  return {
    view: (subset) => stateOver(new Set(subset.map((spec) => spec.id))),
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
  };
}

/** Reading records at one instant, and compare-and-setting them. */
export interface RecordAccess<V> {
  /** The records, in the order given, as of one instant (a single atomic read), live as of `now`. */
  load(specs: readonly RecordSpec[], now: number): Promise<Array<Loaded<V>>>;
  /**
   * Writes every record if each still has the version it was loaded with, else none; resolves
   * whether it wrote. `expiresAt` is when the record expires, for stores that keep it as a time.
   */
  commit(
    writes: ReadonlyArray<{ spec: RecordSpec; version: V; json: string; expiresAt: number }>,
  ): Promise<boolean>;
}

/** What an asynchronous backend does. */
export interface CounterDriver<V> extends RecordAccess<V> {
  /**
   * Runs `body` in the store's turn: while it runs, no other process's commit succeeds (they wait
   * or conflict), so a load and commit inside it cannot conflict. For a transaction that lost
   * every optimistic attempt; rare, so it may cost more round trips.
   */
  exclusive<T>(body: (access: RecordAccess<V>) => Promise<T>): Promise<T>;
}

const NO_STATE: DecisionState = {
  session(id) {
    throw notNamed('session', id);
  },
  rateLog(key) {
    throw notNamed('rate', key);
  },
};

interface Pending {
  specs: RecordSpec[];
  now: number;
  fn: (state: DecisionState) => unknown;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

/** The most transactions one load and one commit serve. */
const MAX_BATCH = 32;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * The optimistic transactions of one asynchronous store, with group commit: while one batch is
 * loading or committing, new transactions queue, and the next batch loads all their records at
 * once, runs their functions one after the other on one snapshot (a serial order, as if each had
 * run alone), and commits once. So this process's transactions never conflict with each other —
 * all calls of one agent share its rate log — and only other processes' commits cause retries.
 */
export class TransactionQueue<V> {
  private readonly queue: Pending[] = [];
  private draining = false;

  constructor(
    private readonly driver: CounterDriver<V>,
    private readonly options: Required<CountersOptions>,
  ) {}

  async transact<T>(keys: StateKeys, now: number, fn: (state: DecisionState) => T): Promise<T> {
    checkNow(now);
    const specs = recordSpecs(keys, this.options.sessionTtlMs);
    if (specs.length === 0) return fn(NO_STATE);
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ specs, now, fn, resolve: resolve as (value: unknown) => void, reject });
      if (!this.draining) void this.drain();
    });
  }

  /** Resolves once every queued transaction has settled. */
  async idle(): Promise<void> {
    while (this.draining) await sleep(1);
  }

  private async drain(): Promise<void> {
    this.draining = true;
    try {
      while (this.queue.length > 0) await this.run(this.queue.splice(0, MAX_BATCH));
    } finally {
      this.draining = false;
    }
  }

  private async run(batch: Pending[]): Promise<void> {
    const byId = new Map<string, RecordSpec>();
    for (const pending of batch) {
      for (const spec of pending.specs) {
        const known = byId.get(spec.id);
        if (!known || known.ttlMs < spec.ttlMs) byId.set(spec.id, spec);
      }
    }
    const specs = [...byId.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    // Records live for the earliest caller are loaded (a later caller's own window check drops
    // what is too old for it); written records expire counting from the latest.
    let earliest = Infinity;
    let latest = -Infinity;
    for (const pending of batch) {
      earliest = Math.min(earliest, pending.now);
      latest = Math.max(latest, pending.now);
    }
    const failed = new Map<Pending, unknown>();
    const attempt = async (access: RecordAccess<V>) => {
      const loaded = await access.load(specs, earliest);
      const { snapshot, results } = this.apply(batch, specs, loaded, failed);
      const writes = snapshot.writes();
      const committed =
        writes === undefined ||
        (await access.commit(
          writes.map(({ index, json }) => ({
            spec: specs[index]!,
            version: loaded[index]!.version,
            json,
            expiresAt: expiryOf(latest, specs[index]!),
          })),
        ));
      return committed ? results : undefined;
    };
    try {
      let results: Map<Pending, unknown> | undefined;
      for (let tries = 0; tries < this.options.optimisticAttempts && !results; tries++) {
        if (tries > 0) await sleep(Math.random() * 2 ** tries);
        results = await attempt(this.driver);
      }
      results ??= await this.driver.exclusive(attempt);
      if (!results) {
        const named = specs.slice(0, 3).map((spec) => `\`${spec.id}\``);
        if (specs.length > 3) named.push(`${specs.length - 3} more`);
        throw new Error(`counters: a commit in the store's turn conflicted on ${named.join(', ')}`);
      }
      for (const pending of batch) {
        if (failed.has(pending)) pending.reject(failed.get(pending));
        else pending.resolve(results.get(pending));
      }
    } catch (error) {
      for (const pending of batch) pending.reject(failed.get(pending) ?? error);
    }
  }

  /**
   * Runs the batch's functions in order on one snapshot. A function that throws must leave no
   * trace, so the snapshot is rebuilt and the others run again without it.
   */
  private apply(
    batch: Pending[],
    specs: RecordSpec[],
    loaded: Array<Loaded<V>>,
    failed: Map<Pending, unknown>,
  ) {
    for (;;) {
      const snapshot = openSnapshot(specs, loaded);
      const results = new Map<Pending, unknown>();
      let threw = false;
      for (const pending of batch) {
        if (failed.has(pending)) continue;
        try {
          results.set(pending, pending.fn(snapshot.view(pending.specs)));
        } catch (error) {
          failed.set(pending, error);
          threw = true;
          break;
        }
      }
      if (!threw) return { snapshot, results };
    }
  }
}
