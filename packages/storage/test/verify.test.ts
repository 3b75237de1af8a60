import { canonicalJson } from '@posture/core';
import fc from 'fast-check';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { exportAuditLog, verifyExport, verifyExportFile } from '../src/audit/export.js';
import { storedEventText } from '../src/audit/leaf.js';
import { verifyLog } from '../src/audit/verify.js';
import { generateSignerKey, signCheckpoint } from '../src/merkle/checkpoint.js';
import { MerkleFrontier } from '../src/merkle/frontier.js';
import { leafHash } from '../src/merkle/tree.js';
import { createMemoryAuditLog } from '../src/memory/audit-log.js';
import type { LoggedEvent, StoredEvent } from '../src/ports.js';
import { sampleEvent } from './support/events.js';

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

/** A log of `count` events with checkpoints every 10, its entries, notes and keys. */
async function fixture(count = 30) {
  const signer = generateSignerKey('example.com/verify-test');
  const log = createMemoryAuditLog({
    signerKey: signer.signerKey,
    origin: 'example.com/verify-test',
    checkpointEvery: { events: 10 },
  });
  for (let i = 0; i < count; i++) await log.append(sampleEvent(i));
  const entries = await collect(log.entries());
  const notes = (await log.checkpoints()).map((c) => c.note);
  /** Signs a checkpoint for the first `size` of `events` (a possibly different history). */
  const signFor = (events: StoredEvent[], size: number, key = signer.signerKey, origin = log.origin) => {
    const frontier = new MerkleFrontier();
    for (const event of events.slice(0, size)) frontier.append(leafHash(storedEventText(event)));
    return signCheckpoint({ origin, size, root: frontier.root() }, key).note;
  };
  return { log, entries, notes, signer, signFor };
}

describe('verifyLog', () => {
  it('verifies a whole log, from a plain array as from a stream', async () => {
    const { log, entries, notes, signer } = await fixture();
    expect(notes).toHaveLength(3);
    expect(await verifyLog(entries, notes, [signer.verifierKey])).toEqual({
      ok: true,
      checked: 30,
      covered: 30,
    });
    // Checkpoints in any order, events from an async stream.
    expect(await verifyLog(log.entries(), [...notes].reverse(), [signer.verifierKey])).toEqual({
      ok: true,
      checked: 30,
      covered: 30,
    });
  });

  it('reports events after the last checkpoint as checked, not covered', async () => {
    const { entries, notes, signer } = await fixture(25);
    expect(await verifyLog(entries, notes, [signer.verifierKey])).toEqual({
      ok: true,
      checked: 25,
      covered: 20,
    });
  });

  it('does not pass a log that no checkpoint covers', async () => {
    const { entries, signer } = await fixture(5);
    expect(await verifyLog(entries, [], [signer.verifierKey])).toMatchObject({
      ok: false,
      checked: 5,
      reason: expect.stringMatching(/no signed checkpoint/),
    });
    expect(await verifyLog([], [], [signer.verifierKey])).toEqual({ ok: true, checked: 0, covered: 0 });
  });

  it('names an event without a valid seq', async () => {
    const { entries, notes, signer } = await fixture();
    const broken = entries.map((e, i) => (i === 4 ? ({ ...e, seq: '4' } as unknown as LoggedEvent) : e));
    expect(await verifyLog(broken, notes, [signer.verifierKey])).toMatchObject({
      ok: false,
      firstBadIndex: 4,
    });
  });

  it('catches an edit in a log without stored leaf hashes at its checkpoint interval', async () => {
    const { log, notes, signer } = await fixture();
    const events = await log.read(0, 30);
    events[24] = { ...events[24]!, outcome: 'failed' };
    expect(await verifyLog(events, notes, [signer.verifierKey])).toMatchObject({
      ok: false,
      firstBadIndex: 20,
      covered: 20,
      reason: expect.stringMatching(/\[20, 30\).*checkpoint 2/),
    });
  });

  it('reports an interval failure before a later structural one', async () => {
    const { log, notes, signer } = await fixture();
    const events = await log.read(0, 30);
    events[3] = { ...events[3]!, outcome: 'failed' };
    events.splice(15, 1);
    expect(await verifyLog(events, notes, [signer.verifierKey])).toMatchObject({
      ok: false,
      firstBadIndex: 0,
    });
  });

  describe('forged checkpoints', () => {
    it('a checkpoint whose signature does not verify', async () => {
      const { entries, notes, signer } = await fixture();
      const forged = notes[1]!.replace('\n20\n', '\n21\n');
      expect(await verifyLog(entries, [notes[0]!, forged, notes[2]!], [signer.verifierKey])).toMatchObject({
        ok: false,
        badCheckpoint: 1,
        reason: expect.stringMatching(/checkpoint 1 is not valid: invalid signature/),
      });
    });

    it('a checkpoint signed by an unknown key', async () => {
      const { entries, notes, signer, signFor } = await fixture();
      const stranger = generateSignerKey('example.com/verify-test').signerKey;
      const forged = signFor(entries, 30, stranger);
      expect(await verifyLog(entries, [...notes, forged], [signer.verifierKey])).toMatchObject({
        ok: false,
        badCheckpoint: 3,
        reason: expect.stringMatching(/no signature by a known key/),
      });
    });

    it('a checkpoint of another log', async () => {
      const { entries, notes, signer, signFor } = await fixture();
      const other = signFor(entries, 10, signer.signerKey, 'example.com/another-log');
      expect(await verifyLog(entries, [...notes, other], [signer.verifierKey])).toMatchObject({
        ok: false,
        badCheckpoint: 3,
        reason: expect.stringMatching(/is for log `example.com\/another-log`/),
      });
    });

    it('two validly signed checkpoints of one size with different roots (equivocation)', async () => {
      const { entries, notes, signer, signFor } = await fixture();
      const fork = entries.map((e, i) => (i === 12 ? { ...e, decision: 'confirm' as const } : e));
      const forked = signFor(fork, 20);
      expect(await verifyLog(entries, [...notes, forked], [signer.verifierKey])).toMatchObject({
        ok: false,
        badCheckpoint: 3,
        reason: expect.stringMatching(/checkpoints 1 and 3 sign different roots for size 20/),
      });
    });

    it('a validly signed checkpoint inconsistent with a later one', async () => {
      const { entries, notes, signer, signFor } = await fixture();
      const fork = entries.map((e, i) => (i === 12 ? { ...e, decision: 'confirm' as const } : e));
      const forked = signFor(fork, 15);
      expect(await verifyLog(entries, [...notes, forked], [signer.verifierKey])).toMatchObject({
        ok: false,
        badCheckpoint: 3,
        reason: expect.stringMatching(
          /checkpoint 3 \(size 15\) is not consistent with checkpoint 1 \(size 20\)/,
        ),
      });
    });

    it('a malformed verifier key is a usage error', async () => {
      const { entries, notes } = await fixture(3);
      await expect(verifyLog(entries, notes, ['nonsense'])).rejects.toThrow(/malformed verifier key/);
    });
  });
});

describe('export files', () => {
  it('verify offline from a file, and name a line that is not JSON', async () => {
    const { log, signer } = await fixture(12);
    const lines = await collect(exportAuditLog(log));
    const dir = mkdtempSync(join(tmpdir(), 'posture-export-'));
    try {
      const file = join(dir, 'audit.jsonl');
      writeFileSync(file, `${lines.join('\n')}\n`);
      expect(await verifyExportFile(file, [signer.verifierKey])).toEqual({
        ok: true,
        checked: 12,
        covered: 12,
      });
      const broken = [...lines];
      broken[6] = broken[6]!.slice(0, 40);
      writeFileSync(file, `${broken.join('\n')}\n`);
      expect(await verifyExportFile(file, [signer.verifierKey])).toMatchObject({
        ok: false,
        firstBadIndex: 6,
        reason: 'line 7 is not a JSON object (log position 6)',
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a truncated export, and an export with its checkpoints cut off', async () => {
    const { log, signer } = await fixture(12);
    const lines = await collect(exportAuditLog(log));
    const withoutTail = [...lines.slice(0, 9), ...lines.slice(12)];
    expect(await verifyExport(() => withoutTail, [signer.verifierKey])).toMatchObject({
      ok: false,
      firstBadIndex: 9,
      reason: expect.stringMatching(/truncated/),
    });
    expect(await verifyExport(() => lines.slice(0, 12), [signer.verifierKey])).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/no signed checkpoint/),
    });
  });
});

describe('leaf text', () => {
  it('equals canonicalJson for any JSON event, whatever its key order', () => {
    const shuffled = (value: unknown, seed: number): unknown => {
      if (Array.isArray(value)) return value.map((v, i) => shuffled(v, seed + i));
      if (typeof value !== 'object' || value === null) return value;
      const entries = Object.entries(value);
      entries.sort((a, b) => ((a[0].length * 31 + seed) % 7) - ((b[0].length * 31 + seed) % 7));
      return Object.fromEntries(entries.map(([k, v], i) => [k, shuffled(v, seed + i)]));
    };
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue()), fc.nat(), fc.nat(), (fields, seq, seed) => {
        const event = { ...fields, seq } as unknown as StoredEvent;
        expect(storedEventText(event)).toBe(canonicalJson(event));
        expect(storedEventText(shuffled(event, seed) as StoredEvent)).toBe(canonicalJson(event));
        const parsed = JSON.parse(canonicalJson(event)) as StoredEvent;
        expect(storedEventText(parsed)).toBe(canonicalJson(event));
      }),
      { numRuns: 300 },
    );
  });

  it('falls back to canonicalJson where JSON.stringify would differ, and ignores leaf_hash', () => {
    const odd = {
      seq: 1,
      a: undefined,
      d: new Date(0),
      n: { z: 1, a: [undefined, 2] },
    } as unknown as StoredEvent;
    expect(storedEventText(odd)).toBe(canonicalJson(odd));
    expect(storedEventText({ ...sampleEvent(1), seq: 1, leaf_hash: 'ab' } as StoredEvent)).toBe(
      canonicalJson({ ...sampleEvent(1), seq: 1 }),
    );
  });
});
