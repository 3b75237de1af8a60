// The decision corpus through the SDK's enforcer, with real memory stores: the same cases, the same
// expectations as through the core. What the core takes as request flags the enforcer gets the
// way an application gives them: `approval` is an approved request in the queue bound to the call,
// `confirmed` is the user's answer when the enforcer asks.
import { beforeAll, describe, expect, it } from 'vitest';
import type { Decision } from '@posture/core';
import { argsHash, createEnforcer, type Enforcer } from '@posture/sdk';
import {
  createMemoryApprovalQueue,
  createMemoryAuditLog,
  type ApprovalQueue,
  type AuditLog,
} from '@posture/storage';
import { compare, loadCompiled } from './cases/compare.js';
import { loadCases, type Case } from './cases/load.js';

const APPROVER = 'corpus-approver';

/** Approves, in the queue, the exact call a case marks as approved. */
async function preApprove(queue: ApprovalQueue, c: Case, at: number): Promise<void> {
  const r = c.request;
  const call = {
    agent: r.agent,
    user: r.user ?? '',
    tool: r.tool,
    args_hash: argsHash(r.args ?? {}),
    session: sessionOf(c),
  };
  if (call.user === '') return; // no user, no call to bind: the enforcer denies before approvals
  const request = await queue.request(
    {
      ...call,
      approvers: [APPROVER],
      step_up: false,
      reasons: [],
      rules: [],
      expires_at: new Date(at + 3_600_000).toISOString(),
    },
    new Date(at),
  );
  // The queue may hand back a request the enforcer queued earlier for the same call: decide it as
  // one of its own approvers, never the requesting user.
  const groups = request.approvers.filter((a) => a.startsWith('group:')).map((a) => a.slice(6));
  const by = groups.length > 0 ? APPROVER : (request.approvers.find((a) => a !== call.user) ?? APPROVER);
  const stepUp = { method: 'corpus', at: new Date(at).toISOString() };
  const decided = await queue.decide(
    request.id,
    { approve: true, by, byGroups: groups, stepUp },
    new Date(at),
  );
  if (!decided.ok && decided.code !== 'not_pending')
    throw new Error(`could not pre-approve: ${decided.message}`);
}

/** The core's default when a request names no session: one per agent and user. */
function sessionOf(c: Case): string {
  return c.request.session ?? `${c.request.agent}\u0000${c.request.user ?? ''}`;
}

/** Runs one case through the enforcer and returns the decision it came to, as a core verdict. */
async function run(enforcer: Enforcer, c: Case): Promise<Decision> {
  const r = c.request;
  let asked: Decision | undefined;
  const result = await enforcer.call(
    {
      agent: r.agent,
      user: r.user as string,
      session: sessionOf(c),
      tool: r.tool,
      args: (r.args ?? {}) as Record<string, unknown>,
      ...(r.labels ? { labels: r.labels } : {}),
    },
    async () => ({ ok: true }),
    {
      confirm: async (_call, decision) => {
        asked = decision;
        return r.confirmed ? 'accept' : 'decline';
      },
    },
  );
  switch (result.status) {
    case 'ok':
    case 'pending':
      return result.decision;
    case 'denied':
      // Declined when asked: the core's verdict was `confirm`.
      return asked && result.decision.reasons[0]?.code === 'confirm.declined' ? asked : result.decision;
    default:
      throw new Error(`the enforcer did not decide: ${JSON.stringify(result)}`);
  }
}

for (const file of loadCases()) {
  describe(`sdk: ${file.name}`, () => {
    let enforcer: Enforcer;
    let approvals: ApprovalQueue;
    let audit: AuditLog;
    let now = 0;

    beforeAll(() => {
      approvals = createMemoryApprovalQueue();
      audit = createMemoryAuditLog();
      enforcer = createEnforcer({ policy: loadCompiled(file), audit, approvals, clock: () => now });
    });

    file.requests.forEach((c, index) => {
      it(`#${index} ${c.name}`, async () => {
        now = c.at;
        if (c.request.approval) await preApprove(approvals, c, c.at);
        const before = await audit.size();
        const decision = await run(enforcer, c);
        const { actual, wanted } = compare(decision, c.expect);
        expect(
          actual,
          `${file.name} requests[${index}] ${c.name}\ndecision: ${JSON.stringify(decision)}`,
        ).toEqual(wanted);
        // Every call leaves exactly one event, bound to the call's arguments.
        const events = await audit.read(before, await audit.size());
        expect(events).toHaveLength(1);
        expect(events[0]!.args_hash).toBe(argsHash((c.request.args ?? {}) as Record<string, unknown>));
      });
    });
  });
}
