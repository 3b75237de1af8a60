// The text scanner. Speed comes from never running a regular expression over the whole text for
// each class: the text is probed at a stride for the few shapes every candidate must have (a run
// of 20 token characters, every 20th character; a digit or a separator next to one, every 7th),
// and searched with indexOf for three literals (`@`, `:`, `=`: emails and URL passwords,
// assignments, IPv6 addresses and URL schemes). Only the neighbourhood of a candidate is read
// character by character and validated (Luhn, mod-97, ranges, entropy, placeholders). Every step
// moves forward, so the work is linear in the text.
import { C, GENERIC } from './classes.js';
import {
  decodeBase64,
  ibanLength,
  ibanValid,
  isPlaceholder,
  looksRandom,
  luhn,
  shannon,
  charClasses,
  ssnValid,
} from './checks.js';
import { isDocumentedExample } from './examples.js';

/** Findings as parallel integer arrays, so a scan of clean text allocates nothing. */
export class Hits {
  cls = new Int32Array(32);
  start = new Int32Array(32);
  end = new Int32Array(32);
  count = 0;
  /** Scratch of one scan: where each `://` is (found with the colons), and helpers' side results. */
  schemes = new Int32Array(16);
  schemeCount = 0;
  keywordLength = 0;
  ipv6RunEnd = 0;
  /** The next `/` at or after the token-run scanner's position (-1: none left, -2: not searched yet). */
  slashAt = -2;
  /** Keys of structured values already judged: sensitive or not. */
  readonly sensitiveKeys = new Map<string, boolean>();

  addScheme(at: number): void {
    if (this.schemeCount === this.schemes.length) {
      const grown = new Int32Array(this.schemes.length * 2);
      grown.set(this.schemes);
      this.schemes = grown;
    }
    this.schemes[this.schemeCount++] = at;
  }

  push(cls: number, start: number, end: number): void {
    if (this.count === this.cls.length) this.grow();
    this.cls[this.count] = cls;
    this.start[this.count] = start;
    this.end[this.count] = end;
    this.count++;
  }

  /** The index of the last hit of `cls` among the last few, or -1. */
  last(cls: number): number {
    for (let k = this.count - 1; k >= 0 && k >= this.count - 4; k--) if (this.cls[k] === cls) return k;
    return -1;
  }

  private grow(): void {
    const size = this.cls.length * 2;
    const grow = (a: Int32Array) => {
      const b = new Int32Array(size);
      b.set(a);
      return b;
    };
    this.cls = grow(this.cls);
    this.start = grow(this.start);
    this.end = grow(this.end);
  }
}

/** A compiled custom pattern from the policy file. */
export interface CustomPattern {
  readonly id: number;
  readonly regex: RegExp;
  /** A literal every match starts with, used to skip texts that cannot match. */
  readonly prefix: string;
}

// ---------------------------------------------------------------------------------------------
// Character tables (indexed by UTF-16 code unit)

function table(chars: string, ranges: Array<[number, number]> = []): Uint8Array {
  const t = new Uint8Array(65536);
  for (const c of chars) t[c.charCodeAt(0)] = 1;
  for (const [a, b] of ranges) for (let c = a; c <= b; c++) t[c] = 1;
  return t;
}
const AZ: [number, number] = [65, 90];
const az: [number, number] = [97, 122];
const D09: [number, number] = [48, 57];

/** Characters of token runs: base64, base64url and the separators tokens use. */
const TOKEN = table('_+/.-', [AZ, az, D09]);
const ALNUM = table('', [AZ, az, D09]);
const B64URL = table('_-', [AZ, az, D09]);
const B64 = table('+/', [AZ, az, D09]);
const WORDISH = table('_-', [AZ, az, D09]);
const UPPER_DIGIT = table('', [AZ, D09]);
/** Identifier characters of keys in assignments (`DB_PASSWORD`, `api-key`, `spring.datasource.password`). */
const IDENT = table('_.-$', [AZ, az, D09]);
/** What may sit between the digits of a phone, card, SSN, IBAN or address. */
const NUM_SEP = table(' .-()/+\u00a0');
const HEXCOLON = table(':.', [D09, [97, 102], [65, 70]]);
const EMAIL_LOCAL = table("._%+-'", [AZ, az, D09]);
const DOMAIN = table('.-', [AZ, az, D09]);
/** Characters that end an unquoted value. */
const VALUE_END = table(' \t\r\n,;&"\'`<>)}]|');

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}
function isUpper(c: number): boolean {
  return c >= 65 && c <= 90;
}
function isLetter(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
}

/** The end of the run of `t` characters from `p`, at most `max` long. */
function runEnd(s: string, p: number, t: Uint8Array, max = 1 << 30): number {
  const n = Math.min(s.length, p + max);
  while (p < n && t[s.charCodeAt(p)] === 1) p++;
  return p;
}

// ---------------------------------------------------------------------------------------------
// Token runs: prefixed API keys and tokens, JWTs, webhooks

const MIN_RUN = 20;

function scanRuns(s: string, h: Hits): void {
  const n = s.length;
  h.slashAt = -2;
  let i = MIN_RUN - 1;
  while (i < n) {
    if (TOKEN[s.charCodeAt(i)] === 0) {
      i += MIN_RUN;
      continue;
    }
    let a = i;
    while (a > 0 && TOKEN[s.charCodeAt(a - 1)] === 1) a--;
    let b = i + 1;
    while (b < n && TOKEN[s.charCodeAt(b)] === 1) b++;
    if (b - a >= MIN_RUN) {
      // a long run right after a `-----BEGIN … PRIVATE KEY-----` line is the key's body
      const header = pemHeaderBefore(s, a);
      const end = header >= 0 ? pemAt(s, header, h) : -1;
      if (end > b) {
        i = end + MIN_RUN;
        continue;
      }
      run(s, a, b, h);
    }
    i = b + MIN_RUN;
  }
}

/** Looks for tokens in the run `s[a, b)`: at its start and after each `/`. */
function run(s: string, a: number, b: number, h: Hits): void {
  let p = a;
  while (p < b) {
    const end = token(s, p, h);
    if (end > p) {
      p = end;
      continue;
    }
    // the next `/`, from a pointer that only moves forward (a long run is not read twice)
    if (h.slashAt !== -1 && h.slashAt <= p) h.slashAt = s.indexOf('/', p + 1);
    const slash = h.slashAt;
    if (slash < 0 || slash >= b - 8) break;
    p = slash + 1;
  }
  // A 40-character secret access key shortly after an access key id (credentials CSV, `aws configure`).
  if (b - a === 40) {
    const k = h.last(C.aws_access_key);
    if (
      k >= 0 &&
      h.end[k]! <= a &&
      a - h.end[k]! < 160 &&
      runEnd(s, a, B64) === b &&
      looksRandom(s, a, b, 4)
    ) {
      if (!isDocumentedExample(s, a, b)) h.push(C.aws_secret_key, a, b);
    }
  }
}

/** A boundary: the character at `p` does not continue a token drawn from `t`. */
function endsAt(s: string, p: number, t: Uint8Array): boolean {
  return p >= s.length || t[s.charCodeAt(p)] === 0;
}
function startsAfter(s: string, p: number): boolean {
  return p === 0 || ALNUM[s.charCodeAt(p - 1)] === 0;
}

/** Matches a prefixed token at `p`; pushes it and returns its end, or returns -1. */
function token(s: string, p: number, h: Hits): number {
  const c = s.charCodeAt(p);
  switch (c) {
    case 65: // A
      if (
        s.startsWith('KIA', p + 1) ||
        s.startsWith('SIA', p + 1) ||
        s.startsWith('BIA', p + 1) ||
        s.startsWith('CCA', p + 1)
      ) {
        const end = p + 20;
        if (startsAfter(s, p) && runEnd(s, p + 4, UPPER_DIGIT, 16) === end && endsAt(s, end, ALNUM)) {
          if (!s.startsWith('EXAMPLE', end - 7) && distinct(s, p + 4, end) >= 6)
            return push(h, C.aws_access_key, p, end);
        }
      } else if (s.startsWith('Iza', p + 1)) {
        const end = p + 39;
        if (startsAfter(s, p) && runEnd(s, p + 4, B64URL, 35) === end && endsAt(s, end, B64URL)) {
          return push(h, C.gcp_api_key, p, end);
        }
      }
      return -1;
    case 103: // g
      if (s.charCodeAt(p + 1) === 104) {
        // gh?_
        const k = s.charCodeAt(p + 2);
        if ((k === 112 || k === 111 || k === 117 || k === 115 || k === 114) && s.charCodeAt(p + 3) === 95) {
          const end = p + 40;
          if (
            startsAfter(s, p) &&
            runEnd(s, p + 4, ALNUM, 36) === end &&
            endsAt(s, end, WORDISH) &&
            !isPlaceholder(s, p + 4, end)
          ) {
            return push(h, C.github_token, p, end);
          }
        }
      } else if (s.startsWith('ithub_pat_', p + 1)) {
        const end = runEnd(s, p + 11, WORDISH, 255);
        if (end - p >= 60 && endsAt(s, end, WORDISH) && startsAfter(s, p))
          return push(h, C.github_token, p, end);
      } else if (s.charCodeAt(p + 1) === 108) {
        // gl…- (GitLab personal, deploy, runner, pipeline-trigger… tokens)
        let dash = p + 2;
        while (dash < p + 9 && isLetter(s.charCodeAt(dash))) dash++;
        if (
          s.charCodeAt(dash) === 45 &&
          dash > p + 2 &&
          dash < p + 9 &&
          GITLAB_PREFIXES.has(s.slice(p, dash + 1)) &&
          startsAfter(s, p)
        ) {
          let end = runEnd(s, dash + 1, TOKEN, 255);
          while (s.charCodeAt(end - 1) === 46) end--;
          if (end - dash - 1 >= 20 && !isPlaceholder(s, dash + 1, end))
            return push(h, C.gitlab_token, p, end);
        }
      }
      return -1;
    case 120: // x
      if (s.startsWith('ox', p + 1) && s.charCodeAt(p + 4) === 45 && 'abposre'.includes(s[p + 3] ?? ' ')) {
        const end = runEnd(s, p + 5, WORDISH, 250);
        if (end - p >= 24 && startsAfter(s, p) && hasDigit(s, p + 5, end) && !isPlaceholder(s, p + 5, end)) {
          return push(h, C.slack_token, p, end);
        }
      } else if (s.startsWith('app-', p + 1)) {
        const end = runEnd(s, p + 5, WORDISH, 250);
        if (end - p >= 30 && startsAfter(s, p) && hasDigit(s, p + 5, end))
          return push(h, C.slack_token, p, end);
      }
      return -1;
    case 47: // '/' — https://hooks.slack.com/…
      if (s.startsWith('/hooks.slack.com/', p + 1) && s.startsWith('https:', p - 6)) {
        const path = p + 18;
        if (
          s.startsWith('services/', path) ||
          s.startsWith('workflows/', path) ||
          s.startsWith('triggers/', path)
        ) {
          let end = runEnd(s, path, TOKEN, 300);
          while (s.charCodeAt(end - 1) === 46) end--;
          const secret = s.lastIndexOf('/', end - 1);
          if (end - secret > 16 && !/^(?:x{6,}|X{6,})$/.test(s.slice(secret + 1, end))) {
            return push(h, C.slack_webhook, p - 6, end);
          }
        }
      }
      return -1;
    case 115: // s
    case 114: // r
      if (s.charCodeAt(p + 1) !== 107) return -1; // k
      if (s.charCodeAt(p + 2) === 95 && (s.startsWith('live_', p + 3) || s.startsWith('test_', p + 3))) {
        const end = runEnd(s, p + 8, ALNUM, 247);
        if (end - p >= 28 && startsAfter(s, p) && endsAt(s, end, WORDISH) && !isPlaceholder(s, p + 8, end)) {
          if (!isDocumentedExample(s, p, end)) return push(h, C.stripe_key, p, end);
        }
      } else if (c === 115 && s.charCodeAt(p + 2) === 45 && startsAfter(s, p)) {
        return openAiOrAnthropic(s, p, h);
      }
      return -1;
    case 119: // w
      if (s.startsWith('hsec_', p + 1)) {
        const end = runEnd(s, p + 6, B64, 200);
        if (end - p >= 30 && startsAfter(s, p) && hasDigit(s, p + 6, end))
          return push(h, C.stripe_key, p, end);
      }
      return -1;
    case 110: // n
      if (s.startsWith('pm_', p + 1)) {
        const end = p + 40;
        if (startsAfter(s, p) && runEnd(s, p + 4, ALNUM, 36) === end && endsAt(s, end, WORDISH)) {
          return push(h, C.npm_token, p, end);
        }
      }
      return -1;
    case 83: // S
      if (s.charCodeAt(p + 1) === 71 && s.charCodeAt(p + 2) === 46) {
        const dot = runEnd(s, p + 3, B64URL, 64);
        if (dot - p - 3 >= 16 && s.charCodeAt(dot) === 46) {
          const end = runEnd(s, dot + 1, B64URL, 128);
          if (end - dot - 1 >= 30 && startsAfter(s, p)) return push(h, C.sendgrid_key, p, end);
        }
      }
      return -1;
    case 101: // e
      if (s.charCodeAt(p + 1) === 121 && s.charCodeAt(p + 2) === 74) return jwt(s, p, h);
      return -1;
    default:
      return -1;
  }
}

const GITLAB_PREFIXES = new Set([
  'glpat-',
  'gldt-',
  'glrt-',
  'glptt-',
  'glcbt-',
  'glimt-',
  'glft-',
  'glsoat-',
  'gloas-',
  'glagent-',
  'glwt-',
  'glffct-',
]);

function push(h: Hits, cls: number, start: number, end: number): number {
  h.push(cls, start, end);
  return end;
}

function hasDigit(s: string, a: number, b: number): boolean {
  for (let i = a; i < b; i++) if (isDigit(s.charCodeAt(i))) return true;
  return false;
}

function distinct(s: string, a: number, b: number): number {
  let seen = 0;
  let count = 0;
  for (let i = a; i < b; i++) {
    const bit = 1 << (s.charCodeAt(i) % 31);
    if ((seen & bit) === 0) {
      seen |= bit;
      count++;
    }
  }
  return count;
}

/** `sk-ant-…` (Anthropic), `sk-proj-…`, `sk-svcacct-…`, `sk-admin-…`, `sk-…T3BlbkFJ…` (OpenAI). */
function openAiOrAnthropic(s: string, p: number, h: Hits): number {
  const end = runEnd(s, p + 3, B64URL, 400);
  const length = end - p;
  if (!endsAt(s, end, B64URL)) return -1;
  if (s.startsWith('ant-', p + 3)) {
    return length >= 40 && /^sk-ant-[a-z]+\d\d-/.test(s.slice(p, p + 20)) && !isPlaceholder(s, p + 7, end)
      ? push(h, C.anthropic_key, p, end)
      : -1;
  }
  if (s.slice(p, end).includes('T3BlbkFJ')) return length >= 40 ? push(h, C.openai_key, p, end) : -1;
  if (s.startsWith('proj-', p + 3) || s.startsWith('svcacct-', p + 3) || s.startsWith('admin-', p + 3)) {
    return length >= 48 && looksRandom(s, p + 8, end) ? push(h, C.openai_key, p, end) : -1;
  }
  if (length === 51 && runEnd(s, p + 3, ALNUM) === end && looksRandom(s, p + 3, end, 4)) {
    return push(h, C.openai_key, p, end);
  }
  return -1;
}

/** header.payload.signature where the header decodes to a JSON object naming `alg`. */
function jwt(s: string, p: number, h: Hits): number {
  const dot1 = runEnd(s, p, B64URL, 2048);
  if (dot1 - p < 10 || s.charCodeAt(dot1) !== 46) return -1;
  const dot2 = runEnd(s, dot1 + 1, B64URL, 1 << 20);
  if (dot2 - dot1 < 10 || s.charCodeAt(dot2) !== 46) return -1;
  const end = runEnd(s, dot2 + 1, B64URL, 1 << 20);
  const header = decodeBase64(s, p, dot1);
  if (header === undefined || !header.includes('"alg"')) return -1;
  if (end === dot2 + 1 && !header.includes('none')) return -1;
  if (!startsAfter(s, p) || isDocumentedExample(s, p, end)) return -1;
  return push(h, C.jwt, p, end);
}

// ---------------------------------------------------------------------------------------------
// Digits: cards, phones, SSNs, IBANs, IPv4 and IPv6 addresses

// Every cluster that can hold a finding spans at least 7 characters (IPv4 `1.1.1.1`, phones of 7
// digits and more), and every character of a cluster is a digit or a separator next to a digit;
// so probing every 7th character for those misses none. IPv6 addresses are found from their
// colons, in the same walk over `:` and `=` that finds assignments.
const DIGIT_STRIDE = 7;

function scanDigits(s: string, h: Hits): void {
  const n = s.length;
  /** IBAN starts before this offset were tried already (by an earlier cluster). */
  let ibanTried = 0;
  let i = DIGIT_STRIDE - 1;
  while (i < n) {
    const c = s.charCodeAt(i);
    if (c > 57 || c < 48) {
      if (NUM_SEP[c] === 1) {
        // a separator next to a digit: start from the digit
        if (isDigit(s.charCodeAt(i + 1))) {
          i++;
          continue;
        }
        if (i > 0 && isDigit(s.charCodeAt(i - 1))) {
          i--;
          continue;
        }
      }
      i += DIGIT_STRIDE;
      continue;
    }
    // A digit next to a lowercase letter or `_` is inside a word (a hash, a UUID, an identifier):
    // skip the word without reading its cluster. (IBANs are upper case.)
    const left = s.charCodeAt(i - 1);
    const right = s.charCodeAt(i + 1);
    if ((left >= 97 && left <= 122) || left === 95 || (right >= 97 && right <= 122) || right === 95) {
      i = runEnd(s, i + 1, WORDISH) + DIGIT_STRIDE;
      continue;
    }
    // The cluster of digits and single separators around i.
    let a = i;
    let digits = 1;
    let gap = 0;
    while (a > 0) {
      const p = s.charCodeAt(a - 1);
      if (isDigit(p)) {
        digits++;
        gap = 0;
      } else if (NUM_SEP[p] === 1 && gap < 2) gap++;
      else break;
      a--;
    }
    a += gap;
    let b = i + 1;
    gap = 0;
    while (b < n) {
      const p = s.charCodeAt(b);
      if (isDigit(p)) {
        digits++;
        gap = 0;
      } else if (NUM_SEP[p] === 1 && gap < 2) gap++;
      else break;
      b++;
    }
    b -= gap;
    // Keep an opening `+` or `(` that belongs to a phone number.
    while (a > 0 && (s.charCodeAt(a - 1) === 43 || s.charCodeAt(a - 1) === 40) && a > 0) a--;
    const next = b < n ? s.charCodeAt(b) : 32;
    const prev = a > 0 ? s.charCodeAt(a - 1) : 32;
    // next to a colon: a time, a host before its port, or part of an IPv6 address (which is
    // found from its colons)
    if (next === 58 || prev === 58) {
      if (prev !== 58 && digits >= 4 && isDigit(s.charCodeAt(a))) ipv4(s, a, h);
      i = b + DIGIT_STRIDE;
      continue;
    }
    // An IBAN: its country code and check digits are at or before the cluster
    if (isUpper(prev) || (prev === 32 && a >= 5 && UPPER_DIGIT[s.charCodeAt(a - 2)] === 1)) {
      const end = ibanBefore(s, a, ibanTried, h);
      ibanTried = a;
      if (end > 0) {
        i = end + DIGIT_STRIDE;
        continue;
      }
    }
    // Digits inside a word (hashes, UUIDs, identifiers, `2025-06-02T09:14`) are none of these.
    if (isLetter(prev) || isLetter(next) || prev === 95 || next === 95) {
      i = runEnd(s, b, WORDISH) + DIGIT_STRIDE;
      continue;
    }
    if (digits >= 4) cluster(s, a, b, digits, h);
    i = b + DIGIT_STRIDE;
  }
}

/** Validators at each group start inside a cluster; the first that matches wins. */
function cluster(s: string, a: number, b: number, digits: number, h: Hits): void {
  let p = a;
  while (p < b) {
    const c = s.charCodeAt(p);
    if (isDigit(c) || c === 43 || c === 40) {
      const end = (digits >= 13 ? card(s, p, b) : -1) ?? -1;
      let found = end > 0 ? push(h, C.payment_card, p, end) : -1;
      const fresh = p === a || !isDigit(s.charCodeAt(p - 2)) || s.charCodeAt(p - 1) === 47;
      if (found < 0 && digits >= 9 && fresh) found = ssn(s, p, b, h);
      if (found < 0 && digits >= 7 && fresh) found = phone(s, p, b, h);
      if (found < 0 && isDigit(c) && (p === a || !isDigit(s.charCodeAt(p - 1)))) found = ipv4(s, p, h);
      if (found > 0) {
        p = found;
        continue;
      }
      // next group
      while (p < b && isDigit(s.charCodeAt(p))) p++;
    }
    p++;
  }
}

const CARD_PREFIX =
  /^(?:4|5[1-5]|2(?:2[2-9]|[3-6]|7[01]|720)|3[47]|3(?:0[0-5]|[68])|6(?:011|5|4[4-9]|2)|35(?:2[89]|[3-8]))/;

/** A card number at `p`: 13–19 digits, unseparated or in groups with one separator; Luhn. */
function card(s: string, p: number, limit: number): number {
  if (
    !isDigit(s.charCodeAt(p)) ||
    (p > 0 && (ALNUM[s.charCodeAt(p - 1)] === 1 || s.charCodeAt(p - 1) === 46))
  )
    return -1; // inside a word, or after a dot (a decimal fraction, a dotted name)
  let count = 0;
  let sep = -1;
  let q = p;
  let group = 0;
  const groups: number[] = [];
  while (q < limit) {
    const c = s.charCodeAt(q);
    if (isDigit(c)) {
      count++;
      group++;
      q++;
      if (count > 19) return -1;
    } else if (
      (c === 32 || c === 45 || c === 46) &&
      (sep === -1 || sep === c) &&
      group > 0 &&
      isDigit(s.charCodeAt(q + 1))
    ) {
      sep = c;
      groups.push(group);
      group = 0;
      q++;
    } else break;
  }
  groups.push(group);
  if (count < 13 || !endsAt(s, q, ALNUM) || (s.charCodeAt(q) === 46 && isDigit(s.charCodeAt(q + 1))))
    return -1;
  if (sep === 46 && groups.join('-') !== '4-4-4-4') return -1; // dots only in 4-4-4-4
  if (sep !== -1) {
    const shape = groups.join('-');
    if (!/^(?:4-4-4-4(?:-\d)?|4-4-4-[1-3]|4-6-[45]|4-4-4-4-3|4-4-5|4-4-4-7)$/.test(shape)) return -1;
  }
  const digitsOnly = sep === -1 ? s.slice(p, q) : s.slice(p, q).replace(/[ .-]/g, '');
  if (!CARD_PREFIX.test(digitsOnly) || /^(\d)\1+$/.test(digitsOnly) || !luhn(s, p, q)) return -1;
  if (isDocumentedExample(s, p, q)) return -1;
  return q;
}

/** ddd-dd-dddd (or spaces) with valid ranges; a bare 9-digit number only after `SSN`. */
function ssn(s: string, p: number, limit: number, h: Hits): number {
  if (
    !isDigit(s.charCodeAt(p)) ||
    (p > 0 && (ALNUM[s.charCodeAt(p - 1)] === 1 || s.charCodeAt(p - 1) === 45))
  )
    return -1;
  const sep = s.charCodeAt(p + 3);
  let end: number;
  if ((sep === 45 || sep === 32) && s.charCodeAt(p + 6) === sep) {
    if (!(digitsAt(s, p, 3) && digitsAt(s, p + 4, 2) && digitsAt(s, p + 7, 4))) return -1;
    end = p + 11;
  } else if (
    digitsAt(s, p, 9) &&
    /(?:ssn|social security(?: number| no\.?)?)\W{0,4}$/i.test(s.slice(Math.max(0, p - 24), p))
  ) {
    end = p + 9;
  } else return -1;
  if (
    end > limit + 1 ||
    !endsAt(s, end, ALNUM) ||
    s.charCodeAt(end) === 45 ||
    (s.charCodeAt(end) === 46 && isDigit(s.charCodeAt(end + 1)))
  )
    return -1;
  const digits = s.slice(p, end).replace(/\D/g, '');
  if (!ssnValid(Number(digits.slice(0, 3)), Number(digits.slice(3, 5)), Number(digits.slice(5)))) return -1;
  if (isDocumentedExample(s, p, end)) return -1;
  return push(h, C.us_ssn, p, end);
}

function digitsAt(s: string, p: number, count: number): boolean {
  for (let k = 0; k < count; k++) if (!isDigit(s.charCodeAt(p + k))) return false;
  return true;
}

const PHONE_CONTEXT = /(?:phone|tel|mobile|cell|fax|call|sms|whatsapp|contact)\b[^\n\d]{0,16}$/i;

/**
 * International (+CC …, 8–15 digits), North American (NXX NXX XXXX in the usual punctuation),
 * national numbers with a trunk 0 in groups, or a bare 10–11 digit number after a phone keyword.
 */
function phone(s: string, p: number, limit: number, h: Hits): number {
  const first = s.charCodeAt(p);
  const before = p > 0 ? s.charCodeAt(p - 1) : 32;
  // after a `+`, the number was judged in its international form already
  if (ALNUM[before] === 1 || before === 46 || before === 45 || (before === 43 && first !== 43)) return -1;
  // collect digits and separators
  let q = p;
  let digits = 0;
  let groups = 0;
  let inGroup = false;
  let run = 0;
  if (first === 43) q++;
  while (q < limit) {
    const c = s.charCodeAt(q);
    if (isDigit(c)) {
      digits++;
      run = 0;
      if (!inGroup) groups++;
      inGroup = true;
      q++;
      if (digits > 15) return -1;
    } else if (c === 32 || c === 45 || c === 46 || c === 40 || c === 41 || c === 160 || c === 47) {
      if (c === 47 && first !== 43) break;
      if (++run > 2 || (run === 2 && c !== 32 && c !== 40)) return -1;
      inGroup = false;
      q++;
    } else break;
  }
  while (q > p && !isDigit(s.charCodeAt(q - 1)) && s.charCodeAt(q - 1) !== 41) q--;
  if (!endsAt(s, q, ALNUM) || (s.charCodeAt(q) === 46 && isDigit(s.charCodeAt(q + 1)))) return -1;
  const text = s.slice(p, q);
  let ok = false;
  if (first === 43) {
    // +1 is the North American plan: exactly ten digits follow
    ok =
      digits >= 8 &&
      digits <= 15 &&
      s.charCodeAt(p + 1) !== 48 &&
      (s.charCodeAt(p + 1) !== 49 || digits === 11) &&
      /^\+\d{1,3}(?:[ .-]?\(?\d+\)?)+$/.test(text);
  } else if (digits === 10 || (digits === 11 && first === 49)) {
    ok =
      /^(?:1[ .-]?)?(?:\([2-9]\d\d\) ?|[2-9]\d\d[ .-])[2-9]\d\d[ .-]\d{4}$/.test(text) ||
      (first === 48 && groups >= 2 && /^0[1-9]\d{0,3}(?: \d{2,6})+$/.test(text));
    if (!ok && groups === 1 && PHONE_CONTEXT.test(s.slice(Math.max(0, p - 24), p))) ok = true;
  } else if (digits === 11 && first === 48 && groups >= 2) {
    ok = /^0[1-9]\d{0,3}(?: \d{2,6})+$/.test(text);
  } else if (digits >= 7 && digits <= 12 && PHONE_CONTEXT.test(s.slice(Math.max(0, p - 24), p))) {
    ok = /^\(?\d+\)?(?:[ .-]?\d+)*$/.test(text) && !/^\d{4}-\d\d-\d\d/.test(text);
  }
  if (!ok || /^\d{4}[-/.]\d\d[-/.]\d\d/.test(text)) return -1;
  return push(h, C.phone, p, q);
}

const IPV4 = /(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}/y;
const VERSION_BEFORE =
  /(?:version|ver|release|build|rev|node|chrome|firefox|safari|v|section|sec\.|§|chapter|clause|paragraph|step|figure|fig\.|table|appendix|item)\s*[:=@/]?\s*$/i;

function ipv4(s: string, p: number, h: Hits): number {
  if (s.charCodeAt(p + 1) !== 46 && s.charCodeAt(p + 2) !== 46 && s.charCodeAt(p + 3) !== 46) return -1;
  const before = p > 0 ? s.charCodeAt(p - 1) : 32;
  if (ALNUM[before] === 1 || before === 46 || before === 95 || before === 45 || before === 36) return -1;
  IPV4.lastIndex = p;
  if (!IPV4.test(s)) return -1;
  const end = IPV4.lastIndex;
  const after = s.charCodeAt(end);
  if (ALNUM[after] === 1 || (after === 46 && isDigit(s.charCodeAt(end + 1))) || after === 95) return -1;
  if (after === 47 && isDigit(s.charCodeAt(end + 1))) return -1; // a network (CIDR), not a host
  if (s.startsWith('0.0.0.0', p) && end === p + 7) return -1;
  if (s.startsWith('255.', p)) return -1; // netmasks, not hosts
  if (VERSION_BEFORE.test(s.slice(Math.max(0, p - 12), p))) return -1;
  return push(h, C.ipv4, p, end);
}

/** An IPv6 address around `i`: the run of hex digits, colons and dots, strictly parsed. */
function ipv6(s: string, i: number, h: Hits): number {
  let a = i;
  while (a > 0 && HEXCOLON[s.charCodeAt(a - 1)] === 1 && i - a < 45) a--;
  let b = i;
  while (b < s.length && HEXCOLON[s.charCodeAt(b)] === 1 && b - a < 45) b++;
  h.ipv6RunEnd = b; // its other colons need not be read again
  // trim dots and single colons at the ends
  while (b > a && (s.charCodeAt(b - 1) === 46 || (s.charCodeAt(b - 1) === 58 && s.charCodeAt(b - 2) !== 58)))
    b--;
  while (a < b && (s.charCodeAt(a) === 46 || (s.charCodeAt(a) === 58 && s.charCodeAt(a + 1) !== 58))) a++;
  if (b - a < 6) return -1;
  // cheap shape test first: 7 colons, or a `::` and at least two
  let colons = 0;
  let double = false;
  for (let k = a; k < b; k++) {
    if (s.charCodeAt(k) === 58) {
      colons++;
      if (s.charCodeAt(k + 1) === 58) double = true;
    }
  }
  if (double ? colons < 3 : colons !== 7) return -1;
  const before = a > 0 ? s.charCodeAt(a - 1) : 32;
  const after = b < s.length ? s.charCodeAt(b) : 32;
  if (WORDISH[before] === 1 || WORDISH[after] === 1) return -1;
  if (after === 47 && isDigit(s.charCodeAt(b + 1))) return -1; // a network (CIDR), not a host
  const text = s.slice(a, b);
  const at = text.indexOf('::');
  if (at !== text.lastIndexOf('::')) return -1;
  const parts = at >= 0 ? [text.slice(0, at), text.slice(at + 2)] : [text];
  let groups = 0;
  let v4 = false;
  for (const part of parts) {
    if (part === '') continue;
    const fields = part.split(':');
    for (let k = 0; k < fields.length; k++) {
      const f = fields[k]!;
      if (k === fields.length - 1 && part === parts[parts.length - 1] && f.includes('.')) {
        IPV4.lastIndex = 0;
        if (!IPV4.test(f) || IPV4.lastIndex !== f.length) return -1;
        groups += 2;
        v4 = true;
      } else if (/^[0-9a-fA-F]{1,4}$/.test(f)) groups++;
      else return -1;
    }
  }
  if (at >= 0 ? groups > 7 || groups < 2 : groups !== 8) return -1;
  if (!v4 && !/\d/.test(text)) return -1;
  return push(h, C.ipv6, a, b);
}

/**
 * Walks back from a cluster of digits over `[A-Z0-9 ]` to a country code and check digits;
 * starts before `tried` were tried by an earlier cluster.
 */
function ibanBefore(s: string, a: number, tried: number, h: Hits): number {
  let q = a;
  const min = Math.max(0, a - 36, tried);
  while (q > min && (UPPER_DIGIT[s.charCodeAt(q - 1)] === 1 || s.charCodeAt(q - 1) === 32)) q--;
  for (let start = q; start < a; start++) {
    if (
      isUpper(s.charCodeAt(start)) &&
      isUpper(s.charCodeAt(start + 1)) &&
      isDigit(s.charCodeAt(start + 2)) &&
      isDigit(s.charCodeAt(start + 3)) &&
      (start === 0 || ALNUM[s.charCodeAt(start - 1)] === 0)
    ) {
      const end = iban(s, start, h);
      if (end > 0) return end;
    }
  }
  return -1;
}

/** An IBAN starting at `start` (country code, check digits, BBAN; spaces every four allowed). */
function iban(s: string, start: number, h: Hits): number {
  const length = ibanLength(s.slice(start, start + 2));
  if (length === undefined) return -1;
  let compact = '';
  let end = start;
  while (compact.length < length && end < s.length) {
    const c = s.charCodeAt(end);
    if (UPPER_DIGIT[c] === 1) compact += s[end];
    else if (c !== 32 || UPPER_DIGIT[s.charCodeAt(end + 1)] !== 1) break;
    end++;
  }
  if (compact.length !== length || !endsAt(s, end, ALNUM) || !ibanValid(compact)) return -1;
  return push(h, C.iban, start, end);
}

// ---------------------------------------------------------------------------------------------
// `@`: email addresses and passwords in URLs

const FILE_EXTENSIONS = new Set([
  'png',
  'jpg',
  'jpeg',
  'gif',
  'svg',
  'webp',
  'ico',
  'js',
  'mjs',
  'cjs',
  'ts',
  'tsx',
  'jsx',
  'css',
  'scss',
  'json',
  'md',
  'html',
  'htm',
  'txt',
  'yaml',
  'yml',
  'xml',
  'lock',
  'map',
  'wasm',
  'py',
  'rb',
  'go',
  'rs',
  'java',
  'sh',
  'zip',
  'gz',
  'tgz',
  'pdf',
  'csv',
  'log',
  'tar',
  'so',
  'dll',
  'exe',
]);

function scanAt(s: string, h: Hits): void {
  let at = s.indexOf('@');
  if (at < 0) return;
  const schemes = new Schemes(s, h);
  while (at >= 0) {
    const end = urlPassword(s, at, schemes, h);
    at = s.indexOf('@', end > at ? end : email(s, at, h));
  }
}

/**
 * The `://` nearest before each `@`, from the list the walk over colons made, with pointers that
 * only move forward, so the work over all `@` of a text stays linear (`@@@…`, `x://@@@…`).
 */
class Schemes {
  /** Where the user part of the current scheme starts (after `://`), or -1. */
  at = -1;
  /** The first `:` at or after `at`, or -1. */
  colon = -1;
  /** The next `://` (an index into the hits' scheme list) and where it is, or -1. */
  private k = 0;
  private next: number;
  /** Characters in [at, scanned) were checked for a break; the first one is `stop` (or -1). */
  private scanned = 0;
  private stop = -1;

  constructor(
    private readonly s: string,
    private readonly h: Hits,
  ) {
    this.next = h.schemeCount > 0 ? h.schemes[0]! : -1;
  }

  private advance(): void {
    this.k++;
    this.next = this.k < this.h.schemeCount ? this.h.schemes[this.k]! : -1;
  }

  /** The start of the user part of the scheme whose authority reaches `at` within 300 characters, or -1. */
  before(at: number): number {
    const s = this.s;
    if (this.next !== -1 && this.next + 3 <= at) {
      while (this.next !== -1 && this.next + 3 <= at) {
        this.at = this.next + 3;
        this.advance();
      }
      this.colon = s.indexOf(':', this.at);
      this.scanned = this.at;
      this.stop = -1;
    }
    if (this.at < 0 || at - this.at > 300) return -1;
    if (this.stop === -1) {
      for (let k = this.scanned; k < at; k++) {
        const c = s.charCodeAt(k);
        // whitespace, quotes and brackets end a URL; `/`, `?` and `#` end its authority
        if (c <= 32 || c === 34 || c === 39 || c === 60 || c === 62 || c === 47 || c === 63 || c === 35) {
          this.stop = k;
          break;
        }
      }
      if (this.scanned < at) this.scanned = at;
    }
    return this.stop !== -1 && this.stop < at ? -1 : this.at;
  }
}

function urlPassword(s: string, at: number, schemes: Schemes, h: Hits): number {
  // scheme://user:password@host — a `://` before the `@` without whitespace in between
  const scheme = schemes.before(at);
  if (scheme < 0) return -1;
  const colon = schemes.colon;
  if (colon < 0 || colon >= at) return at + 1; // a user without a password: not an email either
  const start = colon + 1;
  if (
    at - start < 3 ||
    isPlaceholder(s, start, at, false) ||
    s.slice(start, at).toLowerCase() === 'x-oauth-basic' ||
    // documentation hosts (RFC 2606): `https://abc:xyz@example.com`
    /^(?:[\w-]+\.)*example\.(?:com|org|net)(?![\w.-]*\w)/i.test(s.slice(at + 1, at + 64))
  )
    return at + 1;
  h.push(C.url_password, start, at);
  return at + 1;
}

function email(s: string, at: number, h: Hits): number {
  let a = at;
  while (a > 0 && at - a < 64 && EMAIL_LOCAL[s.charCodeAt(a - 1)] === 1) a--;
  while (a < at && (s.charCodeAt(a) === 46 || s.charCodeAt(a) === 39)) a++;
  if (a === at || s.charCodeAt(at - 1) === 46) return at + 1;
  const b = runEnd(s, at + 1, DOMAIN, 253);
  let end = b;
  while (end > at + 1 && (s.charCodeAt(end - 1) === 46 || s.charCodeAt(end - 1) === 45)) end--;
  let dot = end - 1;
  while (dot > at + 1 && s.charCodeAt(dot) !== 46) dot--;
  if (dot <= at + 1 || end - dot - 1 < 2 || s.charCodeAt(at + 1) === 46) return at + 1;
  for (let k = dot + 1; k < end; k++) if (!isLetter(s.charCodeAt(k))) return at + 1;
  const tld = s.slice(dot + 1, end).toLowerCase();
  if (FILE_EXTENSIONS.has(tld) || s.slice(at + 1, end).includes('..')) return at + 1;
  // git@github.com:org/repo.git is an SSH remote, not a person
  if (s.charCodeAt(end) === 58 && s.slice(a, at) === 'git') return end;
  if (a > 0 && (s.charCodeAt(a - 1) === 47 || s.charCodeAt(a - 1) === 64)) return end;
  h.push(C.email, a, end);
  return end;
}

// ---------------------------------------------------------------------------------------------
// -----BEGIN … PRIVATE KEY-----

// PEM blocks are found from their bodies: the first body line is a long run of base64 that the
// token-run probe meets anyway, right after the header line, so no separate search for
// `-----BEGIN` goes over the text.

/** The `-----BEGIN` of a header line that ends right before `a` (a line break, a space or a `\n` escape between), or -1. */
function pemHeaderBefore(s: string, a: number): number {
  let q = a - 1;
  const c = s.charCodeAt(q);
  if (c === 10 || c === 13 || c === 32) {
    q--;
    if (s.charCodeAt(q) === 13) q--;
  } else if (c === 92 && s.charCodeAt(a) === 110) {
    // `…-----\nMIIE…` inside a JSON string: the run starts at the escape's `n`
    q--;
  } else return -1;
  let from = Math.max(0, q - 100);
  if (s.charCodeAt(q) !== 45 || !s.startsWith('-----', q - 4)) {
    // a legacy encrypted key: `Proc-Type:` and `DEK-Info:` lines, then a blank line, then the body
    if (s.charCodeAt(q) !== 10 || c !== 10) return -1;
    from = Math.max(0, q - 300);
    if (!s.slice(from, q).includes('Proc-Type:')) return -1;
  }
  const k = s.slice(from, q).lastIndexOf('-----BEGIN');
  return k < 0 ? -1 : from + k;
}

/** Characters of a PEM body: base64, line breaks, escapes, and the `Proc-Type:`/`DEK-Info:` headers of legacy keys. */
const PEM_BODY = table('+/=\\\r\n \t:,-', [AZ, az, D09]);

/** The private key whose header starts at `at`; pushes it and returns its end, or returns -1. */
function pemAt(s: string, at: number, h: Hits): number {
  const close = s.slice(at + 10, at + 80).indexOf('-----') + at + 10;
  if (close < at + 10) return -1;
  const label = s.slice(at + 11, close);
  if (!label.includes('PRIVATE KEY')) return -1;
  const bodyStart = close + 5;
  // the body ends at the next `-----` (the END line) or at a character no body has
  let bodyEnd = bodyStart;
  const max = Math.min(s.length, bodyStart + 65536);
  while (bodyEnd < max && PEM_BODY[s.charCodeAt(bodyEnd)] === 1) {
    if (s.charCodeAt(bodyEnd) === 45 && s.startsWith('-----', bodyEnd)) break;
    bodyEnd++;
  }
  const end = s.startsWith(`-----END ${label}-----`, bodyEnd) ? bodyEnd + label.length + 14 : bodyEnd;
  let base64 = 0;
  for (let k = bodyStart; k < bodyEnd; k++) if (B64[s.charCodeAt(k)] === 1) base64++;
  if (base64 < 64) return -1;
  const before = s.slice(Math.max(0, at - 1200), at);
  const serviceAccount = before.includes('"private_key_id"') || before.includes('service_account');
  h.push(serviceAccount ? C.gcp_service_account_key : C.private_key, at, end);
  return end;
}

// ---------------------------------------------------------------------------------------------
// Assignments: `password=…`, `"client_secret": "…"`, `Authorization: Bearer …`

const SENSITIVE_KEY =
  /pass(?:word|wd|phrase)?|pwd|secret|token|api[-_.]?key|apikey|auth|credential|private[-_.]?key|access[-_.]?key|account[-_.]?key|shared[-_.]?access[-_.]?key|signing[-_.]?key|encryption[-_.]?key|master[-_.]?key|session[-_.]?key|app[-_.]?key|license[-_.]?key/i;
const NOT_SECRET_KEY =
  /(?:^|[-_.])(?:name|names|type|types|url|uri|path|file|dir|length|len|count|policy|expires?|expiry|expiration|ttl|version|format|header|field|env|ref|arn|hint|label|prompt|limit|min|max|size|strength|hash|hashed|salt|algorithm|alg|kind|mode|id|ids|uid|endpoint|location|usage|used|enabled|required|reset|rotation|changed|updated|created|at|method|provider|scheme|scope|scopes|audience|issuer|prefix|pattern|regex|validator|input|form|button|field|placeholder|description|message|template)$|^(?:max|min|num|total|n|input|output|prompt|completion)[-_]?tokens?$|tokens?[-_]?(?:count|used|limit|per|budget|usage|estimate)|^(?:author|authors|authority|authorize|authorized|oauth|auth[-_]?type|auth[-_]?method|keys|keyboard|keyword|keywords|keyof|primary[-_]?key|foreign[-_]?key|sort[-_]?key|partition[-_]?key|cache[-_]?key|idempotency[-_]?key|public[-_]?key|key[-_]?id|bypass|passed|passes|passing|compass|passenger|passport|tokenize|tokenizer|tokens|pass[-_]?through|password[-_]?(?:reset|policy|rules|changed))$/i;

/** A key naming a secret; camelCase is split first, so `SharedAccessKeyName` ends in `name`. */
function isSensitiveKey(key: string): boolean {
  // words that contain a keyword without meaning one (`passingSchemas`, `authorName`, `keyboard`)
  const words = key.replace(
    /pass(?:ing|ed|es|enger|port|through)|compass|bypass|tokeni[sz]|author(?!i[sz])|keyboard|keyword|keystroke|monkey|turkey|hockey|donkey|jockey|whiskey/gi,
    '_',
  );
  return SENSITIVE_KEY.test(words) && !NOT_SECRET_KEY.test(key.replace(/([a-z0-9])([A-Z])/g, '$1_$2'));
}

// Assignments are found from their operators (`:` and `=`, searched with indexOf, much faster
// than a case-insensitive search for the keywords): the identifier just before an operator is
// the key, and only a key holding a keyword is read further.
/**
 * An IPv6 address has a `::` or colons at most five apart three times over; a time such as
 * `09:14:22` has neither, and is not read further.
 */
function couldBeIpv6(s: string, op: number): boolean {
  if (s.charCodeAt(op + 1) === 58 || s.charCodeAt(op - 1) === 58) return true;
  let at = op;
  for (let colons = 1; colons < 3; colons++) {
    let next = at + 1;
    while (next <= at + 5 && s.charCodeAt(next) !== 58) next++;
    if (next > at + 5) return false;
    if (s.charCodeAt(next + 1) === 58) return true;
    at = next;
  }
  return true;
}

function scanAssignments(s: string, h: Hits): void {
  h.schemeCount = 0;
  let colon = s.indexOf(':');
  let equals = s.indexOf('=');
  let resume = 0;
  let ipv6Until = 0;
  while (colon >= 0 || equals >= 0) {
    let op: number;
    let isColon = false;
    if (equals < 0 || (colon >= 0 && colon < equals)) {
      op = colon;
      isColon = true;
      colon = s.indexOf(':', colon + 1);
    } else {
      op = equals;
      equals = s.indexOf('=', equals + 1);
    }
    const after = s.charCodeAt(op + 1);
    if (isColon && after === 47 && s.charCodeAt(op + 2) === 47) h.addScheme(op);
    if (op < resume) continue;
    if (isColon && op >= ipv6Until) {
      // a colon between hex digits or colons: maybe an IPv6 address
      if (
        HEXCOLON[s.charCodeAt(op + 1)] === 1 &&
        HEXCOLON[s.charCodeAt(op - 1)] === 1 &&
        couldBeIpv6(s, op)
      ) {
        const end = ipv6(s, op, h);
        ipv6Until = end > 0 ? end : h.ipv6RunEnd;
        if (end > 0) continue;
      }
    }
    // a time (`09:14`) or a URL scheme (`https://`) is not an assignment
    if (isColon && (after === 47 || (isDigit(after) && isDigit(s.charCodeAt(op - 1))))) continue;
    // back over spaces and a closing quote to the end of the key
    let p = op - 1;
    while (p >= 0 && op - p <= 6 && (s.charCodeAt(p) === 32 || s.charCodeAt(p) === 9)) p--;
    const quote = s.charCodeAt(p);
    if (quote === 34 || quote === 39) p--;
    if (p < 0 || IDENT[s.charCodeAt(p)] !== 1) continue;
    const k = keywordBefore(s, p, h);
    if (k < 0) continue;
    const end = assignment(s, k, k + h.keywordLength, h);
    if (end > resume) resume = end;
  }
}

/**
 * Walking back over the identifier that ends at `p` (at most 64 characters), the start of a
 * keyword in it — pass, pwd, secret, token, auth, cred, key, in any case — or -1. One backward
 * walk: each keyword is recognised by its last letter.
 */
function keywordBefore(s: string, p: number, h: Hits): number {
  const min = Math.max(0, p - 64);
  for (let j = p; j >= min; j--) {
    const c = s.charCodeAt(j);
    if (IDENT[c] !== 1) return -1;
    let word: string;
    switch (c | 32) {
      case 115: // s
        word = 'pass';
        break;
      case 100: // d
        word = (s.charCodeAt(j - 1) | 32) === 119 ? 'pwd' : 'cred';
        break;
      case 116: // t
        word = 'secret';
        break;
      case 110: // n
        word = 'token';
        break;
      case 104: // h
        word = 'auth';
        break;
      case 121: // y
        word = 'key';
        break;
      default:
        continue;
    }
    const start = j - word.length + 1;
    if (start < 0) continue;
    let m = 0;
    while (m < word.length - 1 && (s.charCodeAt(start + m) | 32) === word.charCodeAt(m)) m++;
    if (m === word.length - 1) {
      h.keywordLength = word.length;
      return start;
    }
  }
  return -1;
}

/** The assignment whose key contains the keyword at `s[k, kEnd)`; returns where scanning resumes. */
function assignment(s: string, k: number, kEnd: number, h: Hits): number {
  const n = s.length;
  let ka = k;
  while (ka > 0 && IDENT[s.charCodeAt(ka - 1)] === 1 && k - ka < 64) ka--;
  let kb = kEnd;
  while (kb < n && IDENT[s.charCodeAt(kb)] === 1 && kb - kEnd < 64) kb++;
  // operator: optional closing quote, spaces, `:` `=` `:=` `=>` (not `==`)
  let q = kb;
  const quote = s.charCodeAt(q);
  if (quote === 34 || quote === 39) q++;
  while (q < n && (s.charCodeAt(q) === 32 || s.charCodeAt(q) === 9) && q - kb < 6) q++;
  const op = s.charCodeAt(q);
  if (op === 58) {
    q++;
    if (s.charCodeAt(q) === 61) q++;
    else if (s.charCodeAt(q) === 58) return q; // `key::…`
  } else if (op === 61) {
    q++;
    const o2 = s.charCodeAt(q);
    if (o2 === 61) return q + 1;
    if (o2 === 62) q++;
  } else return kb;
  while (ka < k && s.charCodeAt(ka) === 45) ka++; // --password=
  const key = s.slice(ka, kb);
  if (!isSensitiveKey(key)) return q;
  return value(s, key, q, h, false);
}

/** Reads and judges the value that starts after `q` (spaces and an opening quote skipped). */
function value(s: string, key: string, q: number, h: Hits, whole: boolean): number {
  const n = s.length;
  while (q < n && (s.charCodeAt(q) === 32 || s.charCodeAt(q) === 9)) q++;
  let start = q;
  let end: number;
  const open = s.charCodeAt(q);
  if (whole) end = n;
  else if (open === 34 || open === 39 || open === 96) {
    start = q + 1;
    end = start;
    while (end < n && end - start < 4096) {
      const c = s.charCodeAt(end);
      if (c === open || c === 10 || c === 13) break;
      if (c === 92) end++; // escaped character
      end++;
    }
    if (s.charCodeAt(end) !== open) return start;
  } else {
    end = q;
    while (end < n && VALUE_END[s.charCodeAt(end)] === 0 && end - q < 4096) end++;
    while (end > start && (s.charCodeAt(end - 1) === 46 || s.charCodeAt(end - 1) === 58)) end--;
  }
  // Authorization: Bearer/Basic/Token <credentials>
  const lowerKey = key.toLowerCase();
  if (/^(?:bearer|basic|token|bot|digest|negotiate)\s+/i.test(s.slice(start, start + 12))) {
    while (s.charCodeAt(start) !== 32) start++;
    start++;
    while (s.charCodeAt(start) === 32) start++;
    if (!whole && open !== 34 && open !== 39 && open !== 96) {
      end = start;
      while (end < n && VALUE_END[s.charCodeAt(end)] === 0) end++;
    }
  }
  // an unquoted value in code may be another variable or expression, not a literal
  const unquoted = !whole && open !== 34 && open !== 39 && open !== 96;
  if (unquoted && looksLikeCode(s.slice(start, end), key)) return end;
  const cls = valueClass(s, lowerKey, start, end);
  if (cls >= 0) h.push(cls, start, end);
  return end;
}

/** Two-letter words of identifiers (`isAuthorized`, `CommentOrToken`, `userId`). */
const SHORT_WORDS = new Set(
  'is,to,on,of,by,at,in,up,or,an,as,be,do,go,if,it,me,my,no,so,we,id,db,ok,ui,io,fs,os,js,ts'.split(','),
);

/**
 * Whether an unquoted value reads as code: optional chaining, a further assignment, or an
 * identifier made of two or more words (`expectedTrimmed`, `this_secret_key`, `AuthMD5Password`)
 * rather than random characters (`Kx9mQ2vLp7wR`) or one word and digits (`hunter2`).
 */
function looksLikeCode(text: string, key: string): boolean {
  // `exports.isAuthorized = isAuthorized`, `token = token`
  if (key === text || key.endsWith(`.${text}`)) return true;
  // optional chaining, a comparison or further assignment, a negation, a call or grouping, a
  // regular expression or comment, an environment lookup
  if (
    /\?\.|==[^=]|===|=[A-Za-z_$]|^!|^\(|[\w$]\(|^\/[\^\\([*]|^(?:process\.env|os\.environ|import\.meta\.env)\b/.test(
      text,
    )
  )
    return true;
  if (!/^[A-Za-z_$#][A-Za-z0-9_$.#]*$/.test(text)) return false;
  const parts = text
    .split(/[_$.#]+/)
    .flatMap((p) => p.match(/[A-Z]{2,}(?![a-z])|[A-Z]?[a-z]+|[A-Z]|\d+/g) ?? []);
  let words = 0;
  for (const part of parts) {
    // digits, acronyms and single letters (`OAuth`, `kEnumerable`) join words
    if (/^\d{1,2}$|^[A-Z]{2,}$|^[A-Za-z]$/.test(part)) continue;
    if (/^\d/.test(part) || (part.length < 3 && !SHORT_WORDS.has(part.toLowerCase()))) return false;
    words++;
  }
  return words >= 2;
}

function valueClass(s: string, key: string, start: number, end: number): number {
  const length = end - start;
  if (length < 6 || length > 4096) return -1;
  if (isPlaceholder(s, start, end) || isDocumentedExample(s, start, end)) return -1;
  if (/aws.{0,24}secret|secret.?access.?key/.test(key)) {
    if (length === 40 && runEnd(s, start, B64) === end) {
      return isDocumentedExample(s, start, end) ? -1 : C.aws_secret_key;
    }
  }
  if (key.endsWith('_authtoken')) return C.npm_token;
  if (/(?:^|[-_.])(?:account|shared[-_.]?access)[-_.]?key$/.test(key)) {
    return length >= 40 && runEnd(s, start, B64) >= end - 2 ? C.azure_connection_string : -1;
  }
  const text = s.slice(start, end);
  // a passphrase of lower-case words under a password key (`correcthorsebatterystaple`)
  if (/pass|pwd/.test(key) && /^[a-z]{16,}$/.test(text)) return C.secret_assignment;
  // one word (`Unauthorized`, `AUTHORIZED`), the name of an environment variable
  // (`LANGSMITH_API_KEY`), words and spaces (`Password used to generate key`), hyphenated words
  // with a small number (`personal-access-token123`), a file path (`/Users/ada`)
  if (
    /^[A-Z]?[a-z]+[.,;:!?/)]*$|^[A-Z]+$|^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$|^[A-Za-z]+(?: [A-Za-z]+)+$|^[a-z]+(?:-[a-z]+)+-?\d{0,3}$|^(?:~?\/|[A-Za-z]:\\)[\w./\\-]*$/.test(
      text,
    )
  )
    return -1;
  if (
    /^-----BEGIN|:\/\/|^[a-z]+(?:[-_.][a-z]+)*$|^\d{1,15}$|^\d+(?:\.\d+)+$|^[\w.+-]+@[\w-]+\.[\w.-]+$/.test(
      text,
    )
  )
    return -1;
  if (
    /^(?:str|string|int|bool|boolean|number|bytes|object|any|unknown|secretstr|optional|none)\b/i.test(text)
  )
    return -1;
  // strength: length × log2(alphabet) and a minimum Shannon entropy
  const classes = charClasses(s, start, end);
  const pool =
    (classes & 1 ? 26 : 0) + (classes & 2 ? 26 : 0) + (classes & 4 ? 10 : 0) + (classes & 8 ? 33 : 0);
  const bits = length * Math.log2(pool);
  if (bits < 40 || shannon(s, start, end) < 2.5) return -1;
  return C.secret_assignment;
}

/** A string under a sensitive key of a structured value is judged as that key's value. */
function keyedValue(s: string, key: string, h: Hits): void {
  // structured values repeat their keys: remember the verdict for a while
  let sensitive = h.sensitiveKeys.get(key);
  if (sensitive === undefined) {
    sensitive = isSensitiveKey(key);
    if (h.sensitiveKeys.size >= 4096) h.sensitiveKeys.clear();
    h.sensitiveKeys.set(key, sensitive);
  }
  if (!sensitive) return;
  for (let k = 0; k < h.count; k++) if (h.start[k]! <= 0 && h.end[k]! >= s.length) return;
  value(s, key, 0, h, true);
}

// ---------------------------------------------------------------------------------------------

/**
 * Scans `s` into `h` (cleared first), then orders the hits and removes overlaps. `key` is the
 * property name when `s` is a value inside a structured value (`{"password": "…"}`).
 */
export function scanText(s: string, h: Hits, custom: readonly CustomPattern[], key?: string): void {
  h.count = 0;
  // nothing built in is shorter than 6 characters (`a@b.io`)
  if (s.length >= 6) {
    scanRuns(s, h);
    scanDigits(s, h);
    scanAssignments(s, h); // before scanAt: it lists the `://` that scanAt needs
    scanAt(s, h);
  }
  for (const pattern of custom) {
    if (pattern.prefix !== '' && !s.includes(pattern.prefix)) continue;
    const re = pattern.regex;
    re.lastIndex = 0;
    let m: RegExpExecArray | null;
    while ((m = re.exec(s)) !== null) {
      if (m[0].length === 0) {
        re.lastIndex++;
        continue;
      }
      h.push(pattern.id, m.index, m.index + m[0].length);
    }
  }
  if (key !== undefined) keyedValue(s, key, h);
  if (h.count > 1) resolve(h);
}

/** Sorts hits by start and drops a hit that overlaps a stronger one (specific beats generic). */
function resolve(h: Hits): void {
  const order = Array.from({ length: h.count }, (_, k) => k).sort(
    (x, y) => h.start[x]! - h.start[y]! || h.end[y]! - h.end[x]!,
  );
  const cls = order.map((k) => h.cls[k]!);
  const start = order.map((k) => h.start[k]!);
  const end = order.map((k) => h.end[k]!);
  const keep = new Array<boolean>(order.length).fill(true);
  for (let x = 0; x < order.length; x++) {
    if (!keep[x]) continue;
    for (let y = x + 1; y < order.length && start[y]! < end[x]!; y++) {
      if (!keep[y]) continue;
      if (cls[x]! >= BUILTIN_COUNT || cls[y]! >= BUILTIN_COUNT) {
        if (cls[x] === cls[y] && start[x] === start[y] && end[x] === end[y]) keep[y] = false;
        continue;
      }
      keep[rank(cls[x]!) >= rank(cls[y]!) ? y : x] = false;
      if (!keep[x]) break;
    }
  }
  h.count = 0;
  for (let x = 0; x < order.length; x++) if (keep[x]) h.push(cls[x]!, start[x]!, end[x]!);
}

const BUILTIN_COUNT = C.ipv6 + 1;

function rank(cls: number): number {
  if (cls <= C.secret_assignment) return GENERIC.has(cls) ? 2 : 3;
  return 1;
}
