import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { compile, loadPolicy, type CompiledPolicy } from '@posture/core';
import {
  createMemoryApprovalQueue,
  createMemoryAuditLog,
  createMemoryExceptionStore,
  openSqliteApprovalQueue,
  openSqliteAuditLog,
  verifyLog,
  type AuditEvent,
  type AuditLog,
  type StoredEvent,
} from '@posture/storage';
import { argsHash, createEnforcer, type Execute, type ToolCall } from '../src/index.js';

const POLICY = `
version: 1
users:
  alice: { groups: [support] }
  bob: { groups: [approvers] }
agents:
  bot:
    owner: alice
    run_by: [group:support]
    grants:
      - tools: [crm/*, tickets/*]
        access: write
      - tools: [payments/refund]
        access: write
        when: { amount: { maximum: 500 } }
      - tools: [slack/post_message]
        access: write
servers:
  crm:
    tools:
      get_customer: { tier: 1, access: read, irreversible: false, returns: [pii] }
      slow_lookup: { tier: 1, access: read, irreversible: false }
  tickets:
    tools:
      add_comment: { tier: 2, access: write, irreversible: false }
      get_ticket: { tier: 1, access: read, irreversible: false, returns: [untrusted] }
  payments:
    tools:
      refund: { tier: 3, access: write, irreversible: true }
  slack:
    tools:
      post_message: { tier: 2, access: write, irreversible: false, external: true }
tiers:
  3: { approval: { approvers: [group:approvers], expires: 15m } }
  2: { confirm: true }
limits:
  default: { timeout: 200ms }
data:
  redact: [secrets, pii]
  rules:
    - tools: [crm/*]
      direction: out
      block: [payment_card]
    - tools: [crm/*]
      direction: out
      block: [email]
      action: redact
    - tools: [tickets/add_comment]
      direction: in
      block: [secrets]
      action: redact
  flows:
    - after: [pii]
      external: true
      require: deny
`;

function compiled(text = POLICY): CompiledPolicy {
  const loaded = loadPolicy(text, 'posture.yaml');
  if (!loaded.policy) throw new Error(loaded.problems.map((p) => p.message).join('\n'));
  return compile(loaded.policy);
}

const T0 = Date.parse('2026-12-01T10:00:00Z');
const AWS_KEY = 'AKIAZ7Q3MEXR4NXW2BTA';

function call(tool: string, args: Record<string, unknown> = {}, session = 's1'): ToolCall {
  return { agent: 'bot', user: 'alice', session, tool, args };
}

/** An execute that records what it received and returns `result`. */
function tool(result: unknown = { ok: true }) {
  const received: Array<Record<string, unknown>> = [];
  const execute: Execute = async ({ args }) => {
    received.push(args);
    return result;
  };
  return { execute, received };
}

function setup(options: { audit?: AuditLog; failOpenReads?: boolean; policy?: string } = {}) {
  let now = T0;
  const audit = options.audit ?? createMemoryAuditLog();
  const approvals = createMemoryApprovalQueue();
  const exceptions = createMemoryExceptionStore();
  const enforcer = createEnforcer({
    policy: compiled(options.policy),
    audit,
    approvals,
    exceptions,
    clock: () => now,
    ...(options.failOpenReads ? { failOpenReads: true } : {}),
  });
  const events = async () => audit.read(0, await audit.size());
  return {
    enforcer,
    audit,
    approvals,
    exceptions,
    events,
    advance: (ms: number) => (now += ms),
    now: () => now,
  };
}

describe('enforcer', () => {
  it('runs an allowed read and records one event with the actor chain, the hash and the outcome', async () => {
    const { enforcer, events } = setup();
    const crm = tool({ name: 'Ada' });
    const result = await enforcer.call(call('crm/get_customer', { id: 'C-1' }), crm.execute, {
      toolIdentity: 'svc-crm',
    });
    expect(result.status).toBe('ok');
    expect(result.status === 'ok' && result.result).toEqual({ name: 'Ada' });
    expect(crm.received).toEqual([{ id: 'C-1' }]);
    const [event, ...rest] = await events();
    expect(rest).toEqual([]);
    expect(event).toMatchObject({
      kind: 'call',
      actor: { user: 'alice', agent: 'bot', tool_identity: 'svc-crm' },
      session: 's1',
      tool: 'crm/get_customer',
      access: 'read',
      tier: 1,
      decision: 'allow',
      outcome: 'allowed',
      args: { id: 'C-1' },
      args_hash: argsHash({ id: 'C-1' }),
    });
  });

  it('does not run a denied call, and says why', async () => {
    const { enforcer, events } = setup();
    const payments = tool();
    const result = await enforcer.call(call('payments/refund', { amount: 9000 }), payments.execute);
    expect(result.status).toBe('denied');
    expect(result.status === 'denied' && result.decision.reasons[0]!.code).toBe('constraint.failed');
    expect(payments.received).toEqual([]);
    expect((await events()).map((e) => [e.decision, e.outcome])).toEqual([['deny', 'denied']]);
  });

  it('never stores a secret in evidence, but sends the tool what the policy allows', async () => {
    const { enforcer, events } = setup();
    const crm = tool();
    await enforcer.call(call('crm/get_customer', { id: 'C-1', note: `key ${AWS_KEY}` }), crm.execute);
    expect(crm.received[0]!.note).toBe(`key ${AWS_KEY}`);
    const [event] = await events();
    expect(JSON.stringify(event)).not.toContain(AWS_KEY);
    expect(event!.args).toEqual({ id: 'C-1', note: 'key [REDACTED:aws_access_key]' });
    expect(event!.redactions).toEqual([{ class: 'aws_access_key', path: '$.note', count: 1 }]);
    // The hash is of the original arguments: it binds approvals and correlates calls.
    expect(event!.args_hash).toBe(argsHash({ id: 'C-1', note: `key ${AWS_KEY}` }));
  });

  it('redacts arguments before they reach a tool when a data rule says so', async () => {
    const { enforcer } = setup();
    const tickets = tool();
    const result = await enforcer.call(
      call('tickets/add_comment', { text: `token ${AWS_KEY}` }),
      tickets.execute,
      {
        confirm: async () => 'accept',
      },
    );
    expect(result.status).toBe('ok');
    expect(tickets.received).toEqual([{ text: 'token [REDACTED:aws_access_key]' }]);
  });

  describe('results', () => {
    it('withholds a result carrying a blocked class and records a denial', async () => {
      const { enforcer, events } = setup();
      const crm = tool({ card: '4532 0198 7654 3215' });
      const result = await enforcer.call(call('crm/get_customer', { id: 'C-1' }), crm.execute);
      expect(result.status).toBe('denied');
      expect(JSON.stringify(result)).not.toContain('4532 0198 7654 3215');
      expect(result.status === 'denied' && result.decision.reasons[0]).toMatchObject({
        code: 'data.blocked_result',
        message: expect.stringContaining('`result.card`'),
      });
      expect((await events())[0]).toMatchObject({ decision: 'deny', outcome: 'denied' });
    });

    it('redacts what a data rule names before the agent sees it', async () => {
      const { enforcer, events } = setup();
      const crm = tool({ email: 'ada@example.org', plan: 'gold' });
      const result = await enforcer.call(call('crm/get_customer', { id: 'C-1' }), crm.execute);
      expect(result.status === 'ok' && result.result).toEqual({ email: '[REDACTED:email]', plan: 'gold' });
      expect((await events())[0]!.detail).toEqual({
        result_redactions: [{ class: 'email', path: '$.email', count: 1 }],
      });
    });

    it('labels the session with what it found, so flow rules see undeclared personal data', async () => {
      const { enforcer } = setup();
      const tickets = tool({ body: 'call me at ada@example.org' });
      expect((await enforcer.call(call('tickets/get_ticket', { id: 'T-1' }), tickets.execute)).status).toBe(
        'ok',
      );
      const slack = tool();
      const result = await enforcer.call(call('slack/post_message', { text: 'hi' }), slack.execute, {
        confirm: async () => 'accept',
      });
      expect(result.status).toBe('denied');
      expect(result.status === 'denied' && result.decision.reasons.map((r) => r.code)).toContain('flow.deny');
      expect(slack.received).toEqual([]);
    });
  });

  describe('approvals', () => {
    it('queues an approval bound to the call; the same call runs once approved, and only once', async () => {
      const { enforcer, approvals, events, now } = setup();
      const payments = tool({ refunded: 120 });
      const refund = call('payments/refund', { amount: 120 });

      const first = await enforcer.call(refund, payments.execute, { target: 'https://pay.example/mcp' });
      expect(first.status).toBe('pending');
      if (first.status !== 'pending') return;
      expect(first.approval).toMatchObject({
        agent: 'bot',
        user: 'alice',
        tool: 'payments/refund',
        args_hash: argsHash({ amount: 120 }),
        approvers: ['group:approvers'],
        target: 'https://pay.example/mcp',
        status: 'pending',
      });
      expect(payments.received).toEqual([]);

      // A retry before anyone decided finds the same request, not a new one.
      const retry = await enforcer.call(refund, payments.execute);
      expect(retry.status === 'pending' && retry.approval.id).toBe(first.approval.id);

      const decided = await approvals.decide(
        first.approval.id,
        { approve: true, by: 'bob', byGroups: ['approvers'] },
        new Date(now()),
      );
      expect(decided.ok).toBe(true);

      const approved = await enforcer.call(refund, payments.execute);
      expect(approved.status).toBe('ok');
      expect(payments.received).toEqual([{ amount: 120 }]);
      expect((await approvals.get(first.approval.id, new Date(now())))?.status).toBe('consumed');

      // Used once: the next identical call needs a new approval.
      const again = await enforcer.call(refund, payments.execute);
      expect(again.status).toBe('pending');
      expect(again.status === 'pending' && again.approval.id).not.toBe(first.approval.id);
      expect(payments.received).toHaveLength(1);

      expect((await events()).map((e) => e.outcome)).toEqual(['pending', 'pending', 'allowed', 'pending']);
      expect((await events())[2]!.approval_id).toBe(first.approval.id);
    });

    it('an approval does not cover the same tool with other arguments', async () => {
      const { enforcer, approvals, now } = setup();
      const payments = tool();
      const first = await enforcer.call(call('payments/refund', { amount: 120 }), payments.execute);
      if (first.status !== 'pending') throw new Error('expected pending');
      await approvals.decide(
        first.approval.id,
        { approve: true, by: 'bob', byGroups: ['approvers'] },
        new Date(now()),
      );
      const other = await enforcer.call(call('payments/refund', { amount: 499 }), payments.execute);
      expect(other.status).toBe('pending');
      expect(payments.received).toEqual([]);
    });

    it('a denied request keeps the call from running; a new request is queued on retry', async () => {
      const { enforcer, approvals, now } = setup();
      const payments = tool();
      const refund = call('payments/refund', { amount: 120 });
      const first = await enforcer.call(refund, payments.execute);
      if (first.status !== 'pending') throw new Error('expected pending');
      await approvals.decide(
        first.approval.id,
        { approve: false, by: 'bob', byGroups: ['approvers'] },
        new Date(now()),
      );
      const retry = await enforcer.call(refund, payments.execute);
      expect(retry.status).toBe('pending');
      expect(payments.received).toEqual([]);
    });

    it('a failing approvals store refuses the call instead of throwing', async () => {
      const { enforcer, approvals } = setup();
      approvals.request = () => Promise.reject(new Error('database is locked'));
      const payments = tool();
      const result = await enforcer.call(call('payments/refund', { amount: 120 }), payments.execute);
      expect(result).toMatchObject({ status: 'error', code: 'enforcer.error' });
      expect(payments.received).toEqual([]);
    });

    it('a standing exception lets covered calls run without per-call approval, as evidence', async () => {
      const { enforcer, exceptions, events, now } = setup();
      const exception = await exceptions.append(
        {
          agent: 'bot',
          tools: ['payments/*'],
          justification: 'incident INC-7: refunds backlog',
          approved_by: 'bob',
          expires_at: new Date(now() + 3_600_000).toISOString(),
        },
        new Date(now()),
      );
      const payments = tool();
      const result = await enforcer.call(call('payments/refund', { amount: 120 }), payments.execute);
      expect(result.status).toBe('ok');
      expect((await events())[0]!.detail).toEqual({ exception_id: exception.id });
    });
  });

  describe('confirmation', () => {
    it('asks the user and runs on accept', async () => {
      const { enforcer, events } = setup();
      const tickets = tool();
      const asked: string[] = [];
      const result = await enforcer.call(call('tickets/add_comment', { text: 'done' }), tickets.execute, {
        confirm: async (c) => {
          asked.push(c.tool);
          return 'accept';
        },
      });
      expect(result.status).toBe('ok');
      expect(asked).toEqual(['tickets/add_comment']);
      expect((await events())[0]).toMatchObject({ decision: 'allow', outcome: 'allowed' });
    });

    it.each(['decline', 'cancel'] as const)('denies on %s, and on a failing prompt', async (answer) => {
      const { enforcer, events } = setup();
      const tickets = tool();
      const declined = await enforcer.call(call('tickets/add_comment', { text: 'done' }), tickets.execute, {
        confirm: async () => answer,
      });
      const failed = await enforcer.call(call('tickets/add_comment', { text: 'done' }), tickets.execute, {
        confirm: async () => {
          throw new Error('client went away');
        },
      });
      for (const result of [declined, failed]) {
        expect(result.status === 'denied' && result.decision.reasons.at(-1)!.code).toBe('confirm.declined');
      }
      expect(tickets.received).toEqual([]);
      expect((await events()).map((e) => e.outcome)).toEqual(['denied', 'denied']);
    });

    it('without a way to ask, a confirmation becomes an approval request', async () => {
      const { enforcer } = setup();
      const result = await enforcer.call(call('tickets/add_comment', { text: 'done' }), tool().execute);
      expect(result.status).toBe('pending');
      expect(result.status === 'pending' && result.approval.approvers).toEqual(['group:approvers']);
    });
  });

  describe('execution', () => {
    it('times out a hung tool, aborts it, and records the timeout', async () => {
      const { enforcer, events } = setup();
      let aborted: unknown;
      const result = await enforcer.call(
        call('crm/slow_lookup', { id: 1 }),
        ({ signal }) =>
          new Promise((_, reject) => {
            signal.addEventListener('abort', () => {
              aborted = signal.reason;
              reject(new Error('cancelled'));
            });
          }),
      );
      expect(result.status).toBe('timed_out');
      expect(String(aborted)).toContain('timed out after 200 ms');
      expect((await events())[0]).toMatchObject({ decision: 'allow', outcome: 'timed_out' });
    });

    it('records a failing tool with its error, redacted', async () => {
      const { enforcer, events } = setup();
      const result = await enforcer.call(call('crm/get_customer', { id: 1 }), async () => {
        throw new Error(`upstream said no to ${AWS_KEY}`);
      });
      expect(result.status).toBe('failed');
      const [event] = await events();
      expect(event!.outcome).toBe('failed');
      expect(JSON.stringify(event)).not.toContain(AWS_KEY);
    });
  });

  describe('a write is on record before it runs', () => {
    it('as a pending call in the SQLite log while it runs, replaced by its one event; a read is not', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'posture-enforcer-pending-'));
      try {
        const path = join(dir, 'posture.db');
        const audit = await openSqliteAuditLog({ path });
        const { enforcer } = setup({ audit });
        const Database = (await import('better-sqlite3')).default;
        const reader = new Database(path, { readonly: true });
        const pending = () =>
          (reader.prepare('SELECT json FROM audit_pending').all() as { json: string }[]).map(
            (row) => JSON.parse(row.json) as AuditEvent,
          );
        let seen: AuditEvent[] = [];
        const write = await enforcer.call(
          call('tickets/add_comment', { text: `token ${AWS_KEY}` }),
          async () => {
            seen = pending();
            return { ok: true };
          },
          { confirm: async () => 'accept' },
        );
        expect(write.status).toBe('ok');
        expect(seen).toHaveLength(1);
        expect(seen[0]).toMatchObject({
          kind: 'call',
          tool: 'tickets/add_comment',
          actor: { user: 'alice', agent: 'bot' },
          decision: 'allow',
        });
        expect(seen[0]!.outcome).toBeUndefined();
        // Evidence, so redacted like evidence.
        expect(JSON.stringify(seen[0])).not.toContain(AWS_KEY);
        let seenByRead: AuditEvent[] = [];
        await enforcer.call(call('crm/get_customer', { id: 1 }), async () => {
          seenByRead = pending();
          return { name: 'Ada' };
        });
        expect(seenByRead).toEqual([]);
        expect(pending()).toEqual([]);
        reader.close();
        const events = await audit.read(0, await audit.size());
        expect(events.map((e) => [e.tool, e.outcome])).toEqual([
          ['tickets/add_comment', 'allowed'],
          ['crm/get_customer', 'allowed'],
        ]);
        await audit.close();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  describe('when evidence cannot be written', () => {
    /** A memory log whose appends fail while `down` is set. */
    function flakyLog() {
      const inner = createMemoryAuditLog();
      const state = { down: false };
      const log: AuditLog = Object.create(inner) as AuditLog;
      log.append = (event: AuditEvent): Promise<StoredEvent> =>
        state.down ? Promise.reject(new Error('disk full')) : inner.append(event);
      return { log, state, inner };
    }

    it('fails closed: nothing runs until the log takes writes, then a gap event says what happened', async () => {
      const { log, state, inner } = flakyLog();
      const { enforcer } = setup({ audit: log });
      const crm = tool({ name: 'Ada' });
      state.down = true;
      const first = await enforcer.call(call('crm/get_customer', { id: 1 }), crm.execute);
      // The first call ran before anyone knew; its result is withheld because it is not on record.
      expect(first).toMatchObject({ status: 'error', code: 'evidence.unavailable' });
      expect(JSON.stringify(first)).not.toContain('Ada');
      const second = await enforcer.call(call('crm/get_customer', { id: 2 }), crm.execute);
      expect(second).toMatchObject({ status: 'error', code: 'evidence.unavailable' });
      expect(crm.received).toEqual([{ id: 1 }]);

      state.down = false;
      const third = await enforcer.call(call('crm/get_customer', { id: 3 }), crm.execute);
      expect(third.status).toBe('ok');
      const events = await inner.read(0, await inner.size());
      expect(events.map((e) => e.kind)).toEqual(['gap', 'call']);
      expect(events[0]!.detail).toMatchObject({ error: 'disk full', refused_calls: 1, unlogged_calls: 0 });
    });

    it('refuses a write before it runs when its record cannot be written', async () => {
      const inner = createMemoryAuditLog();
      const state = { down: true };
      const log: AuditLog = Object.create(inner) as AuditLog;
      log.append = (event, options) => inner.append(event, options);
      log.begin = (event: AuditEvent) =>
        state.down ? Promise.reject(new Error('disk full')) : inner.begin!(event);
      const { enforcer } = setup({ audit: log });
      const tickets = tool();
      const accept = { confirm: async () => 'accept' as const };
      const refused = await enforcer.call(
        call('tickets/add_comment', { text: 'one' }),
        tickets.execute,
        accept,
      );
      expect(refused).toMatchObject({ status: 'error', code: 'evidence.unavailable' });
      expect((refused as { message: string }).message).toMatch(/did not run: .*disk full/);
      // Not run at all: a write's effects never precede its evidence.
      expect(tickets.received).toEqual([]);
      state.down = false;
      const ran = await enforcer.call(call('tickets/add_comment', { text: 'two' }), tickets.execute, accept);
      expect(ran.status).toBe('ok');
      expect(tickets.received).toEqual([{ text: 'two' }]);
      const events = await inner.read(0, await inner.size());
      expect(events.map((e) => [e.kind, e.outcome])).toEqual([
        ['gap', 'error'],
        ['call', 'allowed'],
      ]);
      expect(events[0]!.detail).toMatchObject({ error: 'disk full', refused_calls: 1, unlogged_calls: 0 });
    });

    it('lets tier-1 reads through when the policy says so (evidence.fail_open_reads)', async () => {
      const { log, state } = flakyLog();
      const { enforcer } = setup({ audit: log, policy: `${POLICY}\nevidence: { fail_open_reads: true }\n` });
      state.down = true;
      expect((await enforcer.call(call('crm/get_customer', { id: 1 }), tool().execute)).status).toBe('ok');
      const strict = setup({ audit: log });
      expect((await strict.enforcer.call(call('crm/get_customer', { id: 1 }), tool().execute)).status).toBe(
        'error',
      );
    });

    it('may let tier-1 reads through when configured, counting them in the gap event; writes stay closed', async () => {
      const { log, state, inner } = flakyLog();
      const { enforcer } = setup({ audit: log, failOpenReads: true });
      state.down = true;
      const read = await enforcer.call(call('crm/get_customer', { id: 1 }), tool({ name: 'Ada' }).execute);
      expect(read.status).toBe('ok');
      const again = await enforcer.call(call('crm/get_customer', { id: 2 }), tool().execute);
      expect(again.status).toBe('ok');
      const tickets = tool();
      const write = await enforcer.call(call('tickets/add_comment', { text: 'x' }), tickets.execute, {
        confirm: async () => 'accept',
      });
      expect(write.status).toBe('error');
      expect(tickets.received).toEqual([]);
      state.down = false;
      await enforcer.call(call('crm/get_customer', { id: 3 }), tool().execute);
      const events = await inner.read(0, await inner.size());
      expect(events.map((e) => e.kind)).toEqual(['gap', 'call']);
      expect(events[0]!.detail).toMatchObject({ unlogged_calls: 2, refused_calls: 1 });
    });
  });

  describe('on SQLite', () => {
    const dirs: string[] = [];
    afterEach(() => {
      for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
    });

    it('records every call durably in a log that verifies, and approvals survive a new enforcer', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'posture-sdk-'));
      dirs.push(dir);
      const db = join(dir, 'posture.db');
      const audit = await openSqliteAuditLog({ path: db });
      const approvals = openSqliteApprovalQueue(db);
      let now = T0;
      const make = () => createEnforcer({ policy: compiled(), audit, approvals, clock: () => now });
      const payments = tool();
      const refund = call('payments/refund', { amount: 42 });
      const pending = await make().call(refund, payments.execute);
      if (pending.status !== 'pending') throw new Error('expected pending');
      await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          make().call(call('crm/get_customer', { id: i }), tool().execute),
        ),
      );
      now += 1000;
      await approvals.decide(
        pending.approval.id,
        { approve: true, by: 'bob', byGroups: ['approvers'] },
        new Date(now),
      );
      // A different enforcer (a restarted gateway) lets the approved call through.
      expect((await make().call(refund, payments.execute)).status).toBe('ok');
      expect(await audit.size()).toBe(22);
      const checkpoint = await audit.checkpoint();
      const verified = await verifyLog(audit.entries(), [checkpoint.note], [audit.verifierKey]);
      expect(verified).toMatchObject({ ok: true, checked: 22, covered: 22 });
      await audit.close();
      await approvals.close();
    });
  });
});
