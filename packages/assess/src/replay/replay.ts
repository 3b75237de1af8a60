// Attack replay: each scenario's steps run through the real enforcer (memory stores, a fake clock
// moved per call) against a policy, once per agent. A scenario is stopped when one of its attack
// steps did not run — denied, or held for a human's approval — whichever tool the attacker tried.
import { compile, groupMembership, type CompiledPolicy, type PolicyFile } from '@posture/core';
import { createEnforcer, type CallResult, type Enforcer } from '@posture/sdk';
import {
  createMemoryApprovalQueue,
  createMemoryAuditLog,
  createMemoryInventory,
  toolDefinition,
  type Inventory,
} from '@posture/storage';
import { stepEveryMs, type Scenario, type Step } from './scenario.js';

/** At most this many catalog tools are tried for one step. */
const MAX_CANDIDATES = 10;
/** The replay's clock starts here (a Tuesday, 10:00 UTC: working hours). */
const START = Date.UTC(2026, 0, 6, 10, 0, 0);

export type Verdict = 'stopped' | 'not_stopped' | 'not_applicable';

/** How one call of the replay ended. */
export interface CallTrace {
  step: number;
  repetition: number;
  tool: string;
  status: 'ran' | 'redacted' | 'denied' | 'held' | 'failed' | 'error';
  rules: string[];
  code?: string;
}

export interface AgentRun {
  agent: string;
  user: string | undefined;
  verdict: Verdict;
  /** Why the scenario could not run as this agent (the policy does not declare it, nobody may run it). */
  note?: string;
  /** The attack step that was stopped (1-based), and by what. */
  stoppedAt?: {
    step: number;
    tool: string;
    status: 'denied' | 'held' | 'redacted';
    rules: string[];
    code?: string;
  };
  /** An attack step that ran, and the tool it ran with. */
  ranAt?: { step: number; tool: string };
  calls: CallTrace[];
}

export interface ScenarioResult {
  id: string;
  title: string;
  expect: 'stopped' | 'allowed';
  taxonomy: Scenario['taxonomy'];
  /** Stopped only when stopped for every agent it applies to. */
  verdict: Verdict;
  /** Whether the result is what the scenario expects (`not_applicable` passes). */
  pass: boolean;
  runs: AgentRun[];
}

export interface CoverageRow {
  id: string;
  scenarios: string[];
  stopped: number;
  not_stopped: number;
  not_applicable: number;
}

export interface ReplayReport {
  scenarios: ScenarioResult[];
  coverage: { owasp_llm: CoverageRow[]; asi: CoverageRow[]; atlas: CoverageRow[] };
  passed: boolean;
}

/** Replays the scenarios against a loaded policy file. */
export async function replay(policy: PolicyFile, scenarios: readonly Scenario[]): Promise<ReplayReport> {
  const compiled = compile(policy);
  const results: ScenarioResult[] = [];
  for (const scenario of scenarios) results.push(await replayScenario(compiled, scenario));
  return { scenarios: results, coverage: coverage(results), passed: results.every((r) => r.pass) };
}

async function replayScenario(compiled: CompiledPolicy, scenario: Scenario): Promise<ScenarioResult> {
  const agents = scenario.agent ? [scenario.agent] : Object.keys(compiled.policy.agents);
  const runs: AgentRun[] = [];
  for (const agent of agents) runs.push(await replayAs(compiled, scenario, agent));
  const applicable = runs.filter((run) => run.verdict !== 'not_applicable');
  // A scenario written for one agent that the policy does not have is a mistake, not a pass.
  const misnamed = scenario.agent !== undefined && !compiled.policy.agents[scenario.agent];
  const verdict: Verdict =
    applicable.length === 0
      ? 'not_applicable'
      : applicable.every((run) => run.verdict === 'stopped')
        ? 'stopped'
        : 'not_stopped';
  const pass =
    (verdict === 'not_applicable' && !misnamed) ||
    (scenario.expect === 'stopped' ? verdict === 'stopped' : verdict === 'not_stopped');
  return {
    id: scenario.id,
    title: scenario.title,
    expect: scenario.expect,
    taxonomy: scenario.taxonomy,
    verdict,
    pass,
    runs,
  };
}

async function replayAs(compiled: CompiledPolicy, scenario: Scenario, agent: string): Promise<AgentRun> {
  let now = START;
  const enforcer = createEnforcer({
    policy: compiled,
    audit: createMemoryAuditLog(),
    approvals: createMemoryApprovalQueue(),
    clock: () => now,
  });
  const inventory = createMemoryInventory();
  const user = runnerOf(compiled.policy, agent);
  if (!compiled.policy.agents[agent] || user === undefined) {
    const note = compiled.policy.agents[agent]
      ? `no user of the policy may run \`${agent}\``
      : `the policy declares no agent \`${agent}\``;
    return { agent, user, verdict: 'not_applicable', note, calls: [] };
  }
  const session = `replay-${scenario.id}`;
  const labels = new Set<string>();
  const calls: CallTrace[] = [];
  let stoppedAt: AgentRun['stoppedAt'];
  let ranAt: AgentRun['ranAt'];
  let attackSteps = 0;

  for (const [index, step] of scenario.steps.entries()) {
    const number = index + 1;
    if (!step.tool && !step.where) {
      for (const label of step.labels ?? []) labels.add(label);
      continue;
    }
    const candidates = candidatesFor(compiled, step).map((key) => (step.shadow ? shadowOf(key) : key));
    if (candidates.length === 0) continue; // the capability is not there: nothing to attack with
    if (step.attack) attackSteps++;
    let anyRan = false;
    let firstStop: AgentRun['stoppedAt'];
    for (const tool of candidates) {
      if (step.redefined !== undefined)
        await rugPull(compiled, inventory, tool, step.redefined, new Date(now));
      let stopped: Omit<CallTrace, 'step'> | undefined;
      for (let repetition = 1; repetition <= step.repeat; repetition++) {
        now += stepEveryMs(step);
        const trace = await callOnce(enforcer, inventory, step, {
          agent,
          user,
          session,
          tool,
          labels: [...labels],
          repetition,
        });
        calls.push({ ...trace, step: number });
        const ran =
          trace.status === 'ran' ||
          trace.status === 'failed' ||
          (trace.status === 'redacted' && !step.attack);
        if (!ran) {
          stopped = trace;
          break;
        }
      }
      if (!stopped) {
        anyRan = true;
        if (!step.attack) break; // a setup step needs one tool that works
        ranAt ??= { step: number, tool };
        break; // the attack succeeded with this tool
      }
      firstStop ??= {
        step: number,
        tool,
        status: stopped.status === 'held' || stopped.status === 'redacted' ? stopped.status : 'denied',
        rules: stopped.rules,
        ...(stopped.code ? { code: stopped.code } : {}),
      };
    }
    if (anyRan) for (const label of step.labels ?? []) labels.add(label);
    if (step.attack && !anyRan && firstStop) {
      stoppedAt = firstStop;
      break; // the attack is stopped; what follows depended on it
    }
  }
  const verdict: Verdict = stoppedAt ? 'stopped' : attackSteps === 0 ? 'not_applicable' : 'not_stopped';
  return {
    agent,
    user,
    verdict,
    ...(stoppedAt ? { stoppedAt } : {}),
    ...(ranAt && !stoppedAt ? { ranAt } : {}),
    calls,
  };
}

async function callOnce(
  enforcer: Enforcer,
  inventory: Inventory,
  step: Step,
  call: { agent: string; user: string; session: string; tool: string; labels: string[]; repetition: number },
): Promise<Omit<CallTrace, 'step'>> {
  const args = interpolate(step.args, call.repetition) as Record<string, unknown>;
  const toolCall = {
    agent: call.agent,
    user: call.user,
    session: call.session,
    tool: call.tool,
    args,
    labels: call.labels,
  };
  const [server, name] = splitKey(call.tool);
  const pinned = await inventory.tool(server, name);
  // As the gateway does: a tool whose definition changed since it was pinned is disabled.
  const result: CallResult =
    pinned && pinned.status !== 'approved'
      ? await enforcer.refuse(
          toolCall,
          {
            code: 'tool.definition_changed',
            message: `\`${call.tool}\` changed its definition since it was approved`,
          },
          ['inventory'],
        )
      : await enforcer.call(toolCall, async () => step.result ?? { ok: true });
  const base = { repetition: call.repetition, tool: call.tool };
  switch (result.status) {
    case 'ok': {
      // The call ran, but what it returned reached the agent only with secrets or personal data removed.
      const redacted = result.event.detail?.result_redactions;
      return Array.isArray(redacted) && redacted.length > 0
        ? { ...base, status: 'redacted', rules: result.decision.rules, code: 'data.redacted_result' }
        : { ...base, status: 'ran', rules: result.decision.rules };
    }
    case 'failed':
    case 'timed_out':
      return { ...base, status: 'failed', rules: result.decision.rules };
    case 'pending':
      return { ...base, status: 'held', rules: result.decision.rules, ...codeOf(result.decision.reasons) };
    case 'denied':
      return { ...base, status: 'denied', rules: result.decision.rules, ...codeOf(result.decision.reasons) };
    case 'error':
      return { ...base, status: 'error', rules: [], code: result.code };
  }
}

const codeOf = (reasons: readonly { code: string }[]) =>
  reasons.length > 0 ? { code: reasons[reasons.length - 1]!.code } : {};

/** Lists the tool as the policy describes it, pins that, then lists it with another description. */
async function rugPull(
  compiled: CompiledPolicy,
  inventory: Inventory,
  key: string,
  description: string,
  now: Date,
): Promise<void> {
  const [server, name] = splitKey(key);
  const declared = compiled.policy.servers[server]?.tools?.[name];
  const inputSchema = compiled.catalog.get(key)?.inputSchema;
  const original = toolDefinition(
    { name, description: declared?.description ?? '', ...(inputSchema ? { inputSchema } : {}) },
    server,
  );
  const [first] = await inventory.recordTools(server, [original], now);
  if (first?.seen === 'first') await inventory.approve(server, name, first.hash, 'first-seen', now);
  await inventory.recordTools(server, [{ ...original, description }], now);
}

const shadowOf = (key: string): string => {
  const [server, name] = splitKey(key);
  return `${server}-tools/${name}`;
};

/** The catalog tools a step may use, in the order it names them. */
function candidatesFor(compiled: CompiledPolicy, step: Step): string[] {
  const globs = step.tool === undefined ? [] : Array.isArray(step.tool) ? step.tool : [step.tool];
  const keys = [...compiled.catalog.keys()];
  const found: string[] = [];
  for (const glob of globs) {
    const pattern = globRegex(glob);
    for (const key of keys) if (pattern.test(key) && !found.includes(key)) found.push(key);
  }
  if (step.where) {
    const where = step.where;
    for (const [key, tool] of compiled.catalog) {
      if (found.includes(key)) continue;
      if (where.access !== undefined && tool.access !== where.access) continue;
      if (where.tier !== undefined && tool.tier !== where.tier) continue;
      if (where.external !== undefined && tool.external !== where.external) continue;
      if (where.irreversible !== undefined && tool.irreversible !== where.irreversible) continue;
      found.push(key);
    }
  }
  return found.slice(0, MAX_CANDIDATES);
}

function globRegex(glob: string): RegExp {
  const body = glob
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '[^/]*')
    .replace(/\?/g, '[^/]');
  return new RegExp(`^${body}$`);
}

function splitKey(key: string): [string, string] {
  const slash = key.indexOf('/');
  return [key.slice(0, slash), key.slice(slash + 1)];
}

function interpolate(value: unknown, repetition: number): unknown {
  if (typeof value === 'string') return value.replaceAll('{i}', String(repetition));
  if (Array.isArray(value)) return value.map((item) => interpolate(item, repetition));
  if (value && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolate(v, repetition)]));
  return value;
}

/** A user the policy lets run the agent: the first named directly, else the first member of a group. */
function runnerOf(policy: PolicyFile, agent: string): string | undefined {
  const runBy = policy.agents[agent]?.run_by ?? [];
  const direct = runBy.find((principal) => !principal.startsWith('group:') && policy.users[principal]);
  if (direct) return direct;
  const membership = groupMembership(policy);
  for (const principal of runBy) {
    if (!principal.startsWith('group:')) continue;
    const group = principal.slice(6);
    for (const [user, groups] of membership) if (groups.has(group)) return user;
  }
  return undefined;
}

function coverage(results: readonly ScenarioResult[]): ReplayReport['coverage'] {
  const table = (pick: (t: Scenario['taxonomy']) => string[]): CoverageRow[] => {
    const rows = new Map<string, CoverageRow>();
    // Controls (`expect: allowed`) are not attacks: they say nothing about coverage.
    for (const result of results.filter((r) => r.expect === 'stopped')) {
      for (const id of pick(result.taxonomy)) {
        const row = rows.get(id) ?? { id, scenarios: [], stopped: 0, not_stopped: 0, not_applicable: 0 };
        row.scenarios.push(result.id);
        row[result.verdict]++;
        rows.set(id, row);
      }
    }
    return [...rows.values()].sort((a, b) => a.id.localeCompare(b.id, 'en'));
  };
  return { owasp_llm: table((t) => t.owasp_llm), asi: table((t) => t.asi), atlas: table((t) => t.atlas) };
}
