// The contract every approvals backend must pass: binding, no duplicates, who may decide,
// step-up, expiry, exactly-once decide and consume (in one process and, for shared backends,
// across several processes), restart safety, and standing exceptions.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type {
  ApprovalQueue,
  ApprovalResult,
  BoundCall,
  ExceptionStore,
  NewApproval,
  NewException,
} from '../../src/ports.js';

export interface ApprovalStores {
  queue: ApprovalQueue;
  exceptions: ExceptionStore;
}

/** One store location (a file, a schema); opening it again is a restart for persistent backends. */
export interface ApprovalStoreLocation {
  open(options?: { maxExceptionMs?: number }): Promise<ApprovalStores>;
  /**
   * How a separate Node process opens this location's queue: the backend's source module (a file
   * URL), the opener it exports and the opener's arguments (JSON). Only for shared backends.
   */
  child?: { module: string; opener: string; args: unknown[] };
}

export interface ApprovalBackend {
  /** Whether data outlives the stores that wrote it (SQLite, PostgreSQL). */
  persistent: boolean;
  /** A new, empty location for one test. */
  fresh(): Promise<ApprovalStoreLocation>;
}

const T0 = new Date('2030-01-01T00:00:00.000Z');
const at = (ms: number) => new Date(T0.getTime() + ms);
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

const CALL: BoundCall = {
  agent: 'support-bot',
  user: 'alice',
  tool: 'payments/refund',
  args_hash: 'a'.repeat(64),
  session: 's-1',
};

function newApproval(overrides: Partial<NewApproval> = {}): NewApproval {
  return {
    ...CALL,
    args: { amount: 120, currency: 'EUR', note: 'zero\u200bwidth' },
    target: 'http://127.0.0.1:9000/mcp',
    approvers: ['group:approvers', 'carol'],
    step_up: false,
    reasons: [{ code: 'tier.approval', message: 'tier 3 needs approval' }],
    rules: ['tiers.3.approval'],
    expires_at: at(15 * MINUTE).toISOString(),
    ...overrides,
  };
}

const BOB = { by: 'bob', byGroups: ['sre', 'approvers'] };

function newException(overrides: Partial<NewException> = {}): NewException {
  return {
    agent: 'support-bot',
    tools: ['payments/*', 'tickets/close_?'],
    justification: 'incident 42: refunds stuck, on-call approved',
    approved_by: 'bob',
    expires_at: at(2 * HOUR).toISOString(),
    ...overrides,
  };
}

function refusal(result: ApprovalResult): string {
  return result.ok ? 'ok' : result.code;
}

export function defineApprovalQueueContract(backend: ApprovalBackend): void {
  const opened: ApprovalStores[] = [];

  async function open(location: ApprovalStoreLocation, options?: { maxExceptionMs?: number }) {
    const stores = await location.open(options);
    opened.push(stores);
    return stores;
  }

  async function fresh(options?: { maxExceptionMs?: number }) {
    const location = await backend.fresh();
    return { location, ...(await open(location, options)) };
  }

  afterEach(async () => {
    for (const stores of opened.splice(0)) {
      await stores.queue.close();
      await stores.exceptions.close();
    }
  });

  describe('request', () => {
    it('stores the request bound to the call, pending, with an unguessable id', async () => {
      const { queue } = await fresh();
      const request = await queue.request(newApproval(), T0);
      expect(request.id).toMatch(UUID);
      expect(request).toMatchObject({
        ...CALL,
        status: 'pending',
        created_at: T0.toISOString(),
        expires_at: at(15 * MINUTE).toISOString(),
        step_up: false,
        approvers: ['group:approvers', 'carol'],
        target: 'http://127.0.0.1:9000/mcp',
      });
      expect(await queue.get(request.id, T0)).toEqual(request);
    });

    it('keeps the arguments exactly as given, key order and invisible characters included', async () => {
      const { queue } = await fresh();
      const args = { z: 1, a: ['\u202eevil', { '\u{E0041}': null }], m: 'line\nbreak', n: 1.5 };
      const request = await queue.request(newApproval({ args }), T0);
      const read = await queue.get(request.id, T0);
      expect(JSON.stringify(read?.args)).toBe(JSON.stringify(args));
    });

    it('gives a request without arguments or target no such fields', async () => {
      const { queue } = await fresh();
      const input = newApproval();
      delete input.args;
      delete input.target;
      const request = await queue.request(input, T0);
      expect(request).not.toHaveProperty('args');
      expect(request).not.toHaveProperty('target');
    });

    it('returns the pending request for the same call instead of queueing a duplicate', async () => {
      const { queue } = await fresh();
      const first = await queue.request(newApproval(), T0);
      const again = await queue.request(newApproval({ reasons: [] }), at(MINUTE));
      expect(again.id).toBe(first.id);
      expect(await queue.list({}, at(MINUTE))).toHaveLength(1);
    });

    it('queues a separate request when any bound field differs', async () => {
      const { queue } = await fresh();
      const ids = new Set([(await queue.request(newApproval(), T0)).id]);
      for (const [field, value] of [
        ['agent', 'other-bot'],
        ['user', 'dana'],
        ['tool', 'payments/void'],
        ['args_hash', 'b'.repeat(64)],
        ['session', 's-2'],
      ] as const) {
        ids.add((await queue.request(newApproval({ [field]: value }), T0)).id);
      }
      expect(ids.size).toBe(6);
    });

    it('returns an approved, unused request for the same call, so a retried call can use it', async () => {
      const { queue } = await fresh();
      const first = await queue.request(newApproval(), T0);
      await queue.decide(first.id, { approve: true, ...BOB }, at(MINUTE));
      const retried = await queue.request(newApproval(), at(2 * MINUTE));
      expect(retried).toMatchObject({ id: first.id, status: 'approved' });
      expect((await queue.consume(first.id, CALL, at(2 * MINUTE))).ok).toBe(true);
      const next = await queue.request(newApproval(), at(3 * MINUTE));
      expect(next.id).not.toBe(first.id);
      expect(next.status).toBe('pending');
    });

    it('finds the open request bound to a call without queueing one', async () => {
      const { queue } = await fresh();
      expect(await queue.findOpen(CALL, T0)).toBeUndefined();
      expect(await queue.list({}, T0)).toEqual([]); // finding queues nothing
      const first = await queue.request(newApproval({ expires_at: at(10 * MINUTE).toISOString() }), T0);
      expect(await queue.findOpen(CALL, at(MINUTE))).toMatchObject({ id: first.id, status: 'pending' });
      expect(await queue.findOpen({ ...CALL, args_hash: 'b'.repeat(64) }, at(MINUTE))).toBeUndefined();
      await queue.decide(first.id, { approve: true, ...BOB }, at(MINUTE));
      expect(await queue.findOpen(CALL, at(2 * MINUTE))).toMatchObject({ id: first.id, status: 'approved' });
      // Once used, or past its expiry, nothing is open for the call.
      expect((await queue.consume(first.id, CALL, at(3 * MINUTE))).ok).toBe(true);
      expect(await queue.findOpen(CALL, at(3 * MINUTE))).toBeUndefined();
      await queue.request(newApproval({ expires_at: at(5 * MINUTE).toISOString() }), at(4 * MINUTE));
      expect(await queue.findOpen(CALL, at(4 * MINUTE))).toMatchObject({ status: 'pending' });
      expect(await queue.findOpen(CALL, at(5 * MINUTE))).toBeUndefined();
    });

    it('queues a fresh request once the earlier one has expired or was denied', async () => {
      const { queue } = await fresh();
      const first = await queue.request(newApproval({ expires_at: at(MINUTE).toISOString() }), T0);
      const second = await queue.request(
        newApproval({ expires_at: at(20 * MINUTE).toISOString() }),
        at(MINUTE),
      );
      expect(second.id).not.toBe(first.id);
      expect((await queue.get(first.id, at(MINUTE)))?.status).toBe('expired');
      await queue.decide(second.id, { approve: false, ...BOB }, at(2 * MINUTE));
      const third = await queue.request(
        newApproval({ expires_at: at(20 * MINUTE).toISOString() }),
        at(3 * MINUTE),
      );
      expect(new Set([first.id, second.id, third.id]).size).toBe(3);
    });

    it('draws a new random id every time', async () => {
      const { queue } = await fresh();
      const ids = new Set<string>();
      for (let i = 0; i < 40; i++) ids.add((await queue.request(newApproval({ session: `s-${i}` }), T0)).id);
      expect(ids.size).toBe(40);
      for (const id of ids) expect(id).toMatch(UUID);
    });

    it('refuses requests without approvers, with a past expiry, or with an empty binding', async () => {
      const { queue } = await fresh();
      await expect(queue.request(newApproval({ approvers: [] }), T0)).rejects.toThrow(
        'an approval request needs at least one approver',
      );
      await expect(queue.request(newApproval({ expires_at: T0.toISOString() }), T0)).rejects.toThrow(
        /`expires_at` .* is not after now/,
      );
      await expect(queue.request(newApproval({ expires_at: 'soon' }), T0)).rejects.toThrow(
        '`expires_at` is not a time: `soon`',
      );
      await expect(queue.request(newApproval({ session: '' }), T0)).rejects.toThrow(
        '`session` must be a non-empty string',
      );
      expect(await queue.list({}, T0)).toEqual([]);
    });
  });

  describe('decide', () => {
    it('approves once, recording who, when and the comment; a second decision is `not_pending`', async () => {
      const { queue } = await fresh();
      const { id } = await queue.request(newApproval(), T0);
      const result = await queue.decide(
        id,
        { approve: true, ...BOB, comment: 'ok, known customer' },
        at(MINUTE),
      );
      expect(result.ok && result.request).toMatchObject({
        status: 'approved',
        decided_by: 'bob',
        decided_at: at(MINUTE).toISOString(),
        comment: 'ok, known customer',
      });
      expect(
        refusal(await queue.decide(id, { approve: false, by: 'carol', byGroups: [] }, at(2 * MINUTE))),
      ).toBe('not_pending');
      expect((await queue.get(id, at(2 * MINUTE)))?.decided_by).toBe('bob');
    });

    it('denies, and a denied request cannot be used', async () => {
      const { queue } = await fresh();
      const { id } = await queue.request(newApproval(), T0);
      const result = await queue.decide(id, { approve: false, by: 'carol', byGroups: [] }, at(MINUTE));
      expect(result.ok && result.request.status).toBe('denied');
      expect(refusal(await queue.consume(id, CALL, at(MINUTE)))).toBe('not_pending');
    });

    it('lets only approvers decide: named directly or through a `group:` entry', async () => {
      const { queue } = await fresh();
      const { id } = await queue.request(newApproval(), T0);
      const outsider = await queue.decide(id, { approve: true, by: 'mallory', byGroups: ['support'] }, T0);
      expect(outsider).toMatchObject({ ok: false, code: 'not_approver' });
      expect(outsider.ok ? '' : outsider.message).toContain('`mallory` is not among the approvers');
      // A group's name alone is not membership: `approvers` must come through byGroups.
      expect(refusal(await queue.decide(id, { approve: true, by: 'approvers', byGroups: [] }, T0))).toBe(
        'not_approver',
      );
      expect(refusal(await queue.decide(id, { approve: true, by: '', byGroups: ['approvers'] }, T0))).toBe(
        'not_approver',
      );
      expect(refusal(await queue.decide(id, { approve: true, by: 'carol', byGroups: [] }, T0))).toBe('ok');
    });

    it('never lets the requesting user decide their own request, whatever their groups', async () => {
      const { queue } = await fresh();
      const { id } = await queue.request(newApproval({ approvers: ['alice', 'group:approvers'] }), T0);
      for (const approve of [true, false]) {
        const result = await queue.decide(id, { approve, by: 'alice', byGroups: ['approvers'] }, T0);
        expect(result).toMatchObject({ ok: false, code: 'self_approval' });
      }
      expect((await queue.get(id, T0))?.status).toBe('pending');
    });

    it('never lets an agent identity decide: the request’s agent, or any `agent:` name', async () => {
      const { queue } = await fresh();
      const { id } = await queue.request(
        newApproval({ approvers: ['support-bot', 'agent:helper', 'group:approvers'] }),
        T0,
      );
      for (const by of ['support-bot', 'agent:support-bot', 'agent:helper']) {
        const result = await queue.decide(id, { approve: true, by, byGroups: ['approvers'] }, T0);
        expect(result).toMatchObject({ ok: false, code: 'self_approval' });
        expect(result.ok ? '' : result.message).toContain('agent identity');
      }
    });

    it('needs step-up proof to approve a step-up request, and records its method and time', async () => {
      const { queue } = await fresh();
      const { id } = await queue.request(newApproval({ step_up: true }), at(MINUTE));
      expect(refusal(await queue.decide(id, { approve: true, ...BOB }, at(2 * MINUTE)))).toBe(
        'step_up_required',
      );
      const stale = { method: 'webauthn', at: T0.toISOString() };
      expect(refusal(await queue.decide(id, { approve: true, ...BOB, stepUp: stale }, at(2 * MINUTE)))).toBe(
        'step_up_required',
      );
      const future = { method: 'webauthn', at: at(5 * MINUTE).toISOString() };
      expect(refusal(await queue.decide(id, { approve: true, ...BOB, stepUp: future }, at(2 * MINUTE)))).toBe(
        'step_up_required',
      );
      expect((await queue.get(id, at(2 * MINUTE)))?.status).toBe('pending');
      const proof = { method: 'webauthn', at: at(2 * MINUTE).toISOString() };
      const result = await queue.decide(id, { approve: true, ...BOB, stepUp: proof }, at(2 * MINUTE));
      expect(result.ok && result.request.step_up_proof).toEqual(proof);
      expect((await queue.get(id, at(2 * MINUTE)))?.step_up_proof).toEqual(proof);
    });

    it('lets an approver deny a step-up request without step-up', async () => {
      const { queue } = await fresh();
      const { id } = await queue.request(newApproval({ step_up: true }), T0);
      const result = await queue.decide(id, { approve: false, ...BOB }, T0);
      expect(result.ok && result.request.status).toBe('denied');
    });

    it('refuses to decide an expired request, and its status becomes `expired`', async () => {
      const { queue } = await fresh();
      const { id } = await queue.request(newApproval(), T0);
      const late = at(15 * MINUTE);
      const result = await queue.decide(id, { approve: true, ...BOB }, late);
      expect(result).toMatchObject({ ok: false, code: 'expired' });
      // Written, not only computed: it reads as expired even as of an earlier time.
      expect((await queue.get(id, T0))?.status).toBe('expired');
      expect(refusal(await queue.decide(id, { approve: true, ...BOB }, T0))).toBe('expired');
    });

    it('says `not_found` for an unknown id', async () => {
      const { queue } = await fresh();
      const result = await queue.decide(
        '00000000-0000-4000-8000-000000000000',
        { approve: true, ...BOB },
        T0,
      );
      expect(result).toMatchObject({ ok: false, code: 'not_found' });
      expect(await queue.get('00000000-0000-4000-8000-000000000000', T0)).toBeUndefined();
    });

    it('resolves exactly once under concurrent attempts', async () => {
      const { queue } = await fresh();
      const { id } = await queue.request(newApproval(), T0);
      const results = await Promise.all(
        Array.from({ length: 12 }, (_, i) =>
          queue.decide(id, { approve: i % 2 === 0, by: `approver-${i}`, byGroups: ['approvers'] }, T0),
        ),
      );
      const winners = results.filter((result) => result.ok);
      expect(winners).toHaveLength(1);
      expect(results.filter((result) => !result.ok).map(refusal)).toEqual(Array(11).fill('not_pending'));
      const stored = await queue.get(id, T0);
      expect(stored?.decided_by).toBe(winners[0]!.ok && winners[0]!.request.decided_by);
    });
  });

  describe('consume', () => {
    async function approved(queue: ApprovalQueue, overrides: Partial<NewApproval> = {}) {
      const { id } = await queue.request(newApproval(overrides), T0);
      const result = await queue.decide(id, { approve: true, ...BOB }, T0);
      expect(result.ok).toBe(true);
      return id;
    }

    it('uses an approved request once, for the exact call', async () => {
      const { queue } = await fresh();
      const id = await approved(queue);
      const result = await queue.consume(id, CALL, at(MINUTE));
      expect(result.ok && result.request).toMatchObject({
        status: 'consumed',
        consumed_at: at(MINUTE).toISOString(),
      });
      const again = await queue.consume(id, CALL, at(MINUTE));
      expect(again).toMatchObject({ ok: false, code: 'not_pending' });
    });

    it('refuses another call with `mismatch`, naming the field, and keeps the approval for the right one', async () => {
      const { queue } = await fresh();
      const id = await approved(queue);
      for (const [field, value] of [
        ['agent', 'other-bot'],
        ['user', 'dana'],
        ['tool', 'payments/void'],
        ['args_hash', 'b'.repeat(64)],
        ['session', 's-2'],
      ] as const) {
        const result = await queue.consume(id, { ...CALL, [field]: value }, T0);
        expect(result).toMatchObject({ ok: false, code: 'mismatch' });
        expect(result.ok ? '' : result.message).toContain(`\`${field}\` is \`${value}\``);
      }
      expect((await queue.consume(id, CALL, T0)).ok).toBe(true);
    });

    it('refuses a pending request and an expired approval', async () => {
      const { queue } = await fresh();
      const { id: pending } = await queue.request(newApproval(), T0);
      expect(refusal(await queue.consume(pending, CALL, T0))).toBe('not_pending');
      const id = await approved(queue, { session: 's-9', expires_at: at(MINUTE).toISOString() });
      const result = await queue.consume(id, { ...CALL, session: 's-9' }, at(MINUTE));
      expect(result).toMatchObject({ ok: false, code: 'expired' });
      expect((await queue.get(id, T0))?.status).toBe('expired');
      expect(refusal(await queue.consume('no-such-id', CALL, T0))).toBe('not_found');
    });

    it('lets exactly one of concurrent attempts through', async () => {
      const { queue } = await fresh();
      const id = await approved(queue);
      const results = await Promise.all(Array.from({ length: 12 }, () => queue.consume(id, CALL, T0)));
      expect(results.filter((result) => result.ok)).toHaveLength(1);
      expect(results.filter((result) => !result.ok).map(refusal)).toEqual(Array(11).fill('not_pending'));
    });
  });

  describe('list', () => {
    it('lists newest first, filters by status as of now, and limits', async () => {
      const { queue } = await fresh();
      const a = await queue.request(
        newApproval({ session: 'a', expires_at: at(5 * MINUTE).toISOString() }),
        T0,
      );
      const b = await queue.request(newApproval({ session: 'b' }), at(MINUTE));
      const c = await queue.request(newApproval({ session: 'c' }), at(2 * MINUTE));
      await queue.decide(c.id, { approve: false, ...BOB }, at(3 * MINUTE));
      const now = at(6 * MINUTE);
      expect((await queue.list({}, now)).map((r) => r.id)).toEqual([c.id, b.id, a.id]);
      expect((await queue.list({ status: 'pending' }, now)).map((r) => r.id)).toEqual([b.id]);
      expect((await queue.list({ status: 'expired' }, now)).map((r) => r.id)).toEqual([a.id]);
      expect((await queue.list({ status: 'denied' }, now)).map((r) => r.id)).toEqual([c.id]);
      expect((await queue.list({ status: 'pending' }, at(4 * MINUTE))).map((r) => r.id)).toEqual([
        b.id,
        a.id,
      ]);
      expect((await queue.list({ limit: 2 }, now)).map((r) => r.id)).toEqual([c.id, b.id]);
    });

    it('hands out copies: changing a returned request changes nothing stored', async () => {
      const { queue } = await fresh();
      const request = await queue.request(newApproval(), T0);
      request.approvers.push('mallory');
      (request.args as { amount: number }).amount = 1;
      const stored = await queue.get(request.id, T0);
      expect(stored?.approvers).toEqual(['group:approvers', 'carol']);
      expect((stored?.args as { amount: number }).amount).toBe(120);
    });
  });

  // A memory queue has nothing to reopen and lives in one process: these apply to stores only.
  if (backend.persistent)
    describe('restart', () => {
      it('keeps pending requests, decisions and exceptions across a reopen', async () => {
        const location = await backend.fresh();
        const before = await open(location);
        const pending = await before.queue.request(newApproval(), T0);
        const decided = await before.queue.request(newApproval({ session: 's-2' }), T0);
        await before.queue.decide(decided.id, { approve: true, ...BOB, comment: 'fine' }, T0);
        const exception = await before.exceptions.append(newException(), T0);
        await before.queue.close();
        await before.exceptions.close();

        const after = await open(location);
        expect(await after.queue.get(pending.id, at(MINUTE))).toEqual(pending);
        expect(await after.queue.get(decided.id, at(MINUTE))).toMatchObject({
          status: 'approved',
          comment: 'fine',
        });
        expect(await after.exceptions.active('support-bot', 'payments/refund', at(MINUTE))).toEqual([
          exception,
        ]);
        expect((await after.queue.decide(pending.id, { approve: true, ...BOB }, at(MINUTE))).ok).toBe(true);
      });

      it('reads requests past their expiry as expired after a reopen, and refuses them', async () => {
        const location = await backend.fresh();
        const before = await open(location);
        const { id } = await before.queue.request(newApproval(), T0);
        await before.queue.close();
        await before.exceptions.close();

        const after = await open(location);
        const late = at(16 * MINUTE);
        expect((await after.queue.get(id, late))?.status).toBe('expired');
        expect((await after.queue.list({ status: 'pending' }, late)).length).toBe(0);
        expect(refusal(await after.queue.decide(id, { approve: true, ...BOB }, late))).toBe('expired');
      });
    });

  describe('standing exceptions', () => {
    it('stores an exception and finds it for matching agent and tool while it lasts', async () => {
      const { exceptions } = await fresh();
      const exception = await exceptions.append(newException(), T0);
      expect(exception).toMatchObject({ ...newException(), created_at: T0.toISOString() });
      expect(exception.id).toMatch(UUID);
      expect(await exceptions.active('support-bot', 'payments/refund', at(MINUTE))).toEqual([exception]);
      expect(await exceptions.active('support-bot', 'tickets/close_1', at(MINUTE))).toEqual([exception]);
      expect(await exceptions.active('support-bot', 'tickets/close_12', at(MINUTE))).toEqual([]);
      expect(await exceptions.active('support-bot', 'tickets/get', at(MINUTE))).toEqual([]);
      expect(await exceptions.active('other-bot', 'payments/refund', at(MINUTE))).toEqual([]);
      expect(await exceptions.active('support-bot', 'payments/refund', at(2 * HOUR))).toEqual([]);
      expect(await exceptions.list()).toEqual([exception]);
    });

    it('requires a justification, a human approver, tool globs and a bounded expiry', async () => {
      const { exceptions } = await fresh();
      const cases: Array<[Partial<NewException>, string | RegExp]> = [
        [{ justification: '  ' }, 'a standing exception needs a justification'],
        [{ approved_by: '' }, 'a standing exception needs an approver (`approved_by`)'],
        [{ approved_by: 'support-bot' }, '`support-bot` is an agent identity'],
        [{ approved_by: 'agent:ops' }, '`agent:ops` is an agent identity'],
        [{ tools: [] }, 'a standing exception needs at least one tool glob'],
        [{ tools: ['refund'] }, '`tools[0]` must be a `server/tool` glob, not `refund`'],
        [{ expires_at: T0.toISOString() }, /`expires_at` .* is not after now/],
        [{ expires_at: at(25 * HOUR).toISOString() }, 'a standing exception may last at most `24h`'],
      ];
      for (const [overrides, message] of cases) {
        await expect(exceptions.append(newException(overrides), T0)).rejects.toThrow(message);
      }
      expect(await exceptions.list()).toEqual([]);
    });

    it('allows a longer exception when the store is configured for it', async () => {
      const { exceptions } = await fresh({ maxExceptionMs: 72 * HOUR });
      const exception = await exceptions.append(
        newException({ expires_at: at(48 * HOUR).toISOString() }),
        T0,
      );
      expect(exception.expires_at).toBe(at(48 * HOUR).toISOString());
    });

    it('revokes once, recording who and when', async () => {
      const { exceptions } = await fresh();
      const { id } = await exceptions.append(newException(), T0);
      const result = await exceptions.revoke(id, 'carol', at(MINUTE));
      expect(result.ok && result.exception).toMatchObject({
        revoked_by: 'carol',
        revoked_at: at(MINUTE).toISOString(),
      });
      expect(await exceptions.active('support-bot', 'payments/refund', at(MINUTE))).toEqual([]);
      expect(await exceptions.revoke(id, 'carol', at(MINUTE))).toMatchObject({
        ok: false,
        code: 'not_active',
      });
      expect(await exceptions.revoke('nope', 'carol', at(MINUTE))).toMatchObject({
        ok: false,
        code: 'not_found',
      });
      expect((await exceptions.list())[0]).toMatchObject({ id, revoked_by: 'carol' });
      const expired = await exceptions.append(newException(), T0);
      expect(await exceptions.revoke(expired.id, 'carol', at(3 * HOUR))).toMatchObject({
        ok: false,
        code: 'not_active',
      });
    });
  });

  if (backend.persistent)
    describe('several processes', () => {
      const PROCESSES = 6;
      const ROUNDS = 4;
      let location: ApprovalStoreLocation;
      let queue: ApprovalQueue;
      let children: Child[] = [];

      beforeAll(async () => {
        location = await backend.fresh();
        const stores = await location.open();
        queue = stores.queue;
        await stores.exceptions.close();
        if (!location.child) throw new Error('a persistent backend must say how a child process opens it');
        const { child } = location;
        children = await Promise.all(Array.from({ length: PROCESSES }, () => startChild(child)));
      }, 120_000);

      afterAll(async () => {
        await Promise.all(children.map((child) => child.stop()));
        await queue?.close();
      });

      /** Sends one operation to every child, to start at the same instant; returns their results. */
      async function race(operation: (index: number) => RaceOperation): Promise<ApprovalResult[]> {
        const start = Date.now() + 150;
        return Promise.all(children.map((child, index) => child.run({ ...operation(index), at: start })));
      }

      it('decides exactly once when several processes decide at once', async () => {
        for (let round = 0; round < ROUNDS; round++) {
          const { id } = await queue.request(newApproval({ session: `decide-${round}` }), T0);
          const results = await race((index) => ({
            op: 'decide',
            id,
            decision: { approve: index % 2 === 0, by: `approver-${index}`, byGroups: ['approvers'] },
            now: T0.toISOString(),
          }));
          const winners = results.filter((result) => result.ok);
          expect(winners).toHaveLength(1);
          expect(results.filter((result) => !result.ok).map(refusal)).toEqual(
            Array(PROCESSES - 1).fill('not_pending'),
          );
          const winner = winners[0]!.ok ? winners[0]!.request : undefined;
          const stored = await queue.get(id, T0);
          expect(stored?.status).toBe(winner?.status);
          expect(stored?.decided_by).toBe(winner?.decided_by);
        }
      }, 60_000);

      it('consumes an approval exactly once when several processes use it at once', async () => {
        for (let round = 0; round < ROUNDS; round++) {
          const call = { ...CALL, session: `consume-${round}` };
          const { id } = await queue.request(newApproval(call), T0);
          expect((await queue.decide(id, { approve: true, ...BOB }, T0)).ok).toBe(true);
          const results = await race(() => ({ op: 'consume', id, call, now: T0.toISOString() }));
          expect(results.filter((result) => result.ok)).toHaveLength(1);
          expect(results.filter((result) => !result.ok).map(refusal)).toEqual(
            Array(PROCESSES - 1).fill('not_pending'),
          );
          expect((await queue.get(id, T0))?.status).toBe('consumed');
        }
      }, 60_000);

      it('queues one request when several processes ask for the same call at once', async () => {
        for (let round = 0; round < ROUNDS; round++) {
          const input = newApproval({ session: `request-${round}` });
          const results = await race(() => ({ op: 'request', input, now: T0.toISOString() }));
          const ids = new Set(results.map((result) => (result.ok ? result.request.id : refusal(result))));
          expect(ids.size).toBe(1);
          const all = await queue.list({ limit: 1000 }, T0);
          expect(all.filter((request) => request.session === `request-${round}`)).toHaveLength(1);
        }
      }, 60_000);
    });
}

/** What a child process is asked to do; `now` is the store's time, an ISO string. */
type RaceOperation =
  | { op: 'decide'; id: string; decision: { approve: boolean; by: string; byGroups: string[] }; now: string }
  | { op: 'consume'; id: string; call: BoundCall; now: string }
  | { op: 'request'; input: NewApproval; now: string };

/** An operation and the wall-clock instant (ms) every child starts it at. */
type RaceCommand = RaceOperation & { at: number };

interface Child {
  run(command: RaceCommand): Promise<ApprovalResult>;
  stop(): Promise<void>;
}

// Child processes run the backend's TypeScript source as it is (tests never use a stale build):
// a module hook transpiles `.ts` files with the project's own TypeScript, and maps the `.js`
// specifiers the sources use (NodeNext style) to the `.ts` files beside them.
const HOOKS = (typescriptUrl: string) => `
import { readFile } from 'node:fs/promises';
import ts from ${JSON.stringify(typescriptUrl)};
export async function resolve(specifier, context, nextResolve) {
  try {
    return await nextResolve(specifier, context);
  } catch (error) {
    if (specifier.startsWith('.') && specifier.endsWith('.js') && context.parentURL?.endsWith('.ts')) {
      return nextResolve(specifier.slice(0, -3) + '.ts', context);
    }
    throw error;
  }
}
export async function load(url, context, nextLoad) {
  if (!url.startsWith('file:') || !url.endsWith('.ts')) return nextLoad(url, context);
  const source = await readFile(new URL(url), 'utf8');
  const { outputText } = ts.transpileModule(source, {
    fileName: url,
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true },
  });
  return { format: 'module', source: outputText, shortCircuit: true };
}
`;

const REGISTER = `
import { register } from 'node:module';
register('./hooks.mjs', import.meta.url);
`;

// The child: opens its own store, says it is ready, then runs one operation per line of input,
// each starting at the instant the parent gave, and answers with the result.
const CHILD = `
import { createInterface } from 'node:readline';
const [moduleUrl, opener, argsJson] = process.argv.slice(2);
const open = (await import(moduleUrl))[opener];
const queue = await open(...JSON.parse(argsJson));
const send = (message) => process.stdout.write(JSON.stringify(message) + '\\n');
send({ ready: true });
for await (const line of createInterface({ input: process.stdin })) {
  const command = JSON.parse(line);
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, command.at - Date.now())));
  const now = new Date(command.now);
  let result;
  try {
    if (command.op === 'decide') result = await queue.decide(command.id, command.decision, now);
    else if (command.op === 'consume') result = await queue.consume(command.id, command.call, now);
    else result = { ok: true, request: await queue.request(command.input, now) };
  } catch (error) {
    result = { ok: false, code: 'error', message: String(error && error.message) };
  }
  send({ result });
}
await queue.close();
`;

let scripts: string | undefined;

/** Writes the hook and child scripts once per test file into a temporary folder. */
function childScripts(): string {
  if (scripts) return scripts;
  const folder = mkdtempSync(join(tmpdir(), 'posture-approvals-race-'));
  const typescriptUrl = pathToFileURL(createRequire(import.meta.url).resolve('typescript')).href;
  writeFileSync(join(folder, 'hooks.mjs'), HOOKS(typescriptUrl));
  writeFileSync(join(folder, 'register.mjs'), REGISTER);
  writeFileSync(join(folder, 'child.mjs'), CHILD);
  process.once('exit', () => rmSync(folder, { recursive: true, force: true }));
  scripts = folder;
  return folder;
}

async function startChild(spec: { module: string; opener: string; args: unknown[] }): Promise<Child> {
  const folder = childScripts();
  const subprocess: ChildProcessWithoutNullStreams = spawn(
    process.execPath,
    [
      '--import',
      pathToFileURL(join(folder, 'register.mjs')).href,
      join(folder, 'child.mjs'),
      spec.module,
      spec.opener,
      JSON.stringify(spec.args),
    ],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  let stderr = '';
  subprocess.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const waiting: Array<(message: { ready?: boolean; result?: ApprovalResult }) => void> = [];
  const exited = new Promise<never>((_, reject) =>
    subprocess.once('exit', (code) => reject(new Error(`child process exited with \`${code}\`: ${stderr}`))),
  );
  exited.catch(() => {});
  createInterface({ input: subprocess.stdout }).on('line', (line) => {
    waiting.shift()?.(JSON.parse(line) as { ready?: boolean; result?: ApprovalResult });
  });
  const next = () =>
    Promise.race([
      new Promise<{ ready?: boolean; result?: ApprovalResult }>((resolve) => waiting.push(resolve)),
      exited,
    ]);
  await next();
  return {
    async run(command) {
      const answer = next();
      subprocess.stdin.write(`${JSON.stringify(command)}\n`);
      const { result } = await answer;
      if (!result) throw new Error('child process answered without a result');
      return result;
    },
    async stop() {
      if (subprocess.exitCode !== null) return;
      const done = new Promise<void>((resolve) => subprocess.once('exit', () => resolve()));
      subprocess.stdin.end();
      await done;
    },
  };
}
