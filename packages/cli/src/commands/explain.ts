import { createMemoryState, decide, locateRule, type Decision } from '@posture/core';
import { CliError, readAll } from '../io.js';
import type { Register } from '../io.js';
import { readPolicy } from '../policy.js';
import { parseRequest } from '../request.js';

interface ExplainOptions {
  policy: string;
  request?: string;
  agent?: string;
  user?: string;
  tool?: string;
  args?: string;
  session?: string;
  labels?: string;
  json?: boolean;
}

export const registerExplain: Register = (program, io) => {
  program
    .command('explain')
    .description('decide one request and explain why: the deciding rules with their place in the policy file')
    .requiredOption('--policy <file>', 'policy file')
    .option('--request <json>', 'the request as JSON (`-` reads it from standard input)')
    .option('--agent <name>', 'the calling agent')
    .option('--user <name>', 'the user the agent acts for')
    .option('--tool <server/tool>', 'the tool')
    .option('--args <json>', 'the arguments as a JSON object')
    .option('--session <id>', 'the session id')
    .option('--labels <classes>', 'data classes the session already carries, comma-separated')
    .option('--json', 'print the decision as JSON')
    .action(async (options: ExplainOptions) => {
      const { compiled, text } = await readPolicy(io, options.policy);
      const raw = options.request === '-' ? await readAll(io.stdin()) : options.request;
      let value: Record<string, unknown>;
      try {
        value = raw !== undefined ? JSON.parse(raw) : {};
        if (options.args !== undefined) value.args = JSON.parse(options.args);
      } catch (error) {
        throw new CliError(`the request is not JSON: ${(error as Error).message}`);
      }
      for (const key of ['agent', 'user', 'tool', 'session'] as const) {
        if (options[key] !== undefined) value[key] = options[key];
      }
      if (options.labels !== undefined) value.labels = options.labels.split(',').filter(Boolean);
      const parsed = parseRequest(value);
      if ('error' in parsed) throw new CliError(`the request is unusable: ${parsed.error}`);
      const decision = decide(parsed.request, compiled, createMemoryState(), {
        now: parsed.time ?? Date.now(),
      });
      if (options.json) {
        io.stdout(`${JSON.stringify(decision, null, 2)}\n`);
        return;
      }
      io.stdout(
        explainText(decision, parsed.request.tool, compiled.catalog.get(parsed.request.tool), (rule) => {
          const at = locateRule(text, rule);
          return at ? `${options.policy}:${at.line}:${at.column}` : undefined;
        }),
      );
    });
};

function explainText(
  decision: Decision,
  toolKey: string,
  tool: { access: string; tier: number; irreversible: boolean } | undefined,
  where: (rule: string) => string | undefined,
): string {
  const lines = [`decision: ${decision.decision}`];
  lines.push(
    tool
      ? `tool: ${toolKey} (${tool.access}, tier ${tool.tier}${tool.irreversible ? ', irreversible' : ''})`
      : `tool: ${toolKey} (not in the catalog)`,
  );
  lines.push('rules:');
  const width = Math.max(...decision.rules.map((r) => r.length));
  for (const rule of decision.rules) {
    const at = where(rule);
    lines.push(`  ${rule.padEnd(width)}${at ? `  ${at}` : ''}`);
  }
  lines.push('reasons:');
  for (const reason of decision.reasons) lines.push(`  ${reason.code}: ${reason.message}`);
  const o = decision.obligations;
  const obligations: string[] = [];
  if (o.approval) {
    obligations.push(
      `approval by ${o.approval.approvers.join(', ')}${o.approval.step_up ? ' with step-up' : ''}, expires after ${o.approval.expires_ms / 60_000}m`,
    );
  }
  if (o.confirm) obligations.push('the user confirms this exact call');
  if (o.timeout_ms !== undefined) obligations.push(`timeout ${o.timeout_ms}ms`);
  if (o.redact) obligations.push(`redact ${o.redact.join(', ')} in evidence`);
  if (o.labels) obligations.push(`the session carries ${o.labels.join(', ')} afterwards`);
  if (obligations.length > 0) {
    lines.push('obligations:');
    for (const line of obligations) lines.push(`  ${line}`);
  }
  return `${lines.join('\n')}\n`;
}
