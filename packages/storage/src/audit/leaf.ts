// The bytes an audit event commits to: its Merkle leaf is SHA-256(0x00 ‖ UTF-8 of
// `canonicalJson(storedEvent)`), where the stored event carries its `seq`. Backends and the verifier
// share these helpers so that the writer and the checker can never disagree on the encoding.
import { canonicalJson } from '@posture/core';
import type { AuditEvent, StoredEvent } from '../ports.js';
import { leafHash } from '../merkle/tree.js';

/** Top-level keys the log owns: the caller's values for them are dropped. */
const RESERVED = new Set(['seq', 'leaf_hash']);

/**
 * An event serialised before its seq is known: the canonical `"key":value` pairs that sort before
 * and after `seq`. Appends serialise here, outside the write transaction, so that an event that is
 * not JSON fails its own append instead of its whole batch.
 */
export interface PreparedEvent {
  /** The event as it will be stored, without `seq`, without keys whose value is undefined. */
  event: AuditEvent;
  before: string;
  after: string;
}

export function prepareEvent(event: AuditEvent): PreparedEvent {
  if (typeof event !== 'object' || event === null || Array.isArray(event)) {
    throw new TypeError('an audit event must be an object');
  }
  if (typeof event.time !== 'string') throw new TypeError('an audit event needs a `time` string (ISO 8601)');
  if (typeof event.kind !== 'string') throw new TypeError('an audit event needs a `kind` string');
  const source = event as unknown as Record<string, unknown>;
  const clean: Record<string, unknown> = {};
  let before = '';
  let after = '';
  for (const key of Object.keys(source).sort()) {
    const value = source[key];
    if (value === undefined || RESERVED.has(key)) continue;
    // canonicalJson throws on a BigInt: this append rejects, no other.
    const pair = `${JSON.stringify(key)}:${canonicalJson(value)}`;
    clean[key] = value;
    if (key < 'seq') before = before === '' ? pair : `${before},${pair}`;
    else after = after === '' ? pair : `${after},${pair}`;
  }
  return { event: clean as unknown as AuditEvent, before, after };
}

/** `canonicalJson({ ...prepared.event, seq })`, built from the prepared pairs. */
export function leafText(prepared: PreparedEvent, seq: number): string {
  const { before, after } = prepared;
  return `{${before}${before === '' ? '' : ','}"seq":${seq}${after === '' ? '' : ','}${after}}`;
}

/**
 * Whether `JSON.stringify(value)` equals `canonicalJson(value)`: plain data whose object keys are
 * already in sorted order, with no value JSON.stringify would drop (undefined, functions) or
 * rewrite (toJSON). Events parsed from canonical text always are, and the native stringify is
 * several times faster than the recursive canonicaliser on the verifier's hot path.
 */
function stringifiesCanonically(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return true;
  if (Array.isArray(value)) {
    for (const item of value)
      if (typeof item === 'object' && item !== null && !stringifiesCanonically(item)) return false;
    return true;
  }
  const prototype: unknown = Object.getPrototypeOf(value);
  if (prototype !== Object.prototype && prototype !== null) return false;
  const record = value as Record<string, unknown>;
  let previous: string | undefined;
  for (const key in record) {
    if (previous !== undefined && !(previous < key)) return false;
    previous = key;
    const item = record[key];
    const type = typeof item;
    if (type === 'undefined' || type === 'function' || type === 'symbol') return false;
    if (key === 'toJSON' || (type === 'object' && item !== null && !stringifiesCanonically(item)))
      return false;
  }
  return true;
}

/** The canonical text of a stored event, ignoring a `leaf_hash` field (exports carry one). */
export function storedEventText(event: StoredEvent | (StoredEvent & { leaf_hash?: unknown })): string {
  let target: object = event;
  if ('leaf_hash' in event) {
    const { leaf_hash: _ignored, ...rest } = event;
    target = rest;
  }
  return stringifiesCanonically(target) ? JSON.stringify(target) : canonicalJson(target);
}

/** The Merkle leaf hash of a stored event. */
export function storedEventLeaf(event: StoredEvent): Buffer {
  return leafHash(storedEventText(event));
}
