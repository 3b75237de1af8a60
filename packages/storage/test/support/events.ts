// Test events: realistic redacted call events (~300 bytes of JSON) whose fields rotate with their
// number, so every search filter has matches and any event can be rebuilt from its number alone.
import type { AuditEvent } from '../../src/ports.js';

const AGENTS = ['support-bot', 'ops-bot', 'billing-bot'];
const USERS = ['alice', 'bob'];
const TOOLS = ['tickets/get_ticket', 'tickets/add_comment', 'payments/refund', 'files/read'];
const DECISIONS = ['allow', 'deny', 'approve'] as const;
const OUTCOMES = ['allowed', 'denied', 'pending'] as const;

/** A realistic redacted call event; field values rotate with `i` so every filter has matches. */
export function sampleEvent(i: number, overrides: Partial<AuditEvent> = {}): AuditEvent {
  const decision = DECISIONS[i % 3]!;
  return {
    time: new Date(Date.UTC(2025, 5, 2, 9, 0, 0) + i * 1000).toISOString(),
    kind: i % 10 === 9 ? 'alert' : 'call',
    actor: { user: USERS[i % 2]!, agent: AGENTS[i % 3]!, tool_identity: 'svc-posture' },
    session: `s-${Math.floor(i / 5)}`,
    tool: TOOLS[i % 4]!,
    access: i % 4 === 2 ? 'write' : 'read',
    tier: i % 4 === 2 ? 3 : 1,
    args: { id: `T-${1000 + i}`, note: '[redacted:pii]', n: i },
    args_hash: `${i.toString(16).padStart(8, '0')}${'ab'.repeat(28)}`,
    decision,
    rules: [`grant:${i % 3}`],
    reasons: [{ code: decision === 'deny' ? 'grant.none' : 'grant.match', message: 'as the policy says' }],
    outcome: OUTCOMES[i % 3]!,
    latency_ms: i % 50,
    redactions: [{ class: 'pii', path: '/note', count: 1 }],
    ...overrides,
  };
}
