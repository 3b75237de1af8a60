// Redaction as data: a copy of the value with findings replaced, and a list of what was removed
// (class, path, count), never the removed values themselves (OPA's decision-log masking lists
// `erased` and `masked` paths the same way).
import { childPath, type Detector, type Finding } from './detector.js';
import { hashValue } from './hash.js';

export type RedactionMode = 'mask' | 'hash' | 'drop';

export interface RedactOptions {
  /** `mask`: `[REDACTED:class]`; `hash`: `[HASH:class:<16 hex of HMAC-SHA256>]`; `drop`: removed. */
  mode: RedactionMode;
  /** The per-installation HMAC key; required for `hash`. */
  key?: Uint8Array;
  /** Families (`secrets`, `pii`) or classes to redact; all when absent. Limit markers always are. */
  classes?: readonly string[];
}

export interface Removed {
  class: string;
  path: string;
  count: number;
}

export interface Redaction {
  value: unknown;
  removed: Removed[];
}

/**
 * Redacts `value` (a text or a structured value) without mutating it. `source` is a detector,
 * which scans the value, or the findings of an earlier `scanValue(value)`.
 */
export function redact(
  value: unknown,
  source: Detector | readonly Finding[],
  options: RedactOptions,
): Redaction {
  if (options.mode === 'hash' && (options.key === undefined || options.key.length === 0)) {
    throw new TypeError('redaction mode `hash` needs a key');
  }
  const findings = isFindings(source) ? source : source.scanValue(value);
  const wanted = options.classes === undefined ? undefined : new Set(options.classes);
  const byPath = new Map<string, Finding[]>();
  for (const f of findings) {
    if (wanted !== undefined && f.family !== 'limit' && !wanted.has(f.class) && !wanted.has(f.family))
      continue;
    const list = byPath.get(f.path);
    if (list === undefined) byPath.set(f.path, [f]);
    else list.push(f);
  }
  const removed = new Map<string, Removed>();
  const note = (cls: string, path: string) => {
    const id = `${cls}\u0000${path}`;
    const entry = removed.get(id);
    if (entry === undefined) removed.set(id, { class: cls, path, count: 1 });
    else entry.count++;
  };
  if (byPath.size === 0) return { value: copy(value, new Set()), removed: [] };

  const replacement = (cls: string, text: string): string =>
    options.mode === 'mask'
      ? `[REDACTED:${cls}]`
      : options.mode === 'hash'
        ? `[HASH:${cls}:${hashValue(options.key!, text)}]`
        : '';
  const replaceSpans = (s: string, list: readonly Finding[], path: string): string => {
    const spans = [...list].sort((x, y) => x.start - y.start || y.end - x.end);
    let out = '';
    let at = 0;
    for (const f of spans) {
      const start = Math.max(0, Math.min(s.length, f.start));
      const end = Math.max(start, Math.min(s.length, f.end));
      note(f.class, path);
      if (start < at) continue; // inside a span already replaced
      out += s.slice(at, start) + replacement(f.class, s.slice(start, end));
      at = end;
    }
    return out + s.slice(at);
  };
  const limitOf = (list: readonly Finding[] | undefined): string | undefined =>
    list?.find((f) => f.family === 'limit')?.class;

  // Key findings are listed under `<path of the property>~`, with the key masked in the path.
  const keyGroups = new Map<string, Array<{ path: string; list: Finding[] }>>();
  for (const [path, list] of byPath) {
    if (!path.endsWith('~')) continue;
    const property = path.slice(0, -1);
    const parent = parentOf(property);
    if (parent === undefined) continue;
    const groups = keyGroups.get(parent) ?? [];
    groups.push({ path: property, list });
    keyGroups.set(parent, groups);
  }
  const maskKey = (key: string, list: readonly Finding[]): string => {
    let out = '';
    let at = 0;
    for (const f of [...list].sort((x, y) => x.start - y.start)) {
      if (f.start < at) continue;
      out += `${key.slice(at, f.start)}[REDACTED:${f.class}]`;
      at = f.end;
    }
    return out + key.slice(at);
  };

  const ancestors = new Set<object>();
  let truncating = false;
  const walk = (v: unknown, path: string): unknown => {
    const here = byPath.get(path);
    const limit = limitOf(here);
    if (limit === 'node_limit') truncating = true;
    if (truncating || limit !== undefined) {
      note(limit ?? 'node_limit', path);
      return `[TRUNCATED:${limit ?? 'node_limit'}]`;
    }
    if (typeof v === 'string') return here === undefined ? v : replaceSpans(v, here, path);
    if (typeof v === 'number' || typeof v === 'bigint') {
      if (here === undefined) return v;
      const out = replaceSpans(String(v), here, path);
      return out;
    }
    if (typeof v !== 'object' || v === null) return v;
    if (ancestors.has(v)) {
      note('cycle', path);
      return '[TRUNCATED:cycle]';
    }
    ancestors.add(v);
    let out: unknown;
    if (Array.isArray(v)) {
      out = v.map((item, i) => walk(item, `${path}[${i}]`));
    } else {
      const record = v as Record<string, unknown>;
      const result: Record<string, unknown> = {};
      const groups = keyGroups.get(path);
      for (const k of Object.keys(record)) {
        let keyPath = childPath(path, k);
        let newKey = k;
        if (groups !== undefined) {
          for (const group of groups) {
            if (childPath(path, maskKey(k, group.list)) === group.path) {
              keyPath = group.path;
              newKey = replaceSpans(k, group.list, `${group.path}~`);
              break;
            }
          }
        }
        let item: unknown;
        try {
          item = record[k];
        } catch {
          item = undefined;
        }
        defineProperty(result, newKey, walk(item, keyPath));
      }
      out = result;
    }
    ancestors.delete(v);
    return out;
  };
  const result = walk(value, '$');
  return { value: result, removed: [...removed.values()] };
}

function isFindings(source: Detector | readonly Finding[]): source is readonly Finding[] {
  return Array.isArray(source);
}

/** A deep copy of JSON-like data; cycles become markers. */
function copy(v: unknown, ancestors: Set<object>): unknown {
  if (typeof v !== 'object' || v === null) return v;
  if (ancestors.has(v)) return '[TRUNCATED:cycle]';
  ancestors.add(v);
  let out: unknown;
  if (Array.isArray(v)) out = v.map((item) => copy(item, ancestors));
  else {
    const result: Record<string, unknown> = {};
    for (const k of Object.keys(v)) {
      let item: unknown;
      try {
        item = (v as Record<string, unknown>)[k];
      } catch {
        item = undefined;
      }
      defineProperty(result, k, copy(item, ancestors));
    }
    out = result;
  }
  ancestors.delete(v);
  return out;
}

/** Sets an own data property, also for `__proto__`, without touching prototypes. */
function defineProperty(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/** The parent path of `$.a.b` or `$.a["b c"]`; undefined for `$`. */
function parentOf(path: string): string | undefined {
  if (path.endsWith(']')) {
    for (let i = path.lastIndexOf('['); i > 0; i = path.lastIndexOf('[', i - 1)) {
      try {
        const key: unknown = JSON.parse(path.slice(i + 1, -1));
        if (typeof key === 'string') return path.slice(0, i);
      } catch {
        // not the start of this segment
      }
    }
    return undefined;
  }
  const dot = path.lastIndexOf('.');
  return dot > 0 ? path.slice(0, dot) : undefined;
}
