// Small pure helpers for durations, rates, globs, names and hashing.

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `15m` → 900000. The schema has already checked the shape. */
export function durationMs(text: string): number {
  const match = /^(\d+)(ms|s|m|h|d)$/.exec(text);
  if (!match) throw new Error(`not a duration: \`${text}\``);
  return Number(match[1]) * (UNIT_MS[match[2]!] ?? NaN);
}

/** `60/m` → { limit: 60, windowMs: 60000 }; `100/10m` → { limit: 100, windowMs: 600000 }. */
export function parseRate(text: string): { limit: number; windowMs: number } {
  const match = /^(\d+)\/(\d*)(ms|s|m|h|d)$/.exec(text);
  if (!match) throw new Error(`not a rate: \`${text}\``);
  const count = match[2] ? Number(match[2]) : 1;
  return { limit: Number(match[1]), windowMs: count * (UNIT_MS[match[3]!] ?? NaN) };
}

/** A glob over one name segment: `*` any run of characters, `?` one character. */
export function globToRegExp(glob: string): RegExp {
  let source = '';
  for (const char of glob) {
    if (char === '*') source += '.*';
    else if (char === '?') source += '.';
    else source += char.replace(/[.+^${}()|[\]\\-]/g, '\\$&');
  }
  return new RegExp(`^${source}$`);
}

export type ToolMatcher = (server: string, tool: string) => boolean;

/** Compiles `server/tool` globs into one matcher. */
export function toolMatcher(globs: readonly string[]): ToolMatcher {
  const parts = globs.map((glob) => {
    const slash = glob.indexOf('/');
    return { server: globToRegExp(glob.slice(0, slash)), tool: globToRegExp(glob.slice(slash + 1)) };
  });
  return (server, tool) => parts.some((part) => part.server.test(server) && part.tool.test(tool));
}

/** Whether a glob has no wildcard, so it names exactly one thing. */
export function isLiteral(glob: string): boolean {
  return !/[*?]/.test(glob);
}

// Invisible and bidirectional-control code points (security reference §4). The class lists
// combining marks and variation selectors on purpose, one code point at a time.
const INVISIBLE =
  // eslint-disable-next-line no-misleading-character-class
  /[\u00AD\u034F\u061C\u115F\u1160\u17B4\u17B5\u180E\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\u3164\uFE00-\uFE0F\uFEFF\uFFA0\u{E0000}-\u{E007F}]/u;

export function hasInvisible(text: string): boolean {
  return INVISIBLE.test(text);
}

/** Code points of the invisible characters in a text, as `U+200B` strings. */
export function invisibleCodePoints(text: string): string[] {
  const found: string[] = [];
  for (const char of text) {
    if (INVISIBLE.test(char))
      found.push(`U+${char.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`);
  }
  return found;
}

// The characters that look like ASCII letters in common scripts (a subset of UTS #39
// confusables: Cyrillic, Greek, fullwidth forms, and ASCII look-alikes among themselves).
const CONFUSABLE_MAP: Record<string, string> = {
  а: 'a',
  в: 'b',
  с: 'c',
  е: 'e',
  һ: 'h',
  і: 'i',
  ј: 'j',
  к: 'k',
  м: 'm',
  н: 'h',
  о: 'o',
  р: 'p',
  ԛ: 'q',
  ѕ: 's',
  т: 't',
  у: 'y',
  х: 'x',
  ԝ: 'w',
  ӏ: 'l',
  ɡ: 'g',
  ο: 'o',
  α: 'a',
  ν: 'v',
  ρ: 'p',
  τ: 't',
  ι: 'i',
  κ: 'k',
  χ: 'x',
  υ: 'u',
  ε: 'e',
  '0': 'o',
  '1': 'l',
  I: 'l',
  '5': 's',
  '|': 'l',
};

/**
 * A skeleton in the spirit of UTS #39: two names with the same skeleton look alike to a person.
 * NFKC folds fullwidth and compatibility forms; the map folds common cross-script look-alikes.
 */
export function skeleton(name: string): string {
  let out = '';
  for (const char of name.normalize('NFKC')) {
    if (INVISIBLE.test(char)) continue;
    const mapped = CONFUSABLE_MAP[char] ?? char;
    out += mapped.toLowerCase();
  }
  return out.replace(/rn/g, 'm').replace(/vv/g, 'w').replace(/[_.-]/g, '');
}

/** Whether a name holds non-ASCII characters that a person would read as ASCII. */
export function isConfusable(name: string): boolean {
  // eslint-disable-next-line no-control-regex
  if (/^[\x00-\x7F]*$/.test(name)) return false;
  const folded = skeleton(name);
  // eslint-disable-next-line no-control-regex
  return /^[\x00-\x7F]+$/.test(folded);
}

/** Levenshtein distance, for "did you mean" hints. */
export function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length]!;
}

/** The closest candidate within a small edit distance, or undefined. */
export function closest(word: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(word.length / 3)) + 1;
  for (const candidate of candidates) {
    const distance = editDistance(word.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

/** JSON with object keys sorted, so equal values serialise equally whatever their key order. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const keys = Object.keys(value).sort();
  let out = '{';
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    if (i > 0) out += ',';
    out += `${JSON.stringify(key)}:${canonicalJson((value as Record<string, unknown>)[key])}`;
  }
  return `${out}}`;
}

/**
 * cyrb53: a fast 53-bit non-cryptographic hash. Used only to fingerprint calls for loop
 * detection inside the pure core (node:crypto is not available there); evidence uses SHA-256.
 */
export function hash53(text: string, seed = 0): string {
  let h1 = 0xdeadbeef ^ seed;
  let h2 = 0x41c6ce57 ^ seed;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507);
  h1 ^= Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507);
  h2 ^= Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return (4294967296 * (2097151 & h2) + (h1 >>> 0)).toString(36);
}

/**
 * A 53-bit fingerprint of a JSON value, independent of object key order (the hash of its
 * canonical JSON, computed without building that text), for loop detection on every call. A
 * number, so that comparing and storing fingerprints allocates nothing.
 */
export function fingerprintOf(value: unknown, seed = 0): number {
  const state = new Int32Array(2);
  state[0] = 0xdeadbeef ^ seed;
  state[1] = 0x41c6ce57 ^ seed;
  const flat = flatText(value);
  if (flat !== undefined) feedText(state, flat);
  else feedValue(state, value, 0);
  let h1 = state[0]!;
  let h2 = state[1]!;
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507);
  h1 ^= Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507);
  h2 ^= Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}

/**
 * The text `feedValue` would hash for an object of strings, numbers and booleans (the common
 * shape of tool arguments), built in one go; undefined for anything else.
 */
function flatText(value: unknown): string | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const keys = Object.keys(value);
  if (keys.length > 1) keys.sort();
  let text = '{';
  for (const key of keys) {
    const item = (value as Record<string, unknown>)[key];
    if (typeof item === 'string') text += `${key}\u0000\u0002${item}\u0001`;
    else if (item === null || typeof item !== 'object') text += `${key}\u0000\u0003${String(item)}\u0001`;
    else return undefined;
  }
  return `${text}}`;
}

/** Mixes a text into the two hash lanes; the lanes live in locals inside the loop. */
function feedText(state: Int32Array, text: string): void {
  let h1 = state[0]!;
  let h2 = state[1]!;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  state[0] = h1;
  state[1] = h2;
}

function feedValue(state: Int32Array, value: unknown, depth: number): void {
  if (typeof value === 'string') {
    feedText(state, '\u0002');
    return feedText(state, value);
  }
  if (value === null || typeof value !== 'object') return feedText(state, `\u0003${String(value)}`);
  // Deeper than any real argument: the rest counts as one opaque marker rather than recursing.
  if (depth > 64) return feedText(state, '\u0004');
  if (Array.isArray(value)) {
    feedText(state, '[');
    for (const item of value) {
      feedValue(state, item, depth + 1);
      feedText(state, ',');
    }
    return feedText(state, ']');
  }
  const keys = Object.keys(value);
  if (keys.length > 1) keys.sort();
  feedText(state, '{');
  for (const key of keys) {
    feedText(state, key);
    feedText(state, '\u0000');
    feedValue(state, (value as Record<string, unknown>)[key], depth + 1);
    feedText(state, '\u0001');
  }
  feedText(state, '}');
}
