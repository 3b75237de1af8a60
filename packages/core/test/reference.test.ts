import fc from 'fast-check';
import { Ajv } from 'ajv';
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

// A deliberately naive evaluator written straight from the README's decision order, with no
// precomputation, run against the production engine on random policies (differential testing,
// as Cedar does against its formal model). Stateless part: identity, catalog, grants,
// constraints, tier and irreversibility controls.
const RANK: Record<string, number> = { read: 0, write: 1, admin: 2 };
const ajv = new Ajv({ strict: false });

function globMatches(glob: string, key: string): boolean {
  const [server, tool] = glob.split('/') as [string, string];
  const [s, t] = key.split('/') as [string, string];
  const re = (g: string) =>
    new RegExp(
      `^${g
        .replace(/[.+^${}()|[\]\\-]/g, '\\$&')
        .replace(/\*/g, '.*')
        .replace(/\?/g, '.')}$`,
    );
  return re(server).test(s) && re(tool).test(t);
}

function inGroup(policy: PolicyFile, user: string, group: string, seen = new Set<string>()): boolean {
  if (policy.users[user]?.groups.includes(group)) return true;
  if (seen.has(group)) return false;
  seen.add(group);
  return (policy.groups[group]?.members ?? []).some((m) =>
    m.startsWith('group:') ? inGroup(policy, user, m.slice(6), seen) : m === user,
  );
}

function constraintsHold(when: Record<string, unknown> | undefined, args: Record<string, unknown>): boolean {
  return Object.entries(when ?? {}).every(([arg, schema]) => {
    if (args[arg] === undefined) return false;
    const typed = { ...(schema as object) } as Record<string, unknown>;
    if ('maximum' in typed && typed.type === undefined) typed.type = 'number';
    return ajv.validate(typed, args[arg]);
  });
}

function reference(policy: PolicyFile, request: DecisionRequest): { decision: string; rules: string[] } {
  const deny = (rules: string[]) => ({ decision: 'deny', rules });
  const agent = policy.agents[request.agent];
  if (!agent) return deny(['agents']);
  const user = request.user;
  if (!user) return deny([`agents.${request.agent}.run_by`]);
  const allowed = agent.run_by.some((p) =>
    p.startsWith('group:') ? inGroup(policy, user, p.slice(6)) : p === user,
  );
  if (!policy.users[user]) return deny(['users']);
  if (!allowed) return deny([`agents.${request.agent}.run_by`]);
  const [server, name] = request.tool.split('/') as [string, string];
  const tool = policy.servers[server]?.tools?.[name];
  if (!tool) return deny(['servers']);
  const args = request.args ?? {};
  const ruleOf = (i: number) => `agents.${request.agent}.grants[${i}]`;
  const grants = agent.grants.map((grant, i) => ({
    grant,
    rule: grant.id ? `agents.${request.agent}.grants.${grant.id}` : ruleOf(i),
  }));
  for (const { grant, rule } of grants) {
    if (
      grant.effect === 'deny' &&
      grant.tools.some((g) => globMatches(g, request.tool)) &&
      constraintsHold(grant.when, args)
    ) {
      return deny([rule]);
    }
  }
  const matching = grants.filter(
    ({ grant }) => grant.effect === 'allow' && grant.tools.some((g) => globMatches(g, request.tool)),
  );
  if (matching.length === 0) return deny([`agents.${request.agent}.grants`]);
  const covering = matching.filter(({ grant }) => RANK[grant.access]! >= RANK[tool.access!]!);
  if (covering.length === 0) return deny(matching.map(({ rule }) => rule));
  const passing = covering.find(({ grant }) => constraintsHold(grant.when, args));
  if (!passing) {
    return deny(
      covering.flatMap(({ grant, rule }) =>
        Object.keys(grant.when ?? {})
          .filter((arg) => !constraintsHold({ [arg]: grant.when![arg] }, args))
          .map((arg) => `${rule}.when.${arg}`),
      ),
    );
  }
  const rules = [passing.rule];
  let decision = 'allow';
  const tier = policy.tiers[tool.tier!];
  if (tier?.approval) {
    rules.push(`tiers.${tool.tier}.approval`);
    decision = 'approve';
  }
  if (tier?.confirm) rules.push(`tiers.${tool.tier}.confirm`);
  if (tool.tier === 3 && policy.tiers[3] === undefined) rules.push('tiers.3');
  if (tool.irreversible) rules.push(`servers.${server}.tools.${name}.irreversible`);
  if (decision === 'allow' && rules.length > 1) decision = 'confirm';
  return { decision, rules };
}

const TOOLS = {
  s1: {
    read_a: { tier: 1, access: 'read', irreversible: false },
    write_b: {
      tier: 2,
      access: 'write',
      irreversible: false,
      input_schema: { type: 'object', properties: { amount: {}, tag: {} } },
    },
    admin_c: {
      tier: 3,
      access: 'admin',
      irreversible: false,
      input_schema: { type: 'object', properties: { amount: {}, tag: {} } },
    },
  },
  s2: {
    read_a: { tier: 1, access: 'read', irreversible: false },
    delete_d: { tier: 3, access: 'write', irreversible: true },
  },
} as const;
const KEYS = Object.entries(TOOLS).flatMap(([s, tools]) => Object.keys(tools).map((t) => `${s}/${t}`));
const GLOBS = [
  's1/*',
  's2/*',
  '*/read_*',
  's1/write_b',
  '*/*',
  's1/admin_c',
  's2/delete_?',
  '*/write_b',
  's?/*',
];

const grant = fc.record(
  {
    id: fc.option(fc.constantFrom('g1', 'g2'), { nil: undefined }),
    tools: fc.uniqueArray(fc.constantFrom(...GLOBS), { minLength: 1, maxLength: 3 }),
    access: fc.constantFrom('read', 'write', 'admin'),
    effect: fc.constantFrom('allow', 'allow', 'allow', 'deny'),
    when: fc.option(
      fc.oneof(
        fc.record({ amount: fc.record({ maximum: fc.integer({ min: 0, max: 100 }) }) }),
        fc.record({
          tag: fc.record({ enum: fc.constant(['a', 'b']) }),
          amount: fc.record({ type: fc.constant('integer') }),
        }),
      ),
      { nil: undefined },
    ),
  },
  { requiredKeys: ['tools', 'access', 'effect'] },
);

const policy = fc
  .record({
    grants: fc.array(grant, { maxLength: 6 }),
    tiers: fc.constantFrom(
      undefined,
      { 3: { approval: { approvers: ['u2'] } } },
      { 2: { confirm: true }, 3: { confirm: true } },
      { 1: { approval: { approvers: ['u1'] } } },
    ),
    nested: fc.boolean(),
  })
  .map(({ grants, tiers, nested }) => {
    // Distinct ids only: duplicates would be two rules with one name.
    const seen = new Set<string>();
    const unique = grants.map((g) =>
      g.id && !seen.has(g.id) && seen.add(g.id) ? g : { ...g, id: undefined },
    );
    return {
      version: 1,
      users: { u1: { groups: nested ? [] : ['g'] }, u2: {}, u3: { groups: ['inner'] } },
      groups: nested
        ? { g: { members: ['u1', 'group:inner'] }, inner: { members: [] } }
        : { inner: { members: [] } },
      agents: {
        a1: { owner: 'u1', run_by: ['group:g'], grants: unique.map((g) => JSON.parse(JSON.stringify(g))) },
      },
      servers: Object.fromEntries(Object.entries(TOOLS).map(([s, tools]) => [s, { command: ['x'], tools }])),
      ...(tiers ? { tiers } : {}),
    };
  });

const request = fc.record({
  agent: fc.constantFrom('a1', 'a1', 'a1', 'a9'),
  user: fc.constantFrom('u1', 'u1', 'u2', 'u3', 'u9', ''),
  tool: fc.constantFrom(...KEYS, 's1/missing', 's3/read_a'),
  args: fc.record(
    { amount: fc.oneof(fc.integer({ min: -5, max: 150 }), fc.constant('7')), tag: fc.constantFrom('a', 'c') },
    { requiredKeys: [] },
  ),
});

describe('differential test against a naive reference evaluator', () => {
  it('agrees on decision and rules for random policies and requests', () => {
    fc.assert(
      fc.property(policy, fc.array(request, { minLength: 1, maxLength: 15 }), (raw, requests) => {
        const loaded = loadPolicy(stringify(raw), 'random.yaml');
        expect(loaded.problems.filter((p) => p.severity === 'error')).toEqual([]);
        const compiled = compile(loaded.policy!);
        for (const r of requests) {
          const actual = decide(r, compiled, createMemoryState(), { now: 0 });
          const expected = reference(loaded.policy!, r);
          expect({ decision: actual.decision, rules: [...actual.rules].sort() }, JSON.stringify(r)).toEqual({
            decision: expected.decision,
            rules: [...expected.rules].sort(),
          });
        }
      }),
      { numRuns: 300 },
    );
  });
});
