import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { main } from '../src/main.js';
import { fakeIo } from './fake-io.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const support = join(root, 'examples/support/posture.yaml');

async function run(argv: string[], stdin = '', files: Record<string, string> = {}) {
  const io = fakeIo(stdin, files);
  const code = await main(argv, io);
  return { code, out: io.out, err: io.err };
}

const POLICY = `version: 1
users:
  alice: { groups: [support] }
agents:
  bot:
    owner: alice
    run_by: [group:support]
    grants:
      - tools: [t/get]
      - tools: [t/pay]
        access: write
        when: { amount: { maximum: 100 } }
servers:
  t:
    command: [x]
    tools:
      get: { tier: 1, access: read, returns: [untrusted] }
      pay: { tier: 3, access: write, input_schema: { type: object, properties: { amount: {} } } }
tiers:
  3: { approval: { approvers: [alice] } }
limits:
  default: { rate: 3/m, timeout: 5s }
data:
  flows:
    - after: [untrusted]
      tiers: [3]
      require: deny
`;

describe('posture check', () => {
  it('exits 0 on a clean policy and says so', async () => {
    const { code, out } = await run(['check', 'p.yaml'], '', { 'p.yaml': POLICY });
    expect(code).toBe(0);
    expect(out).toContain('no problems');
  });

  it('exits 1 with file:line:column, code and hint on errors', async () => {
    const broken = POLICY.replace('owner: alice', 'owner: alicia');
    const { code, out } = await run(['check', 'p.yaml'], '', { 'p.yaml': broken });
    expect(code).toBe(1);
    expect(out).toMatch(/^p\.yaml:6:12 error principal\.unknown: /m);
    expect(out).toContain('1 error');
  });

  it('exits 0 with warnings only, and prints them', async () => {
    const warned = POLICY.replace('        when: { amount: { maximum: 100 } }\n', '');
    const { code, out } = await run(['check', 'p.yaml'], '', { 'p.yaml': warned });
    expect(code).toBe(0);
    expect(out).toContain('warning grant.unconstrained_tier3_write');
  });

  it('prints JSON with --json', async () => {
    const { code, out } = await run(['check', '--json', 'p.yaml'], '', { 'p.yaml': 'version: 2\n' });
    expect(code).toBe(1);
    const problems = JSON.parse(out);
    expect(problems[0]).toMatchObject({ code: 'schema.value', file: 'p.yaml', line: 1, column: 10 });
  });

  it('names an unreadable file without a stack trace', async () => {
    const { code, err } = await run(['check', '/nonexistent/posture.yaml']);
    expect(code).toBe(2);
    expect(err).toMatch(/cannot read `\/nonexistent\/posture\.yaml`: ENOENT/);
    expect(err).not.toMatch(/\bat .*\.js:\d+/);
  });

  it('rejects a 10 MB file with a clear message', async () => {
    const huge = `version: 1\n#${'x'.repeat(10 * 1024 * 1024)}\n`;
    const { code, out } = await run(['check', 'big.yaml'], '', { 'big.yaml': huge });
    expect(code).toBe(1);
    expect(out).toContain('file.too_large');
  });

  it('passes every example policy', async () => {
    const { code } = await run([
      'check',
      ...['support', 'coding', 'ops'].map((e) => join(root, `examples/${e}/posture.yaml`)),
    ]);
    expect(code).toBe(0);
  });
});

describe('posture schema', () => {
  it('prints a JSON Schema that accepts the examples and rejects a typo', async () => {
    const { code, out } = await run(['schema']);
    expect(code).toBe(0);
    const schema = JSON.parse(out);
    const validate = new Ajv2020({ strict: false }).compile(schema);
    for (const example of ['support', 'coding', 'ops']) {
      const { readFileSync } = await import('node:fs');
      const policy = parse(readFileSync(join(root, `examples/${example}/posture.yaml`), 'utf8'));
      expect(validate(policy), JSON.stringify(validate.errors)).toBe(true);
    }
    expect(validate({ version: 1, agnets: {} })).toBe(false);
  });
});

describe('posture explain', () => {
  it('explains an approval with the rules and their places in the file', async () => {
    const { code, out } = await run(
      [
        'explain',
        '--policy',
        'p.yaml',
        '--agent',
        'bot',
        '--user',
        'alice',
        '--tool',
        't/pay',
        '--args',
        '{"amount":50}',
      ],
      '',
      { 'p.yaml': POLICY },
    );
    expect(code).toBe(0);
    expect(out).toContain('decision: approve');
    expect(out).toContain('tool: t/pay (write, tier 3, irreversible)');
    expect(out).toMatch(/servers\.t\.tools\.pay\.irreversible\s+p\.yaml:18:7/);
    expect(out).toMatch(/agents\.bot\.grants\[1\]\s+p\.yaml:10:9/);
    expect(out).toMatch(/tiers\.3\.approval\s+p\.yaml:20:8/);
    expect(out).toContain('approval by alice');
    expect(out).toContain('timeout 5000ms');
  });

  it('names the failing constraint', async () => {
    const { out } = await run(
      [
        'explain',
        '--policy',
        'p.yaml',
        '--json',
        '--request',
        '{"agent":"bot","user":"alice","tool":"t/pay","args":{"amount":500}}',
      ],
      '',
      { 'p.yaml': POLICY },
    );
    const decision = JSON.parse(out);
    expect(decision).toMatchObject({ decision: 'deny', rules: ['agents.bot.grants[1].when.amount'] });
    expect(decision.reasons[0]).toMatchObject({ code: 'constraint.failed' });
    expect(decision.reasons[0].message).toContain('`amount`');
    expect(decision.reasons[0].message).not.toContain('500');
  });

  it('applies session labels given on the command line', async () => {
    const { out } = await run(
      [
        'explain',
        '--policy',
        'p.yaml',
        '--json',
        '--labels',
        'untrusted',
        '--agent',
        'bot',
        '--user',
        'alice',
        '--tool',
        't/pay',
        '--args',
        '{"amount":5}',
      ],
      '',
      { 'p.yaml': POLICY },
    );
    expect(JSON.parse(out)).toMatchObject({ decision: 'deny', rules: ['data.flows[0]'] });
  });

  it('refuses a policy with errors and exits 1', async () => {
    const { code, err } = await run(
      ['explain', '--policy', 'p.yaml', '--agent', 'bot', '--tool', 't/get'],
      '',
      {
        'p.yaml': 'version: 1\nagents: 3\n',
      },
    );
    expect(code).toBe(1);
    expect(err).toContain('p.yaml:2:9 error schema.type');
  });

  it('exits 2 on a request that is not JSON', async () => {
    const { code, err } = await run(['explain', '--policy', 'p.yaml', '--request', '{nope'], '', {
      'p.yaml': POLICY,
    });
    expect(code).toBe(2);
    expect(err).toContain('the request is not JSON');
  });
});

describe('posture eval', () => {
  const lines = (requests: object[]) => requests.map((r) => JSON.stringify(r)).join('\n');
  const get = { agent: 'bot', user: 'alice', tool: 't/get', args: { id: 1 } };

  it('decides in order, with state: rate limit and flow label carry across lines', async () => {
    const input = lines([
      { ...get, time: 0 },
      { ...get, args: { id: 2 }, time: 1000 },
      { agent: 'bot', user: 'alice', tool: 't/pay', args: { amount: 5 }, time: 2000 },
      { ...get, args: { id: 3 }, time: 3000 },
      { ...get, args: { id: 4 }, time: 4000 },
      { ...get, args: { id: 5 }, time: 61_500 },
      { agent: 'nobody', user: 'alice', tool: 't/get', time: 62_000 },
    ]);
    const { code, out } = await run(['eval', '--policy', 'p.yaml'], input, { 'p.yaml': POLICY });
    expect(code).toBe(0);
    const decisions = out
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(decisions.map((d) => d.decision)).toEqual([
      'allow',
      'allow',
      'deny',
      'allow',
      'deny',
      'allow',
      'deny',
    ]);
    expect(decisions[2].reasons[0].code).toBe('flow.deny');
    expect(decisions[4].reasons[0].code).toBe('limit.rate');
    expect(decisions[6].reasons[0].code).toBe('agent.unknown');
    expect(Object.keys(decisions[0])).toEqual(['decision', 'rules', 'reasons', 'obligations']);
    expect(decisions[0].obligations).toEqual({ timeout_ms: 5000, labels: ['untrusted'] });
  });

  it('reads --input files and skips blank lines', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'posture-eval-'));
    const file = join(dir, 'in.jsonl');
    writeFileSync(file, `${lines([get])}\n\n${lines([get])}\n`);
    const { code, out } = await run(['eval', '--policy', 'p.yaml', '--input', file], '', {
      'p.yaml': POLICY,
    });
    expect(code).toBe(0);
    expect(out.trim().split('\n')).toHaveLength(2);
  });

  it('exits 2 naming the line of unusable input, after the lines before it', async () => {
    const input = `${lines([get])}\n{"agent": 5, "tool": "t/get"}\n${lines([get])}`;
    const { code, out, err } = await run(['eval', '--policy', 'p.yaml'], input, { 'p.yaml': POLICY });
    expect(code).toBe(2);
    expect(out.trim().split('\n')).toHaveLength(1);
    expect(err).toContain('stdin:2: `agent` must be a string');
  });

  it('exits 2 on a line that is not JSON', async () => {
    const { code, err } = await run(['eval', '--policy', 'p.yaml'], `${lines([get])}\n{"agent":`, {
      'p.yaml': POLICY,
    });
    expect(code).toBe(2);
    expect(err).toMatch(/stdin:2: not JSON/);
  });

  it('exits 2 on an unreadable input file', async () => {
    const { code, err } = await run(['eval', '--policy', 'p.yaml', '--input', '/nonexistent.jsonl'], '', {
      'p.yaml': POLICY,
    });
    expect(code).toBe(2);
    expect(err).toContain('cannot read `/nonexistent.jsonl`: ENOENT');
  });
});

describe('posture demo explain', () => {
  it('decides the scripted support session', async () => {
    const { code, out } = await run([
      'demo',
      'explain',
      '--policy',
      support,
      '--requests',
      join(root, 'examples/support/demo.jsonl'),
    ]);
    expect(code).toBe(0);
    expect(out).toMatch(/ALLOW/);
    expect(out).toMatch(/DENY/);
    expect(out).toMatch(/APPROVE/);
    expect(out).toContain('constraint.failed');
  });
});

describe('usage', () => {
  it('exits 2 on an unknown command', async () => {
    const { code } = await run(['frobnicate']);
    expect(code).toBe(2);
  });
});
