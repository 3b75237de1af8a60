import {
  MITRE_ATLAS,
  OWASP_AGENTIC_2026,
  OWASP_LLM_2025,
  formatScenarioProblem,
  loadBuiltinScenarios,
  loadScenarioDir,
  replay,
  type AgentRun,
  type CoverageRow,
  type ReplayReport,
  type Scenario,
  type ScenarioProblem,
} from '@posture/assess';
import { CliError, type Register } from '../io.js';
import { readPolicy } from '../policy.js';

export const registerTest: Register = (program, io, setExit) => {
  program
    .command('test')
    .description(
      'replay attack scenarios (tool-call sequences, no model) against a policy: which are stopped, where and by which rule',
    )
    .requiredOption('--policy <file>', 'the policy file (posture.yaml)')
    .option('--scenarios <dir>', 'a folder of your own scenario files (*.yaml), run after the built-in ones')
    .option('--no-builtin', 'run only the scenarios of --scenarios')
    .option('--json', 'print the report as JSON')
    .action(async (options: { policy: string; scenarios?: string; builtin: boolean; json?: boolean }) => {
      const { policy } = await readPolicy(io, options.policy);
      const scenarios: Scenario[] = [];
      const problems: ScenarioProblem[] = [];
      for (const loaded of [
        options.builtin ? await loadBuiltinScenarios() : undefined,
        options.scenarios ? await loadScenarioDir(options.scenarios) : undefined,
      ]) {
        if (!loaded) continue;
        scenarios.push(...loaded.scenarios);
        problems.push(...loaded.problems);
      }
      const ids = new Set<string>();
      for (const scenario of scenarios) {
        if (ids.has(scenario.id))
          problems.push({
            file: options.scenarios ?? '',
            line: 1,
            column: 1,
            code: 'scenario.duplicate_id',
            message: `the id \`${scenario.id}\` is used twice (a built-in scenario has it too)`,
          });
        ids.add(scenario.id);
      }
      if (problems.length > 0) {
        for (const problem of problems) io.stderr(`${formatScenarioProblem(problem)}\n`);
        throw new CliError(`${problems.length} problem${problems.length === 1 ? '' : 's'} in the scenarios`);
      }
      if (scenarios.length === 0) throw new CliError('no scenarios to run');
      const report = await replay(policy, scenarios);
      io.stdout(options.json ? `${JSON.stringify(report, null, 2)}\n` : text(report, options.policy));
      setExit(report.passed ? 0 : 1);
    });
};

const VERDICT_LABEL = { stopped: 'stopped', not_stopped: 'NOT STOPPED', not_applicable: 'n/a' } as const;

function text(report: ReplayReport, file: string): string {
  const lines = [`${report.scenarios.length} scenarios against ${file}`, ''];
  const width = Math.max(...report.scenarios.map((s) => s.id.length));
  for (const scenario of report.scenarios) {
    const label =
      scenario.expect === 'allowed'
        ? scenario.verdict === 'stopped'
          ? 'BLOCKED'
          : scenario.verdict === 'not_stopped'
            ? 'runs'
            : 'n/a'
        : VERDICT_LABEL[scenario.verdict];
    lines.push(
      `${scenario.pass ? ' ' : '✗'} ${label.padEnd(11)} ${scenario.id.padEnd(width)}  ${scenario.title}`,
    );
    for (const run of scenario.runs) lines.push(`    ${run.agent}: ${describeRun(run)}`);
  }
  lines.push('', 'coverage (stopped / applicable scenarios)');
  const names = new Map(
    [...OWASP_LLM_2025, ...OWASP_AGENTIC_2026, ...MITRE_ATLAS].map((e) => [e.id, e.name]),
  );
  const row = (r: CoverageRow) => {
    const applicable = r.stopped + r.not_stopped;
    const share = applicable === 0 ? 'n/a' : `${r.stopped}/${applicable}`;
    return `  ${r.id.padEnd(14)} ${share.padEnd(6)} ${names.get(r.id) ?? ''}`;
  };
  for (const table of [report.coverage.owasp_llm, report.coverage.asi, report.coverage.atlas])
    lines.push(...table.map(row));
  const count = (verdict: string) => report.scenarios.filter((s) => s.verdict === verdict).length;
  const failed = report.scenarios.filter((s) => !s.pass).length;
  lines.push(
    '',
    `${count('stopped')} stopped, ${count('not_stopped')} not stopped, ${count('not_applicable')} not applicable` +
      (failed === 0 ? ': every scenario as expected' : `: ${failed} not as expected`),
    '',
  );
  return lines.join('\n');
}

function describeRun(run: AgentRun): string {
  if (run.note) return run.note;
  if (run.stoppedAt) {
    const how = { denied: 'denied', held: 'held for approval', redacted: 'result redacted' }[
      run.stoppedAt.status
    ];
    const code = run.stoppedAt.code ? ` (${run.stoppedAt.code})` : '';
    return `${how} at step ${run.stoppedAt.step}, ${run.stoppedAt.tool}, by ${run.stoppedAt.rules.join(', ') || 'the enforcer'}${code}`;
  }
  if (run.ranAt) return `step ${run.ranAt.step} ran ${run.ranAt.tool}`;
  return 'no tool of the policy fits the attack';
}
