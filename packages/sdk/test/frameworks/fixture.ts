// One policy and one set of stores for the framework adapter tests: a read that runs, a refund the
// policy bounds (over 500 is denied) and sends to approval (tier 3), a tool that fails, one that
// outlasts the timeout, and a comment whose secrets are redacted on the way in.
import { compile, loadPolicy } from '@posture/core';
import { createMemoryApprovalQueue, createMemoryAuditLog } from '@posture/storage';
import { createEnforcer } from '../../src/index.js';

export const POLICY = `
version: 1
users:
  alice: { groups: [support] }
  bob: { groups: [approvers] }
agents:
  support-bot:
    owner: alice
    run_by: [group:support]
    grants:
      - tools: [crm/*]
        access: read
      - tools: [payments/refund]
        access: write
        when: { amount: { maximum: 500 } }
      - tools: [tickets/add_comment]
        access: write
servers:
  crm:
    tools:
      get_customer: { tier: 1, access: read, irreversible: false }
      flaky_lookup: { tier: 1, access: read, irreversible: false }
      slow_lookup: { tier: 1, access: read, irreversible: false }
  tickets:
    tools:
      add_comment: { tier: 2, access: write, irreversible: false }
  payments:
    tools:
      refund: { tier: 3, access: write, irreversible: true }
tiers:
  3: { approval: { approvers: [group:approvers], expires: 15m } }
limits:
  default: { timeout: 100ms }
data:
  rules:
    - tools: [tickets/add_comment]
      direction: in
      block: [secrets]
      action: redact
`;

/** A secret in a comment: the data rule redacts it before the tool sees the arguments. */
export const AWS_KEY = 'AKIAZ7Q3MEXR4NXW2BTA';
export const REDACTED = 'key [REDACTED:aws_access_key]';

export const IDENTITY = { agent: 'support-bot', user: 'alice', session: 'session-1' };

/** `failingAudit`: an audit log that refuses every write (the disk is full, say). */
export function setup(options: { failingAudit?: boolean } = {}) {
  const loaded = loadPolicy(POLICY, 'posture.yaml');
  if (!loaded.policy) throw new Error(loaded.problems.map((p) => p.message).join('\n'));
  const audit = createMemoryAuditLog();
  if (options.failingAudit) audit.append = async () => Promise.reject(new Error('disk full'));
  const approvals = createMemoryApprovalQueue();
  let now = Date.parse('2026-12-01T10:00:00Z');
  const enforcer = createEnforcer({ policy: compile(loaded.policy), audit, approvals, clock: () => now });
  return {
    enforcer,
    approvals,
    /** Every audit event so far, as `[tool, decision, outcome]`. */
    events: async () =>
      (await audit.read(0, await audit.size())).map((event) => [event.tool, event.decision, event.outcome]),
    /** Bob approves the request `id`. */
    approve: async (id: string) => {
      now += 1000;
      const decided = await approvals.decide(
        id,
        { approve: true, by: 'bob', byGroups: ['approvers'] },
        new Date(now),
      );
      if (!decided.ok) throw new Error(`approval failed: ${decided.message}`);
    },
    /** The ids of the requests waiting for a decision. */
    pendingIds: async () =>
      (await approvals.list({ status: 'pending' }, new Date(now))).map((request) => request.id),
  };
}

/** The approval id a refusal text names. */
export function approvalIdIn(text: string): string {
  const id = /waits for approval `([^`]+)`/.exec(text)?.[1];
  if (!id) throw new Error(`no approval id in: ${text}`);
  return id;
}
