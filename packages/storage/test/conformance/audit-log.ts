// The contract every AuditLog backend passes: run it from `<backend>.test.ts` with an opener that
// makes a fresh log and the backend's raw means to tamper with what it stored. Nothing here knows
// how a backend stores events.
import { afterEach, describe, expect, it } from 'vitest';
import type { AuditEvent, AuditLog, StoredEvent } from '../../src/ports.js';
import type { AuditLogOptions } from '../../src/audit/options.js';
import { exportAuditLog, verifyExport } from '../../src/audit/export.js';
import { storedEventLeaf } from '../../src/audit/leaf.js';
import { verifyLog } from '../../src/audit/verify.js';
import { openCheckpoint } from '../../src/merkle/checkpoint.js';
import { rootOf } from '../../src/merkle/tree.js';
import { sampleEvent } from '../support/events.js';

export { sampleEvent };

/** Raw changes to stored evidence, as an attacker with write access to the store would make them. */
export interface AuditLogTamper {
  /** Rewrites the stored event at `seq`; keeps the stored leaf hash unless `rehash`. */
  edit(
    seq: number,
    change: (event: StoredEvent) => StoredEvent,
    options?: { rehash?: boolean },
  ): Promise<void>;
  delete(seq: number): Promise<void>;
  /** Puts a forged event (with seq `seq` and a matching leaf hash) before the one at `seq`, moving the rest down. */
  insert(seq: number, event: AuditEvent): Promise<void>;
  /** Swaps the positions of two stored events, leaving their content as it is. */
  swap(a: number, b: number): Promise<void>;
  /** Drops every event from `size` on. */
  truncate(size: number): Promise<void>;
}

export interface OpenedAuditLog {
  log: AuditLog;
  tamper: AuditLogTamper;
  /** Opens the same storage again (after the first log was closed). */
  reopen(options?: AuditLogOptions): Promise<AuditLog>;
  /** Everything the backend has written so far, as text (files, rows), to look for leaked values. */
  rawText(): Promise<string>;
  cleanup(): Promise<void>;
}

// Secrets and personal data a careless caller might leave in an event (not documented examples,
// which the detector lets through on purpose).
const GITHUB_TOKEN = 'ghp_R2d9Xk4LmP7qW1zT8vB3nY6cJ0hF5sA2eG9u';
const AWS_KEY = 'AKIAQ3EGRTYU7WZX5PLM';
const EMAIL = 'jane.roe@corp-mail.net';

export type AuditLogOpener = (options?: AuditLogOptions) => Promise<OpenedAuditLog>;

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

async function verifyStore(log: AuditLog) {
  const notes = (await log.checkpoints()).map((c) => c.note);
  return verifyLog(log.entries(), notes, [log.verifierKey]);
}

export function auditLogContract(name: string, open: AuditLogOpener): void {
  describe(`AuditLog contract: ${name}`, () => {
    let opened: OpenedAuditLog[] = [];
    const fresh = async (options?: AuditLogOptions) => {
      const o = await open(options);
      opened.push(o);
      return o;
    };
    const filled = async (count: number, options?: AuditLogOptions) => {
      const o = await fresh(options);
      for (let i = 0; i < count; i++) await o.log.append(sampleEvent(i));
      return o;
    };
    afterEach(async () => {
      for (const o of opened) await o.cleanup();
      opened = [];
    });

    describe('append and read', () => {
      it('numbers events from 0 without gaps and reads back exactly what was stored', async () => {
        const { log } = await fresh();
        expect(await log.size()).toBe(0);
        const stored: StoredEvent[] = [];
        for (let i = 0; i < 12; i++) stored.push(await log.append(sampleEvent(i)));
        expect(stored.map((e) => e.seq)).toEqual([...Array(12).keys()]);
        expect(await log.size()).toBe(12);
        expect(await log.read(0, 12)).toEqual(stored);
        expect(stored[3]).toEqual({ ...sampleEvent(3), seq: 3 });
        expect(await log.read(4, 6)).toEqual(stored.slice(4, 6));
        expect(await log.read(10, 99)).toEqual(stored.slice(10));
        expect(await log.read(5, 5)).toEqual([]);
        await expect(log.read(3, 2)).rejects.toThrow(/not a range/);
      });

      it('drops undefined fields and the fields the log owns (seq, leaf_hash)', async () => {
        const { log } = await fresh();
        const event = { ...sampleEvent(0), tool: undefined, seq: 77, leaf_hash: 'ff' } as AuditEvent;
        const stored = await log.append(event);
        expect(stored.seq).toBe(0);
        const [read] = await log.read(0, 1);
        expect(read).toEqual(stored);
        expect(read).not.toHaveProperty('tool');
        expect(read).not.toHaveProperty('leaf_hash');
      });

      it('rejects an event that is not JSON without failing the others of its batch', async () => {
        const { log } = await fresh();
        const bad = { ...sampleEvent(1), args: { big: 10n } } as unknown as AuditEvent;
        const results = await Promise.allSettled([
          log.append(sampleEvent(0)),
          log.append(bad),
          log.append(sampleEvent(2)),
          log.append({ kind: 'call' } as AuditEvent),
        ]);
        expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'rejected']);
        expect(String((results[3] as PromiseRejectedResult).reason)).toMatch(/`time`/);
        expect((await log.read(0, 10)).map((e) => e.args)).toEqual([
          sampleEvent(0).args,
          sampleEvent(2).args,
        ]);
      });

      it('keeps every one of many concurrent appends, in one order all readers see', async () => {
        const { log } = await fresh();
        const count = 500;
        const stored = await Promise.all(Array.from({ length: count }, (_, i) => log.append(sampleEvent(i))));
        expect(stored.map((e) => e.seq).sort((a, b) => a - b)).toEqual([...Array(count).keys()]);
        const read = await log.read(0, count);
        expect(read.map((e) => e.seq)).toEqual([...Array(count).keys()]);
        for (const event of stored) expect(read[event.seq]).toEqual(event);
        // Promises started in order are committed in order: group commit keeps arrival order.
        expect(stored.map((e) => e.seq)).toEqual([...Array(count).keys()]);
      });

      it('orders by seq, never by time: a clock going backwards changes nothing', async () => {
        const { log } = await fresh();
        const times = ['2025-06-02T09:00:05.000Z', '2025-06-02T09:00:01.000Z', '2025-06-02T08:59:59.000Z'];
        for (const [i, time] of times.entries()) await log.append(sampleEvent(i, { time }));
        expect((await log.read(0, 3)).map((e) => [e.seq, e.time])).toEqual(times.map((t, i) => [i, t]));
        expect((await log.search({ since: '2025-06-02T09:00:00.000Z' })).map((e) => e.seq)).toEqual([0, 1]);
        await log.checkpoint();
        expect(await verifyStore(log)).toMatchObject({ ok: true, checked: 3 });
      });

      it('refuses appends once closed', async () => {
        const { log } = await fresh();
        await log.close();
        await expect(log.append(sampleEvent(0))).rejects.toThrow(/closed/);
      });
    });

    describe('redaction', () => {
      it('never stores a secret or personal data a caller left in args, detail or reasons', async () => {
        const o = await fresh();
        const careless = sampleEvent(0, {
          args: { id: 'T-1', auth: `token ${GITHUB_TOKEN}`, nested: [{ key: AWS_KEY }] },
          reasons: [{ code: 'grant.match', message: `matched for ${EMAIL}` }],
          detail: { requested_by: EMAIL },
          redactions: [{ class: 'pii', path: '/note', count: 1 }],
        });
        const stored = await o.log.append(careless);
        await o.log.append(sampleEvent(1));
        await o.log.checkpoint();
        const [read] = await o.log.read(0, 1);
        expect(read).toEqual(stored);
        expect(read!.args).toEqual({
          id: 'T-1',
          auth: 'token [REDACTED:github_token]',
          nested: [{ key: '[REDACTED:aws_access_key]' }],
        });
        expect(read!.reasons).toEqual([{ code: 'grant.match', message: 'matched for [REDACTED:email]' }]);
        expect(read!.detail).toEqual({ requested_by: '[REDACTED:email]' });
        // What the caller listed is kept; what the log removed is added, by class and path.
        expect(read!.redactions).toEqual(
          expect.arrayContaining([
            { class: 'pii', path: '/note', count: 1 },
            { class: 'github_token', path: '$.args.auth', count: 1 },
            { class: 'aws_access_key', path: '$.args.nested[0].key', count: 1 },
            { class: 'email', path: '$.reasons[0].message', count: 1 },
            { class: 'email', path: '$.detail.requested_by', count: 1 },
          ]),
        );
        expect(read!.redactions).toHaveLength(5);
        // A clean event is stored exactly as given.
        expect((await o.log.read(1, 2))[0]).toEqual({ ...sampleEvent(1), seq: 1 });
        expect(await verifyStore(o.log)).toMatchObject({ ok: true, checked: 2 });
        const raw = await o.rawText();
        expect(raw).toContain('[REDACTED:github_token]');
        for (const secret of [GITHUB_TOKEN, AWS_KEY, EMAIL]) expect(raw).not.toContain(secret);
      });
    });

    describe('search', () => {
      const seqs = (events: StoredEvent[]) => events.map((e) => e.seq);
      const expected = (count: number, keep: (e: AuditEvent) => boolean) =>
        [...Array(count).keys()].filter((i) => keep(sampleEvent(i)));

      it('filters by each field, by time range, after a seq, and limits', async () => {
        const { log } = await filled(30);
        expect(seqs(await log.search({ agent: 'ops-bot' }))).toEqual(
          expected(30, (e) => e.actor.agent === 'ops-bot'),
        );
        expect(seqs(await log.search({ user: 'bob' }))).toEqual(expected(30, (e) => e.actor.user === 'bob'));
        expect(seqs(await log.search({ tool: 'payments/refund' }))).toEqual(
          expected(30, (e) => e.tool === 'payments/refund'),
        );
        expect(seqs(await log.search({ decision: 'deny' }))).toEqual(
          expected(30, (e) => e.decision === 'deny'),
        );
        expect(seqs(await log.search({ outcome: 'pending' }))).toEqual(
          expected(30, (e) => e.outcome === 'pending'),
        );
        expect(seqs(await log.search({ kind: 'alert' }))).toEqual([9, 19, 29]);
        const t = (i: number) => sampleEvent(i).time;
        expect(seqs(await log.search({ since: t(25) }))).toEqual([25, 26, 27, 28, 29]);
        expect(seqs(await log.search({ until: t(2) }))).toEqual([0, 1, 2]);
        expect(seqs(await log.search({ since: t(10), until: t(12) }))).toEqual([10, 11, 12]);
        expect(seqs(await log.search({ after: 26 }))).toEqual([27, 28, 29]);
        expect(seqs(await log.search({ limit: 4 }))).toEqual([0, 1, 2, 3]);
        expect(seqs(await log.search({ after: 5, limit: 2, user: 'alice' }))).toEqual([6, 8]);
        expect(
          seqs(
            await log.search({
              agent: 'ops-bot',
              decision: 'approve',
              user: 'bob',
              tool: 'tickets/add_comment',
            }),
          ),
        ).toEqual(
          expected(
            30,
            (e) =>
              e.actor.agent === 'ops-bot' &&
              e.decision === 'approve' &&
              e.actor.user === 'bob' &&
              e.tool === 'tickets/add_comment',
          ),
        );
        expect(await log.search({ agent: 'nobody' })).toEqual([]);
        expect(seqs(await log.search({}))).toEqual([...Array(30).keys()]);
        const [first] = await log.search({ tool: 'files/read', limit: 1 });
        expect(first).toEqual({ ...sampleEvent(3), seq: 3 });
      });
    });

    describe('checkpoints', () => {
      it('signs the root of the events it holds, with the log key', async () => {
        const { log } = await filled(13);
        const checkpoint = await log.checkpoint();
        const opened = openCheckpoint(checkpoint.note, [log.verifierKey]);
        expect(opened).toMatchObject({ origin: log.origin, size: 13, root: checkpoint.root });
        const leaves = (await log.read(0, 13)).map((e) => storedEventLeaf(e));
        expect(opened.rootHash).toEqual(rootOf(leaves));
        expect((await collect(log.entries())).map((e) => e.leaf_hash)).toEqual(
          leaves.map((l) => l.toString('hex')),
        );
        expect(await log.checkpoint()).toEqual(checkpoint);
        expect(await log.latestCheckpoint()).toEqual(checkpoint);
      });

      it('an empty log signs the empty tree', async () => {
        const { log } = await fresh();
        expect(await log.latestCheckpoint()).toBeUndefined();
        const checkpoint = await log.checkpoint();
        expect(checkpoint).toMatchObject({ size: 0, root: '47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=' });
        expect(await verifyStore(log)).toEqual({ ok: true, checked: 0, covered: 0 });
      });

      it('signs by itself every N events and on close; all its checkpoints agree', async () => {
        const o = await fresh({ checkpointEvery: { events: 10 } });
        for (let i = 0; i < 25; i++) await o.log.append(sampleEvent(i));
        expect((await o.log.checkpoints()).map((c) => c.size)).toEqual([10, 20]);
        await Promise.all(Array.from({ length: 7 }, (_, i) => o.log.append(sampleEvent(25 + i))));
        await o.log.close();
        const log = await o.reopen();
        expect((await log.checkpoints()).map((c) => c.size)).toEqual([10, 20, 32]);
        expect(await verifyStore(log)).toEqual({ ok: true, checked: 32, covered: 32 });
        await log.close();
      });

      it('signs on a timer when the log grew', async () => {
        const { log } = await fresh({ checkpointEvery: { ms: 20 } });
        await log.append(sampleEvent(0));
        await new Promise((resolve) => setTimeout(resolve, 120));
        expect((await log.latestCheckpoint())?.size).toBe(1);
      });
    });

    describe('persistence', () => {
      it('reopens with the same events, identity, key and tree, and goes on from there', async () => {
        const o = await filled(9);
        const before = await o.log.checkpoint();
        const { origin, verifierKey } = o.log;
        await o.log.close();
        const log = await o.reopen();
        expect([log.origin, log.verifierKey]).toEqual([origin, verifierKey]);
        expect(await log.size()).toBe(9);
        expect((await log.append(sampleEvent(9))).seq).toBe(9);
        const after = await log.checkpoint();
        expect(after.size).toBe(10);
        const result = await verifyLog(log.entries(), [before.note, after.note], [verifierKey]);
        expect(result).toEqual({ ok: true, checked: 10, covered: 10 });
        await log.close();
      });
    });

    describe('verify and export', () => {
      it('verifies from entries() and from plain read() events', async () => {
        const { log } = await filled(40, { checkpointEvery: { events: 16 } });
        await log.checkpoint();
        expect(await verifyStore(log)).toEqual({ ok: true, checked: 40, covered: 40 });
        const notes = (await log.checkpoints()).map((c) => c.note);
        expect(await verifyLog(await log.read(0, 40), notes, [log.verifierKey])).toEqual({
          ok: true,
          checked: 40,
          covered: 40,
        });
      });

      it('exports JSON lines that verify offline, and catches an edited line', async () => {
        const { log } = await filled(20, { checkpointEvery: { events: 8 } });
        const lines = await collect(exportAuditLog(log));
        expect(lines).toHaveLength(20 + 3);
        expect(JSON.parse(lines[0]!)).toMatchObject({
          seq: 0,
          leaf_hash: expect.stringMatching(/^[0-9a-f]{64}$/),
        });
        expect(lines.slice(20).map((l) => Object.keys(JSON.parse(l) as object))).toEqual([
          ['checkpoint'],
          ['checkpoint'],
          ['checkpoint'],
        ]);
        expect(await verifyExport(() => lines, [log.verifierKey])).toEqual({
          ok: true,
          checked: 20,
          covered: 20,
        });
        const edited = lines.map((line, i) => (i === 11 ? line.replace('"T-1011"', '"T-9999"') : line));
        expect(await verifyExport(() => edited, [log.verifierKey])).toMatchObject({
          ok: false,
          firstBadIndex: 11,
        });
      });
    });

    describe('tampering is detected at the right index', () => {
      // 20 events, checkpoints at 10 and 20.
      const tampered = async () => {
        const o = await filled(20, { checkpointEvery: { events: 10 } });
        expect((await o.log.checkpoints()).map((c) => c.size)).toEqual([10, 20]);
        return o;
      };

      it('an edited event whose stored leaf hash was left alone', async () => {
        const { log, tamper } = await tampered();
        await tamper.edit(7, (e) => ({ ...e, decision: 'allow', outcome: 'allowed' }));
        expect(await verifyStore(log)).toMatchObject({
          ok: false,
          firstBadIndex: 7,
          reason: expect.stringMatching(/edited/),
        });
      });

      it('an edited event whose leaf hash was recomputed: the interval of the checkpoint', async () => {
        const { log, tamper } = await tampered();
        await tamper.edit(13, (e) => ({ ...e, args: { id: 'T-0' } }), { rehash: true });
        expect(await verifyStore(log)).toMatchObject({
          ok: false,
          firstBadIndex: 10,
          reason: expect.stringMatching(/\[10, 20\)/),
        });
      });

      it('a deleted event', async () => {
        const { log, tamper } = await tampered();
        await tamper.delete(5);
        expect(await verifyStore(log)).toMatchObject({
          ok: false,
          firstBadIndex: 5,
          reason: expect.stringMatching(/deleted/),
        });
      });

      it('an inserted event', async () => {
        const { log, tamper } = await tampered();
        await tamper.insert(12, sampleEvent(99, { decision: 'allow' }));
        expect(await verifyStore(log)).toMatchObject({
          ok: false,
          firstBadIndex: 12,
          reason: expect.stringMatching(/inserted/),
        });
      });

      it('reordered events', async () => {
        const { log, tamper } = await tampered();
        await tamper.swap(3, 8);
        expect(await verifyStore(log)).toMatchObject({
          ok: false,
          firstBadIndex: 3,
          reason: expect.stringMatching(/reordered/),
        });
      });

      it('a truncated tail', async () => {
        const { log, tamper } = await tampered();
        await tamper.truncate(15);
        expect(await verifyStore(log)).toMatchObject({
          ok: false,
          firstBadIndex: 15,
          reason: expect.stringMatching(/truncated/),
        });
      });

      it('a log verified with another log’s key', async () => {
        const { log } = await tampered();
        const other = await fresh();
        const notes = (await log.checkpoints()).map((c) => c.note);
        expect(await verifyLog(log.entries(), notes, [other.log.verifierKey])).toMatchObject({
          ok: false,
          badCheckpoint: 0,
          reason: expect.stringMatching(/no signature by a known key/),
        });
      });
    });
  });
}
