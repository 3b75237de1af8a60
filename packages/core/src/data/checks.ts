// Validators that run only on candidates: checksums, ranges, entropy and placeholder tests.

/** Luhn (ISO/IEC 7812) over the digits of `s[start, end)`, skipping separators. */
export function luhn(s: string, start: number, end: number): boolean {
  let sum = 0;
  let double = false;
  for (let i = end - 1; i >= start; i--) {
    const c = s.charCodeAt(i) - 48;
    if (c < 0 || c > 9) continue;
    let d = c;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

/** IBAN lengths per country (ISO 13616 registry). */
const IBAN_LENGTHS: Record<string, number> = {
  AD: 24,
  AE: 23,
  AL: 28,
  AT: 20,
  AZ: 28,
  BA: 20,
  BE: 16,
  BG: 22,
  BH: 22,
  BR: 29,
  BY: 28,
  CH: 21,
  CR: 22,
  CY: 28,
  CZ: 24,
  DE: 22,
  DK: 18,
  DO: 28,
  EE: 20,
  EG: 29,
  ES: 24,
  FI: 18,
  FO: 18,
  FR: 27,
  GB: 22,
  GE: 22,
  GI: 23,
  GL: 18,
  GR: 27,
  GT: 28,
  HR: 21,
  HU: 28,
  IE: 22,
  IL: 23,
  IQ: 23,
  IS: 26,
  IT: 27,
  JO: 30,
  KW: 30,
  KZ: 20,
  LB: 28,
  LC: 32,
  LI: 21,
  LT: 20,
  LU: 20,
  LV: 21,
  MC: 27,
  MD: 24,
  ME: 22,
  MK: 19,
  MR: 27,
  MT: 31,
  MU: 30,
  NL: 18,
  NO: 15,
  PK: 24,
  PL: 28,
  PS: 29,
  PT: 25,
  QA: 29,
  RO: 24,
  RS: 22,
  SA: 24,
  SC: 31,
  SE: 24,
  SI: 19,
  SK: 24,
  SM: 27,
  ST: 25,
  SV: 28,
  TL: 23,
  TN: 24,
  TR: 26,
  UA: 29,
  VA: 22,
  VG: 24,
  XK: 20,
};

export function ibanLength(country: string): number | undefined {
  return IBAN_LENGTHS[country];
}

/** ISO 7064 mod-97-10 over an IBAN without separators: valid when the remainder is 1. */
export function ibanValid(iban: string): boolean {
  const n = iban.length;
  if (n < 15 || n > 34) return false;
  if (IBAN_LENGTHS[iban.slice(0, 2)] !== n) return false;
  let rest = 0;
  for (let k = 0; k < n; k++) {
    const c = iban.charCodeAt((k + 4) % n);
    if (c >= 48 && c <= 57) rest = (rest * 10 + (c - 48)) % 97;
    else if (c >= 65 && c <= 90) rest = (rest * 100 + (c - 55)) % 97;
    else return false;
  }
  return rest === 1;
}

/** US SSN ranges: area 001–899 except 666, group 01–99, serial 0001–9999. */
export function ssnValid(area: number, group: number, serial: number): boolean {
  return area > 0 && area < 900 && area !== 666 && group > 0 && serial > 0;
}

/** Shannon entropy in bits per character. Only called on short candidate values. */
export function shannon(s: string, start = 0, end = s.length): number {
  const n = end - start;
  if (n <= 0) return 0;
  const counts = new Map<number, number>();
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    counts.set(c, (counts.get(c) ?? 0) + 1);
  }
  let bits = 0;
  for (const count of counts.values()) {
    const p = count / n;
    bits -= p * Math.log2(p);
  }
  return bits;
}

/** Character classes present: 1 lower, 2 upper, 4 digit, 8 other. */
export function charClasses(s: string, start = 0, end = s.length): number {
  let mask = 0;
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c >= 97 && c <= 122) mask |= 1;
    else if (c >= 65 && c <= 90) mask |= 2;
    else if (c >= 48 && c <= 57) mask |= 4;
    else mask |= 8;
  }
  return mask;
}

/**
 * Whether a random-looking token: long enough, several character classes and a Shannon entropy
 * that natural identifiers (`getUserById`, `max_tokens_per_request`) do not reach.
 */
export function looksRandom(s: string, start: number, end: number, minBits = 3): boolean {
  const n = end - start;
  if (n < 16) return false;
  const classes = charClasses(s, start, end);
  let kinds = 0;
  for (let m = classes; m !== 0; m &= m - 1) kinds++;
  if (kinds < 2) return false;
  return shannon(s, start, end) >= minBits;
}

// Values that stand for a secret instead of being one: placeholders, references, templating.
const PLACEHOLDER_WORDS = new Set([
  'password',
  'passwd',
  'pass',
  'pwd',
  'secret',
  'token',
  'apikey',
  'api_key',
  'key',
  'changeme',
  'change_me',
  'changeit',
  'example',
  'sample',
  'test',
  'testing',
  'dummy',
  'fake',
  'placeholder',
  'redacted',
  'removed',
  'hidden',
  'masked',
  'none',
  'null',
  'nil',
  'undefined',
  'true',
  'false',
  'empty',
  'default',
  'admin',
  'root',
  'guest',
  'user',
  'username',
  'letmein',
  'qwerty',
  'welcome',
  'secretpassword',
  'mypassword',
  'yourpassword',
  'supersecret',
  'notasecret',
  'xxx',
  'todo',
  'tbd',
  'bearer',
  'basic',
  'string',
  'value',
  'required',
  'optional',
  'mysecret',
  'foobar',
  'foo',
  'bar',
  'abc',
  'abcdef',
  'abcdefgh',
  'secret_key',
  'your_api_key',
  'yourapikey',
  'insert',
  'here',
]);

/**
 * Whether `s[start, end)` is a placeholder or a reference rather than a secret: `changeme`,
 * `<your-token>`, `${DB_PASSWORD}`, `{{ secrets.X }}`, `$TOKEN`, `%s`, `****`, `xxxx`,
 * `process.env.TOKEN`, `os.environ["X"]`, `password123`, `your-api-key-here`… `expressions: false`
 * keeps dotted words (`Zebra.Sog44`) as values, where code cannot appear (a URL's password).
 */
export function isPlaceholder(s: string, start: number, end: number, expressions = true): boolean {
  const value = s.slice(start, end);
  if (/^[<[{(%$]|[>\]})]$|^\*+$|\$\{|\{\{|%\(|^#\{|^@\w+@$/.test(value)) return true;
  // the same character repeated (xxxxxxxx, ********, 00000000) or a run like 12345678 / abcdefgh;
  // six equal characters in a row, which random tokens practically never have (`…Token00000000`);
  // an ellipsis (`sk-ant-...`)
  if (/^(.)\1*$|(.)\2{5,}|\.\.\.|…/.test(value) || /^(?:0?123456789?0?|abcdefghij?k?)$/i.test(value))
    return true;
  // an expression: dotted identifiers, calls, indexing, environment lookups (not inside a URL,
  // where `Zebra.Sog44` is a password)
  if (
    expressions &&
    /^[A-Za-z_$][\w$]*(?:(?:\.|::|->)[A-Za-z_$][\w$]*)+(?:\(.*\))?$|^[A-Za-z_$][\w$.]*[([]/.test(value)
  ) {
    return true;
  }
  const lower = value.toLowerCase();
  if (
    /^(?:your|my|some|the|insert|enter|put|replace|fill)(?:[-_ ]|(?=api|secret|token|pass|key|app|access|client|private|own|real))|[-_ ]?(?:here|goes[-_ ]?here|example|placeholder)$|^x{3,}|x{6,}/.test(
      lower,
    )
  ) {
    return true;
  }
  const stripped = lower.replace(/[^a-z]/g, '');
  if (PLACEHOLDER_WORDS.has(stripped) || PLACEHOLDER_WORDS.has(lower)) return true;
  // `user:password`, `username-password`; `pa$$word`, `s3cr3t` (leet spellings of placeholders)
  if (lower.split(/[:_-]/).every((part) => PLACEHOLDER_WORDS.has(part))) return true;
  return PLACEHOLDER_WORDS.has(
    lower
      .replace(/[$5]/g, 's')
      .replace(/0/g, 'o')
      .replace(/3/g, 'e')
      .replace(/[1!]/g, 'i')
      .replace(/@/g, 'a'),
  );
}

/** Decodes base64url/base64 text (no padding needed) into a Latin-1 string; undefined when invalid. */
export function decodeBase64(s: string, start: number, end: number): string | undefined {
  let out = '';
  let buffer = 0;
  let bits = 0;
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    let v: number;
    if (c >= 65 && c <= 90) v = c - 65;
    else if (c >= 97 && c <= 122) v = c - 71;
    else if (c >= 48 && c <= 57) v = c + 4;
    else if (c === 45 || c === 43) v = 62;
    else if (c === 95 || c === 47) v = 63;
    else if (c === 61) break;
    else return undefined;
    buffer = (buffer << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += String.fromCharCode((buffer >> bits) & 0xff);
    }
  }
  return out;
}
