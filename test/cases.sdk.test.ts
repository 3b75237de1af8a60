// The decision corpus through the SDK's enforcer, with real memory stores: the same cases, the same
// expectations as through the core. What the core takes as request flags the enforcer gets the
// way an application gives them: `approval` is an approved request in the queue bound to the call,
// `confirmed` is the user's answer when the enforcer asks.
import { beforeAll, describe, expect, it } from 'vitest';
import type { Decision } from '@posture/core';
import { argsHash, createEnforcer, type Enforcer } from '@posture/sdk';
import {
  createMemoryApprovalQueue,
  createMemoryCounters,
  createMemoryAuditLog,
  type ApprovalQueue,
  type AuditLog,
} from '@posture/storage';
import { boundOf, compare, loadCompiled, preApprove } from './cases/compare.js';
import { loadCases, type Case } from './cases/load.js';

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
      return asked && result.decision.reasons.at(-1)?.code === 'confirm.declined' ? asked : result.decision;
    default:
      throw new Error(`the enforcer did not decide: ${JSON.stringify(result)}`);
  }
}

// Each file twice: on the enforcer's own memory state, and on the Counters port (what several
// gateway replicas share), which runs every decision in a transaction over the records it names.
const MODES = [
  { name: 'sdk', counters: () => undefined },
  { name: 'sdk + counters', counters: () => createMemoryCounters() },
];

for (const mode of MODES)
  for (const file of loadCases()) {
    describe(`${mode.name}: ${file.name}`, () => {
      let enforcer: Enforcer;
      let approvals: ApprovalQueue;
      let audit: AuditLog;
      let now = 0;

      beforeAll(() => {
        approvals = createMemoryApprovalQueue();
        audit = createMemoryAuditLog();
        const counters = mode.counters();
        enforcer = createEnforcer({
          policy: loadCompiled(file),
          audit,
          approvals,
          clock: () => now,
          ...(counters ? { counters } : {}),
        });
      });

      file.requests.forEach((c, index) => {
        it(`#${index} ${c.name}`, async () => {
          now = c.at;
          if (c.request.approval && c.request.user) {
            await preApprove(approvals, { ...boundOf(c), session: sessionOf(c) }, c.at);
          }
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
