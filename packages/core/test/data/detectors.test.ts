import { describe, expect, it } from 'vitest';
import { createDetector, PII_CLASSES, SECRET_CLASSES } from '../../src/index.js';

// Examples of every built-in class, one per line: the text, then the class and the exact value
// the detector must report. The values are synthetic (random characters in the right shape, valid
// checksums), never real credentials.
const detector = createDetector();

/** `[class, value]` of every finding in `text`. */
function found(text: string): Array<[string, string]> {
  return detector.scan(text).map((f) => [f.class, text.slice(f.start, f.end)]);
}

const PEM_BODY = Array.from(
  { length: 6 },
  (_, i) => 'MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7'.slice(0, 40 + i) + 'q8vXz3Lw9R2mT5kY1',
).join('\n');
const PEM = `-----BEGIN RSA PRIVATE KEY-----\n${PEM_BODY}\n-----END RSA PRIVATE KEY-----`;
const JWT =
  'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI0MjQyNDIiLCJzY29wZSI6ImFkbWluIn0.' +
  'kq3XGvd8m0cW1Lx9Zp2RtYb7NfQe4HsJ6uAoVi5CgTw';

const POSITIVES: Array<[string, string, string]> = [
  ['aws_access_key_id = AKIAZ7Q3MEXR4NXW2BTA', 'aws_access_key', 'AKIAZ7Q3MEXR4NXW2BTA'],
  ['temporary ASIAY34FZKBOKMUTVV7A', 'aws_access_key', 'ASIAY34FZKBOKMUTVV7A'],
  [
    'aws_secret_access_key = Xe3kQ8vZpR2mT7yLw9HbN4cJfD6sG1aUoK5iE0qB',
    'aws_secret_key',
    'Xe3kQ8vZpR2mT7yLw9HbN4cJfD6sG1aUoK5iE0qB',
  ],
  ['key=AIzaSyDdI0hCZtE6vySjMm-WEfRq3CPzqKqqsHI', 'gcp_api_key', 'AIzaSyDdI0hCZtE6vySjMm-WEfRq3CPzqKqqsHI'],
  [
    'DefaultEndpointsProtocol=https;AccountName=acme;AccountKey=Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4QUJDREVGR0g=;EndpointSuffix=core.windows.net',
    'azure_connection_string',
    'Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4QUJDREVGR0g=',
  ],
  [
    'Endpoint=sb://acme.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=OfYvLvZsdaMyX7HwDPTBLoo7luJ1KjEhpLL+EZFFUd0=',
    'azure_connection_string',
    'OfYvLvZsdaMyX7HwDPTBLoo7luJ1KjEhpLL+EZFFUd0=',
  ],
  [
    'GITHUB_TOKEN=ghp_R8fK2mXq9Lw3Zt7Vb1Nc5Hd0Js4Pa6Ye2Ug8',
    'github_token',
    'ghp_R8fK2mXq9Lw3Zt7Vb1Nc5Hd0Js4Pa6Ye2Ug8',
  ],
  [
    'github_pat_11ABCDEFG0123456789abc_Zq8Lw3Xt7Vb1Nc5Hd0Js4Pa6Ye2Ug8Rk9Mf3Qs7Wt1Yv5Bz0Cx4Dn8Ej2Fo6Gh',
    'github_token',
    'github_pat_11ABCDEFG0123456789abc_Zq8Lw3Xt7Vb1Nc5Hd0Js4Pa6Ye2Ug8Rk9Mf3Qs7Wt1Yv5Bz0Cx4Dn8Ej2Fo6Gh',
  ],
  ['PRIVATE-TOKEN: glpat-Xq9Lw3Zt7Vb1Nc5Hd0Js', 'gitlab_token', 'glpat-Xq9Lw3Zt7Vb1Nc5Hd0Js'],
  [
    'SLACK_BOT_TOKEN=xoxb-2619812345-4112223334445-AbCdEfGhIjKlMnOpQrStUvWx',
    'slack_token',
    'xoxb-2619812345-4112223334445-AbCdEfGhIjKlMnOpQrStUvWx',
  ],
  [
    'post to https://hooks.slack.com/services/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',
    'slack_webhook',
    'https://hooks.slack.com/services/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',
  ],
  ['stripe("sk_live_51Hq8Lw3Xt7Vb1Nc5Hd0Js4Pa6Ye")', 'stripe_key', 'sk_live_51Hq8Lw3Xt7Vb1Nc5Hd0Js4Pa6Ye'],
  ['rk_live_51Hq8Lw3Xt7Vb1Nc5Hd0Js4Pa6Ye', 'stripe_key', 'rk_live_51Hq8Lw3Xt7Vb1Nc5Hd0Js4Pa6Ye'],
  [
    'OPENAI_API_KEY=sk-proj-Zq8Lw3Xt7Vb1Nc5Hd0Js4Pa6Ye2Ug8Rk9Mf3Qs7Wt1Yv5Bz0Cx4Dn8Ej2Fo6GhT3BlbkFJ',
    'openai_key',
    'sk-proj-Zq8Lw3Xt7Vb1Nc5Hd0Js4Pa6Ye2Ug8Rk9Mf3Qs7Wt1Yv5Bz0Cx4Dn8Ej2Fo6GhT3BlbkFJ',
  ],
  [
    'x-api-key: sk-ant-api03-Zq8Lw3Xt7Vb1Nc5Hd0Js4Pa6Ye2Ug8Rk9Mf3Qs7Wt1Yv5Bz0Cx4Dn8Ej2Fo6Gh-AA',
    'anthropic_key',
    'sk-ant-api03-Zq8Lw3Xt7Vb1Nc5Hd0Js4Pa6Ye2Ug8Rk9Mf3Qs7Wt1Yv5Bz0Cx4Dn8Ej2Fo6Gh-AA',
  ],
  [
    '//registry.npmjs.org/:_authToken=npm_Zq8Lw3Xt7Vb1Nc5Hd0Js4Pa6Ye2Ug8Rk9Mf3Q',
    'npm_token',
    'npm_Zq8Lw3Xt7Vb1Nc5Hd0Js4Pa6Ye2Ug8Rk9Mf3Q',
  ],
  [
    'SENDGRID_API_KEY=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',
    'sendgrid_key',
    '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',
  ],
  [`key:\n${PEM}\n`, 'private_key', PEM],
  [`Authorization: Bearer ${JWT}`, 'jwt', JWT],
  ['DATABASE_URL=postgres://app:Kx9mQ2vLp7wR@db.internal:5432/app', 'url_password', 'Kx9mQ2vLp7wR'],
  ['password=Zq7!vR2#mW9xKp', 'secret_assignment', 'Zq7!vR2#mW9xKp'],
  ['api_key: "9f8e7d6c5b4a39281706f5e4d3c2b1a0"', 'secret_assignment', '9f8e7d6c5b4a39281706f5e4d3c2b1a0'],
  ['  client_secret: Lw3Xt7Vb1Nc5Hd0Js4Pa\n', 'secret_assignment', 'Lw3Xt7Vb1Nc5Hd0Js4Pa'],
  ['Contact jane.doe@acme-corp.io today', 'email', 'jane.doe@acme-corp.io'],
  ['Call +44 20 7946 0958 now', 'phone', '+44 20 7946 0958'],
  ['or (415) 555-2671', 'phone', '(415) 555-2671'],
  ['Card: 4539 1488 0343 6467 exp 09/27', 'payment_card', '4539 1488 0343 6467'],
  ['amex 3714-496353-98423 ok', 'payment_card', '3714-496353-98423'],
  ['IBAN: GB82 WEST 1234 5698 7654 32', 'iban', 'GB82 WEST 1234 5698 7654 32'],
  ['Konto DE89370400440532013000.', 'iban', 'DE89370400440532013000'],
  ['SSN: 123-45-6789', 'us_ssn', '123-45-6789'],
  ['client 203.0.113.195 connected', 'ipv4', '203.0.113.195'],
  ['listen [2001:db8:85a3::8a2e:370:7334]:8080', 'ipv6', '2001:db8:85a3::8a2e:370:7334'],
  ['at 09:14:22 from fe80::1ff:fe23:4567:890a%eth0', 'ipv6', 'fe80::1ff:fe23:4567:890a'],
  ['peer 2001:0db8:0000:0042:0000:8a2e:0370:7334 up', 'ipv6', '2001:0db8:0000:0042:0000:8a2e:0370:7334'],
  ['nat64 64:ff9b::192.0.2.33', 'ipv6', '64:ff9b::192.0.2.33'],
];

describe('built-in detectors', () => {
  it.each(POSITIVES)('finds %j', (text, cls, value) => {
    expect(found(text)).toContainEqual([cls, value]);
  });

  it('has an example for every built-in class', () => {
    const covered = new Set([...POSITIVES.map(([, cls]) => cls), 'gcp_service_account_key']);
    expect([...SECRET_CLASSES, ...PII_CLASSES].filter((cls) => !covered.has(cls))).toEqual([]);
  });

  it('reports each class with its family', () => {
    expect(detector.classes.get('aws_access_key')).toBe('secrets');
    expect(detector.classes.get('iban')).toBe('pii');
    const [finding] = detector.scan('mail jane.doe@acme-corp.io');
    expect(finding).toEqual({ class: 'email', family: 'pii', path: '$', start: 5, end: 26 });
  });

  it('finds a GCP service-account key in the JSON text and in the parsed value', () => {
    const key = PEM.replaceAll('RSA PRIVATE KEY', 'PRIVATE KEY');
    const account = {
      type: 'service_account',
      project_id: 'acme-prod',
      private_key_id: '8c6976e5b5410415bde908bd4dee15dfb167a9c8',
      private_key: `${key}\n`,
      client_email: 'deployer@acme-prod.iam.gserviceaccount.com',
    };
    const text = JSON.stringify(account, null, 2);
    expect(found(text).map(([cls]) => cls)).toEqual(['gcp_service_account_key', 'email']);
    const findings = detector.scanValue(account);
    expect(findings.map((f) => [f.class, f.path])).toEqual([
      ['gcp_service_account_key', '$.private_key'],
      ['email', '$.client_email'],
    ]);
  });

  it('finds private keys in every layout: CRLF, one line, JSON-escaped, legacy encrypted, truncated', () => {
    const body = PEM_BODY;
    const layouts = {
      crlf: `-----BEGIN PRIVATE KEY-----\r\n${body.replace(/\n/g, '\r\n')}\r\n-----END PRIVATE KEY-----`,
      oneLine: `-----BEGIN PRIVATE KEY----- ${body.replace(/\n/g, ' ')} -----END PRIVATE KEY-----`,
      json: JSON.stringify(`-----BEGIN EC PRIVATE KEY-----\n${body}\n-----END EC PRIVATE KEY-----\n`).slice(
        1,
        -3,
      ),
      legacy: `-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,F1A2B3C4D5E6F7A8B9C0D1E2F3A4B5C6\n\n${body}\n-----END RSA PRIVATE KEY-----`,
    };
    for (const [layout, key] of Object.entries(layouts)) {
      expect(found(`before\n${key}\nafter`), layout).toEqual([['private_key', key]]);
    }
    // without its END line, a key runs on as long as text could belong to it: more is redacted, never less
    const truncated = `before\n-----BEGIN OPENSSH PRIVATE KEY-----\n${body}\nafter`;
    expect(found(truncated)).toEqual([['private_key', truncated.slice(7)]]);
    expect(found(`-----BEGIN PUBLIC KEY-----\n${body}\n-----END PUBLIC KEY-----`)).toEqual([]);
    expect(found(`-----BEGIN PRIVATE KEY-----\nMIIEvQ\n-----END PRIVATE KEY-----`)).toEqual([]); // no key material
  });

  it('validates checksums: Luhn for cards, mod-97 for IBANs, issued ranges for SSNs', () => {
    expect(found('card 4539 1488 0343 6468')).toEqual([]); // last digit off
    expect(found('IBAN GB83 WEST 1234 5698 7654 32')).toEqual([]);
    expect(found('SSN 666-45-6789, 000-12-3456, 900-12-3456, 123-00-4567, 123-45-0000')).toEqual([]);
  });

  it('needs entropy in assignments and skips placeholders and references', () => {
    for (const text of [
      'password=changeme',
      'password=aaaaaaaaaaaa',
      'api_key=${API_KEY}',
      'token: <your-token-here>',
      'DB_PASSWORD={{ secrets.DB_PASSWORD }}',
      'client_secret = os.environ["CLIENT_SECRET"]',
      'password: process.env.DB_PASSWORD',
      'secret: "********"',
      'max_tokens: 4096',
      'password_policy=strict',
      'SharedAccessKeyName=RootManageSharedAccessKey',
      'token_type: Bearer',
    ]) {
      expect(found(text), text).toEqual([]);
    }
  });

  it('ignores documented example values', () => {
    for (const text of [
      'aws_access_key_id = AKIAIOSFODNN7EXAMPLE',
      'aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
      'stripe.api_key = "sk_test_4eC39HqLyjWDarjtT1zdp7dc"',
      'test card 4242 4242 4242 4242',
      'SSN 078-05-1120',
      `GITHUB_TOKEN=ghp_${'x'.repeat(36)}`,
    ]) {
      expect(found(text), text).toEqual([]);
    }
  });

  it('does not mistake identifiers, hashes and numbers for secrets or personal data', () => {
    for (const text of [
      'commit 8c6976e5b5410415bde908bd4dee15dfb167a9c8',
      'request id 3f2c8a9e-1b4d-4c7e-9a2f-6d8e0b1c3a5f',
      'sha256:8c6976e5b5410415bde908bd4dee15dfb167a9c873fc4bb8a81f6f2ab448a918',
      '"version": "10.4.12"',
      'git@github.com:acme/api.git',
      'assets/logo@2x.png',
      'netmask 255.255.255.0',
      'Range 10.0.0.0/8 is private.',
      'timestamp 1717312345678',
      'on 2025-06-02 at 09:14',
      'const parseRefreshTokenResponse = () => null;',
    ]) {
      expect(found(text), text).toEqual([]);
    }
  });

  it('lets a specific class win over a generic one on the same characters', () => {
    const text = 'GITHUB_TOKEN="ghp_R8fK2mXq9Lw3Zt7Vb1Nc5Hd0Js4Pa6Ye2Ug8"';
    expect(found(text)).toEqual([['github_token', 'ghp_R8fK2mXq9Lw3Zt7Vb1Nc5Hd0Js4Pa6Ye2Ug8']]);
  });

  it('orders findings by offset', () => {
    const text = 'a@acme.io then 10.1.2.3 then AKIAZ7Q3MEXR4NXW2BTA';
    expect(detector.scan(text).map((f) => f.start)).toEqual([0, 15, 29]);
  });
});

describe('structured values', () => {
  it('reports every finding with its JSON path', () => {
    const value = {
      channel: 'ops',
      blocks: [{ text: 'key AKIAZ7Q3MEXR4NXW2BTA' }, { text: 'fine' }, { text: 'mail a@acme.io' }],
      'reply to': 'b@acme.io',
      nested: { deeper: { list: [['10.1.2.3']] } },
    };
    expect(detector.scanValue(value).map((f) => [f.class, f.path, f.start, f.end])).toEqual([
      ['aws_access_key', '$.blocks[0].text', 4, 24],
      ['email', '$.blocks[2].text', 5, 14],
      ['email', '$["reply to"]', 0, 9],
      ['ipv4', '$.nested.deeper.list[0][0]', 0, 8],
    ]);
  });

  it('judges a string under a sensitive key as that key’s value', () => {
    const findings = detector.scanValue({ db: { password: 'Zq7!vR2#mW9xKp' }, note: 'Zq7!vR2#mW9xKp' });
    expect(findings.map((f) => [f.class, f.path])).toEqual([['secret_assignment', '$.db.password']]);
    expect(detector.scanValue({ password: 'changeme', token_count: 12345 })).toEqual([]);
  });

  it('scans numbers that may be card numbers or SSNs', () => {
    expect(detector.scanValue({ card: 4539148803436467 }).map((f) => [f.class, f.path])).toEqual([
      ['payment_card', '$.card'],
    ]);
    expect(detector.scanValue({ amount: 12.5, count: 3 })).toEqual([]);
  });

  it('reports a key that carries a finding under a masked path, never the key itself', () => {
    const findings = detector.scanValue({ 'jane.doe@acme-corp.io': { plan: 'pro' } });
    expect(findings).toHaveLength(1);
    expect(findings[0]!.class).toBe('email');
    expect(findings[0]!.path).toBe('$["[REDACTED:email]"]~');
    expect(JSON.stringify(findings)).not.toContain('jane.doe');
  });
});

describe('custom patterns from the policy file', () => {
  const custom = createDetector({
    patterns: {
      employee_id: { pattern: 'EMP-[0-9]{6}', class: 'pii' },
      ledger_ref: { pattern: '\\bLDG[A-Z]{2}[0-9]{4}\\b', class: 'customer_ledger' },
    },
  });

  it('finds them with their family, next to the built-in classes', () => {
    const text = 'EMP-123456 booked LDGAB1234 for jane.doe@acme-corp.io';
    expect(custom.scan(text).map((f) => [f.class, f.family, text.slice(f.start, f.end)])).toEqual([
      ['employee_id', 'pii', 'EMP-123456'],
      ['ledger_ref', 'customer_ledger', 'LDGAB1234'],
      ['email', 'pii', 'jane.doe@acme-corp.io'],
    ]);
    expect(custom.classes.get('ledger_ref')).toBe('customer_ledger');
  });

  it('finds them in structured values with paths', () => {
    expect(custom.scanValue({ rows: [{ id: 'EMP-000042' }] }).map((f) => [f.class, f.path])).toEqual([
      ['employee_id', '$.rows[0].id'],
    ]);
  });

  it('refuses a catastrophic pattern when compiling', () => {
    expect(() => createDetector({ patterns: { bad: { pattern: '(a+)+$', class: 'pii' } } })).toThrow(
      /pattern `bad` is refused: .*unbounded/,
    );
  });
});
