import fc from 'fast-check';
import { stringify } from 'yaml';
import { describe, expect, it } from 'vitest';
import {
  compile,
  createMemoryState,
  decide,
  loadPolicy,
  type DecisionRequest,
  type PolicyFile,
} from '../src/index.js';

// Random policies over a fixed catalog, checked for the properties that make a policy engine
// trustworthy. Stateless policies (no limits, no flows) so that one call cannot affect another.
const TOOLS = {
  s1: {
    read_a: { tier: 1, access: 'read' },
    write_b: { tier: 2, access: 'write', input_schema: { type: 'object', properties: { amount: {} } } },
    admin_c: { tier: 3, access: 'admin', input_schema: { type: 'object', properties: { amount: {} } } },
  },
  s2: {
    read_a: { tier: 1, access: 'read' },
    delete_d: { tier: 3, access: 'write', irreversible: true },
  },
} as const;
const TOOL_KEYS = Object.entries(TOOLS).flatMap(([server, tools]) =>
  Object.keys(tools).map((t) => `${server}/${t}`),
);
const TOOL_ACCESS = new Map(
  Object.entries(TOOLS).flatMap(([server, tools]) =>
    Object.entries(tools).map(([name, tool]) => [`${server}/${name}`, tool.access as string]),
  ),
);
const RANK: Record<string, number> = { read: 0, write: 1, admin: 2 };
const GLOBS = [
  's1/*',
  's2/*',
  '*/read_*',
  's1/write_b',
  '*/*',
  's1/admin_c',
  's2/delete_?',
  '*/write_b',
  'nope/*',
];

const grantArb = fc.record(
  {
    tools: fc.uniqueArray(fc.constantFrom(...GLOBS), { minLength: 1, maxLength: 3 }),
    access: fc.constantFrom('read', 'write', 'admin'),
    effect: fc.constantFrom('allow', 'allow', 'allow', 'deny'),
    when: fc.option(fc.record({ amount: fc.record({ maximum: fc.integer({ min: 0, max: 100 }) }) }), {
      nil: undefined,
    }),
  },
  { requiredKeys: ['tools', 'access', 'effect'] },
);

const policyArb = fc
  .record({
    grants: fc.dictionary(fc.constantFrom('a1', 'a2'), fc.array(grantArb, { maxLength: 5 }), { minKeys: 1 }),
    tier3: fc.constantFrom('none', 'approval', 'confirm'),
  })
  .map(({ grants, tier3 }) => {
    const policy: Record<string, unknown> = {
      version: 1,
      users: { u1: { groups: ['g'] }, u2: {} },
      agents: Object.fromEntries(
        Object.entries(grants).map(([agent, list]) => [
          agent,
          { owner: 'u1', run_by: ['group:g'], grants: list },
        ]),
      ),
      servers: Object.fromEntries(Object.entries(TOOLS).map(([s, tools]) => [s, { command: ['x'], tools }])),
    };
    if (tier3 === 'approval') policy.tiers = { 3: { approval: { approvers: ['u2'] } } };
    if (tier3 === 'confirm') policy.tiers = { 3: { confirm: true } };
    return policy;
  });

const requestArb = fc.record({
  agent: fc.constantFrom('a1', 'a2', 'a3'),
  user: fc.constantFrom('u1', 'u2', 'u3'),
  tool: fc.constantFrom(...TOOL_KEYS, 's1/missing'),
  args: fc.option(fc.record({ amount: fc.integer({ min: -10, max: 200 }) }), { nil: undefined }),
});

function load(policy: Record<string, unknown>): PolicyFile {
  const result = loadPolicy(stringify(policy), 'random.yaml');
  if (!result.policy) throw new Error(JSON.stringify(result.problems));
  return result.policy;
}

function decideAll(policy: PolicyFile, requests: DecisionRequest[]) {
  const compiled = compile(policy);
  return requests.map((r) => decide(r, compiled, createMemoryState(), { now: 0 }));
}

const runs = { numRuns: 200 };

describe('decision properties', () => {
  it('no write is ever let through without a write grant covering it', () => {
    fc.assert(
      fc.property(policyArb, fc.array(requestArb, { minLength: 1, maxLength: 20 }), (raw, requests) => {
        const policy = load(raw);
        decideAll(policy, requests).forEach((decision, i) => {
          const request = requests[i]!;
          const needed = TOOL_ACCESS.get(request.tool);
          if (decision.decision === 'deny' || needed === 'read') return;
          const grants = policy.agents[request.agent]?.grants ?? [];
          const covering = grants.some(
            (g) =>
              g.effect === 'allow' &&
              RANK[g.access]! >= RANK[needed!]! &&
              g.tools.some((glob) =>
                new RegExp(`^${glob.replace(/\*/g, '[^/]*').replace(/\?/g, '.')}$`).test(request.tool),
              ),
          );
          expect(covering, `${request.tool} let through (${decision.decision}) for ${request.agent}`).toBe(
            true,
          );
        });
      }),
      runs,
    );
  });

  it('adding an allow grant never turns an allow into a deny', () => {
    fc.assert(
      fc.property(
        policyArb,
        grantArb.map((g) => ({ ...g, effect: 'allow' })),
        fc.nat(5),
        fc.array(requestArb, { minLength: 1, maxLength: 20 }),
        (raw, extra, position, requests) => {
          const before = load(raw);
          const agent = Object.keys(before.agents)[0]!;
          const widened = structuredClone(raw) as { agents: Record<string, { grants: unknown[] }> };
          widened.agents[agent]!.grants.splice(position, 0, extra);
          const after = load(widened);
          const a = decideAll(before, requests);
          const b = decideAll(after, requests);
          a.forEach((decision, i) => {
            if (decision.decision === 'allow') expect(b[i]!.decision).not.toBe('deny');
          });
        },
      ),
      runs,
    );
  });

  it('removing a grant never turns a deny into an allow', () => {
    fc.assert(
      fc.property(
        policyArb,
        fc.nat(10),
        fc.array(requestArb, { minLength: 1, maxLength: 20 }),
        (raw, which, requests) => {
          const before = load(raw);
          const agent = Object.keys(before.agents)[0]!;
          const narrowed = structuredClone(raw) as {
            agents: Record<string, { grants: Array<{ effect: string }> }>;
          };
          const grants = narrowed.agents[agent]!.grants;
          const allows = grants.map((g, i) => (g.effect === 'allow' ? i : -1)).filter((i) => i >= 0);
          if (allows.length === 0) return;
          grants.splice(allows[which % allows.length]!, 1);
          const after = load(narrowed);
          const a = decideAll(before, requests);
          const b = decideAll(after, requests);
          a.forEach((decision, i) => {
            if (decision.decision === 'deny') expect(b[i]!.decision).toBe('deny');
          });
        },
      ),
      runs,
    );
  });

  it('decide is deterministic, with state', () => {
    const stateful = fc
      .tuple(policyArb, fc.array(requestArb, { minLength: 1, maxLength: 30 }))
      .map(([raw, requests]) => {
        const policy = {
          ...raw,
          limits: { default: { rate: '3/m', max_calls: 7, loop: { repeats: 2, within: '1m' } } },
        };
        return { policy, requests };
      });
    fc.assert(
      fc.property(stateful, ({ policy, requests }) => {
        const compiled = compile(load(policy));
        const run = () => {
          const state = createMemoryState();
          return requests.map((r, i) => decide(r, compiled, state, { now: i * 1000 }));
        };
        expect(run()).toEqual(run());
      }),
      runs,
    );
  });

  it('an explicit deny grant wins over every allow grant', () => {
    fc.assert(
      fc.property(policyArb, fc.constantFrom(...TOOL_KEYS), (raw, tool) => {
        const policy = structuredClone(raw) as { agents: Record<string, { grants: unknown[] }> };
        const agent = Object.keys(policy.agents)[0]!;
        policy.agents[agent]!.grants.push({ tools: [tool], access: 'admin', effect: 'deny' });
        const [decision] = decideAll(load(policy), [{ agent, user: 'u1', tool, args: { amount: 1 } }]);
        expect(decision!.decision).toBe('deny');
      }),
      runs,
    );
  });
});
