// The meaning of an AuditFilter, for backends that filter in JavaScript (the SQL backends express
// the same conditions in their queries; the contract suite holds them to the same results).
import type { AuditFilter, StoredEvent } from '../ports.js';

/** Whether `event` passes every condition of `filter` (except `limit`). Times compare as text. */
export function matchesFilter(event: StoredEvent, filter: AuditFilter): boolean {
  return (
    (filter.after === undefined || event.seq > filter.after) &&
    (filter.agent === undefined || event.actor?.agent === filter.agent) &&
    (filter.user === undefined || event.actor?.user === filter.user) &&
    (filter.tool === undefined || event.tool === filter.tool) &&
    (filter.decision === undefined || event.decision === filter.decision) &&
    (filter.outcome === undefined || event.outcome === filter.outcome) &&
    (filter.kind === undefined || event.kind === filter.kind) &&
    (filter.since === undefined || event.time >= filter.since) &&
    (filter.until === undefined || event.time <= filter.until)
  );
}

export function checkRange(from: number, to: number): void {
  if (!Number.isSafeInteger(from) || !Number.isSafeInteger(to) || from < 0 || to < from) {
    throw new RangeError(`not a range of seqs: \`[${from}, ${to})\``);
  }
}
