// Two enforcers — two gateway replicas, say — sharing limits through Redis: a rate limit of N
// admits exactly N calls across both, and loop detection sees the calls of both. Needs a server
// (REDIS_URL, default the local one); without one the suite is skipped with the reason printed,
// except in CI, where it fails.
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compile, loadPolicy } from '@posture/core';
import {
  createMemoryApprovalQueue,
  createMemoryAuditLog,
  openRedisCounters,
  type Counters,
} from '@posture/storage';
import { createEnforcer, type Enforcer } from '../src/index.js';
import { REDIS_URL, redis } from '../../storage/test/support/services.js';

const { problem, skip } = await redis('shared-limits');

const POLICY = `
version: 1
users:
  alice: { groups: [staff] }
agents:
  bot:
    owner: alice
    run_by: [group:staff]
    grants:
      - tools: [crm/*]
    limits: { rate: 5/m, loop: { repeats: 3, within: 1m } }
servers:
  crm:
    tools:
      lookup: { tier: 1, access: read }
`;

describe.skipIf(skip)('limits shared through Redis', () => {
  const prefix = `posture-test-${randomBytes(6).toString('hex')}:`;
  const opened: Counters[] = [];
  let admin: Redis;

  beforeAll(() => {
    if (problem !== undefined) throw new Error(`cannot reach Redis at ${REDIS_URL}: ${problem}`);
    admin = new Redis(REDIS_URL);
  });

  afterAll(async () => {
    for (const counters of opened) await counters.close();
    const keys = await admin.keys(`${prefix}*`);
    if (keys.length > 0) await admin.del(...keys);
    admin.disconnect();
  });

  async function replicas(tag: string): Promise<Enforcer[]> {
    const policy = compile(loadPolicy(POLICY, 'posture.yaml').policy!);
    const now = Date.parse('2026-12-01T10:00:00Z');
    return Promise.all(
      [1, 2].map(async () => {
        const counters = await openRedisCounters({ url: REDIS_URL, prefix: `${prefix}${tag}:` });
        opened.push(counters);
        return createEnforcer({
          policy,
          counters,
          audit: createMemoryAuditLog(),
          approvals: createMemoryApprovalQueue(),
          clock: () => now,
        });
      }),
    );
  }

  it('admits exactly the rate limit across two replicas calling at once', async () => {
    const [a, b] = await replicas('rate');
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        (i % 2 === 0 ? a! : b!).call(
          { agent: 'bot', user: 'alice', session: `s-${i}`, tool: 'crm/lookup', args: { id: i } },
          async () => ({ ok: true }),
        ),
      ),
    );
    const allowed = results.filter((r) => r.status === 'ok').length;
    expect(allowed).toBe(5);
    const denied = results.filter((r) => r.status === 'denied');
    expect(denied.every((r) => r.status === 'denied' && r.decision.reasons[0]!.code === 'limit.rate')).toBe(
      true,
    );
  });

  it('sees a loop that alternates between the replicas', async () => {
    const [a, b] = await replicas('loop');
    const codes: string[] = [];
    for (let i = 0; i < 4; i++) {
      const result = await (i % 2 === 0 ? a! : b!).call(
        { agent: 'bot', user: 'alice', session: 'one-session', tool: 'crm/lookup', args: { id: 'same' } },
        async () => ({ ok: true }),
      );
      codes.push(
        result.status === 'ok'
          ? 'ok'
          : result.status === 'denied'
            ? result.decision.reasons[0]!.code
            : result.status,
      );
    }
    expect(codes).toEqual(['ok', 'ok', 'ok', 'loop.repeat']);
  });
});
