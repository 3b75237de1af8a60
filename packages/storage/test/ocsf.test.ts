import { describe, expect, it } from 'vitest';
import { toOcsf } from '../src/export/ocsf.js';
import type { StoredEvent } from '../src/ports.js';

const base: StoredEvent = {
  seq: 41,
  time: '2026-01-05T09:00:00.000Z',
  kind: 'call',
  actor: { user: 'alice', agent: 'support-bot', tool_identity: 'svc-payments' },
  session: 's1',
  tool: 'payments/refund',
  access: 'write',
  tier: 3,
  args: { amount: 50, card: '[REDACTED:payment_card]' },
  args_hash: 'ab'.repeat(32),
  decision: 'allow',
  rules: ['agents.support-bot.grants[2]'],
  reasons: [{ code: 'grant.allow', message: 'granted' }],
  outcome: 'allowed',
  latency_ms: 12,
};

describe('OCSF API Activity export', () => {
  it('maps an allowed write call', () => {
    const record = toOcsf(base);
    expect(record).toMatchObject({
      class_uid: 6003,
      category_uid: 6,
      activity_id: 3,
      type_uid: 600303,
      time: Date.parse(base.time),
      action_id: 1,
      disposition_id: 1,
      status_id: 1,
      risk_level_id: 3,
      actor: {
        user: { name: 'alice' },
        app_name: 'support-bot',
        session: { uid: 's1' },
        authorizations: [{ decision: 'allow', policy: { uid: 'agents.support-bot.grants[2]' } }],
      },
      api: { operation: 'refund', service: { name: 'payments' }, request: { uid: '41' } },
      metadata: { profiles: ['security_control'], uid: '41' },
    });
    expect((record.unmapped as { posture: { tool_identity: string } }).posture.tool_identity).toBe(
      'svc-payments',
    );
  });

  it.each([
    [{ decision: 'deny', outcome: 'denied' }, 2, 2, 2],
    [{ decision: 'approve', outcome: 'pending' }, 2, 14, 0],
    [{ decision: 'confirm', outcome: 'pending' }, 2, 23, 0],
    [{ decision: 'allow', outcome: 'allowed', approval_id: 'ap-1' }, 1, 8, 1],
    [{ decision: 'allow', outcome: 'timed_out' }, 1, 1, 2],
    // Whether an interrupted call completed is unknown.
    [{ decision: 'allow', outcome: 'interrupted' }, 1, 1, 0],
  ] as const)('maps %j to action %i, disposition %i, status %i', (change, action, disposition, status) => {
    const record = toOcsf({ ...base, ...change } as StoredEvent);
    expect(record).toMatchObject({ action_id: action, disposition_id: disposition, status_id: status });
  });

  it('maps reads and admin calls to their activities', () => {
    expect(toOcsf({ ...base, access: 'read' })).toMatchObject({ activity_id: 2, type_uid: 600302 });
    expect(toOcsf({ ...base, access: 'admin' })).toMatchObject({ activity_id: 99, type_uid: 600399 });
  });
});
