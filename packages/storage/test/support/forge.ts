// What an attacker with write access to a store would compute to make a forged row look stored.
import type { AuditEvent, StoredEvent } from '../../src/ports.js';
import { leafText, prepareEvent, storedEventText } from '../../src/audit/leaf.js';
import { leafHash } from '../../src/merkle/tree.js';

/** The canonical JSON and hex leaf hash of `event` stored at `seq`. */
export function forgeRecord(event: AuditEvent, seq: number): { json: string; leafHash: string } {
  const json = leafText(prepareEvent(event), seq);
  return { json, leafHash: leafHash(json).toString('hex') };
}

/** The canonical JSON and hex leaf hash of a stored event as changed by `change`. */
export function rewriteRecord(
  json: string,
  change: (event: StoredEvent) => StoredEvent,
): { json: string; leafHash: string } {
  const changed = storedEventText(change(JSON.parse(json) as StoredEvent));
  return { json: changed, leafHash: leafHash(changed).toString('hex') };
}
