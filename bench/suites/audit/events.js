// Realistic audit events for the audit suite: redacted tool-call events of about 300 bytes of
// JSON as stored (seq included), with fields drawn from a seeded PRNG so every run writes the same.
import { prng } from '../../lib.js';

const AGENTS = ['support-bot', 'ops-bot', 'billing-bot', 'research-agent', 'deploy-bot'];
const USERS = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank'];
const TOOLS = [
  ['tickets/get_ticket', 'read', 1],
  ['tickets/add_comment', 'write', 2],
  ['payments/refund', 'write', 3],
  ['files/read', 'read', 1],
  ['crm/search', 'read', 1],
  ['deploy/rollout', 'admin', 3],
];
// verdict, outcome, reason code and message, with how often each happens
const VERDICTS = {
  allowed: [0.7, 'allow', 'allowed', 'grant.match', 'granted'],
  failed: [0.05, 'allow', 'failed', 'grant.match', 'granted'],
  denied: [0.15, 'deny', 'denied', 'grant.none', 'no grant'],
  pending: [0.1, 'approve', 'pending', 'tier.approval', 'tier 3'],
};
const WEIGHTS = Object.fromEntries(Object.entries(VERDICTS).map(([name, [weight]]) => [name, weight]));

/** `count` distinct events; the suites cycle through them. */
export function makeEvents(count, seed = 6003) {
  const random = prng(seed);
  const start = Date.UTC(2025, 5, 2, 9, 0, 0);
  return Array.from({ length: count }, (_, i) => {
    const [tool, access, tier] = random.pick(TOOLS);
    const [, decision, outcome, code, message] = VERDICTS[random.weighted(WEIGHTS)];
    const agent = random.pick(AGENTS);
    return {
      time: new Date(start + i * 7).toISOString(),
      kind: 'call',
      actor: { agent, user: random.pick(USERS) },
      session: `s${random.int(1, 5000)}`,
      tool,
      access,
      tier,
      args: { id: `T-${random.int(1000, 99999)}` },
      args_hash: Array.from({ length: 8 }, () =>
        random.int(0, 0xffffffff).toString(16).padStart(8, '0'),
      ).join(''),
      decision,
      rules: [`grants[${random.int(0, 4)}]`],
      reasons: [{ code, message }],
      outcome,
      latency_ms: random.int(1, 400),
    };
  });
}
