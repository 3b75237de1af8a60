// What every SDK example shares: this folder's policy, in-memory evidence and approvals, and the
// approver (bob) deciding. A real agent opens SQLite or PostgreSQL stores instead.
import { readFileSync } from 'node:fs';
import { compile, loadPolicy } from '@posture/core';
import { createMemoryApprovalQueue, createMemoryAuditLog } from '@posture/storage';
import { createEnforcer } from '@posture/sdk';

export const IDENTITY = { agent: 'support-bot', user: 'alice', session: 'example-session' };

export function setup() {
  const file = new URL('./posture.yaml', import.meta.url);
  const loaded = loadPolicy(readFileSync(file, 'utf8'), 'examples/sdk/posture.yaml');
  if (!loaded.policy) throw new Error(loaded.problems.map((problem) => problem.message).join('\n'));
  const audit = createMemoryAuditLog();
  const approvals = createMemoryApprovalQueue();
  const enforcer = createEnforcer({ policy: compile(loaded.policy), audit, approvals });
  return {
    enforcer,
    /** Bob approves the request the refusal text names. */
    async approveFrom(text) {
      const id = /waits for approval `([^`]+)`/.exec(text)?.[1];
      if (!id) throw new Error(`no approval id in: ${text}`);
      const decided = await approvals.decide(id, { approve: true, by: 'bob', byGroups: ['approvers'] }, new Date());
      if (!decided.ok) throw new Error(decided.message);
      console.log(`bob approved ${id}`);
    },
    /** One line per audit event: tool, decision, outcome. */
    async printEvidence() {
      for (const event of await audit.read(0, await audit.size())) {
        console.log(`audit: ${event.tool} ${event.decision} ${event.outcome}`);
      }
    },
  };
}
