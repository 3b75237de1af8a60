import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson, fingerprintOf } from '../src/text.js';

describe('call fingerprints', () => {
  it('ignore object key order at every depth', () => {
    expect(fingerprintOf({ a: 1, b: { c: 'x', d: [1, { e: 2, f: 3 }] } })).toBe(
      fingerprintOf({ b: { d: [1, { f: 3, e: 2 }], c: 'x' }, a: 1 }),
    );
  });

  it('tell apart values that print alike', () => {
    const distinct = [
      { a: '1' },
      { a: 1 },
      { a: true },
      { a: 'true' },
      { a: null },
      { a: 'null' },
      { a: [1] },
      { a: '[1]' },
      {},
      { b: 1 },
    ];
    expect(new Set(distinct.map((v) => fingerprintOf(v))).size).toBe(distinct.length);
  });

  it('depend on the seed, so the same arguments to two tools differ', () => {
    expect(fingerprintOf({ id: 1 }, 1)).not.toBe(fingerprintOf({ id: 1 }, 2));
  });

  it('equal for equal canonical JSON, flat or nested (property)', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.jsonValue(), (a, b) => {
        if (canonicalJson(a) === canonicalJson(b)) expect(fingerprintOf(a)).toBe(fingerprintOf(b));
        else expect(fingerprintOf(a)).not.toBe(fingerprintOf(b));
      }),
      { numRuns: 500 },
    );
  });

  it('stay within 53 bits and finish on deep values', () => {
    let deep: unknown = 'leaf';
    for (let i = 0; i < 10_000; i++) deep = { x: deep };
    const fp = fingerprintOf(deep);
    expect(Number.isSafeInteger(fp)).toBe(true);
  });
});
