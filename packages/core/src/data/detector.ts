// createDetector(): compile once (built-in classes plus the policy's custom patterns), then scan
// texts and structured values many times.
import { BUILTIN_CLASSES, C, PII_CLASSES, type LimitClass } from './classes.js';
import { Hits, scanText, type CustomPattern } from './engine.js';
import { checkPattern, literalPrefix } from './patterns.js';

/** A detector family: `secrets`, `pii`, a custom family from the policy, or `limit` for markers. */
export type Family = 'secrets' | 'pii' | 'limit' | (string & {});

/** One sensitive value found: its class, family, where (JSON path) and which characters. */
export interface Finding {
  class: string;
  family: Family;
  /** JSONPath-like: `$` for a text, `$.args.body[2].token`, `$["a b"]` for other keys. */
  path: string;
  /** Offsets of the value within the string at `path` (UTF-16 code units, end exclusive). */
  start: number;
  end: number;
}

export interface DetectorOptions {
  /** Custom patterns (`data.patterns` of the policy file): name → regular expression and family. */
  patterns?: Record<string, { pattern: string; class: string }>;
  /** Nesting deeper than this is not scanned and is reported as a `depth_limit` marker (default 64). */
  maxDepth?: number;
  /** Values (strings, numbers, objects…) visited before a `node_limit` marker (default 1,000,000). */
  maxNodes?: number;
}

export interface Detector {
  /** Findings in a text, ordered by offset; path `$`. */
  scan(text: string): readonly Finding[];
  /** Findings in a structured value (objects, arrays, strings, numbers), ordered by visit. */
  scanValue(value: unknown): readonly Finding[];
  /** Every class this detector reports, with its family. */
  readonly classes: ReadonlyMap<string, Family>;
}

const EMPTY: readonly Finding[] = Object.freeze([]);
const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** `$.a`, `$["a b"]`: a property's path. */
export function childPath(parent: string, key: string): string {
  return IDENTIFIER.test(key) ? `${parent}.${key}` : `${parent}[${JSON.stringify(key)}]`;
}

export function createDetector(options: DetectorOptions = {}): Detector {
  const names: string[] = [...BUILTIN_CLASSES];
  const families: Family[] = BUILTIN_CLASSES.map((name) =>
    (PII_CLASSES as readonly string[]).includes(name) ? 'pii' : 'secrets',
  );
  const custom: CustomPattern[] = [];
  for (const [name, { pattern, class: family }] of Object.entries(options.patterns ?? {})) {
    const check = checkPattern(pattern);
    if (!check.ok) throw new Error(`pattern \`${name}\` is refused: ${check.reason}`);
    const id = names.length;
    names.push(name);
    families.push(family);
    custom.push({ id, regex: new RegExp(pattern, 'gu'), prefix: literalPrefix(pattern) });
  }
  const maxDepth = options.maxDepth ?? 64;
  const maxNodes = options.maxNodes ?? 1_000_000;
  const hits = new Hits();
  const classes = new Map<string, Family>(names.map((name, i) => [name, families[i]!]));

  const collect = (out: Finding[], path: string, remap: number, offset = 0): void => {
    for (let k = 0; k < hits.count; k++) {
      let cls = hits.cls[k]!;
      if (remap >= 0 && cls === C.private_key) cls = remap;
      out.push({
        class: names[cls]!,
        family: families[cls]!,
        path,
        start: hits.start[k]! - offset,
        end: hits.end[k]! - offset,
      });
    }
  };

  const scan = (text: string): readonly Finding[] => {
    scanText(text, hits, custom);
    if (hits.count === 0) return EMPTY;
    const out: Finding[] = [];
    collect(out, '$', -1);
    return out;
  };

  const scanValue = (root: unknown): readonly Finding[] => {
    let out: Finding[] | undefined;
    let nodes = 0;
    // The objects on the path to the current one (at most maxDepth): a cycle leads back to one.
    const ancestors: object[] = [];
    // The path of the value being visited, as segments (array indices, property names — masked
    // where a name holds a finding); made into a string only for a finding.
    const segments: Array<string | number> = [];
    const pathOf = (): string => {
      let path = '$';
      for (const segment of segments) {
        path = typeof segment === 'number' ? `${path}[${segment}]` : childPath(path, segment);
      }
      return path;
    };
    const marker = (cls: LimitClass) => {
      (out ??= []).push({ class: cls, family: 'limit', path: pathOf(), start: 0, end: 0 });
    };
    const scanString = (s: string, key: string | undefined, serviceAccount: boolean) => {
      scanText(s, hits, custom, key);
      if (hits.count > 0) collect((out ??= []), pathOf(), serviceAccount ? C.gcp_service_account_key : -1);
    };
    const visit = (value: unknown, depth: number, key: string | undefined, sa: boolean): void => {
      if (++nodes > maxNodes) {
        if (nodes === maxNodes + 1) marker('node_limit');
        return;
      }
      switch (typeof value) {
        case 'string':
          if (value.length > 0) scanString(value, key, sa);
          return;
        case 'number':
        case 'bigint':
          // a card number or an SSN stored as a number
          if (typeof value === 'bigint' || (Number.isInteger(value) && Math.abs(value) >= 1e8)) {
            scanString(String(value), key, false);
          }
          return;
        case 'object':
          break;
        default:
          return;
      }
      if (value === null) return;
      if (ancestors.includes(value)) {
        marker('cycle');
        return;
      }
      if (depth >= maxDepth) {
        marker('depth_limit');
        return;
      }
      ancestors.push(value);
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) {
          segments.push(i);
          visit(value[i], depth + 1, key, false);
          segments.pop();
        }
      } else {
        const record = value as Record<string, unknown>;
        let serviceAccount = false;
        try {
          serviceAccount = record.type === 'service_account' || typeof record.private_key_id === 'string';
        } catch {
          // a throwing getter: not a service-account key file
        }
        for (const k of Object.keys(record)) {
          let v: unknown;
          try {
            v = record[k];
          } catch {
            continue; // a throwing getter: nothing to scan
          }
          segments.push(keySegment(k));
          visit(v, depth + 1, k, serviceAccount && k === 'private_key');
          segments.pop();
        }
      }
      ancestors.pop();
    };
    /** A property name as a path segment; a name that holds a finding appears masked, never as itself. */
    const keySegment = (key: string): string => {
      // nothing built in is shorter than 6 characters (`a@b.io`)
      if (key.length < 6 && custom.length === 0) return key;
      scanText(key, hits, custom);
      if (hits.count === 0) return key;
      const masked = maskText(key, hits, names);
      segments.push(masked);
      const path = pathOf();
      segments.pop();
      collect((out ??= []), `${path}~`, -1);
      return masked;
    };
    visit(root, 0, undefined, false);
    return out ?? EMPTY;
  };

  return { scan, scanValue, classes };
}

/** `key` with every hit replaced by `[REDACTED:class]`. */
function maskText(text: string, hits: Hits, names: readonly string[]): string {
  let out = '';
  let at = 0;
  for (let k = 0; k < hits.count; k++) {
    const start = hits.start[k]!;
    if (start < at) continue;
    out += `${text.slice(at, start)}[REDACTED:${names[hits.cls[k]!]}]`;
    at = hits.end[k]!;
  }
  return out + text.slice(at);
}
