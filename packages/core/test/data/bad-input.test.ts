import fc from 'fast-check';
import { isSafePattern } from 'redos-detector';
import { describe, expect, it } from 'vitest';
import { checkPattern, createDetector, loadPolicy, redact } from '../../src/index.js';

const detector = createDetector();
const AWS = 'AKIAZ7Q3MEXR4NXW2BTA';

describe('bad input', () => {
  it('never throws, and reports sorted, non-overlapping spans inside the text, for any text', () => {
    // fragments that start candidates of every scanner, glued at random with random characters
    const fragment = fc.constantFrom(
      'AKIA',
      'ghp_',
      'sk-ant-api03-',
      'eyJhbGciOi',
      '-----BEGIN PRIVATE KEY-----\n',
      '-----END PRIVATE KEY-----',
      'password=',
      '"token": "',
      'https://u:',
      '@',
      '.com',
      '::',
      ':',
      '=',
      '+1 ',
      '4539 1488 ',
      'DE89 ',
      '123-45-',
      '10.0.',
      'AIza',
      'xoxb-',
      '\\n',
    );
    const text = fc
      .array(fc.oneof(fragment, fc.string({ maxLength: 12, unit: 'binary' }), fc.string({ maxLength: 40 })), {
        maxLength: 30,
      })
      .map((parts) => parts.join(''));
    fc.assert(
      fc.property(text, (s) => {
        const findings = detector.scan(s);
        let end = 0;
        for (const f of findings) {
          expect(f.start).toBeGreaterThanOrEqual(end);
          expect(f.end).toBeGreaterThan(f.start);
          expect(f.end).toBeLessThanOrEqual(s.length);
          end = f.end;
        }
        const { value } = redact(s, findings, { mode: 'mask' });
        expect(typeof value).toBe('string');
      }),
      { numRuns: 1000, seed: 7 },
    );
  });

  it('scans a huge string and reports offsets into it', () => {
    const filler = 'lorem ipsum dolor sit amet 12 ms, '.repeat(300_000); // about 10 MB
    const text = `${filler}key ${AWS}`;
    const findings = detector.scan(text);
    expect(findings).toEqual([
      { class: 'aws_access_key', family: 'secrets', path: '$', start: filler.length + 4, end: text.length },
    ]);
  });

  it('stops at a depth limit instead of overflowing the stack, and redaction covers the rest', () => {
    let deep: unknown = AWS;
    for (let i = 0; i < 100_000; i++) deep = [deep];
    const findings = detector.scanValue(deep);
    expect(findings).toEqual([
      { class: 'depth_limit', family: 'limit', path: `$${'[0]'.repeat(64)}`, start: 0, end: 0 },
    ]);
    const { value, removed } = redact(deep, findings, { mode: 'mask' });
    expect(JSON.stringify(value)).not.toContain(AWS);
    expect(removed).toEqual([{ class: 'depth_limit', path: `$${'[0]'.repeat(64)}`, count: 1 }]);
  });

  it('marks cycles and still finds what is around them', () => {
    const a: Record<string, unknown> = { note: `key ${AWS}` };
    a.self = a;
    a.list = [a, { again: a }];
    const findings = detector.scanValue(a);
    expect(findings.map((f) => [f.class, f.path])).toEqual([
      ['aws_access_key', '$.note'],
      ['cycle', '$.self'],
      ['cycle', '$.list[0]'],
      ['cycle', '$.list[1].again'],
    ]);
    const { value } = redact(a, detector, { mode: 'mask' });
    expect(value).toEqual({
      note: 'key [REDACTED:aws_access_key]',
      self: '[TRUNCATED:cycle]',
      list: ['[TRUNCATED:cycle]', { again: '[TRUNCATED:cycle]' }],
    });
  });

  it('scans a shared (not cyclic) object at each place it appears', () => {
    const shared = { email: 'jane.doe@acme-corp.io' };
    expect(detector.scanValue({ a: shared, b: shared }).map((f) => f.path)).toEqual([
      '$.a.email',
      '$.b.email',
    ]);
  });

  it('stops after a node limit and marks where', () => {
    const wide = Array.from({ length: 50 }, (_, i) => `v${i}`);
    const limited = createDetector({ maxNodes: 10 });
    const findings = limited.scanValue(wide);
    expect(findings).toEqual([{ class: 'node_limit', family: 'limit', path: '$[9]', start: 0, end: 0 }]);
    const { value } = redact(wide, findings, { mode: 'mask' });
    expect((value as string[]).slice(8, 11)).toEqual([
      'v8',
      '[TRUNCATED:node_limit]',
      '[TRUNCATED:node_limit]',
    ]);
  });

  it('survives values that are not JSON: throwing getters, symbols, functions, typed arrays, Maps', () => {
    const odd = {
      get boom(): string {
        throw new Error('no');
      },
      fn: () => AWS,
      sym: Symbol('x'),
      bytes: new Uint8Array([1, 2, 3]),
      map: new Map([['k', AWS]]),
      big: 4539148803436467n,
      ok: `key ${AWS}`,
    };
    expect(detector.scanValue(odd).map((f) => [f.class, f.path])).toEqual([
      ['payment_card', '$.big'],
      ['aws_access_key', '$.ok'],
    ]);
    expect(() => redact(odd, detector, { mode: 'mask' })).not.toThrow();
  });

  it('scans binary data decoded as text without failing, and finds secrets inside it', () => {
    let seed = 7;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % 256;
    const binary = String.fromCharCode(...Array.from({ length: 60_000 }, random));
    expect(() => detector.scan(binary)).not.toThrow();
    const withKey = `${binary.slice(0, 3000)}\u0000${AWS}\u0000${binary.slice(3000)}`;
    expect(detector.scan(withKey).map((f) => withKey.slice(f.start, f.end))).toContain(AWS);
  });

  it('handles lone surrogates and replacement characters from invalid UTF-8', () => {
    const invalid = new TextDecoder().decode(new Uint8Array([0xff, 0xfe, 0xc3, 0x28, 0xe2, 0x28, 0xa1]));
    for (const text of [
      `\ud800${AWS}\udfff`,
      `${invalid}${AWS}${invalid}`,
      `mail \udc00jane.doe@acme-corp.io\ud800`,
    ]) {
      const findings = detector.scan(text);
      expect(findings).toHaveLength(1);
      const { value } = redact(text, findings, { mode: 'mask' });
      expect(value).toMatch(/\[REDACTED:(aws_access_key|email)\]/);
    }
  });

  // Each shape repeats what makes one part of the scanner look further; a 1 MB text of it must
  // take about 8 times as long as 128 KB (linear), not 64 times (quadratic). The bound (32×) is
  // loose enough for a busy machine (a 64 KB baseline measured too few milliseconds to be stable
  // under load) and tight enough that quadratic work always fails it.
  const SHAPES: Record<string, string> = {
    'token characters': 'Ab1/',
    'a long word': 'a',
    digits: '1',
    'digits and spaces': '1 ',
    'dotted digits': '1.',
    'hex and colons': 'ab:',
    'at signs': '@',
    'email-like': 'a@b.',
    'at and letter': '@a',
    'URL authority': 'x://a:b@',
    'scheme then at signs': `x://${'@'.repeat(290)}`,
    'PEM headers': '-----BEGIN PRIVATE KEY-----',
    'PEM headers with bodies': '-----BEGIN PRIVATE KEY-----\nAAAA',
    keywords: 'password',
    'unclosed quoted assignments': 'password="',
    assignments: 'password=',
    'JWT-like': 'eyJhbGciOi.',
    'token prefixes': 'sk-/ghp_/glpat-/xoxb-',
    'IBAN-like': 'DE89 ',
    'phone-like': '+1 (',
    'SSN context': 'ssn 123456789 ',
    'AWS-like': 'AKIA',
    'Slack webhook prefix': 'https://hooks.slack.com/services/',
  };
  const bestOf = (text: string) => {
    let best = Infinity;
    for (let k = 0; k < 7; k++) {
      const t0 = performance.now();
      detector.scan(text);
      best = Math.min(best, performance.now() - t0);
    }
    return best;
  };
  it.each(Object.entries(SHAPES))('scans 1 MB of %s in linear time', (_, unit) => {
    const of = (n: number) => unit.repeat(Math.ceil(n / unit.length)).slice(0, n);
    const small = of(131_072);
    const large = of(1_048_576);
    bestOf(small); // warm up
    const ratio = bestOf(large) / Math.max(bestOf(small), 0.05);
    expect(ratio).toBeLessThan(32);
  });
});

describe('custom patterns', () => {
  it.each([
    ['(a+)+$', /unbounded/],
    ['(a|a)*', /unbounded/],
    ['(a|ab){1,9}c', /variable length|same character/],
    ['(?:a{1,9}){1,9}', /variable length/],
    ['a{1,5000}', /more than 1000/],
    ['(\\w{1,9})\\1', /backreference/],
    ['\\d{0,9}', /empty string/],
    ['[a-z]{1,60}[a-z]{1,60}[a-z]{1,60}', /backtrack about/],
    ['(', /not a valid regular expression/],
    ['', /empty/],
  ])('refuses %j with a reason', (pattern, reason) => {
    const check = checkPattern(pattern);
    expect(check.ok).toBe(false);
    expect(check.ok ? '' : check.reason).toMatch(reason);
  });

  it.each(['EMP-[0-9]{6}', '\\bLDG[A-Z]{2}[0-9]{4}\\b', 'acct_[a-f0-9]{24}', '(?:CUST|ORG)-\\d{4,8}'])(
    'accepts the linear pattern %j',
    (pattern) => {
      expect(checkPattern(pattern)).toEqual({ ok: true });
    },
  );

  // redos-detector reads the clock while it works (Date.now for its timeout), so the pure core
  // does not call it; here it gives a second opinion on the core's own analysis.
  it('accepts nothing that redos-detector finds unsafe', () => {
    const candidates = [
      'EMP-[0-9]{6}',
      '\\bLDG[A-Z]{2}[0-9]{4}\\b',
      'acct_[a-f0-9]{24}',
      '(?:CUST|ORG)-\\d{4,8}',
      '[A-Z]{2}\\d{2}[ ]?\\d{4}',
      'a{1,9}a{1,9}',
      '(a+)+$',
      '(a|ab){1,9}c',
      '(x{1,10}){1,10}y',
      '[a-z]{1,60}[a-z]{1,60}[a-z]{1,60}',
      '(?:a|b|ab){1,20}',
      '\\w{1,40}@\\w{1,40}\\.\\w{2,10}',
      '(?:\\d{1,3}\\.){3}\\d{1,3}',
    ];
    const accepted = candidates.filter((p) => checkPattern(p).ok);
    expect(accepted.length).toBeGreaterThanOrEqual(5);
    // `hitMaxSteps` means redos-detector could not decide, not that it found backtracking
    const unsafe = accepted.filter((p) => {
      const verdict = isSafePattern(p, { unicode: true });
      return !verdict.safe && verdict.error !== 'hitMaxSteps';
    });
    expect(unsafe).toEqual([]);
    // and it agrees that what the core refuses for backtracking can backtrack
    for (const p of ['(a+)+$', '(a|ab){1,9}c', '(x{1,10}){1,10}y']) {
      expect(checkPattern(p).ok).toBe(false);
      expect(isSafePattern(p, { unicode: true }).safe).toBe(false);
    }
  });

  it('`posture check` reports a refused pattern as pattern.invalid with the reason and where it is', () => {
    const text = [
      'version: 1',
      'data:',
      '  patterns:',
      "    ticket_ref: { pattern: '(T-\\d+)+', class: pii }",
      "    fine: { pattern: 'EMP-[0-9]{6}', class: pii }",
      '',
    ].join('\n');
    const { problems } = loadPolicy(text, 'posture.yaml');
    const refused = problems.filter((p) => p.code === 'pattern.invalid');
    expect(refused).toHaveLength(1);
    expect(refused[0]).toMatchObject({ severity: 'error', line: 4 });
    expect(refused[0]!.message).toMatch(/^pattern `ticket_ref` is refused: .*unbounded/);
  });

  it('runs an accepted pattern over adversarial text in linear time', () => {
    const custom = createDetector({
      patterns: { ref: { pattern: '[a-z]{1,40}-[0-9]{1,12}', class: 'pii' } },
    });
    const time = (n: number) => {
      const text = 'a'.repeat(n);
      let best = Infinity;
      for (let k = 0; k < 7; k++) {
        const t0 = performance.now();
        custom.scan(text);
        best = Math.min(best, performance.now() - t0);
      }
      return best;
    };
    time(65_536);
    expect(time(1_048_576) / Math.max(time(65_536), 0.05)).toBeLessThan(64);
  });
});
