import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createDetector, hashValue, redact } from '../../src/index.js';
// @ts-expect-error plain JavaScript, shared with the benchmark
import { positives } from '../../../../test/data/corpus/labelled.js';

const detector = createDetector();
const KEY = utf8ToBytes('per-installation key for tests');
const AWS = 'AKIAZ7Q3MEXR4NXW2BTA';
const EMAIL = 'jane.doe@acme-corp.io';

describe('redact', () => {
  const args = {
    channel: 'ops',
    text: `use ${AWS} and tell ${EMAIL}`,
    cc: [EMAIL, 'nobody'],
    nested: { again: `key ${AWS}` },
  };

  it('masks with the class name and lists class, path and count', () => {
    const { value, removed } = redact(args, detector, { mode: 'mask' });
    expect(value).toEqual({
      channel: 'ops',
      text: 'use [REDACTED:aws_access_key] and tell [REDACTED:email]',
      cc: ['[REDACTED:email]', 'nobody'],
      nested: { again: 'key [REDACTED:aws_access_key]' },
    });
    expect(removed).toEqual([
      { class: 'aws_access_key', path: '$.text', count: 1 },
      { class: 'email', path: '$.text', count: 1 },
      { class: 'email', path: '$.cc[0]', count: 1 },
      { class: 'aws_access_key', path: '$.nested.again', count: 1 },
    ]);
  });

  it('never puts a removed value into the result list', () => {
    for (const mode of ['mask', 'hash', 'drop'] as const) {
      const { value, removed } = redact(args, detector, { mode, key: KEY });
      const text = JSON.stringify({ value, removed });
      expect(text).not.toContain(AWS);
      expect(text).not.toContain(EMAIL);
    }
  });

  it('counts repeated findings of one class at one path', () => {
    const { removed } = redact(`${EMAIL} ${EMAIL} a@acme.io`, detector, { mode: 'mask' });
    expect(removed).toEqual([{ class: 'email', path: '$', count: 3 }]);
  });

  it('hashes with HMAC-SHA256 and the key: equal values give equal tokens', () => {
    const { value } = redact({ a: `x ${EMAIL}`, b: [EMAIL], c: 'a@acme.io' }, detector, {
      mode: 'hash',
      key: KEY,
    });
    const expected = bytesToHex(hmac(sha256, KEY, utf8ToBytes(EMAIL))).slice(0, 16);
    expect(hashValue(KEY, EMAIL)).toBe(expected);
    expect(value).toEqual({
      a: `x [HASH:email:${expected}]`,
      b: [`[HASH:email:${expected}]`],
      c: `[HASH:email:${hashValue(KEY, 'a@acme.io')}]`,
    });
    expect(hashValue(KEY, 'a@acme.io')).not.toBe(expected);
  });

  it('gives different tokens under different keys, and needs a key', () => {
    expect(hashValue(utf8ToBytes('other installation'), EMAIL)).not.toBe(hashValue(KEY, EMAIL));
    expect(() => redact(EMAIL, detector, { mode: 'hash' })).toThrow('redaction mode `hash` needs a key');
    expect(() => hashValue(new Uint8Array(), EMAIL)).toThrow(/non-empty/);
  });

  it('drops values, leaving the text around them', () => {
    const { value, removed } = redact(`mail ${EMAIL} now`, detector, { mode: 'drop' });
    expect(value).toBe('mail  now');
    expect(removed).toEqual([{ class: 'email', path: '$', count: 1 }]);
  });

  it('redacts only the families or classes asked for', () => {
    const text = `use ${AWS} and tell ${EMAIL}`;
    expect(redact(text, detector, { mode: 'mask', classes: ['secrets'] }).value).toBe(
      `use [REDACTED:aws_access_key] and tell ${EMAIL}`,
    );
    expect(redact(text, detector, { mode: 'mask', classes: ['email'] }).value).toBe(
      `use ${AWS} and tell [REDACTED:email]`,
    );
    expect(redact(text, detector, { mode: 'mask', classes: ['iban'] })).toEqual({ value: text, removed: [] });
  });

  it('uses findings computed earlier', () => {
    const findings = detector.scanValue(args);
    expect(redact(args, findings, { mode: 'mask' })).toEqual(redact(args, detector, { mode: 'mask' }));
  });

  it('does not change its input', () => {
    const before = JSON.stringify(args);
    redact(args, detector, { mode: 'mask' });
    expect(JSON.stringify(args)).toBe(before);
  });

  it('masks a key that carries a finding', () => {
    const { value, removed } = redact({ [EMAIL]: { plan: 'pro' } }, detector, { mode: 'mask' });
    expect(value).toEqual({ '[REDACTED:email]': { plan: 'pro' } });
    expect(JSON.stringify(removed)).not.toContain(EMAIL);
  });

  it('redacts numbers as text', () => {
    expect(redact({ card: 4539148803436467, n: 3 }, detector, { mode: 'mask' }).value).toEqual({
      card: '[REDACTED:payment_card]',
      n: 3,
    });
  });

  it('replaces what it could not scan, so nothing unscanned leaks', () => {
    const deep: Record<string, unknown> = {};
    let at = deep;
    for (let i = 0; i < 10; i++) at = at.next = {} as Record<string, unknown>;
    at.secret = AWS;
    const shallow = createDetector({ maxDepth: 4 });
    const { value, removed } = redact(deep, shallow, { mode: 'mask' });
    expect(JSON.stringify(value)).not.toContain(AWS);
    expect(JSON.stringify(value)).toContain('[TRUNCATED:depth_limit]');
    expect(removed).toEqual([{ class: 'depth_limit', path: '$.next.next.next.next', count: 1 }]);
  });
});

describe('redaction, for any placement of sensitive values', () => {
  // Texts of the labelled corpus placed anywhere in random JSON structures: every labelled value
  // the detector finds in the text alone is gone from the redacted copy, whatever the placement,
  // and the removal list counts one entry per finding.
  const samples = positives() as Array<{ text: string; labels: Array<{ start: number; end: number }> }>;
  const escaped = (text: string) => JSON.stringify(text).slice(1, -1);
  const found = samples.flatMap((sample) => {
    const findings = detector.scan(sample.text);
    return sample.labels
      .filter((l) => findings.some((f) => f.start <= l.start && f.end >= l.end))
      .map((l) => escaped(sample.text.slice(l.start, l.end)))
      .filter((value) => value.length >= 8);
  });

  it('removes every value it finds, wherever the text sits, and counts each removal', () => {
    const leaf = fc.oneof(
      fc.constantFrom(...samples.map((s) => s.text)),
      fc.string({ maxLength: 20 }),
      fc.integer(),
      fc.constant(null),
    );
    const tree = fc.letrec((tie) => ({
      node: fc.oneof(
        { depthSize: 'small' },
        leaf,
        fc.array(tie('node'), { maxLength: 4 }),
        fc.dictionary(fc.string({ maxLength: 8 }), tie('node'), { maxKeys: 4 }),
      ),
    })).node;
    fc.assert(
      fc.property(tree, (value) => {
        const findings = detector.scanValue(value);
        const { value: out, removed } = redact(value, findings, { mode: 'mask' });
        const before = JSON.stringify(value) ?? '';
        const after = JSON.stringify(out) ?? '';
        for (const secret of found) if (before.includes(secret)) expect(after).not.toContain(secret);
        expect(removed.reduce((sum, r) => sum + r.count, 0)).toBe(findings.length);
      }),
      { numRuns: 200, seed: 20261201 },
    );
  });
});
