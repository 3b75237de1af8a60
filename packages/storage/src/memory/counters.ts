// Counters in this process's memory: one process, no conflicts (a transaction runs start to end
// without yielding), but the same snapshot, JSON and expiry semantics as the shared backends, so
// the contract suite holds them all to one behaviour.
import type { DecisionState, StateKeys } from '@posture/core';
import type { Counters } from '../ports.js';
import {
  checkNow,
  checkOptions,
  expiryOf,
  openSnapshot,
  recordSpecs,
  type CountersOptions,
} from '../counter-records.js';

export type MemoryCountersOptions = CountersOptions;

interface Stored {
  json: string;
  expiresAt: number;
}

export function createMemoryCounters(options: MemoryCountersOptions = {}): Counters {
  const { sessionTtlMs } = checkOptions(options);
  const records = new Map<string, Stored>();
  let transactions = 0;
  let closed = false;

  /** Drops expired records, once per as many transactions as there are records: O(1) amortised. */
  function sweep(now: number): void {
    if (++transactions < Math.max(1024, records.size)) return;
    transactions = 0;
    for (const [id, stored] of records) if (stored.expiresAt <= now) records.delete(id);
  }

  return {
    async transact<T>(keys: StateKeys, now: number, fn: (state: DecisionState) => T): Promise<T> {
      if (closed) throw new Error('the counters store is closed');
      checkNow(now);
      sweep(now);
      const specs = recordSpecs(keys, sessionTtlMs);
      const loaded = specs.map((spec) => {
        const stored = records.get(spec.id);
        return { json: stored && stored.expiresAt > now ? stored.json : undefined };
      });
      const snapshot = openSnapshot(specs, loaded);
      const result = fn(snapshot.state);
      for (const { index, json } of snapshot.writes() ?? []) {
        records.set(specs[index]!.id, { json, expiresAt: expiryOf(now, specs[index]!) });
      }
      return result;
    },
    async close() {
      closed = true;
      records.clear();
    },
  };
}
