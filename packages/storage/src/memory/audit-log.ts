// The audit log in memory: the same group commit, leaves, frontier and checkpoints as the SQL
// backends, over arrays. For tests and for a gateway that keeps no evidence across restarts.
import { MerkleFrontier, type FrontierJson } from '../merkle/frontier.js';
import { generateSignerKey, parseSignerKey, signCheckpoint, type NoteSigner } from '../merkle/checkpoint.js';
import { leafHash } from '../merkle/tree.js';
import { randomUUID } from 'node:crypto';
import type {
  AppendOptions,
  AuditEvent,
  AuditFilter,
  AuditLog,
  Checkpoint,
  LoggedEvent,
  OpenCall,
  StoredEvent,
} from '../ports.js';
import { checkRange, matchesFilter } from '../audit/filter.js';
import { GroupCommit } from '../audit/group-commit.js';
import { interruptedEvent } from '../audit/interrupted.js';
import { leafText, parseStored, prepareEvent, type PreparedEvent } from '../audit/leaf.js';
import { createEvidenceRedactor, type EvidenceRedactor } from '../audit/redaction.js';
import { checkCheckpointEvery, newOrigin, type AuditLogOptions } from '../audit/options.js';

/** One stored event: its canonical JSON and hex leaf hash, as a SQL row keeps them. */
export interface MemoryAuditRecord {
  json: string;
  leafHash: string;
}

/**
 * What a memory log keeps. Pass the same store to a new log to reopen it (as a file is reopened);
 * tests reach into it to tamper with the evidence.
 */
export interface MemoryAuditStore {
  origin?: string;
  signerKey?: string;
  records: MemoryAuditRecord[];
  checkpoints: Checkpoint[];
  frontier?: FrontierJson;
  /** Calls recorded before they ran whose event has not come: id → the event as begun. */
  pending?: Map<string, AuditEvent>;
}

type QueuedEvent = PreparedEvent & { settles?: string };

export function createMemoryAuditStore(): MemoryAuditStore {
  return { records: [], checkpoints: [] };
}

export interface MemoryAuditLogOptions extends AuditLogOptions {
  /** Where the log keeps its events (default: a new store). */
  store?: MemoryAuditStore;
}

export function createMemoryAuditLog(options: MemoryAuditLogOptions = {}): AuditLog {
  return new MemoryAuditLog(options);
}

class MemoryAuditLog implements AuditLog {
  readonly origin: string;
  readonly verifierKey: string;
  readonly #store: MemoryAuditStore;
  readonly #signer: NoteSigner;
  readonly #options: MemoryAuditLogOptions;
  readonly #queue: GroupCommit<QueuedEvent, StoredEvent>;
  /** The pending calls this log began (a reopened store's others were left by a log now gone). */
  readonly #mine = new Set<string>();
  readonly #redact: EvidenceRedactor;
  #frontier: MerkleFrontier;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: MemoryAuditLogOptions) {
    checkCheckpointEvery(options.checkpointEvery);
    const store = options.store ?? createMemoryAuditStore();
    store.origin ??= options.origin ?? newOrigin();
    store.signerKey ??= options.signerKey ?? generateSignerKey(store.origin).signerKey;
    this.#store = store;
    this.origin = store.origin;
    this.#signer = parseSignerKey(options.signerKey ?? store.signerKey);
    this.verifierKey = this.#signer.verifierKey;
    this.#options = options;
    this.#frontier = store.frontier ? MerkleFrontier.fromJSON(store.frontier) : new MerkleFrontier();
    this.#redact = createEvidenceRedactor(options.redaction);
    this.#queue = new GroupCommit((items) => this.#write(items), options.maxBatch ?? 1000);
    // A store reopened with calls still pending: the log that began them is gone.
    if (store.pending && store.pending.size > 0) this.#interrupt([...store.pending.keys()]);
    const ms = options.checkpointEvery?.ms;
    if (ms !== undefined) {
      this.#timer = setInterval(() => {
        if (!this.#closed) this.#checkpointNow();
      }, ms);
      this.#timer.unref();
    }
  }

  #interrupt(ids: string[]): void {
    const pending = this.#store.pending!;
    this.#write(
      ids.map((id) => Object.assign(prepareEvent(interruptedEvent(pending.get(id)!)), { settles: id })),
    );
  }

  #write(items: QueuedEvent[]): StoredEvent[] {
    // Build the whole batch aside and publish it at once, so a failure leaves nothing behind.
    const frontier = this.#frontier.clone();
    const records: MemoryAuditRecord[] = [];
    const events: StoredEvent[] = [];
    for (const prepared of items) {
      const seq = frontier.size;
      const json = leafText(prepared, seq);
      const leaf = leafHash(json);
      records.push({ json, leafHash: leaf.toString('hex') });
      frontier.append(leaf);
      const stored = prepared.event as StoredEvent;
      stored.seq = seq;
      events.push(stored);
    }
    for (const record of records) this.#store.records.push(record);
    for (const prepared of items) {
      if (prepared.settles === undefined) continue;
      this.#store.pending?.delete(prepared.settles);
      this.#mine.delete(prepared.settles);
    }
    this.#frontier = frontier;
    this.#store.frontier = frontier.toJSON();
    const every = this.#options.checkpointEvery?.events;
    if (every !== undefined && frontier.size - (this.#store.checkpoints.at(-1)?.size ?? 0) >= every) {
      this.#checkpointNow();
    }
    return events;
  }

  #checkOpen(): void {
    if (this.#closed) throw new Error('audit log is closed');
  }

  append(event: AuditEvent, options?: AppendOptions): Promise<StoredEvent> {
    // Not async: one promise per append, the queue's, instead of two.
    try {
      this.#checkOpen();
      const prepared: QueuedEvent = prepareEvent(this.#redact(event));
      const settles = options?.settles;
      if (settles === undefined) return this.#queue.submit(prepared);
      prepared.settles = settles.id;
      return this.#queue.submit(prepared, settles.durable);
    } catch (error) {
      return Promise.reject(error as Error);
    }
  }

  async begin(event: AuditEvent): Promise<OpenCall> {
    this.#checkOpen();
    const { event: clean } = prepareEvent(this.#redact(event));
    const id = randomUUID();
    (this.#store.pending ??= new Map()).set(id, clean);
    this.#mine.add(id);
    return { id, durable: Promise.resolve() };
  }

  async size(): Promise<number> {
    this.#checkOpen();
    return this.#frontier.size;
  }

  async read(from: number, to: number): Promise<StoredEvent[]> {
    this.#checkOpen();
    checkRange(from, to);
    return this.#store.records.slice(from, to).map((record) => JSON.parse(record.json) as StoredEvent);
  }

  async search(filter: AuditFilter): Promise<StoredEvent[]> {
    this.#checkOpen();
    const found: StoredEvent[] = [];
    const limit = filter.limit ?? Infinity;
    for (const record of this.#store.records) {
      if (found.length >= limit) break;
      const event = JSON.parse(record.json) as StoredEvent;
      if (matchesFilter(event, filter)) found.push(event);
    }
    return found;
  }

  async *entries(from = 0): AsyncGenerator<LoggedEvent> {
    this.#checkOpen();
    const records = this.#store.records;
    for (let i = from; i < records.length; i++) {
      const event = parseStored<LoggedEvent>(records[i]!.json);
      event.leaf_hash = records[i]!.leafHash;
      yield event;
    }
  }

  #checkpointNow(): Checkpoint {
    const latest = this.#store.checkpoints.at(-1);
    if (latest !== undefined && latest.size === this.#frontier.size) return latest;
    const checkpoint = signCheckpoint(
      { origin: this.origin, size: this.#frontier.size, root: this.#frontier.root() },
      this.#signer,
    );
    this.#store.checkpoints.push(checkpoint);
    return checkpoint;
  }

  async checkpoint(): Promise<Checkpoint> {
    this.#checkOpen();
    return this.#checkpointNow();
  }

  async latestCheckpoint(): Promise<Checkpoint | undefined> {
    this.#checkOpen();
    return this.#store.checkpoints.at(-1);
  }

  async checkpoints(): Promise<Checkpoint[]> {
    this.#checkOpen();
    return [...this.#store.checkpoints];
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    await this.#queue.drain();
    // Calls still running will not get their event from this log: they end interrupted.
    if (this.#mine.size > 0) this.#interrupt([...this.#mine]);
    const signed = this.#store.checkpoints.at(-1)?.size ?? 0;
    if (this.#options.checkpointOnClose !== false && this.#frontier.size > signed) this.#checkpointNow();
  }
}
