// `posture demo agent` against `posture start`, both as child processes: every control the script
// meets leaves its evidence in the SQLite store (a denied write, a pending approval, a loop
// denial, redactions, a changed tool and its alert, an anomaly alert); an approval given in the
// console while the agent waits lets the refund through, and a definition re-approved there
// brings the changed tool back.
import { execFile, spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { Secret, TOTP } from 'otpauth';
import {
  openSqliteApprovalQueue,
  openSqliteAuditLog,
  openSqliteInventory,
  type StoredEvent,
} from '@posture/storage';
import { BIN, startPosture, type StartedPosture } from './support/posture-start.js';

const run = promisify(execFile);

describe('posture demo agent', () => {
  let posture: StartedPosture;
  let out: string;
  let waited: string;
  let events: StoredEvent[];
  let firstSession: string | undefined;
  let reenabled: { before: string; listed: boolean; result: string };
  let revoked: { before: boolean; refused: string };

  beforeAll(async () => {
    posture = await startPosture();
    ({ stdout: out } = await run('node', [BIN, 'demo', 'agent'], { cwd: posture.dir, encoding: 'utf8' }));
    const approved = await runWaitingForApproval(posture);
    waited = approved.out;
    reenabled = await reapproveShipmentTool(posture, approved.desk);
    revoked = await revokeAgentInConsole(posture);
    // Alerts are recorded in the background; the stop waits for the gateway to close.
    await new Promise((r) => setTimeout(r, 300));
    expect(await posture.stop()).toBe(0);
    const audit = await openSqliteAuditLog({ path: posture.db });
    events = await audit.read(0, await audit.size());
    await audit.close();
    firstSession = events.find((e) => e.kind === 'call')?.session;
  }, 60_000);

  afterAll(async () => {
    await posture?.cleanup();
  });

  /** The calls of the first run (one MCP session). */
  const calls = (tool: string) =>
    events.filter((e) => e.kind === 'call' && e.tool === `northwind/${tool}` && e.session === firstSession);
  const codes = (event: StoredEvent) => (event.reasons ?? []).map((reason) => reason.code);
  const alerts = (name: string) => events.filter((e) => e.kind === 'alert' && e.detail?.alert === name);

  it('tells what it does and what Posture decided, step by step, as the script expects', () => {
    for (const step of [
      '1. Reads are allowed',
      '2. A write outside the allowlist is denied',
      '3. A refund is tier 3',
      '4. A loop is stopped',
      '5. A rug pull',
      '6. Redaction',
      '7. An anomaly',
    ]) {
      expect(out).toContain(step);
    }
    expect(out).toContain('DENY  grant.access');
    expect(out).toContain('DENY  loop.repeat');
    expect(out).toContain('DENY  tool.definition_changed');
    expect(out).toMatch(/APPROVE {2}tier\.approval: pending approval [\w-]+/);
    expect(out).toContain('npx posture approvals approve');
    expect(out).toContain(`${posture.consoleUrl}/approvals/`);
    expect(out).toContain('"value": "[REDACTED:stripe_key]"');
    expect(out).not.toMatch(/expected (allow|deny|approve)/);
  });

  it('with --wait-for-approval, runs the refund once Dana approves it in the console', () => {
    expect(waited).toMatch(/issue_refund \{"order_id":"NW-5002","amount":164,"currency":"USD"\}\n\s+→ ALLOW/);
    expect(waited).toContain('get_shipment is disabled already');
    const refunds = events.filter(
      (e) => e.kind === 'call' && e.tool === 'northwind/issue_refund' && e.session !== firstSession,
    );
    expect(refunds.map((e) => e.outcome)).toEqual(['denied', 'pending', 'allowed']);
    expect(refunds[2]!.approval_id).toBe(refunds[1]!.approval_id);
    const approval = events.find((e) => e.kind === 'approval' && e.approval_id === refunds[1]!.approval_id);
    expect(approval).toMatchObject({ actor: { user: 'dana' }, outcome: 'approved' });
  });

  it('records allowed reads and the allowlisted write', () => {
    expect(calls('list_orders').map((e) => e.decision)).toEqual(['allow']);
    expect(calls('add_note')[0]).toMatchObject({ decision: 'allow', outcome: 'allowed', tier: 2 });
  });

  it('denies the write outside the allowlist and the refund over the grant’s limit', () => {
    const denied = calls('update_customer');
    expect(denied.length).toBe(9);
    expect(denied.every((e) => e.decision === 'deny' && codes(e).includes('grant.access'))).toBe(true);
    const overLimit = calls('issue_refund').find((e) => e.decision === 'deny');
    expect(codes(overLimit!)).toContain('constraint.failed');
  });

  it('queues the refund for an approver in the group the policy names', async () => {
    const pending = calls('issue_refund').find((e) => e.outcome === 'pending');
    expect(pending?.approval_id).toBeDefined();
    const queue = openSqliteApprovalQueue(posture.db);
    try {
      const request = await queue.get(pending!.approval_id!, new Date());
      expect(request).toMatchObject({
        status: 'pending',
        tool: 'northwind/issue_refund',
        agent: 'support-agent',
        user: 'sam',
        approvers: ['group:approvers'],
      });
    } finally {
      await queue.close();
    }
  });

  it('stops the loop on its fourth identical call', () => {
    const loop = calls('get_order').filter((e) => JSON.stringify(e.args) === '{"order_id":"NW-5003"}');
    expect(loop.map((e) => e.decision)).toEqual(['allow', 'allow', 'allow', 'deny']);
    expect(codes(loop[3]!)).toContain('loop.repeat');
  });

  it('redacts the credential and the personal data from results, and says what it removed', () => {
    const removed = (tool: string) =>
      (calls(tool)[0]?.detail?.result_redactions as Array<{ class: string }> | undefined)?.map(
        (r) => r.class,
      );
    expect(removed('get_config')).toContain('stripe_key');
    expect(removed('get_customer')).toEqual(expect.arrayContaining(['email', 'phone']));
  });

  it('disables the tool whose definition changed, marks it changed in the inventory, and alerts', async () => {
    expect(reenabled.before).toBe('changed'); // as the console showed it, before Dana re-approved it
    const shipment = calls('get_shipment');
    expect(shipment.map((e) => e.decision)).toEqual(['allow', 'deny']);
    expect(codes(shipment[1]!)).toContain('tool.definition_changed');
    const inventory = openSqliteInventory(posture.db);
    try {
      const versions = await inventory.history('northwind', 'get_shipment');
      expect(versions).toHaveLength(2);
      expect(versions.map((v) => v.definition.description)).toEqual(
        expect.arrayContaining([expect.stringContaining('<IMPORTANT>')]),
      );
      expect((await inventory.tool('northwind', 'get_order'))?.status).toBe('approved');
      // Its agents: the one the demo ran, recorded when its sessions opened.
      expect((await inventory.agents()).map((a) => a.name)).toEqual(['support-agent']);
    } finally {
      await inventory.close();
    }
    expect(alerts('tool.definition_changed')).toHaveLength(1);
    expect(alerts('tool.definition_changed')[0]).toMatchObject({ tool: 'northwind/get_shipment' });
  });

  it('serves the changed tool again once an admin approves its new definition in the console', () => {
    expect(reenabled.listed).toBe(true);
    expect(reenabled.result).toContain('Nordpost');
    const approvedDefinition = events.find((e) => e.detail?.change === 'tool_definition_approved');
    expect(approvedDefinition).toMatchObject({ actor: { user: 'dana' }, tool: 'northwind/get_shipment' });
  });

  it('refuses the agent’s tokens within seconds once an admin revokes them in the console', () => {
    expect(revoked.before).toBe(true);
    expect(revoked.refused).toMatch(/401|revoked/);
    const [event] = events.filter((e) => e.kind === 'revocation');
    expect(event).toMatchObject({
      actor: { user: 'erin', agent: 'support-agent' },
      detail: { subject: 'agent', id: 'support-agent', reason: 'suspected leak' },
    });
  });

  it('raises an anomaly alert on the burst of denied calls, by the policy’s thresholds', () => {
    const anomaly = alerts('anomaly.denials');
    expect(anomaly[0]).toMatchObject({
      actor: { agent: 'support-agent' },
      tool: 'northwind/update_customer',
    });
    expect(anomaly[0]!.detail).toMatchObject({ threshold: 0.6 });
  });
});

/**
 * A second run with --wait-for-approval: the refund waits while Dana, signed in to the console with
 * the password `start` printed, enrols an authenticator app and approves it; then it runs. Returns
 * that run's output.
 */
async function runWaitingForApproval(posture: StartedPosture): Promise<{ out: string; desk: Desk }> {
  // The requests pending before the run are read first: a fast agent may queue its refund while a
  // slow sign-in (scrypt, under load) is still running.
  const desk = await signIn(posture);
  const before = new Set((await desk('GET', '/api/approvals?status=pending')).approvals.map((r) => r.id));
  const agent = spawn('node', [BIN, 'demo', 'agent', '--wait-for-approval'], {
    cwd: posture.dir,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  agent.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const exited = new Promise<number | null>((r) => agent.once('close', r));
  let id: string | undefined;
  for (let i = 0; i < 250 && !id; i++) {
    await new Promise((r) => setTimeout(r, 100));
    const { approvals } = await desk('GET', '/api/approvals?status=pending');
    id = approvals.find((r) => r.tool === 'northwind/issue_refund' && !before.has(r.id))?.id;
  }
  if (!id) throw new Error(`the waiting refund was never queued: ${out}`);
  const decided = await desk('POST', `/api/approvals/${id}/decide`, {
    approve: true,
    comment: 'order NW-5002',
  });
  expect(decided.approval).toMatchObject({ status: 'approved', decided_by: 'dana' });
  const code = await exited;
  if (code !== 0) throw new Error(`the waiting run exited ${code}: ${out}`);
  return { out, desk };
}

/**
 * Dana, an admin too, approves get_shipment's new definition in the console (with step-up); the
 * running gateway serves the tool again to a new session (the token `start` printed).
 */
async function reapproveShipmentTool(posture: StartedPosture, desk: Desk) {
  const { tools } = await desk('GET', '/api/inventory');
  const tool = tools.find((t) => t.server === 'northwind' && t.name === 'get_shipment')!;
  // The next time step: the enrolment used this one, and each is accepted once.
  const code = new TOTP({ secret: Secret.fromBase32(desk.secret) }).generate({
    timestamp: Date.now() + 30_000,
  });
  await desk('POST', '/api/inventory/approve', {
    server: 'northwind',
    name: 'get_shipment',
    hash: tool.hash,
    stepUp: { method: 'totp', code },
  });
  const client = new Client({ name: 'demo-test', version: '1' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(posture.gatewayUrl), {
      requestInit: { headers: { authorization: `Bearer ${posture.token}` } },
    }),
  );
  try {
    let listed = false;
    for (let i = 0; i < 50 && !listed; i++) {
      listed = (await client.listTools()).tools.some((t) => t.name === 'northwind__get_shipment');
      if (!listed) await new Promise((r) => setTimeout(r, 200));
    }
    const result = await client.callTool({
      name: 'northwind__get_shipment',
      arguments: { order_id: 'NW-5003' },
    });
    return { before: tool.status, listed, result: JSON.stringify(result.content) };
  } finally {
    await client.close();
  }
}

/**
 * Erin, a second admin added with `posture console user add --totp` while Posture runs, revokes
 * every token of support-agent in the console; a session opened before with a token issued before
 * is refused within seconds (the gateway reads revocations every 3 s).
 */
async function revokeAgentInConsole(posture: StartedPosture) {
  const cli = async (args: string[]) =>
    (await run('node', [BIN, ...args], { cwd: posture.dir, encoding: 'utf8' })).stdout;
  const token = (
    await cli([
      'token',
      'issue',
      '--agent',
      'support-agent',
      '--user',
      'sam',
      '--audience',
      posture.gatewayUrl,
      '--policy',
      resolve('examples/demo/posture.yaml'),
    ])
  ).trim();
  const client = new Client({ name: 'revoked', version: '1' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(posture.gatewayUrl), {
      requestInit: { headers: { authorization: `Bearer ${token}` } },
    }),
  );
  const call = () => client.callTool({ name: 'northwind__list_orders', arguments: {} });
  const before = !(await call()).isError;
  const added = await cli(['console', 'user', 'add', 'erin', '--role', 'admin', '--totp']);
  const password = /password: (\S+)/.exec(added)![1]!;
  const secret = /secret=([A-Z2-7]+)/.exec(added)![1]!;
  const desk = await loginAs(posture, 'erin', password);
  await desk('POST', '/api/agents/support-agent/revoke', {
    stepUp: { method: 'totp', code: new TOTP({ secret: Secret.fromBase32(secret) }).generate() },
    reason: 'suspected leak',
  });
  let refused: string | undefined;
  for (let i = 0; i < 40 && refused === undefined; i++) {
    refused = await call().then(
      () => undefined,
      (error: unknown) => String(error),
    );
    if (refused === undefined) await new Promise((r) => setTimeout(r, 200));
  }
  await client.close().catch(() => {});
  return { before, refused: refused ?? 'still served' };
}

interface Desk {
  (
    method: string,
    path: string,
    body?: unknown,
  ): Promise<{
    approvals: Array<{ id: string; tool: string }>;
    approval: Record<string, unknown>;
    tools: Array<{ server: string; name: string; hash: string; status: string }>;
    secret: string;
  }>;
  /** The authenticator app's secret, enrolled at sign-in. */
  secret: string;
}

/** Signs the console user `start` printed in, and enrols an authenticator app (deciding needs one). */
async function signIn(posture: StartedPosture): Promise<Desk> {
  const desk = await loginAs(posture, posture.consoleUser!, posture.consolePassword!);
  const { secret } = await desk('POST', '/api/totp/enrol');
  await desk('POST', '/api/totp/confirm', {
    code: new TOTP({ secret: Secret.fromBase32(secret) }).generate(),
  });
  desk.secret = secret;
  return desk;
}

/** A console session of `user`, as the API's caller: cookie and CSRF token sent with every request. */
async function loginAs(posture: StartedPosture, user: string, password: string): Promise<Desk> {
  const base = posture.consoleUrl!;
  const login = await fetch(`${base}/api/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ user, password }),
  });
  expect(login.status).toBe(200);
  const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
  const { csrf } = (await login.json()) as { csrf: string };
  const desk = (async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${base}${path}`, {
      method,
      headers: { cookie, 'x-csrf-token': csrf, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    const json = (await response.json()) as Awaited<ReturnType<Desk>>;
    if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${JSON.stringify(json)}`);
    return json;
  }) as Desk;
  return desk;
}
