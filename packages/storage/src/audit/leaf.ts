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

/**
 * Sorts keys in place as `Array.prototype.sort` would (by UTF-16 code units), by insertion for the
 * few keys an event's objects have: the built-in sort allocates about a kilobyte per call, which
 * on the append path of a log costs more in garbage collection than the sorting itself.
 */
function sortKeys(keys: string[]): void {
  if (keys.length > 32) {
    keys.sort();
    return;
  }
  for (let i = 1; i < keys.length; i++) {
    const key = keys[i]!;
    let j = i - 1;
    while (j >= 0 && key < keys[j]!) {
      keys[j + 1] = keys[j]!;
      j--;
    }
    keys[j + 1] = key;
  }
}

/**
 * `canonicalJson(value)` from the core, written for the append path: the same text for every
 * JSON value (a sparse array's holes become `null`, as JSON.stringify writes them).
 */
export function canonicalText(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out += ',';
      out += canonicalText(value[i]);
    }
    return `${out}]`;
  }
  const keys = Object.keys(value);
  sortKeys(keys);
  let out = '{';
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    if (i > 0) out += ',';
    out += `${JSON.stringify(key)}:${canonicalText((value as Record<string, unknown>)[key])}`;
  }
  return `${out}}`;
}

export function prepareEvent(event: AuditEvent): PreparedEvent {
  if (typeof event !== 'object' || event === null || Array.isArray(event)) {
    throw new TypeError('an audit event must be an object');
  }
  if (typeof event.time !== 'string') throw new TypeError('an audit event needs a `time` string (ISO 8601)');
  if (typeof event.kind !== 'string') throw new TypeError('an audit event needs a `kind` string');
  const source = event as unknown as Record<string, unknown>;
  const clean: Record<string, unknown> = {};
  const before: string[] = [];
  const after: string[] = [];
  const keys = Object.keys(source);
  sortKeys(keys);
  for (const key of keys) {
    const value = source[key];
    if (value === undefined || RESERVED.has(key)) continue;
    // Serialising throws on a BigInt: this append rejects, no other.
    const pair = `${JSON.stringify(key)}:${canonicalText(value)}`;
    // An own property even for `__proto__`, which plain assignment would take as the prototype.
    if (key === '__proto__') {
      Object.defineProperty(clean, key, { value, enumerable: true, writable: true, configurable: true });
    } else clean[key] = value;
    (key < 'seq' ? before : after).push(pair);
  }
  // join() makes one flat string of the pieces, which die young; concatenation would keep a tree
  // of string fragments alive for as long as the event waits for its batch.
  return { event: clean as unknown as AuditEvent, before: before.join(','), after: after.join(',') };
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

/**
 * Where `entries()` puts the exact text a store kept for an event (a symbol: JSON and key listings
 * never see it). The leaf commits to those bytes, so the verifier hashes them as they are instead
 * of serialising the parsed event again; any change to them still changes the leaf.
 */
export const STORED_TEXT: unique symbol = Symbol('posture.audit.storedText');

/** An event parsed from the text a store kept, carrying that text under `STORED_TEXT`. */
export function parseStored<T extends object>(text: string): T {
  const event = JSON.parse(text) as T;
  (event as Record<symbol, unknown>)[STORED_TEXT] = text;
  return event;
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
