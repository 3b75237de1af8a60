// `posture demo agent`: a scripted agent that meets every control of the demo policy through the
// gateway `posture start` runs (reads, a denied write, an approval, a loop, a rug pull, a
// redaction, an anomaly). `posture demo explain`: the same kind of session decided offline.
import { existsSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { createMemoryState, decide, locateRule } from '@posture/core';
import { CliError, type Io, type Register } from '../io.js';
import { readPolicy } from '../policy.js';
import { parseRequest } from '../request.js';
import { START_STATE_FILE, type StartState } from './start.js';

const SUPPORT_EXAMPLE =
  relative(process.cwd(), fileURLToPath(new URL('../../../../examples/support/', import.meta.url))) || '.';
/** The demo company's server name in examples/demo/posture.yaml; its tools are `northwind__<tool>`. */
const SERVER = 'northwind';
const AGENT_TOKEN_TTL_MS = 15 * 60 * 1000;

interface AgentOptions {
  gateway?: string;
  token?: string;
  state: string;
  waitForApproval?: boolean;
}

export const registerDemo: Register = (program, io, setExit) => {
  const demo = program
    .command('demo')
    .description('the bundled demo: a scripted agent against the demo company');
  demo
    .command('agent')
    .description('run a scripted agent through every control, against the gateway `posture start` runs')
    .option('--gateway <url>', "the gateway's /mcp URL (default: the one `posture start` saved)")
    .option('--token <jwt>', 'an agent token (default: a fresh one from the key `posture start` used)')
    .option('--state <file>', 'what `posture start` saved', join('.posture', START_STATE_FILE))
    .option('--wait-for-approval', 'let the refund wait (up to the gateway’s approval wait) for an approver')
    .action(async (options: AgentOptions) => {
      const failures = await runAgent(io, options);
      if (failures > 0) setExit(1);
    });
  demo
    .command('explain')
    .description('decide a scripted support session offline and explain each call')
    .option('--policy <file>', 'policy file', `${SUPPORT_EXAMPLE}/posture.yaml`)
    .option('--requests <file>', 'JSON lines of requests to decide in order', `${SUPPORT_EXAMPLE}/demo.jsonl`)
    .action((options: { policy: string; requests: string }) => explainSession(io, options));
};

type Verdict = 'allow' | 'deny' | 'approve' | 'confirm' | 'error';

interface Outcome {
  verdict: Verdict;
  code?: string;
  message: string;
  approvalId?: string;
  text: string;
}

async function connection(options: AgentOptions) {
  const state = readState(options.state);
  const gateway = options.gateway ?? state?.gateway;
  if (!gateway) {
    throw new CliError(
      `no gateway: run \`npx posture start\` first (it saves ${options.state}), or pass --gateway and --token`,
    );
  }
  let token = options.token ?? process.env.POSTURE_TOKEN;
  let who = state ? `${state.agent} acting for ${state.user}` : 'the agent the token names';
  if (!token && state) {
    // A token opens one MCP session, so each run gets a fresh one from the key start used.
    if (existsSync(state.key)) {
      const { TokenAuthority, loadOrCreateSigningKey } = await import('@posture/gateway');
      const authority = new TokenAuthority({
        key: await loadOrCreateSigningKey(state.key),
        audience: state.audience,
      });
      token = await authority.issue({ agent: state.agent, user: state.user, ttlMs: AGENT_TOKEN_TTL_MS });
    } else {
      token = state.token;
    }
  }
  if (!token)
    throw new CliError('no token: pass --token (from `posture token issue`) or run `posture start`');
  if (options.token) who = 'the agent the token names';
  return { gateway, token, who, state };
}

function readState(path: string): StartState | undefined {
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as StartState;
  } catch (error) {
    throw new CliError(`cannot read \`${path}\`: ${(error as Error).message}`);
  }
}

/** Runs the scripted session; returns how many calls Posture decided otherwise than the script expects. */
async function runAgent(io: Io, options: AgentOptions): Promise<number> {
  const { gateway, token, who, state } = await connection(options);
  const { Client: McpClient } = await import('@modelcontextprotocol/sdk/client/index.js');
  const { StreamableHTTPClientTransport } =
    await import('@modelcontextprotocol/sdk/client/streamableHttp.js');
  const client = new McpClient({ name: 'posture-demo-agent', version: '1.0.0' });
  try {
    await client.connect(
      new StreamableHTTPClientTransport(new URL(gateway), {
        requestInit: { headers: { authorization: `Bearer ${token}` } },
      }),
    );
  } catch (error) {
    throw new CliError(`cannot reach the gateway at ${gateway}: ${(error as Error).message}`);
  }
  const out = (line = '') => io.stdout(`${line}\n`);
  let surprises = 0;
  let step = 0;
  const heading = (title: string) => out(`\n${++step}. ${title}`);

  const call = async (
    tool: string,
    args: Record<string, unknown>,
    expected: Verdict,
    extra: { wait?: boolean } = {},
  ): Promise<Outcome> => {
    let outcome: Outcome;
    try {
      const result = await client.callTool(
        { name: `${SERVER}__${tool}`, arguments: args },
        undefined,
        extra.wait ? { onprogress: () => {}, timeout: 10 * 60_000, resetTimeoutOnProgress: true } : undefined,
      );
      outcome = readOutcome(result);
    } catch (error) {
      outcome = { verdict: 'error', message: (error as Error).message, text: '' };
    }
    const surprise = outcome.verdict !== expected;
    if (surprise) surprises++;
    const said = outcome.code ? `${outcome.code}: ${outcome.message}` : outcome.message;
    out(`   ${tool} ${JSON.stringify(args)}`);
    out(
      `     → ${outcome.verdict.toUpperCase()}${said ? `  ${said}` : ''}${surprise ? `  (expected ${expected})` : ''}`,
    );
    return outcome;
  };

  try {
    const listed = async () => (await client.listTools()).tools.map((tool) => tool.name);
    const tools = await listed();
    if (!tools.some((name) => name.startsWith(`${SERVER}__`))) {
      throw new CliError(
        `the gateway at ${gateway} does not serve the demo company's tools (${SERVER}__*); start it with \`npx posture start\``,
      );
    }
    out(`Northwind Outfitters' support agent (${who}) → ${gateway}`);

    heading('Reads are allowed: the agent has read access to every northwind tool');
    await call('list_orders', {}, 'allow');
    await call('get_order', { order_id: 'NW-5001' }, 'allow');

    heading('A write outside the allowlist is denied: only notes and tickets are granted');
    await call('add_note', { order_id: 'NW-5001', note: 'customer asked about delivery' }, 'allow');
    await call('update_customer', { customer_id: 'C-1002', email: 'tomas@example.net' }, 'deny');

    heading('A refund is tier 3: a human approves it, within the grant’s limits');
    await call('issue_refund', { order_id: 'NW-5002', amount: 900, currency: 'USD' }, 'deny');
    if (options.waitForApproval) out('   (waiting for an approver; approve it in the console)');
    const refund = await call(
      'issue_refund',
      { order_id: 'NW-5002', amount: 164, currency: 'USD' },
      options.waitForApproval ? 'allow' : 'approve',
      {
        wait: options.waitForApproval === true,
      },
    );
    if (refund.approvalId) {
      const id = refund.approvalId;
      out(`   Request ${id} waits for an approver. Approve or reject it:`);
      if (state?.console)
        out(
          `     in the console: ${state.console}/approvals/${id} (sign in as ${state.console_user ?? 'an approver'})`,
        );
      out(
        `     or: npx posture approvals approve ${id} --as ${state?.console_user ?? '<approver>'} --policy ${state?.policy ?? 'posture.yaml'}`,
      );
      out('   `npx posture demo agent --wait-for-approval` keeps the call waiting while you do.');
    }

    heading('A loop is stopped: the same call three times in a minute is the limit');
    for (let i = 0; i < 4; i++) await call('get_order', { order_id: 'NW-5003' }, i < 3 ? 'allow' : 'deny');

    heading('A rug pull: the server changes a tool after it was trusted');
    if ((await listed()).includes(`${SERVER}__get_shipment`)) {
      await call('get_shipment', { order_id: 'NW-5001' }, 'allow');
      // The server now rewrites get_shipment's description and says its tools changed.
      let still = true;
      for (let i = 0; i < 60 && still; i++) {
        await new Promise((r) => setTimeout(r, 50));
        still = (await listed()).includes(`${SERVER}__get_shipment`);
      }
      out(
        still
          ? '   the gateway still lists get_shipment'
          : '   the new description asks the model for the payment key; the gateway no longer lists the tool',
      );
    } else {
      out('   get_shipment is disabled already (its definition changed in an earlier run)');
    }
    await call('get_shipment', { order_id: 'NW-5001' }, 'deny');
    out('   An alert is raised; an admin reviews the new definition in the console (Inventory).');

    heading('Redaction: credentials and personal data never reach the model');
    const config = await call('get_config', { key: 'payments.api_key' }, 'allow');
    out(`     the agent sees: ${firstLine(config.text, 'value')}`);
    const customer = await call('get_customer', { customer_id: 'C-1001' }, 'allow');
    out(`     the agent sees: ${firstLine(customer.text, 'email')}, ${firstLine(customer.text, 'phone')}`);

    heading('An anomaly: a burst of denied calls raises an alert');
    for (let i = 0; i < 8; i++) {
      const id = `C-100${(i % 3) + 1}`;
      await call('update_customer', { customer_id: id, email: `changed-${i}@example.net` }, 'deny');
    }
    out('   Most of the agent’s last calls were denied: the policy’s `alerts.denials` threshold is crossed.');

    out('');
    out(state?.console ? `Now open ${state.console}:` : 'Now look at the evidence:');
    out('  Approvals  the refund waiting for an approver');
    out('  Audit      every call above, with its decision, rules and reasons (redacted)');
    out('  Alerts     the changed tool definition and the burst of denials');
    out('  Inventory  get_shipment, disabled until someone approves its new definition');
    if (!state?.console)
      out('(`npx posture audit tail`, `npx posture approvals list` show the same from the CLI)');
    if (surprises > 0) out(`\n${surprises} call(s) were decided otherwise than this script expects.`);
    return surprises;
  } finally {
    await client.close().catch(() => {});
  }
}

function readOutcome(result: Awaited<ReturnType<Client['callTool']>>): Outcome {
  const content = Array.isArray(result.content) ? result.content : [];
  const text = content
    .map((block) => (block && typeof block === 'object' && 'text' in block ? String(block.text) : ''))
    .join('\n');
  if (!result.isError) return { verdict: 'allow', message: '', text };
  const meta = (
    result._meta as
      | {
          posture?: {
            decision?: string;
            reasons?: Array<{ code: string; message: string }>;
            approval_id?: string;
          };
        }
      | undefined
  )?.posture;
  // The reason that raised or denied the call, not the grant that allowed it first.
  const reason = meta?.reasons?.find((r) => r.code !== 'grant.allow') ?? meta?.reasons?.[0];
  if (meta?.approval_id) {
    return {
      verdict: 'approve',
      ...(reason ? { code: reason.code } : {}),
      message: `pending approval ${meta.approval_id}`,
      approvalId: meta.approval_id,
      text,
    };
  }
  const verdict: Verdict = meta?.decision === 'deny' || reason ? 'deny' : 'error';
  return {
    verdict,
    ...(reason ? { code: reason.code } : {}),
    message: reason?.message ?? text,
    text,
  };
}

/** The line of a pretty-printed JSON result that holds `"key":`, trimmed. */
function firstLine(text: string, key: string): string {
  const line = text.split('\n').find((l) => l.includes(`"${key}"`));
  return (line ?? text.split('\n')[0] ?? '').trim().replace(/,$/, '');
}

async function explainSession(io: Io, options: { policy: string; requests: string }): Promise<void> {
  const { compiled, text } = await readPolicy(io, options.policy);
  const state = createMemoryState();
  const lines = (await io.readFile(options.requests)).split('\n');
  io.stdout(`Posture: deciding a scripted session against ${options.policy}\n\n`);
  let now = Date.parse('2026-01-05T09:00:00Z');
  let step = 0;
  for (const [index, line] of lines.entries()) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const parsed = parseRequest(JSON.parse(line));
    if ('error' in parsed) throw new CliError(`${options.requests}:${index + 1}: ${parsed.error}`);
    now = parsed.time ?? now + 1000;
    const { request } = parsed;
    const decision = decide(request, compiled, state, { now });
    step++;
    const args = request.args ? ` ${JSON.stringify(request.args)}` : '';
    io.stdout(`${step}. ${request.agent} for ${request.user ?? '(no user)'} → ${request.tool}${args}\n`);
    io.stdout(`   ${decision.decision.toUpperCase()}\n`);
    for (const [i, reason] of decision.reasons.entries()) {
      const rule = decision.rules[i] ?? decision.rules[0]!;
      const at = locateRule(text, rule);
      io.stdout(`   ${reason.code}: ${reason.message}  [${rule}${at ? ` line ${at.line}` : ''}]\n`);
    }
    io.stdout('\n');
  }
  io.stdout(
    'Next: `npx posture explain --policy examples/support/posture.yaml --agent support-bot --user alice --tool tickets/get_ticket`\n' +
      '      `npx posture check examples/*/posture.yaml`, `npx posture eval --policy … --input requests.jsonl`\n',
  );
}
