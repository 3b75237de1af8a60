// The append path's own pieces: the canonical text it writes must be the core's canonicalJson byte
// for byte (the verifier recomputes leaves from it), and group commit must release each batch only
// once it and every earlier batch are durable.
import { canonicalJson } from '@posture/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GroupCommit, type Flushing } from '../src/audit/group-commit.js';
import { canonicalText, leafText, prepareEvent, storedEventText } from '../src/audit/leaf.js';
import type { AuditEvent } from '../src/ports.js';
import { sampleEvent } from './support/events.js';

// Keys that sort differently by code unit than by locale or number, and keys objects treat specially.
const KEY = fc.oneof(
  fc.string(),
  fc.constantFrom('__proto__', '10', '9', 'a', 'B', 'é', '\u{1F600}', 'seq', 'toJSON'),
);
const VALUE = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.oneof(fc.string(), fc.double(), fc.integer(), fc.boolean(), fc.constant(null)),
    fc.array(tie('value'), { maxLength: 5 }),
    fc.dictionary(KEY, fc.oneof(tie('value'), fc.constant(undefined)), { maxKeys: 6 }),
  ),
})).value;

describe('the append path', () => {
  it('writes the same canonical text as canonicalJson', () => {
    fc.assert(
      fc.property(VALUE, (value) => {
        expect(canonicalText(value)).toBe(canonicalJson(value));
      }),
      { numRuns: 2000 },
    );
    const many = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`k${(i * 37) % 50}`, i]));
    expect(canonicalText(many)).toBe(canonicalJson(many));
  });

  it('prepares an event into the canonical text of the stored event, seq in its place', () => {
    fc.assert(
      fc.property(fc.dictionary(KEY, VALUE, { maxKeys: 8 }), fc.nat(), (extra, seq) => {
        const event = { ...extra, ...sampleEvent(seq) } as AuditEvent;
        const prepared = prepareEvent(event);
        const text = leafText(prepared, seq);
        expect(text).toBe(canonicalJson({ ...prepared.event, seq }));
        expect(storedEventText(JSON.parse(text) as never)).toBe(text);
      }),
      { numRuns: 500 },
    );
  });
});

describe('group commit with flushes', () => {
  const deferred = () => {
    let resolve!: () => void;
    let reject!: (error: Error) => void;
    const promise = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
    return { promise, resolve, reject };
  };

  it('writes the next batch while one flushes, and releases batches in order', async () => {
    const flushes: Array<ReturnType<typeof deferred>> = [];
    const batches: number[][] = [];
    const queue = new GroupCommit<number, number>((items): Flushing<number> => {
      batches.push(items);
      const flush = deferred();
      flushes.push(flush);
      return { results: items.map((n) => n * 10), durable: flush.promise };
    });
    const released: number[] = [];
    const first = [1, 2].map((n) => queue.submit(n).then((v) => released.push(v)));
    await new Promise((resolve) => setImmediate(resolve));
    // The first batch is written and flushing; the next one is written without waiting for it.
    const second = [3].map((n) => queue.submit(n).then((v) => released.push(v)));
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    expect(batches).toEqual([[1, 2], [3]]);
    expect(released).toEqual([]);
    flushes[1]!.resolve();
    await new Promise((resolve) => setTimeout(resolve, 5));
    // The second batch is durable, but the first is not yet: nobody is released.
    expect(released).toEqual([]);
    let drained = false;
    const drain = queue.drain().then(() => (drained = true));
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(drained).toBe(false);
    flushes[0]!.resolve();
    await Promise.all([...first, ...second, drain]);
    expect(released).toEqual([10, 20, 30]);
  });

  it('fails only the batch whose flush failed', async () => {
    const flushes: Array<ReturnType<typeof deferred>> = [];
    const queue = new GroupCommit<number, number>((items) => {
      const flush = deferred();
      flushes.push(flush);
      return { results: items, durable: flush.promise };
    });
    const a = queue.submit(1);
    await new Promise((resolve) => setImmediate(resolve));
    const b = queue.submit(2);
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    flushes[0]!.reject(new Error('disk gone'));
    flushes[1]!.resolve();
    await expect(a).rejects.toThrow('disk gone');
    await expect(b).resolves.toBe(2);
  });
});
