// Synthetic secrets and personal data with correct formats: random characters from the right
// alphabet and length, valid checksums where a format has one (GitHub's CRC32 suffix, Luhn,
// IBAN mod-97, SSN ranges). Everything is generated from a seeded PRNG, so the corpus and the
// benchmark inputs are the same on every run. NONE of these are real credentials.

/** mulberry32: a small seeded PRNG. */
export function createRng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (min, max) => min + Math.floor(next() * (max - min + 1));
  return {
    next,
    int,
    pick: (list) => list[Math.floor(next() * list.length)],
    chance: (p) => next() < p,
    /** `n` characters drawn from `alphabet`. */
    chars(alphabet, n) {
      let out = '';
      for (let i = 0; i < n; i++) out += alphabet[Math.floor(next() * alphabet.length)];
      return out;
    },
    bytes(n) {
      const out = new Uint8Array(n);
      for (let i = 0; i < n; i++) out[i] = Math.floor(next() * 256);
      return out;
    },
  };
}

export const UPPER = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
export const LOWER = 'abcdefghijklmnopqrstuvwxyz';
export const DIGITS = '0123456789';
export const ALNUM = UPPER + LOWER + DIGITS;
export const HEX = '0123456789abcdef';
export const BASE64 = ALNUM + '+/';
export const BASE64URL = ALNUM + '-_';
const BASE32 = UPPER + '234567';

export function base64(bytes, { url = false, pad = true } = {}) {
  const alphabet = url ? BASE64URL : BASE64;
  let out = '';
  for (let i = 0; i < bytes.length; i += 3) {
    const n = (bytes[i] << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0);
    const left = bytes.length - i;
    out += alphabet[(n >> 18) & 63] + alphabet[(n >> 12) & 63];
    out += left > 1 ? alphabet[(n >> 6) & 63] : pad ? '=' : '';
    out += left > 2 ? alphabet[n & 63] : pad ? '=' : '';
  }
  return out;
}

function base64OfText(text, options) {
  return base64(
    Array.from(text, (c) => c.charCodeAt(0)),
    options,
  );
}

function crc32(text) {
  let crc = ~0;
  for (let i = 0; i < text.length; i++) {
    crc ^= text.charCodeAt(i);
    for (let k = 0; k < 8; k++) crc = (crc >>> 1) ^ (0xedb88320 & -(crc & 1));
  }
  return ~crc >>> 0;
}

function base62(n, width) {
  let out = '';
  for (let i = 0; i < width; i++) {
    out = ALNUM[n % 62] + out;
    n = Math.floor(n / 62);
  }
  return out;
}

export function luhnCheckDigit(digits) {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = Number(digits[digits.length - 1 - i]);
    if (i % 2 === 0) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return String((10 - (sum % 10)) % 10);
}

function mod97(text) {
  let rest = 0;
  for (const c of text) {
    const v = c >= 'A' && c <= 'Z' ? String(c.charCodeAt(0) - 55) : c;
    for (const d of v) rest = (rest * 10 + Number(d)) % 97;
  }
  return rest;
}

// IBAN country lengths and BBAN shapes (n digits, a upper letters, c alphanumerics).
export const IBAN_FORMATS = {
  DE: '18n',
  GB: '4a14n',
  FR: '10n11c2n',
  NL: '4a10n',
  ES: '20n',
  IT: '1a10n12c',
  BE: '12n',
  CH: '5n12c',
  AT: '16n',
  PL: '24n',
  IE: '4a14n',
  SE: '20n',
  DK: '14n',
  PT: '21n',
  NO: '11n',
  FI: '14n',
};

function bban(rng, shape) {
  let out = '';
  for (const [, count, kind] of shape.matchAll(/(\d+)([nac])/g)) {
    out += rng.chars(kind === 'n' ? DIGITS : kind === 'a' ? UPPER : UPPER + DIGITS, Number(count));
  }
  return out;
}

export function ibanWithCheck(country, body) {
  const check = 98 - mod97(`${body}${country}00`);
  return `${country}${String(check).padStart(2, '0')}${body}`;
}

export function groupBy4(text) {
  return text.replace(/(.{4})(?=.)/g, '$1 ');
}

const PEM_TYPES = [
  'RSA PRIVATE KEY',
  'PRIVATE KEY',
  'EC PRIVATE KEY',
  'OPENSSH PRIVATE KEY',
  'ENCRYPTED PRIVATE KEY',
];

export function pemBody(rng, bytes) {
  return base64(rng.bytes(bytes))
    .replace(/(.{64})/g, '$1\n')
    .trim();
}

export function pem(rng, type = rng.pick(PEM_TYPES), bytes = rng.int(120, 1200)) {
  const prefix = type === 'OPENSSH PRIVATE KEY' ? 'b3BlbnNzaC1rZXktdjEAAAAA' : 'MII';
  const body = prefix + pemBody(rng, bytes).slice(prefix.length);
  return `-----BEGIN ${type}-----\n${body}\n-----END ${type}-----`;
}

/** Generators of one value of each detector class. */
export const values = {
  aws_access_key: (rng) => rng.pick(['AKIA', 'AKIA', 'AKIA', 'ASIA']) + rng.chars(BASE32, 16),
  aws_secret_key: (rng) => rng.chars(BASE64, 40),
  gcp_api_key: (rng) => 'AIza' + rng.chars(BASE64URL, 35),
  github_token(rng) {
    if (rng.chance(0.2)) return `github_pat_${rng.chars(ALNUM, 22)}_${rng.chars(ALNUM, 59)}`;
    const random = rng.chars(ALNUM, 30);
    return `${rng.pick(['ghp', 'ghp', 'gho', 'ghu', 'ghs', 'ghr'])}_${random}${base62(crc32(random), 6)}`;
  },
  gitlab_token: (rng) =>
    rng.pick(['glpat-', 'glpat-', 'gldt-', 'glrt-', 'glptt-']) + rng.chars(BASE64URL, 20),
  slack_token(rng) {
    const kind = rng.pick(['xoxb', 'xoxp', 'xoxa', 'xoxe']);
    const ids = `${rng.chars(DIGITS, rng.int(10, 13))}-${rng.chars(DIGITS, rng.int(10, 13))}`;
    return kind === 'xoxp'
      ? `xoxp-${ids}-${rng.chars(DIGITS, 13)}-${rng.chars(HEX, 32)}`
      : `${kind}-${ids}-${rng.chars(ALNUM, 24)}`;
  },
  slack_webhook: (rng) =>
    `https://hooks.slack.com/services/T${rng.chars(UPPER + DIGITS, rng.int(8, 10))}/B${rng.chars(UPPER + DIGITS, rng.int(8, 10))}/${rng.chars(ALNUM, 24)}`,
  stripe_key: (rng) =>
    rng.chance(0.15)
      ? `whsec_${rng.chars(ALNUM, 32)}`
      : `${rng.pick(['sk_live_', 'sk_live_', 'rk_live_', 'sk_test_'])}${rng.chars(ALNUM, rng.pick([24, 99]))}`,
  openai_key: (rng) =>
    rng.chance(0.3)
      ? `sk-${rng.chars(ALNUM, 20)}T3BlbkFJ${rng.chars(ALNUM, 20)}`
      : `sk-${rng.pick(['proj', 'proj', 'svcacct', 'admin'])}-${rng.chars(BASE64URL, 74)}T3BlbkFJ${rng.chars(BASE64URL, 74)}`,
  anthropic_key: (rng) => `sk-ant-${rng.pick(['api03', 'api03', 'admin01'])}-${rng.chars(BASE64URL, 93)}AA`,
  npm_token: (rng) => `npm_${rng.chars(ALNUM, 36)}`,
  sendgrid_key: (rng) => `SG.${rng.chars(BASE64URL, 22)}.${rng.chars(BASE64URL, 43)}`,
  private_key: (rng) => pem(rng),
  jwt(rng) {
    const header = base64OfText(JSON.stringify({ alg: rng.pick(['HS256', 'RS256', 'ES256']), typ: 'JWT' }), {
      url: true,
      pad: false,
    });
    const payload = base64OfText(
      JSON.stringify({
        sub: rng.chars(DIGITS, 8),
        name: rng.pick(['Ada', 'Grace', 'Linus', 'Margaret']),
        iat: 1_700_000_000 + rng.int(0, 9_999_999),
        scope: rng.pick(['read', 'read write', 'admin']),
      }),
      { url: true, pad: false },
    );
    return `${header}.${payload}.${base64(rng.bytes(rng.pick([32, 64, 256])), { url: true, pad: false })}`;
  },
  azure_account_key: (rng) => base64(rng.bytes(64)),
  azure_sas_key: (rng) => base64(rng.bytes(32)),
  password(rng) {
    const words = ['Tr0ub4dor', 'Zebra', 'quartz', 'Maple', 'river', 'Orbit', 'falcon', 'Nimbus'];
    return rng.chance(0.5)
      ? rng.chars(ALNUM + '!#%^*-_', rng.int(12, 24))
      : `${rng.pick(words)}${rng.pick(['!', '#', '-', '_', '.'])}${rng.chars(ALNUM, rng.int(4, 8))}${rng.int(10, 99)}`;
  },
  email(rng) {
    const first = rng.pick([
      'alice',
      'bob',
      'carol',
      'dave',
      'erin',
      'frank',
      'grace',
      'heidi',
      'ivan',
      'judy',
      'mallory',
      'olivia',
      'peggy',
      'trent',
      'victor',
      'walter',
    ]);
    const last = rng.pick([
      'smith',
      'jones',
      'nguyen',
      'garcia',
      'müller',
      'rossi',
      'tanaka',
      'okafor',
      'kowalski',
      'dubois',
    ]);
    const local = rng
      .pick([
        `${first}.${last}`,
        `${first}${rng.int(1, 99)}`,
        `${first[0]}${last}`,
        `${first}+${rng.pick(['news', 'test', 'billing'])}`,
        `${first}_${last}`,
      ])
      .replace('ü', 'u');
    const domain = rng.pick([
      'gmail.com',
      'outlook.com',
      'acme-corp.io',
      'example.org',
      'mail.uni-heidelberg.de',
      'company.co.uk',
      'proton.me',
      'fastmail.fm',
      'corp.internal.example.net',
      'yahoo.fr',
    ]);
    return `${local}@${domain}`;
  },
  phone(rng) {
    const d = (n) => rng.chars(DIGITS, n);
    const area = () => `${rng.int(2, 9)}${d(2)}`;
    const exchange = () => `${rng.int(2, 9)}${d(2)}`;
    return rng.pick([
      () => `+1 ${area()} ${exchange()} ${d(4)}`,
      () => `(${area()}) ${exchange()}-${d(4)}`,
      () => `${area()}-${exchange()}-${d(4)}`,
      () => `${area()}.${exchange()}.${d(4)}`,
      () => `+1-${area()}-${exchange()}-${d(4)}`,
      () => `+44 20 ${rng.int(3, 8)}${d(3)} ${d(4)}`,
      () => `+44 7${d(3)} ${d(6)}`,
      () => `+49 30 ${d(8)}`,
      () => `+49 151 ${d(8)}`,
      () => `+33 ${rng.int(1, 7)} ${d(2)} ${d(2)} ${d(2)} ${d(2)}`,
      () => `+61 2 ${d(4)} ${d(4)}`,
      () => `+81 3-${d(4)}-${d(4)}`,
      () => `+91 ${rng.int(7, 9)}${d(4)} ${d(5)}`,
      () => `+34 6${d(2)} ${d(2)} ${d(2)} ${d(2)}`,
      () => `+1${area()}${exchange()}${d(4)}`,
      () => `+44${rng.int(1, 7)}${d(9)}`,
    ])();
  },
  payment_card(rng) {
    const [prefix, length] = rng.pick([
      ['4', 16],
      ['4', 16],
      ['51', 16],
      ['55', 16],
      ['2221', 16],
      ['34', 15],
      ['37', 15],
      ['6011', 16],
      ['65', 16],
      ['3528', 16],
      ['36', 14],
      ['62', 16],
      ['4', 19],
    ]);
    const body = prefix + rng.chars(DIGITS, length - prefix.length - 1);
    const number = body + luhnCheckDigit(body);
    const sep = rng.pick(['', ' ', '-', ' ']);
    if (sep === '' || length === 19) return number;
    if (length === 15) return [number.slice(0, 4), number.slice(4, 10), number.slice(10)].join(sep);
    if (length === 14) return [number.slice(0, 4), number.slice(4, 10), number.slice(10)].join(sep);
    return number.match(/.{1,4}/g).join(sep);
  },
  iban(rng) {
    const country = rng.pick(Object.keys(IBAN_FORMATS));
    const iban = ibanWithCheck(country, bban(rng, IBAN_FORMATS[country]));
    return rng.chance(0.5) ? groupBy4(iban) : iban;
  },
  us_ssn(rng) {
    let area;
    do area = rng.int(1, 899);
    while (area === 666);
    const parts = [
      String(area).padStart(3, '0'),
      String(rng.int(1, 99)).padStart(2, '0'),
      String(rng.int(1, 9999)).padStart(4, '0'),
    ];
    return parts.join(rng.chance(0.85) ? '-' : ' ');
  },
  ipv4(rng) {
    return rng.pick([
      () => `10.${rng.int(0, 255)}.${rng.int(0, 255)}.${rng.int(1, 254)}`,
      () => `192.168.${rng.int(0, 255)}.${rng.int(1, 254)}`,
      () => `172.${rng.int(16, 31)}.${rng.int(0, 255)}.${rng.int(1, 254)}`,
      () => `${rng.int(11, 223)}.${rng.int(0, 255)}.${rng.int(0, 255)}.${rng.int(1, 254)}`,
      () => `${rng.int(11, 223)}.${rng.int(0, 255)}.${rng.int(0, 255)}.${rng.int(1, 254)}`,
    ])();
  },
  ipv6(rng) {
    const g = () => rng.chars(HEX, rng.int(1, 4)).replace(/^0+(?=.)/, '');
    return rng.pick([
      () => Array.from({ length: 8 }, g).join(':'),
      () => `2001:db8:${g()}:${g()}::${g()}`,
      () => `fe80::${g()}:${g()}:${g()}:${g()}`,
      () => `2a00:${g()}:${g()}:${g()}::${g()}`,
      () => `::ffff:${rng.int(11, 223)}.${rng.int(0, 255)}.${rng.int(0, 255)}.${rng.int(1, 254)}`,
      () => `2607:f8b0:${g()}:${g()}::${g()}`,
    ])();
  },
};

/** Published documentation examples: public, grant nothing, and are not findings. */
export const DOCUMENTED_EXAMPLES = [
  'AKIAIOSFODNN7EXAMPLE',
  'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
  'sk_test_4eC39HqLyjWDarjtT1zdp7dc',
  'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c',
  'https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX',
  '4242 4242 4242 4242',
  '4111111111111111',
  '5555 5555 5555 4444',
  '378282246310005',
  '6011111111111117',
  '078-05-1120',
  '219-09-9999',
];
