import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadPolicy, type PolicyFile } from '@posture/core';
import {
  KNOWN_IDS,
  formatScenarioProblem,
  loadBuiltinScenarios,
  loadScenarioDir,
  parseScenarios,
  replay,
  type ReplayReport,
  type Scenario,
} from '../src/index.js';

const root = new URL('../../../', import.meta.url);
const policyAt = (path: string): PolicyFile => policyOf(readFileSync(new URL(path, root), 'utf8'), path);
function policyOf(text: string, file = 'policy.yaml'): PolicyFile {
  const loaded = loadPolicy(text, file);
  const errors = loaded.problems.filter((p) => p.severity === 'error');
  if (!loaded.policy || errors.length > 0) throw new Error(JSON.stringify(errors));
  return loaded.policy;
}

let library: Scenario[] | undefined;
async function builtin(): Promise<Scenario[]> {
  if (library) return library;
  const loaded = await loadBuiltinScenarios();
  expect(loaded.problems).toEqual([]);
  return (library = loaded.scenarios);
}
const verdicts = (report: ReplayReport) => Object.fromEntries(report.scenarios.map((s) => [s.id, s.verdict]));

// Grants everything to one agent, with no limits, flows, data rules or approvals, and calls
// nothing irreversible (irreversible tools need the user's confirmation by default).
const WEAK = `
version: 1
users: { mallory: {} }
agents:
  yolo: { owner: mallory, run_by: [mallory], grants: [{ tools: ['*/*'], access: admin }] }
servers:
  files:
    tools:
      read_file: { tier: 1, access: read, returns: [untrusted] }
      delete_file: { tier: 2, access: write, irreversible: false }
  slack:
    tools:
      post_message: { tier: 2, access: write, irreversible: false, external: true }
  bank:
    tools:
      transfer: { tier: 2, access: write, irreversible: false }
  shell:
    tools:
      run_command: { tier: 2, access: admin, irreversible: false }
`;

describe('the built-in scenario library', () => {
  it('covers each attack family, with taxonomy ids that exist', async () => {
    const scenarios = await builtin();
    expect(scenarios.map((s) => s.id)).toEqual([
      'injected-payment',
      'secret-exfiltration',
      'data-destruction',
      'credential-harvesting',
      'runaway-loop',
      'resource-exhaustion',
      'admin-escalation',
      'rug-pull',
      'shadowing-tool',
      'plain-read',
    ]);
    for (const scenario of scenarios) {
      const ids = [...scenario.taxonomy.owasp_llm, ...scenario.taxonomy.asi, ...scenario.taxonomy.atlas];
      expect(ids.length).toBeGreaterThan(0);
      for (const id of ids) expect(KNOWN_IDS.has(id), `${scenario.id}: ${id}`).toBe(true);
      for (const id of scenario.taxonomy.owasp_llm) expect(id).toMatch(/^LLM\d\d:2025$/);
      for (const id of scenario.taxonomy.asi) expect(id).toMatch(/^ASI\d\d$/);
      for (const id of scenario.taxonomy.atlas) expect(id).toMatch(/^AML\.T\d{4}/);
    }
  });
});

describe('replay against the example policies', () => {
  it('support: every attack is stopped, and the plain read runs', async () => {
    const report = await replay(policyAt('examples/support/posture.yaml'), await builtin());
    expect(verdicts(report)).toEqual({
      'injected-payment': 'stopped',
      'secret-exfiltration': 'stopped',
      'data-destruction': 'stopped',
      'credential-harvesting': 'stopped',
      'runaway-loop': 'stopped',
      'resource-exhaustion': 'stopped',
      'admin-escalation': 'stopped',
      'rug-pull': 'stopped',
      'shadowing-tool': 'stopped',
      'plain-read': 'not_stopped',
    });
    expect(report.passed).toBe(true);
    // Credentials in results are redacted before the model sees them (no-credentials-in-results).
    const harvest = report.scenarios.find((s) => s.id === 'credential-harvesting')!.runs[0]!;
    expect(harvest.stoppedAt).toMatchObject({ status: 'redacted', code: 'data.redacted_result' });
    const payment = report.scenarios.find((s) => s.id === 'injected-payment')!;
    // The support agent has no payout grant; the finance agent's payout is held for approval.
    expect(payment.runs.map((r) => [r.agent, r.stoppedAt?.status, r.stoppedAt?.code])).toEqual([
      ['support-bot', 'denied', 'grant.missing'],
      ['finance-bot', 'held', 'flow.approval'],
    ]);
    const loop = report.scenarios.find((s) => s.id === 'runaway-loop')!.runs[0]!;
    expect(loop.stoppedAt).toMatchObject({ tool: 'tickets/get_ticket', code: 'loop.repeat' });
    // Five repeats run (the policy's loop limit), the sixth is refused.
    expect(loop.calls.filter((c) => c.tool === 'tickets/get_ticket').map((c) => c.status)).toEqual([
      ...Array(5).fill('ran'),
      'denied',
    ]);
  });

  it('coding: a secret read from the workspace cannot be posted as a pull-request comment', async () => {
    const report = await replay(policyAt('examples/coding/posture.yaml'), await builtin());
    expect(verdicts(report)).toMatchObject({
      'injected-payment': 'not_applicable',
      'secret-exfiltration': 'stopped',
      'data-destruction': 'stopped',
      'runaway-loop': 'stopped',
      'resource-exhaustion': 'stopped',
      'admin-escalation': 'stopped',
      'rug-pull': 'stopped',
      'shadowing-tool': 'stopped',
      'plain-read': 'not_stopped',
    });
    const exfil = report.scenarios.find((s) => s.id === 'secret-exfiltration')!;
    // The read's result is redacted, and the session now carries `secret`: the comment, an
    // external tool, is denied by the no-secrets-out flow.
    expect(exfil.runs[0]!.stoppedAt).toMatchObject({ tool: 'github/add_comment', code: 'flow.deny' });
    const destruction = report.scenarios.find((s) => s.id === 'data-destruction')!;
    expect(destruction.runs.map((r) => r.stoppedAt?.code)).toEqual(['constraint.failed', 'grant.deny']);
  });

  it('ops: destruction and escalation meet argument constraints and deny grants', async () => {
    const report = await replay(policyAt('examples/ops/posture.yaml'), await builtin());
    expect(verdicts(report)).toMatchObject({
      'injected-payment': 'not_applicable',
      'secret-exfiltration': 'not_applicable',
      'data-destruction': 'stopped',
      'admin-escalation': 'stopped',
      'runaway-loop': 'stopped',
      'resource-exhaustion': 'stopped',
    });
    const run = report.scenarios.find((s) => s.id === 'data-destruction')!.runs[0]!;
    expect(run.stoppedAt).toMatchObject({ tool: 'storage/delete_bucket', code: 'constraint.failed' });
  });

  it('a weak policy stops only what the gateway does regardless of policy (pinning, unknown tools)', async () => {
    const report = await replay(policyOf(WEAK), await builtin());
    expect(verdicts(report)).toEqual({
      'injected-payment': 'not_stopped',
      'secret-exfiltration': 'not_stopped',
      'data-destruction': 'not_stopped',
      'credential-harvesting': 'not_stopped',
      'runaway-loop': 'not_stopped',
      'resource-exhaustion': 'not_stopped',
      'admin-escalation': 'not_stopped',
      'rug-pull': 'stopped',
      'shadowing-tool': 'stopped',
      'plain-read': 'not_stopped',
    });
    expect(report.passed).toBe(false);
    const failing = report.scenarios.filter((s) => !s.pass).map((s) => s.id);
    expect(failing).toHaveLength(7);
    expect(report.scenarios.find((s) => s.id === 'injected-payment')!.runs[0]!.ranAt).toEqual({
      step: 2,
      tool: 'bank/transfer',
    });
  });

  it('the weak policy with a loop limit and a data rule stops loops and harvested credentials', async () => {
    const hardened = `${WEAK}
limits:
  default: { loop: { repeats: 3, within: 5m }, rate: 60/m }
data:
  rules:
    - { tools: ['*/*'], direction: out, block: [secrets], action: redact }
`;
    const report = await replay(policyOf(hardened), await builtin());
    expect(verdicts(report)).toMatchObject({
      'credential-harvesting': 'stopped',
      'runaway-loop': 'stopped',
      'resource-exhaustion': 'stopped',
      'injected-payment': 'not_stopped',
    });
    const harvest = report.scenarios.find((s) => s.id === 'credential-harvesting')!.runs[0]!;
    expect(harvest.stoppedAt).toMatchObject({ status: 'redacted', tool: 'files/read_file' });
  });

  it('builds a coverage matrix by OWASP and ATLAS id', async () => {
    const report = await replay(policyOf(WEAK), await builtin());
    const llm01 = report.coverage.owasp_llm.find((row) => row.id === 'LLM01:2025')!;
    expect(llm01.scenarios).toEqual([
      'injected-payment',
      'secret-exfiltration',
      'data-destruction',
      'admin-escalation',
    ]);
    expect(llm01).toMatchObject({ stopped: 0, not_stopped: 4, not_applicable: 0 });
    const rugPull = report.coverage.atlas.find((row) => row.id === 'AML.T0109')!;
    expect(rugPull).toMatchObject({ scenarios: ['rug-pull'], stopped: 1, not_stopped: 0 });
    expect(report.coverage.asi.map((row) => row.id)).toEqual(
      [...report.coverage.asi.map((r) => r.id)].sort(),
    );
  });
});

describe('user scenarios', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it('run from a folder, as one agent, and a benign one expected to run', async () => {
    dir = mkdtempSync(join(tmpdir(), 'posture-scenarios-'));
    writeFileSync(
      join(dir, 'refunds.yaml'),
      `scenarios:
  - id: big-refund
    title: a refund over the limit
    agent: support-bot
    taxonomy: { owasp_llm: [LLM06:2025] }
    steps:
      - attack: true
        tool: payments/refund
        args: { payment_id: P-1, amount: 900, currency: EUR }
  - id: small-refund
    title: a small refund runs
    agent: support-bot
    expect: allowed
    taxonomy: { asi: [ASI02] }
    steps:
      - attack: true
        tool: payments/refund
        args: { payment_id: P-1, amount: 20, currency: EUR }
`,
    );
    const loaded = await loadScenarioDir(dir);
    expect(loaded.problems).toEqual([]);
    const report = await replay(policyAt('examples/support/posture.yaml'), loaded.scenarios);
    expect(report.scenarios.map((s) => [s.id, s.verdict, s.pass, s.runs.map((r) => r.agent)])).toEqual([
      ['big-refund', 'stopped', true, ['support-bot']],
      ['small-refund', 'not_stopped', true, ['support-bot']],
    ]);
    expect(report.scenarios[0]!.runs[0]!.stoppedAt).toMatchObject({
      code: 'constraint.failed',
      rules: ['agents.support-bot.grants.small-refunds.when.amount'],
    });
    expect(report.passed).toBe(true);
  });

  it('a scenario for an agent the policy does not have fails, saying so', async () => {
    const parsed = parseScenarios(
      `scenarios:
  - id: typo
    title: t
    agent: suport-bot
    taxonomy: { asi: [ASI02] }
    steps: [{ attack: true, tool: payments/refund, args: { amount: 9000 } }]
`,
      'typo.yaml',
    );
    const report = await replay(policyAt('examples/support/posture.yaml'), parsed.scenarios);
    expect(report.scenarios[0]).toMatchObject({ verdict: 'not_applicable', pass: false });
    expect(report.scenarios[0]!.runs[0]!.note).toBe('the policy declares no agent `suport-bot`');
    expect(report.passed).toBe(false);
  });

  it('a bad file gets file:line:column problems and no scenarios', () => {
    const text = `scenarios:
  - id: one
    title: x
    taxonomy: { owasp_llm: [LLM99:2025] }
    steps:
      - tool: payments/refund
        atack: true
`;
    const parsed = parseScenarios(text, 'bad.yaml');
    expect(parsed.scenarios).toEqual([]);
    const lines = parsed.problems.map(formatScenarioProblem);
    expect(lines).toContainEqual(
      expect.stringMatching(
        /^bad\.yaml:4:29 error scenario\.custom: `scenarios\.0\.taxonomy\.owasp_llm\.0` is not a known/,
      ),
    );
    expect(lines).toContainEqual(
      expect.stringMatching(/^bad\.yaml:6:9 error scenario\.unrecognized_keys: .*atack/),
    );
  });

  it('yaml syntax errors, duplicate ids and unreadable folders are problems, not crashes', async () => {
    const syntax = parseScenarios('scenarios:\n  - id: [unclosed\n', 'syntax.yaml');
    expect(syntax.problems[0]).toMatchObject({ file: 'syntax.yaml', code: 'yaml.syntax' });
    const one = `  - { id: same, title: t, taxonomy: { asi: [ASI01] }, steps: [{ labels: [untrusted] }] }\n`;
    const duplicate = parseScenarios(`scenarios:\n${one}${one}`, 'dup.yaml');
    expect(duplicate.problems).toEqual([
      {
        file: 'dup.yaml',
        line: 3,
        column: 11,
        code: 'scenario.duplicate_id',
        message: 'the id `same` is used twice',
      },
    ]);
    const missing = await loadScenarioDir(join(tmpdir(), 'posture-no-such-folder'));
    expect(missing.problems[0]).toMatchObject({
      code: 'file.unreadable',
      message: 'cannot read the folder (ENOENT)',
    });
  });
});
