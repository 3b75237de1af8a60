// `posture approvals`: against a real SQLite store in a temporary folder, with the policy given
// through the fake Io, as an approver would use it.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import {
  openSqliteApprovalQueue,
  openSqliteAuditLog,
  type ApprovalRequest,
  type NewApproval,
} from '@posture/storage';
import { main } from '../src/main.js';
import { fakeIo } from './fake-io.js';

const POLICY = `version: 1
users:
  alice: { groups: [support] }
  bob: { groups: [sre, approvers] }
  carol: { groups: [finance] }
  dana: { groups: [] }
groups:
  finance: { members: ['group:approvers'] }
  approvers: { members: [carol] }
agents:
  support-bot:
    owner: alice
    run_by: ['group:support']
    grants:
      - tools: [payments/refund]
        access: write
        when: { amount: { maximum: 500 } }
servers:
  payments:
    url: http://127.0.0.1:9000/mcp
    tools:
      refund: { tier: 3, access: write, input_schema: { type: object, properties: { amount: {} } } }
tiers:
  3: { approval: { approvers: ['group:approvers'], step_up: true, expires: 15m } }
`;

const folder = mkdtempSync(join(tmpdir(), 'posture-cli-approvals-'));
let db: string;
let stores = 0;

afterAll(() => rmSync(folder, { recursive: true, force: true }));

beforeEach(() => {
  db = join(folder, `posture-${stores++}.db`);
});

async function run(argv: string[], files: Record<string, string> = { 'posture.yaml': POLICY }) {
  const io = fakeIo('', files);
  const code = await main(argv, io);
  return { code, out: io.out, err: io.err };
}

function newApproval(overrides: Partial<NewApproval> = {}): NewApproval {
  return {
    agent: 'support-bot',
    user: 'alice',
    tool: 'payments/refund',
    args_hash: 'c'.repeat(64),
    session: 'session-1',
    args: { amount: 120, currency: 'EUR', note: 'refund\u200b now \u202eevil', path: 'C:\\tmp' },
    target: 'http://127.0.0.1:9000/mcp',
    approvers: ['group:approvers'],
    step_up: false,
    reasons: [{ code: 'tier.approval', message: 'tier 3 needs approval' }],
    rules: ['tiers.3.approval'],
    expires_at: new Date(Date.now() + 15 * 60_000).toISOString(),
    ...overrides,
  };
}

/** Queues requests in the test's store, as the gateway would; `now` defaults to the real time. */
async function queueRequests(...inputs: Array<[NewApproval, Date?]>): Promise<ApprovalRequest[]> {
  const queue = openSqliteApprovalQueue(db);
  try {
    const requests: ApprovalRequest[] = [];
    for (const [input, now] of inputs) requests.push(await queue.request(input, now ?? new Date()));
    return requests;
  } finally {
    await queue.close();
  }
}

async function stored(id: string): Promise<ApprovalRequest | undefined> {
  const queue = openSqliteApprovalQueue(db, { create: false });
  try {
    return await queue.get(id, new Date());
  } finally {
    await queue.close();
  }
}

describe('posture approvals list', () => {
  it('says so when nothing is queued', async () => {
    await queueRequests();
    expect(await run(['approvals', 'list', '--db', db])).toMatchObject({
      code: 0,
      out: 'no approval requests\n',
    });
  });

  it('lists requests newest first, one line each, and filters by status', async () => {
    const [older, newer] = await queueRequests(
      [newApproval(), new Date(Date.now() - 60_000)],
      [newApproval({ session: 'session-2' })],
    );
    const all = await run(['approvals', 'list', '--db', db]);
    expect(all.code).toBe(0);
    const lines = all.out.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(
      new RegExp(`^${newer!.id}  pending   payments/refund  agent support-bot  user alice`),
    );
    expect(lines[1]).toContain(older!.id);

    await run(['approvals', 'deny', older!.id, '--as', 'bob', '--db', db]);
    const pending = await run(['approvals', 'list', '--status', 'pending', '--db', db]);
    expect(pending.out.trim().split('\n')).toEqual([expect.stringContaining(newer!.id)]);
    const denied = await run(['approvals', 'list', '--status', 'denied', '--json', '--db', db]);
    expect((JSON.parse(denied.out) as ApprovalRequest[]).map((r) => r.id)).toEqual([older!.id]);
  });

  it('refuses an unknown status as bad usage', async () => {
    await queueRequests();
    const result = await run(['approvals', 'list', '--status', 'waiting', '--db', db]);
    expect(result.code).toBe(2);
    expect(result.err).toContain(
      'unknown status `waiting`; expected one of pending, approved, denied, expired',
    );
  });

  it('does not create a store that is not there', async () => {
    const missing = join(folder, 'nowhere', 'posture.db');
    const result = await run(['approvals', 'list', '--db', missing]);
    expect(result.code).toBe(2);
    expect(result.err).toContain(`no approvals store at \`${missing}\``);
  });
});

describe('posture approvals show', () => {
  it('shows the real tool, target and arguments, with invisible characters spelled out', async () => {
    const [request] = await queueRequests([newApproval()]);
    const { code, out } = await run(['approvals', 'show', request!.id, '--db', db]);
    expect(code).toBe(0);
    expect(out).toContain(`approval request ${request!.id}\n`);
    expect(out).toMatch(/ {2}tool {8}payments\/refund\n/);
    expect(out).toMatch(/ {2}target {6}http:\/\/127\.0\.0\.1:9000\/mcp\n/);
    expect(out).toContain('"amount": 120');
    expect(out).toContain('"note": "refund\\u{200b} now \\u{202e}evil"');
    expect(out).toContain('"path": "C:\\\\tmp"');
    expect(out).not.toMatch(/[\u200b\u202e]/);
    expect(out).toContain('approvers   group:approvers');
    expect(out).toContain(
      'warning: the call contains invisible or control characters, shown as \\u{…}: U+200B, U+202E',
    );
  });

  it('escapes the other fields too, and prints JSON on request', async () => {
    const [request] = await queueRequests([newApproval({ session: 'tab\there', args: { plain: true } })]);
    const text = await run(['approvals', 'show', request!.id, '--db', db]);
    expect(text.out).toContain('session     tab\\u{9}here');
    const json = await run(['approvals', 'show', request!.id, '--json', '--db', db]);
    expect(JSON.parse(json.out)).toMatchObject({
      id: request!.id,
      session: 'tab\there',
      args: { plain: true },
    });
  });

  it('fails for an unknown id', async () => {
    await queueRequests();
    const result = await run(['approvals', 'show', 'nope', '--db', db]);
    expect(result).toMatchObject({ code: 1, err: 'posture: no approval request `nope`\n' });
  });
});

describe('posture approvals approve and deny', () => {
  it('approves once as an approver through a group, recording step-up and comment', async () => {
    const [request] = await queueRequests([newApproval({ step_up: true })]);
    const approved = await run([
      'approvals',
      'approve',
      request!.id,
      '--as',
      'bob',
      '--step-up',
      'webauthn',
      '--comment',
      'known customer',
      '--db',
      db,
    ]);
    expect(approved).toMatchObject({ code: 0, err: '' });
    expect(approved.out).toBe(
      `approved \`${request!.id}\` as \`bob\`: payments/refund for agent \`support-bot\`, user \`alice\`\n`,
    );
    const after = await stored(request!.id);
    expect(after).toMatchObject({ status: 'approved', decided_by: 'bob', comment: 'known customer' });
    expect(after?.step_up_proof?.method).toBe('webauthn');

    // The decision is evidence too: one approval event in the store's audit log.
    const log = await openSqliteAuditLog({ path: db });
    const events = await log.read(0, await log.size());
    await log.close();
    expect(events).toMatchObject([
      {
        kind: 'approval',
        actor: { user: 'bob', agent: 'support-bot' },
        tool: 'payments/refund',
        approval_id: request!.id,
        outcome: 'approved',
        detail: { requested_by: 'alice', step_up: { method: 'webauthn' }, comment: 'known customer' },
      },
    ]);

    // carol is an approver through nested groups (approvers ⊂ finance), but it is decided already.
    const again = await run(['approvals', 'deny', request!.id, '--as', 'carol', '--db', db]);
    expect(again.code).toBe(1);
    expect(again.err).toMatch(
      /^posture: refused \(not_pending\): approval request `.*` is already `approved`\n$/,
    );
  });

  it('needs --step-up for a step-up request', async () => {
    const [request] = await queueRequests([newApproval({ step_up: true })]);
    const result = await run(['approvals', 'approve', request!.id, '--as', 'bob', '--db', db]);
    expect(result.code).toBe(1);
    expect(result.err).toContain('refused (step_up_required)');
    expect((await stored(request!.id))?.status).toBe('pending');
  });

  it('denies with a comment, resolving groups from the policy', async () => {
    const [request] = await queueRequests([newApproval()]);
    const result = await run([
      'approvals',
      'deny',
      request!.id,
      '--as',
      'carol',
      '--comment',
      'not this one',
      '--db',
      db,
    ]);
    expect(result.code).toBe(0);
    expect(result.out).toMatch(/^denied `/);
    expect(await stored(request!.id)).toMatchObject({
      status: 'denied',
      decided_by: 'carol',
      comment: 'not this one',
    });
  });

  it('refuses the requesting user, any agent identity and anyone not an approver', async () => {
    const [request] = await queueRequests([newApproval({ approvers: ['group:approvers', 'alice'] })]);
    const cases: Array<[string, string]> = [
      ['alice', 'refused (self_approval): `alice` requested'],
      ['support-bot', 'refused (self_approval): `support-bot` is an agent identity'],
      ['agent:anything', 'refused (self_approval): `agent:anything` is an agent identity'],
      ['dana', 'refused (not_approver): `dana` is not among the approvers'],
      ['mallory', 'refused (not_approver): `mallory` is not among the approvers'],
    ];
    for (const [user, message] of cases) {
      const result = await run(['approvals', 'approve', request!.id, '--as', user, '--db', db]);
      expect(result.code, user).toBe(1);
      expect(result.err).toContain(message);
    }
    expect((await stored(request!.id))?.status).toBe('pending');
  });

  it('refuses an expired request', async () => {
    const past = new Date(Date.now() - 60 * 60_000);
    const [request] = await queueRequests([
      newApproval({ expires_at: new Date(past.getTime() + 15 * 60_000).toISOString() }),
      past,
    ]);
    const result = await run(['approvals', 'approve', request!.id, '--as', 'bob', '--db', db]);
    expect(result.code).toBe(1);
    expect(result.err).toContain('refused (expired)');
    expect((await stored(request!.id))?.status).toBe('expired');
  });

  it('treats a missing --as, a missing policy and an unknown id as such', async () => {
    const [request] = await queueRequests([newApproval()]);
    const noUser = await run(['approvals', 'approve', request!.id, '--db', db]);
    expect(noUser.code).toBe(2);
    expect(noUser.err).toContain("required option '--as <user>' not specified");
    const noPolicy = await run(['approvals', 'approve', request!.id, '--as', 'bob', '--db', db], {});
    expect(noPolicy.code).toBe(2);
    expect(noPolicy.err).toContain('cannot read policy `posture.yaml`');
    const unknown = await run(['approvals', 'deny', 'nope', '--as', 'bob', '--db', db]);
    expect(unknown.code).toBe(1);
    expect(unknown.err).toContain('refused (not_found): no approval request `nope`');
  });
});
