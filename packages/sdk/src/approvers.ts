import type { CompiledPolicy } from '@posture/core';

/**
 * Who approves a call that needs only the user's confirmation when nobody can be asked in-band:
 * the approvers of the highest tier that has any, else the agent's owner. Never the acting user
 * alone: nobody approves their own call.
 */
export function defaultApprovers(policy: CompiledPolicy, agent: string): string[] {
  for (const tier of ['3', '2', '1'] as const) {
    const approvers = policy.policy.tiers[tier]?.approval?.approvers;
    if (approvers && approvers.length > 0) return [...approvers];
  }
  const owner = policy.policy.agents[agent]?.owner;
  return owner ? [owner] : [];
}
