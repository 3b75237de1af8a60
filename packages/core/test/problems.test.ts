import { describe, expect, it } from 'vitest';
import { loadPolicy, PROBLEM_CODES, type Problem, type ProblemCode } from '../src/index.js';

// A small valid policy that each case below breaks in one way.
const BASE = `version: 1
users:
  alice: { groups: [support] }
  bob: { groups: [approvers] }
agents:
  support-bot:
    owner: alice
    run_by: [group:support]
    grants:
      - tools: [tickets/*]
        access: read
      - tools: [payments/refund]
        access: write
        when:
          amount: { maximum: 500 }
servers:
  tickets:
    command: [node, tickets.js]
    tools:
      get_ticket: { tier: 1, access: read, returns: [untrusted] }
  payments:
    url: http://127.0.0.1:9000/mcp
    tools:
      refund:
        tier: 3
        access: write
        irreversible: true
        input_schema: { type: object, properties: { amount: { type: number }, currency: { type: string } } }
tiers:
  3: { approval: { approvers: [group:approvers], step_up: true, expires: 15m } }
limits:
  default: { rate: 60/m, timeout: 30s, max_calls: 500, loop: { repeats: 5, within: 2m } }
data:
  redact: [secrets, pii]
  flows:
    - after: [untrusted]
      tiers: [2, 3]
      require: approval
`;

function problems(text: string): Problem[] {
  return loadPolicy(text, 'posture.yaml').problems;
}

function only(text: string, code: ProblemCode): Problem {
  const found = problems(text).filter((p) => p.code === code);
  expect(found, `expected ${code} in ${JSON.stringify(problems(text), null, 1)}`).toHaveLength(1);
  return found[0]!;
}

/** Each code with a policy that must report it, and where (line, column). */
const CASES: Array<{
  code: ProblemCode;
  text: string;
  line?: number;
  column?: number;
  hint?: RegExp;
  severity?: string;
}> = [
  { code: 'file.too_large', text: `version: 1\n# ${'x'.repeat(1_100_000)}\n` },
  { code: 'file.empty', text: '   \n' },
  { code: 'yaml.syntax', text: 'version: 1\nagents: [unclosed\n', line: 3 },
  {
    code: 'yaml.duplicate_key',
    text: BASE.replace('  bob: {', '  alice: { groups: [x] }\n  bob: {'),
    line: 4,
    column: 3,
  },
  {
    code: 'yaml.alias',
    text: `version: 1\nx0: &a [1,1,1,1,1,1,1,1,1,1]\nx1: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nx2: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nx3: [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\n`,
  },
  { code: 'schema.required', text: BASE.replace('    owner: alice\n', ''), line: 7, column: 5 },
  {
    code: 'schema.type',
    text: BASE.replace('run_by: [group:support]', 'run_by: group:support'),
    line: 8,
    column: 13,
  },
  {
    code: 'schema.value',
    text: BASE.replace('refund:\n        tier: 3', 'refund:\n        tier: 7'),
    line: 25,
    column: 15,
  },
  {
    code: 'schema.unknown_key',
    text: BASE.replace('    run_by:', '    run_bye: [alice]\n    run_by:'),
    line: 8,
    column: 5,
    hint: /did you mean `run_by`/,
  },
  { code: 'name.invalid', text: BASE.replace('  support-bot:', '  support bot!:'), line: 6, column: 3 },
  {
    code: 'name.invisible',
    text: BASE.replace('  support-bot:', '  support\u200b-bot:'),
    line: 6,
    column: 3,
  },
  { code: 'name.confusable', text: BASE.replace('  support-bot:', '  suppоrt-bot:'), line: 6, column: 3 },
  {
    code: 'name.lookalike',
    text: BASE.replace('agents:\n', 'agents:\n  supp0rt-bot: { owner: alice, run_by: [alice] }\n'),
    severity: 'warning',
  },
  { code: 'principal.unknown', text: BASE.replace('owner: alice', 'owner: mallory'), line: 7, column: 12 },
  {
    code: 'group.cycle',
    text: BASE.replace(
      'agents:',
      'groups:\n  a: { members: [group:b] }\n  b: { members: [group:a] }\nagents:',
    ),
  },
  {
    code: 'approver.unknown',
    text: BASE.replace('approvers: [group:approvers]', 'approvers: [group:aprovers]'),
    line: 30,
    column: 32,
    hint: /did you mean `group:approvers`/,
  },
  {
    code: 'grant.unknown_server',
    text: BASE.replace('tools: [tickets/*]', 'tools: [ticket/*]'),
    line: 10,
    column: 17,
  },
  {
    code: 'grant.unknown_tool',
    text: BASE.replace('tools: [payments/refund]', 'tools: [payments/refnd]'),
    hint: /did you mean `refund`/,
  },
  {
    code: 'grant.never_matches',
    text: BASE.replace('tools: [tickets/*]', 'tools: [tickets/delete_*]'),
    severity: 'warning',
  },
  {
    code: 'grant.access_below_tool',
    text: BASE.replace(
      'tools: [payments/refund]\n        access: write',
      'tools: [payments/refund]\n        access: read',
    ),
    severity: 'warning',
  },
  {
    code: 'grant.unconstrained_tier3_write',
    text: BASE.replace('        when:\n          amount: { maximum: 500 }\n', ''),
    severity: 'warning',
  },
  {
    code: 'constraint.unknown_argument',
    text: BASE.replace(
      'amount: { maximum: 500 }',
      'amount: { maximum: 500 }\n          recipient: { const: x }',
    ),
    line: 16,
    column: 11,
  },
  { code: 'constraint.invalid_schema', text: BASE.replace('{ maximum: 500 }', '{ maximun: 500 }') },
  {
    code: 'catalog.undeclared_tools',
    text: BASE.replace('limits:', 'limits:').replace('servers:\n', 'servers:\n  shell: { command: [sh] }\n'),
    severity: 'warning',
  },
  {
    code: 'agent.token_ttl',
    text: BASE.replace('    run_by: [group:support]\n', '    run_by: [group:support]\n    token_ttl: 2d\n'),
    line: 9,
    column: 16,
  },
  {
    code: 'tier.no_approval',
    text: BASE.replace(
      '  3: { approval: { approvers: [group:approvers], step_up: true, expires: 15m } }',
      '  3: { confirm: true }',
    ),
    severity: 'warning',
  },
  {
    code: 'pattern.invalid',
    // (a function replacement: a `$'` in a replacement string means "the text after the match")
    text: BASE.replace('data:\n', () => "data:\n  patterns:\n    bad: { pattern: '(a+)+$', class: pii }\n"),
  },
  {
    code: 'retrieval.no_readers',
    text: BASE.replace(
      'get_ticket: { tier: 1, access: read, returns: [untrusted] }',
      'get_ticket: { tier: 1, access: read, returns: [untrusted], retrieval: true }',
    ),
    severity: 'warning',
    hint: /data\.retrieval/,
  },
  {
    code: 'retrieval.unknown_default',
    text: `${BASE}  retrieval:\n    classifications: { internal: { readers: [group:support] } }\n    default: interal\n`,
    hint: /did you mean `internal`/,
  },
  {
    code: 'flow.unknown_class',
    text: BASE.replace('after: [untrusted]', 'after: [untrusted, untrustd]'),
    severity: 'warning',
  },
  {
    code: 'tool.classification_conflict',
    text: BASE.replace(
      'get_ticket: { tier: 1, access: read, returns: [untrusted] }',
      'delete_ticket: { tier: 1, access: read }',
    ).replace('tools: [tickets/*]', 'tools: [tickets/*]'),
    severity: 'warning',
  },
];

describe('policy problems', () => {
  it('the base policy is clean', () => {
    expect(problems(BASE)).toEqual([]);
  });

  it('every problem code has a case', () => {
    expect(new Set(CASES.map((c) => c.code))).toEqual(new Set(Object.keys(PROBLEM_CODES)));
  });

  for (const { code, text, line, column, hint, severity } of CASES) {
    it(`reports ${code}`, () => {
      const problem = only(text, code);
      expect(problem.severity).toBe(severity ?? 'error');
      expect(problem.file).toBe('posture.yaml');
      expect(problem.message).not.toMatch(/\.$/);
      expect(problem.message.length).toBeGreaterThan(10);
      if (line !== undefined) expect(problem.line).toBe(line);
      if (column !== undefined) expect(problem.column).toBe(column);
      if (hint) expect(problem.hint).toMatch(hint);
    });
  }

  it('accepts detector classes and custom patterns in data rules, and warns about unknown ones', () => {
    const text = BASE.replace(
      'data:\n',
      "data:\n  patterns:\n    employee_id: { pattern: 'EMP-[0-9]{6}', class: pii }\n  rules:\n    - { tools: [tickets/*], block: [aws_access_key, employee_id, pii, secrets, awss_key] }\n",
    );
    const problem = only(text, 'flow.unknown_class');
    expect(problem.path).toEqual(['data', 'rules', 0, 'block', 4]);
  });

  it('checks the readers of retrieval classifications', () => {
    const text = `${BASE}  retrieval:\n    classifications: { internal: { readers: ['*', group:suport] } }\n`;
    const problem = only(text, 'principal.unknown');
    expect(problem.path).toEqual(['data', 'retrieval', 'classifications', 'internal', 'readers', 1]);
    expect(problem.hint).toMatch(/did you mean `group:support`/);
  });

  it('reports every problem of a file, not only the first', () => {
    const text = BASE.replace('owner: alice', 'owner: mallory').replace(
      'tools: [tickets/*]',
      'tools: [ticket/*]',
    );
    const codes = problems(text).map((p) => p.code);
    expect(codes).toContain('principal.unknown');
    expect(codes).toContain('grant.unknown_server');
  });

  it('never throws on hostile input', () => {
    const hostile = [
      '\u0000\u0001',
      '{{{{',
      '- - - -',
      'version: 1\nagents: 5',
      `version: 1\n${'a:\n '.repeat(2000)}`,
      'version: 1\nagents: { __proto__: { owner: x } }',
      '!!js/function "function(){}"',
      'version: 1\nagents:\n  __proto__:\n    owner: x\n',
      `version: 1\nusers: ${'['.repeat(5000)}`,
    ];
    for (const text of hostile) {
      const result = loadPolicy(text, 'x.yaml');
      expect(result.problems.some((p) => p.severity === 'error')).toBe(true);
      expect(result.problems.length).toBeLessThanOrEqual(50);
    }
  });
});

describe('defaults of a partly given section', () => {
  it('fills an alert left partly out with that alert’s own defaults', () => {
    const { policy } = loadPolicy(
      `${BASE}alerts:\n  write_rate: { factor: 5 }\n  call_rate: { factor: 4 }\n`,
      'x.yaml',
    );
    expect(policy!.alerts.write_rate).toEqual({ factor: 5, min: 10 });
    expect(policy!.alerts.call_rate).toEqual({ factor: 4, min: 30 });
  });
});
