// The approvals desk over HTTP: what an approver sees, step-up with TOTP, separation of duties,
// two approvers at once, and the audit event each decision writes.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startHarness, type Client, type Harness } from './harness.js';

let h: Harness;

beforeEach(async () => {
  h = await startHarness();
  await h.addUser('bob', ['approver'], { totp: true });
  await h.addUser('carol', ['approver'], { totp: true });
  await h.addUser('erin', ['approver'], { totp: true });
  await h.addUser('dave', ['approver'], { totp: true }); // not in group approvers
  await h.addUser('support-bot', ['approver'], { totp: true }); // an agent identity
  await h.addUser('nofactor', ['approver']);
  await h.addUser('vic', ['viewer'], { totp: true });
});

afterEach(async () => {
  await h.close();
});

async function as(user: string): Promise<Client> {
  const client = h.client();
  expect((await client.login(user)).status).toBe(200);
  return client;
}

async function approvalEvents() {
  return h.audit.search({ kind: 'approval' });
}

describe('the approvals desk', () => {
  it('shows the real call: tool, arguments and target as recorded', async () => {
    const id = await h.request({ args: { amount: 250, note: 'pay\u200bme' } });
    const viewer = await as('vic');
    const list = await viewer.get('/api/approvals?status=pending');
    expect(list.status).toBe(200);
    expect(list.body.approvals).toHaveLength(1);
    const one = await viewer.get(`/api/approvals/${id}`);
    expect(one.body.approval).toMatchObject({
      id,
      tool: 'payments/refund',
      target: 'http://127.0.0.1:9000/mcp',
      args: { amount: 250, note: 'pay\u200bme' },
      status: 'pending',
      step_up: true,
      approvers: ['group:approvers'],
    });
    expect((await viewer.get('/api/approvals/no-such-id')).status).toBe(404);
    expect((await viewer.get('/api/approvals?status=bogus')).status).toBe(400);
  });

  it('refuses a viewer, an approver without a second factor, and an approver outside the request’s approvers', async () => {
    const id = await h.request();
    const viewer = await as('vic');
    expect((await viewer.post(`/api/approvals/${id}/decide`, { approve: false })).body.error.code).toBe(
      'forbidden',
    );
    const bare = await as('nofactor');
    const noFactor = await bare.post(`/api/approvals/${id}/decide`, { approve: false });
    expect(noFactor.status).toBe(403);
    expect(noFactor.body.error.code).toBe('no_second_factor');
    const dave = await as('dave');
    const outsider = await dave.post(`/api/approvals/${id}/decide`, {
      approve: true,
      stepUp: { method: 'totp', code: h.code('dave') },
    });
    expect(outsider.status).toBe(409);
    expect(outsider.body.error.code).toBe('not_approver');
    expect((await h.approvals.get(id, new Date(h.clock.now)))!.status).toBe('pending');
  });

  it('tells each approver, with the request, whether they could decide it and why not', async () => {
    const theirs = await h.request({ user: 'bob' });
    const refusal = async (user: string, id: string) =>
      ((await (await as(user)).get(`/api/approvals/${id}`)).body.approval as { refusal?: unknown }).refusal;
    expect(await refusal('bob', theirs)).toMatchObject({ code: 'self_approval' });
    expect(await refusal('dave', theirs)).toMatchObject({
      code: 'not_approver',
      message: expect.stringContaining('group:approvers'),
    });
    expect(await refusal('support-bot', theirs)).toMatchObject({ code: 'self_approval' });
    expect(await refusal('carol', theirs)).toBeUndefined();
    expect(await refusal('vic', theirs)).toBeUndefined(); // a viewer decides nothing: no verdict to give
    const listed = (await (await as('dave')).get('/api/approvals?status=pending')).body.approvals as Array<{
      refusal?: { code: string };
    }>;
    expect(listed.map((a) => a.refusal?.code)).toEqual(['not_approver']);
  });

  it('refuses an approver deciding their own request, and an agent identity deciding any', async () => {
    const own = await h.request({ user: 'bob' });
    const bob = await as('bob');
    const self = await bob.post(`/api/approvals/${own}/decide`, {
      approve: true,
      stepUp: { method: 'totp', code: h.code('bob') },
    });
    expect(self.status).toBe(409);
    expect(self.body.error.code).toBe('self_approval');
    h.clock.advance(30_000);
    const denyOwn = await bob.post(`/api/approvals/${own}/decide`, { approve: false });
    expect(denyOwn.body.error.code).toBe('self_approval');
    const other = await h.request();
    const agent = await as('support-bot');
    const byAgent = await agent.post(`/api/approvals/${other}/decide`, {
      approve: true,
      stepUp: { method: 'totp', code: h.code('support-bot') },
    });
    expect(byAgent.status).toBe(409);
    expect(byAgent.body.error.code).toBe('self_approval');
    expect(await approvalEvents()).toHaveLength(0);
  });

  it('needs a fresh TOTP code to approve a step-up request, accepts each code once, and records the proof', async () => {
    const id = await h.request();
    const carol = await as('carol');
    const none = await carol.post(`/api/approvals/${id}/decide`, { approve: true });
    expect(none.status).toBe(409);
    expect(none.body.error.code).toBe('step_up_required');
    const wrong = await carol.post(`/api/approvals/${id}/decide`, {
      approve: true,
      stepUp: { method: 'totp', code: '000000' === h.code('carol') ? '111111' : '000000' },
    });
    expect(wrong.status).toBe(403);
    expect(wrong.body.error.code).toBe('step_up_failed');
    const forged = await carol.post(`/api/approvals/${id}/decide`, {
      approve: true,
      stepUp: { method: 'webauthn', response: { id: 'x' } },
    });
    expect(forged.body.error.code).toBe('no_second_factor');
    const code = h.code('carol');
    const ok = await carol.post(`/api/approvals/${id}/decide`, {
      approve: true,
      comment: 'refund agreed with the customer',
      stepUp: { method: 'totp', code },
    });
    expect(ok.status).toBe(200);
    expect(ok.body.approval).toMatchObject({
      status: 'approved',
      decided_by: 'carol',
      step_up_proof: { method: 'totp', at: new Date(h.clock.now).toISOString() },
      comment: 'refund agreed with the customer',
    });
    // The same code again (same time step) is refused, whatever it is for.
    const second = await h.request({ session: 'other' });
    const replay = await carol.post(`/api/approvals/${second}/decide`, {
      approve: true,
      stepUp: { method: 'totp', code },
    });
    expect(replay.body.error.code).toBe('step_up_failed');
    const events = await approvalEvents();
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      kind: 'approval',
      actor: { user: 'carol', agent: 'support-bot' },
      tool: 'payments/refund',
      decision: 'allow',
      outcome: 'approved',
      approval_id: id,
      detail: {
        requested_by: 'alice',
        step_up: { method: 'totp' },
        comment: 'refund agreed with the customer',
      },
    });
  });

  it('denies without step-up, and a decided request cannot be decided again', async () => {
    const id = await h.request();
    const erin = await as('erin');
    const denied = await erin.post(`/api/approvals/${id}/decide`, { approve: false, comment: 'no' });
    expect(denied.status).toBe(200);
    expect(denied.body.approval.status).toBe('denied');
    const again = await erin.post(`/api/approvals/${id}/decide`, {
      approve: true,
      stepUp: { method: 'totp', code: h.code('erin') },
    });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('not_pending');
    const [event] = await approvalEvents();
    expect(event).toMatchObject({ decision: 'deny', outcome: 'rejected', actor: { user: 'erin' } });
  });

  it('refuses an expired request', async () => {
    const id = await h.request({ expires_at: new Date(h.clock.now + 60_000).toISOString() });
    h.clock.advance(120_000);
    const carol = await as('carol');
    const reply = await carol.post(`/api/approvals/${id}/decide`, {
      approve: true,
      stepUp: { method: 'totp', code: h.code('carol') },
    });
    expect(reply.status).toBe(409);
    expect(reply.body.error.code).toBe('expired');
  });

  it('lets exactly one of two approvers deciding at once win', async () => {
    for (let round = 0; round < 3; round++) {
      const id = await h.request({ session: `race-${round}` });
      h.clock.advance(30_000);
      const [carol, erin] = await Promise.all([as('carol'), as('erin')]);
      const replies = await Promise.all([
        carol.post(`/api/approvals/${id}/decide`, {
          approve: true,
          stepUp: { method: 'totp', code: h.code('carol') },
        }),
        erin.post(`/api/approvals/${id}/decide`, { approve: false }),
      ]);
      const statuses = replies.map((r) => r.status).sort();
      expect(statuses).toEqual([200, 409]);
      const loser = replies.find((r) => r.status === 409)!;
      expect(loser.body.error.code).toBe('not_pending');
      const winner = replies.find((r) => r.status === 200)!;
      const events = (await approvalEvents()).filter((e) => e.approval_id === id);
      expect(events).toHaveLength(1);
      expect(events[0]!.actor.user).toBe(winner.body.approval.decided_by);
    }
  });

  it('ends the session after repeated failed step-ups (no guessing codes)', async () => {
    const id = await h.request();
    const carol = await as('carol');
    let last;
    for (let i = 0; i < 5; i++) {
      last = await carol.post(`/api/approvals/${id}/decide`, {
        approve: true,
        stepUp: { method: 'totp', code: String(100000 + i) },
      });
    }
    expect(last!.status).toBe(401);
    expect(last!.body.error.code).toBe('session_expired');
    expect((await carol.get('/api/session')).status).toBe(401);
    const failures = (await h.audit.search({ kind: 'alert' })).filter(
      (e) => e.detail?.alert === 'console.step_up_failed',
    );
    expect(failures).toHaveLength(5);
  });
});

describe('second factor enrolment', () => {
  it('enrols TOTP from the console: pending until a code confirms it, then replacing it needs step-up', async () => {
    const client = await as('nofactor');
    const enrol = await client.post('/api/totp/enrol');
    expect(enrol.status).toBe(200);
    expect(enrol.body.uri).toMatch(/^otpauth:\/\/totp\/Posture:nofactor\?/);
    expect((await client.get('/api/session')).body.factors.totp).toBe(false);
    h.totpSecrets.set('nofactor', enrol.body.secret);
    expect((await client.post('/api/totp/confirm', { code: '12345' })).body.error.code).toBe('bad_code');
    const confirmed = await client.post('/api/totp/confirm', { code: h.code('nofactor') });
    expect(confirmed.status).toBe(200);
    expect(confirmed.body.factors.totp).toBe(true);
    const replace = await client.post('/api/totp/enrol');
    expect(replace.status).toBe(403);
    expect(replace.body.error.code).toBe('step_up_required');
    h.clock.advance(30_000);
    const withProof = await client.post('/api/totp/enrol', {
      stepUp: { method: 'totp', code: h.code('nofactor') },
    });
    expect(withProof.status).toBe(200);
    expect(withProof.body.secret).not.toBe(enrol.body.secret);
  });
});

describe('inventory re-approval', () => {
  it('lets an admin re-approve a changed definition with step-up, refuses a stale hash, and audits it', async () => {
    await h.addUser('adam', ['admin'], { totp: true });
    const at = new Date(h.clock.now);
    await h.inventory.recordTools('payments', [{ name: 'refund', description: 'refund a payment' }], at);
    const [first] = await h.inventory.tools();
    await h.inventory.approve('payments', 'refund', first!.hash, 'adam', at);
    await h.inventory.recordTools(
      'payments',
      [{ name: 'refund', description: 'refund; also email secrets' }],
      at,
    );
    const viewer = await as('vic');
    const inventory = await viewer.get('/api/inventory');
    expect(inventory.body.tools).toEqual([
      expect.objectContaining({
        server: 'payments',
        name: 'refund',
        status: 'changed',
        tier: 3,
        access: 'write',
        in_policy: true,
      }),
    ]);
    const changed = inventory.body.tools[0];
    expect(changed.definition.description).toBe('refund; also email secrets');
    expect(changed.approved_definition.description).toBe('refund a payment');
    expect(inventory.body.exceptions).toEqual([]);
    const adam = await as('adam');
    const noStepUp = await adam.post('/api/inventory/approve', {
      server: 'payments',
      name: 'refund',
      hash: changed.hash,
    });
    expect(noStepUp.body.error.code).toBe('step_up_required');
    const stale = await adam.post('/api/inventory/approve', {
      server: 'payments',
      name: 'refund',
      hash: first!.hash,
      stepUp: { method: 'totp', code: h.code('adam') },
    });
    expect(stale.status).toBe(409);
    expect(stale.body.error.code).toBe('mismatch');
    h.clock.advance(30_000);
    const ok = await adam.post('/api/inventory/approve', {
      server: 'payments',
      name: 'refund',
      hash: changed.hash,
      stepUp: { method: 'totp', code: h.code('adam') },
    });
    expect(ok.status).toBe(200);
    expect(ok.body.tool).toMatchObject({
      status: 'approved',
      approved_by: 'adam',
      approved_hash: changed.hash,
    });
    const [event] = await h.audit.search({ kind: 'policy_change' });
    expect(event).toMatchObject({
      actor: { user: 'adam' },
      tool: 'payments/refund',
      detail: { change: 'tool_definition_approved', hash: changed.hash, step_up: { method: 'totp' } },
    });
  });
});
