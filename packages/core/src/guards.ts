// Argument guards: where a call's arguments point. A path argument is canonicalised (percent
// escapes, backslashes, `.` and `..`) and must stay under the tool's roots; a URL argument may not
// name a private, loopback, link-local (cloud metadata) or otherwise internal address unless the
// policy's `egress.allow` lists it. Lexical, so it runs in `decide()` without I/O; the adapters
// add what needs the machine: resolving host names (SSRF through DNS) and symlinks.

// The WHATWG URL parser every JavaScript runtime has (the core takes no platform types).
interface ParsedUrl {
  protocol: string;
  hostname: string;
  host: string;
  pathname: string;
}
declare const URL: new (input: string) => ParsedUrl;

/** An argument guard's verdict: undefined when the argument may pass. */
export interface GuardFailure {
  code: 'args.path' | 'egress.private' | 'egress.scheme';
  /** The argument, as `args.<name>` or `args.<name>[i]`. */
  at: string;
  message: string;
}

export interface PathGuard {
  /** Top-level argument names that hold a path, or arrays of paths. */
  args: readonly string[];
  /** Absolute, canonical roots. */
  roots: readonly string[];
}

export interface EgressGuard {
  /** Whether internal addresses may be reached at all. */
  private: 'deny' | 'allow';
  /** Host names (`*.corp.example`), addresses and CIDR ranges reachable even when internal. */
  allow: readonly string[];
}

/** Schemes that reach local files or speak raw protocols through URL fetchers (SSRF classics). */
const DANGEROUS_SCHEMES = new Set([
  'file:',
  'gopher:',
  'dict:',
  'ldap:',
  'ldaps:',
  'tftp:',
  'jar:',
  'netdoc:',
]);
/** Names that always mean this machine or a cloud metadata service, whatever DNS says. */
const INTERNAL_NAMES = [/^localhost$/, /\.localhost$/, /^metadata\.google\.internal$/, /^metadata$/];
const MAX_URL_VISITS = 10_000;

/**
 * Why `value` may not be passed as a path to a tool with these roots, or undefined. Relative paths
 * are taken relative to each root; the path must be inside a root both as written and with percent
 * escapes decoded (a tool may decode them).
 */
export function checkPath(value: string, roots: readonly string[]): string | undefined {
  if (value.includes('\0')) return 'holds a NUL character';
  const forms = new Set([value]);
  let decoded = value;
  for (let i = 0; i < 3 && /%[0-9a-f]{2}/i.test(decoded); i++) {
    try {
      decoded = decodeURIComponent(decoded);
    } catch {
      return 'holds a malformed percent escape';
    }
    if (decoded.includes('\0')) return 'holds an encoded NUL character';
    forms.add(decoded);
  }
  for (const form of forms) {
    const slashed = form.replace(/\\/g, '/');
    if (/^\/\/[?.]\//.test(slashed)) return 'uses a Windows device path (`\\\\?\\` or `\\\\.\\`)';
    if (/^\/\/[^/]/.test(slashed)) return 'is a network (UNC) path';
    const inside = roots.some((root) => {
      const candidate = isAbsolute(slashed) ? slashed : `${root}/${slashed}`;
      const canonical = normalise(candidate);
      return canonical !== undefined && within(canonical, normalise(root)!);
    });
    if (!inside) return `resolves outside the allowed roots (${roots.join(', ')})`;
  }
  return undefined;
}

/** `/a/./b/../c` → `/a/c`; undefined when `..` climbs above the top. Drive letters are kept. */
export function normalise(path: string): string | undefined {
  const slashed = path.replace(/\\/g, '/');
  const drive = /^[A-Za-z]:/.exec(slashed)?.[0] ?? '';
  const parts: string[] = [];
  for (const part of slashed.slice(drive.length).split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (parts.length === 0) return undefined;
      parts.pop();
    } else parts.push(part);
  }
  return `${drive.toUpperCase()}/${parts.join('/')}`;
}

function isAbsolute(path: string): boolean {
  return path.startsWith('/') || /^[A-Za-z]:\//.test(path);
}

function within(path: string, root: string): boolean {
  return root === '/' || path === root || path.startsWith(`${root}/`);
}

/** The first argument of `args` this guard refuses, or undefined. */
export function checkPathArguments(
  args: Record<string, unknown>,
  guard: PathGuard,
): GuardFailure | undefined {
  for (const { at, path } of pathArguments(args, guard)) {
    const why = path.startsWith('file:') ? checkFileUrl(path, guard.roots) : checkPath(path, guard.roots);
    if (why) return { code: 'args.path', at, message: `\`${at}\` ${why}` };
  }
  return undefined;
}

/** The string values of the guard's path arguments (each item of a list), with where they are. */
export function pathArguments(
  args: Record<string, unknown>,
  guard: PathGuard,
): Array<{ at: string; path: string }> {
  const found: Array<{ at: string; path: string }> = [];
  for (const name of guard.args) {
    const value = args[name];
    if (typeof value === 'string') found.push({ at: `args.${name}`, path: value });
    else if (Array.isArray(value)) {
      value.forEach((item, i) => {
        if (typeof item === 'string') found.push({ at: `args.${name}[${i}]`, path: item });
      });
    }
  }
  return found;
}

function checkFileUrl(value: string, roots: readonly string[]): string | undefined {
  try {
    const url = new URL(value);
    if (url.host !== '' && url.host !== 'localhost') return 'is a file URL on another host';
    return checkPath(url.pathname, roots);
  } catch {
    return 'is a malformed file URL';
  }
}

/**
 * The first URL among the arguments (any string, at any depth, that is a URL as a whole) that the
 * egress guard refuses, or undefined. Host names other than the always-internal ones pass here;
 * the adapter resolves them and checks the addresses with `internalAddress`. Runs on every
 * decision, so it allocates nothing unless a string holds `://`.
 */
export function checkUrlArguments(
  args: Record<string, unknown>,
  guard: EgressGuard,
  pathArgs: readonly string[] = NO_NAMES,
): GuardFailure | undefined {
  visits = 0;
  for (const key in args) {
    const value = args[key];
    // The common case first: a string that holds no URL, a number, a boolean.
    if (typeof value === 'string' ? !value.includes('://') : value === null || typeof value !== 'object') {
      continue;
    }
    if (pathArgs.length > 0 && pathArgs.includes(key)) continue;
    const found = firstRefusedUrl(value, guard, 1);
    if (found) return withPath(found, `args.${key}`);
  }
  return undefined;
}

const NO_NAMES: readonly string[] = [];
/** Values looked at in this call (the walk is bounded; decide() is synchronous, so one counter). */
let visits = 0;

interface Refusal {
  code: GuardFailure['code'];
  /** The path below the argument, innermost last, and the message with `{at}` for it. */
  below: string;
  message: string;
}

function firstRefusedUrl(value: unknown, guard: EgressGuard, depth: number): Refusal | undefined {
  if (depth > 64 || ++visits > MAX_URL_VISITS) return undefined;
  if (typeof value === 'string') return value.includes('://') ? checkUrl(value, guard) : undefined;
  if (value === null || typeof value !== 'object') return undefined;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = firstRefusedUrl(value[i], guard, depth + 1);
      if (found) return { ...found, below: `[${i}]${found.below}` };
    }
    return undefined;
  }
  for (const key in value) {
    const found = firstRefusedUrl((value as Record<string, unknown>)[key], guard, depth + 1);
    if (found) return { ...found, below: `.${key}${found.below}` };
  }
  return undefined;
}

function withPath(refusal: Refusal, argument: string): GuardFailure {
  const at = `${argument}${refusal.below}`;
  return { code: refusal.code, at, message: refusal.message.replace('{at}', `\`${at}\``) };
}

/** The hosts named by URLs among the arguments (at any depth), for the adapter to resolve. */
export function urlHosts(
  args: Record<string, unknown>,
  skip: readonly string[] = [],
): Array<{ at: string; host: string }> {
  const hosts: Array<{ at: string; host: string }> = [];
  const budget = { visits: 0 };
  for (const key in args) {
    if (!Object.prototype.hasOwnProperty.call(args, key) || skip.includes(key)) continue;
    collectHosts(args[key], `args.${key}`, 1, budget, hosts);
  }
  return hosts;
}

function collectHosts(
  value: unknown,
  at: string,
  depth: number,
  budget: { visits: number },
  hosts: Array<{ at: string; host: string }>,
): void {
  if (depth > 64 || ++budget.visits > MAX_URL_VISITS) return;
  if (typeof value === 'string') {
    if (!value.includes('://')) return;
    const url = parseUrl(value);
    if (url && url.hostname !== '' && !DANGEROUS_SCHEMES.has(url.protocol)) {
      hosts.push({ at, host: unbracket(url.hostname).toLowerCase().replace(/\.$/, '') });
    }
  } else if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) collectHosts(value[i], `${at}[${i}]`, depth + 1, budget, hosts);
  } else if (value !== null && typeof value === 'object') {
    for (const key in value) {
      if (Object.prototype.hasOwnProperty.call(value, key))
        collectHosts((value as Record<string, unknown>)[key], `${at}.${key}`, depth + 1, budget, hosts);
    }
  }
}

/** A whole-string absolute URL with an authority (`scheme://…`), parsed; undefined otherwise. */
function parseUrl(value: string): ParsedUrl | undefined {
  const trimmed = value.trim();
  if (trimmed.length > 8192 || !/^[a-z][a-z0-9+.-]*:\/\/\S*$/i.test(trimmed)) return undefined;
  try {
    return new URL(trimmed);
  } catch {
    return undefined;
  }
}

function unbracket(host: string): string {
  return host.startsWith('[') ? host.slice(1, -1) : host;
}

function checkUrl(value: string, guard: EgressGuard): Refusal | undefined {
  const url = parseUrl(value);
  if (!url) return undefined;
  if (DANGEROUS_SCHEMES.has(url.protocol)) {
    return {
      code: 'egress.scheme',
      below: '',
      message: `{at} is a \`${url.protocol}\` URL, which reaches local files or raw protocols through a URL fetcher`,
    };
  }
  if (guard.private === 'allow') return undefined;
  // The WHATWG parser has already turned `0x7f.1`, `2130706433` and `0177.0.0.1` into `127.0.0.1`.
  const host = unbracket(url.hostname).toLowerCase().replace(/\.$/, '');
  const internal = INTERNAL_NAMES.some((name) => name.test(host))
    ? 'this machine or a metadata service'
    : internalAddress(host);
  if (!internal || hostAllowed(host, guard.allow)) return undefined;
  return {
    code: 'egress.private',
    below: '',
    message: `{at} points at \`${host}\` (${internal}); internal addresses are not reachable through tools unless \`egress.allow\` lists them`,
  };
}

/** Whether `host` (a name or an address) is listed in `allow` (names, `*.` suffixes, addresses, CIDRs). */
export function hostAllowed(host: string, allow: readonly string[]): boolean {
  const name = host.toLowerCase();
  for (const entry of allow) {
    const item = entry.toLowerCase();
    if (item === name) return true;
    if (item.startsWith('*.') && name.endsWith(item.slice(1))) return true;
    if (item.includes('/') && inCidr(name, item)) return true;
  }
  return false;
}

/** What kind of internal address `host` is (loopback, private, link-local…), or undefined. */
export function internalAddress(host: string): string | undefined {
  const v4 = ipv4(host);
  if (v4 !== undefined) return internalV4(v4);
  const v6 = ipv6(host);
  if (v6 !== undefined) return internalV6(v6);
  return undefined;
}

const V4_RANGES: Array<[number, number, string]> = [
  [0x00000000, 8, 'this network (0.0.0.0/8)'],
  [0x0a000000, 8, 'private (10.0.0.0/8)'],
  [0x64400000, 10, 'carrier-grade NAT (100.64.0.0/10)'],
  [0x7f000000, 8, 'loopback (127.0.0.0/8)'],
  [0xa9fe0000, 16, 'link-local, cloud metadata (169.254.0.0/16)'],
  [0xac100000, 12, 'private (172.16.0.0/12)'],
  [0xc0000000, 24, 'IETF protocol assignments (192.0.0.0/24)'],
  [0xc0a80000, 16, 'private (192.168.0.0/16)'],
  [0xc6120000, 15, 'benchmarking (198.18.0.0/15)'],
  [0xe0000000, 4, 'multicast (224.0.0.0/4)'],
  [0xf0000000, 4, 'reserved (240.0.0.0/4)'],
];

function internalV4(address: number): string | undefined {
  for (const [base, bits, name] of V4_RANGES) {
    if (maskV4(address, bits) === base) return name;
  }
  return undefined;
}

function maskV4(address: number, bits: number): number {
  return bits === 0 ? 0 : (address & (~0 << (32 - bits))) >>> 0;
}

function internalV6(words: number[]): string | undefined {
  const zeroPrefix = words.slice(0, 5).every((w) => w === 0);
  if (zeroPrefix && words[5] === 0xffff)
    return internalV4(((words[6]! << 16) | words[7]!) >>> 0) ?? undefined;
  if (words[0] === 0x64 && words[1] === 0xff9b && words.slice(2, 6).every((w) => w === 0)) {
    return internalV4(((words[6]! << 16) | words[7]!) >>> 0);
  }
  if (words.every((w) => w === 0)) return 'unspecified (::)';
  if (words.slice(0, 7).every((w) => w === 0) && words[7] === 1) return 'loopback (::1)';
  if ((words[0]! & 0xfe00) === 0xfc00) return 'unique local (fc00::/7)';
  if ((words[0]! & 0xffc0) === 0xfe80) return 'link-local (fe80::/10)';
  if ((words[0]! & 0xff00) === 0xff00) return 'multicast (ff00::/8)';
  if (words[0] === 0xfd00 && words[1] === 0x0ec2) return 'cloud metadata (fd00:ec2::/32)';
  return undefined;
}

/** Dotted-quad IPv4 as an unsigned number, or undefined. */
function ipv4(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let value = 0;
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part)) return undefined;
    const n = Number(part);
    if (n > 255) return undefined;
    value = value * 256 + n;
  }
  return value;
}

/** IPv6 as eight 16-bit words, or undefined; an IPv4 tail (`::ffff:1.2.3.4`) becomes two words. */
function ipv6(text: string): number[] | undefined {
  if (!text.includes(':') || !/^[0-9a-f:.]+$/i.test(text)) return undefined;
  let hex = text;
  const lastColon = text.lastIndexOf(':');
  if (text.slice(lastColon + 1).includes('.')) {
    const v4 = ipv4(text.slice(lastColon + 1));
    if (v4 === undefined) return undefined;
    hex = `${text.slice(0, lastColon + 1)}${(v4 >>> 16).toString(16)}:${(v4 & 0xffff).toString(16)}`;
  }
  const halves = hex.split('::');
  if (halves.length > 2) return undefined;
  const words = (s: string) =>
    s === '' ? [] : s.split(':').map((w) => (/^[0-9a-f]{1,4}$/i.test(w) ? parseInt(w, 16) : NaN));
  const left = words(halves[0]!);
  const right = halves.length === 2 ? words(halves[1]!) : [];
  const written = left.length + right.length;
  if ([...left, ...right].some(Number.isNaN) || written > 8) return undefined;
  if (halves.length === 1 ? written !== 8 : written > 7) return undefined;
  return [...left, ...Array<number>(8 - written).fill(0), ...right];
}

function inCidr(host: string, cidr: string): boolean {
  const [base, bitsText] = cidr.split('/');
  const bits = Number(bitsText);
  const a4 = ipv4(host);
  const b4 = ipv4(base ?? '');
  if (a4 !== undefined && b4 !== undefined)
    return bits >= 0 && bits <= 32 && maskV4(a4, bits) === maskV4(b4, bits);
  const a6 = ipv6(host);
  const b6 = ipv6(base ?? '');
  if (!a6 || !b6 || !(bits >= 0 && bits <= 128)) return false;
  for (let i = 0; i < 8; i++) {
    const take = Math.max(0, Math.min(16, bits - 16 * i));
    const mask = take === 0 ? 0 : (0xffff << (16 - take)) & 0xffff;
    if ((a6[i]! & mask) !== (b6[i]! & mask)) return false;
  }
  return true;
}
