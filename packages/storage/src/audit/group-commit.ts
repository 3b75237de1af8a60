// Group commit: callers submit items one at a time; every item that arrives while a batch is being
// written (or in the same turn of the event loop) goes into the next batch, which is written as one
// transaction. Each caller's promise settles with its batch: resolved once the batch is durable,
// rejected if it was not written (the writer must roll the whole batch back before throwing).
//
// A writer may also return its results with a `durable` promise (the flush to disk still running):
// the next batch is written at once, and each batch's callers are released when its flush and every
// earlier batch's have completed, so writing one batch overlaps waiting for the disk on another.
// An item submitted with its own `after` promise is released once its batch is written and `after`
// has resolved, without waiting for the batch's flush (see `AppendOptions.settles`); one submitted
// with `after` = 'written' as soon as its batch is written.

interface Waiting<I, O> {
  item: I;
  after: Promise<void> | 'written' | undefined;
  resolve(value: O): void;
  reject(error: unknown): void;
}

/** Results written but not yet durable: `durable` resolves once they are on disk. */
export interface Flushing<O> {
  results: O[];
  durable: Promise<void>;
}

export type BatchWriter<I, O> = (items: I[]) => O[] | Flushing<O> | Promise<O[]>;

export class GroupCommit<I, O> {
  readonly #write: BatchWriter<I, O>;
  readonly #maxBatch: number;
  #queue: Waiting<I, O>[] = [];
  #writing = false;
  #scheduled = false;
  #idle: Array<() => void> = [];
  /** Settles once every batch written so far is durable (or failed). */
  #flushed: Promise<unknown> = Promise.resolve();
  #flushing = 0;

  constructor(write: BatchWriter<I, O>, maxBatch = 1000) {
    this.#write = write;
    this.#maxBatch = maxBatch;
  }

  submit(item: I, after?: Promise<void> | 'written'): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.#queue.push({ item, after, resolve, reject });
      this.#schedule();
    });
  }

  /** How many items wait for the next batch. */
  get pending(): number {
    return this.#queue.length;
  }

  /** Resolves once every item submitted so far has been written or rejected. */
  drain(): Promise<void> {
    if (!this.#writing && this.#queue.length === 0 && this.#flushing === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  #settleIdle(): void {
    if (!this.#writing && this.#queue.length === 0 && this.#flushing === 0) {
      for (const resolve of this.#idle.splice(0)) resolve();
    }
  }

  #schedule(): void {
    if (this.#writing || this.#scheduled) return;
    this.#scheduled = true;
    // setImmediate, not a microtask: the appends that callers make in this turn of the event loop
    // (for instance the callers the previous batch just released) join the batch.
    setImmediate(() => void this.#flush());
  }

  async #flush(): Promise<void> {
    this.#scheduled = false;
    if (this.#writing || this.#queue.length === 0) return;
    this.#writing = true;
    const batch = this.#queue.length <= this.#maxBatch ? this.#queue : this.#queue.slice(0, this.#maxBatch);
    this.#queue = batch === this.#queue ? [] : this.#queue.slice(this.#maxBatch);
    try {
      const written = await this.#write(batch.map((waiting) => waiting.item));
      if (Array.isArray(written)) {
        for (let i = 0; i < batch.length; i++) this.#settle(batch[i]!, written[i]!, undefined);
      } else {
        this.#release(batch, written);
      }
    } catch (error) {
      for (const waiting of batch) waiting.reject(error);
    } finally {
      this.#writing = false;
      if (this.#queue.length > 0) this.#schedule();
      else this.#settleIdle();
    }
  }

  /** Releases `waiting` with `result` once `durable` (if any) and its own `after` have resolved. */
  #settle(waiting: Waiting<I, O>, result: O, durable: Promise<unknown> | undefined): void {
    const gate = waiting.after ?? durable;
    if (gate === undefined || gate === 'written') waiting.resolve(result);
    else gate.then(() => waiting.resolve(result), waiting.reject);
  }

  /**
   * Releases `batch` once its flush and every earlier one are done (an earlier failure fails it
   * too); items with their own `after` are released by it instead.
   */
  #release(batch: Waiting<I, O>[], written: Flushing<O>): void {
    this.#flushing++;
    const done = Promise.all([this.#flushed, written.durable]);
    this.#flushed = done.catch(() => {});
    for (let i = 0; i < batch.length; i++) this.#settle(batch[i]!, written.results[i]!, done);
    done
      .catch(() => {})
      .finally(() => {
        this.#flushing--;
        this.#settleIdle();
      });
  }
}
