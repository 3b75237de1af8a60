// Group commit: callers submit items one at a time; every item that arrives while a batch is being
// written (or in the same turn of the event loop) goes into the next batch, which is written as one
// transaction. Each caller's promise settles with its batch: resolved once the batch is durable,
// rejected if it was not written (the writer must roll the whole batch back before throwing).

interface Waiting<I, O> {
  item: I;
  resolve(value: O): void;
  reject(error: unknown): void;
}

export type BatchWriter<I, O> = (items: I[]) => O[] | Promise<O[]>;

export class GroupCommit<I, O> {
  readonly #write: BatchWriter<I, O>;
  readonly #maxBatch: number;
  #queue: Waiting<I, O>[] = [];
  #writing = false;
  #scheduled = false;
  #idle: Array<() => void> = [];

  constructor(write: BatchWriter<I, O>, maxBatch = 1000) {
    this.#write = write;
    this.#maxBatch = maxBatch;
  }

  submit(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.#queue.push({ item, resolve, reject });
      this.#schedule();
    });
  }

  /** How many items wait for the next batch. */
  get pending(): number {
    return this.#queue.length;
  }

  /** Resolves once every item submitted so far has been written or rejected. */
  drain(): Promise<void> {
    if (!this.#writing && this.#queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
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
      const results = await this.#write(batch.map((waiting) => waiting.item));
      for (let i = 0; i < batch.length; i++) batch[i]!.resolve(results[i]!);
    } catch (error) {
      for (const waiting of batch) waiting.reject(error);
    } finally {
      this.#writing = false;
      if (this.#queue.length > 0) this.#schedule();
      else for (const resolve of this.#idle.splice(0)) resolve();
    }
  }
}
