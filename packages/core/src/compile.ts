import type { Decision, McpTool, Obligations, Reason, Tier, Verdict } from './types.js';
import { ACCESS_RANK, buildCatalog, groupMembership, usersOf, type CatalogTool } from './policy/catalog.js';
import { DEFAULT_TOKEN_TTL_MS } from './policy/check.js';
import { constraintCompiler, type ArgumentCheck } from './policy/constraints.js';
import type { DataRule, Grant, Limits, PolicyFile } from './policy/schema.js';
import { createDetector, type Detector } from './data/detector.js';
import { durationMs, hash53, parseRate, toolMatcher, type ToolMatcher } from './text.js';
import type { EgressGuard, PathGuard } from './guards.js';

const DEFAULT_EGRESS: EgressGuard = { private: 'deny', allow: [] };

/**
 * The policy prepared for evaluation: every agent × tool pair is resolved once, so deciding is
 * a few map lookups, the argument checks and the stateful limits.
 */
export interface CompiledPolicy {
  readonly policy: PolicyFile;
  readonly catalog: ReadonlyMap<string, CatalogTool>;
  readonly agents: ReadonlyMap<string, CompiledAgent>;
  readonly users: ReadonlySet<string>;
  /** Finds secrets and personal data, with the policy's own patterns; shared by every plan. */
  readonly detector: Detector;
}

/** A `data.rules` entry that stops arguments carrying some classes from reaching a tool. */
export interface ArgumentRule {
  rule: string;
  /** Families (`secrets`, `pii`) and classes (`aws_access_key`, custom patterns) it blocks. */
  blocks: ReadonlySet<string>;
}

export interface CompiledAgent {
  readonly name: string;
  readonly runBy: ReadonlySet<string>;
  /** The longest its tokens may live (`token_ttl`, default one hour). */
  readonly tokenTtlMs: number;
  readonly plans: ReadonlyMap<string, Plan>;
  readonly denials: {
    readonly userMissing: Decision;
    readonly userUnknown: Decision;
    readonly userNotAllowed: Decision;
    readonly toolUnknown: Decision;
  };
}

export interface RateLimit {
  rule: string;
  key: string;
  limit: number;
  windowMs: number;
}

/** A control that raises or stops an allowed call. */
export interface Control {
  verdict: Exclude<Verdict, 'allow'>;
  rule: string;
  reason: Reason;
  approval?: NonNullable<Obligations['approval']>;
}

export interface FlowRule {
  after: readonly string[];
  control: Control;
}

export interface GrantPlan {
  rule: string;
  checks: readonly ArgumentCheck[];
  rate: RateLimit | undefined;
  timeoutMs: number | undefined;
  /** Outcomes when no data-flow rule fires: plain, with a verified approval, confirmed. */
  outcome: { plain: Decision; approved: Decision; confirmed: Decision };
  /** Outcomes by the bit mask of the flows that fired, filled on first use. */
  byFlows: Map<number, { plain: Decision; approved: Decision; confirmed: Decision }>;
}

/** Everything needed to decide one agent's calls to one tool. */
export interface Plan {
  readonly tool: CatalogTool;
  /** Set when the outcome never depends on the call: no grant covers the tool. */
  readonly fixed: Decision | undefined;
  readonly denies: readonly { rule: string; checks: readonly ArgumentCheck[]; decision: Decision }[];
  readonly grants: readonly GrantPlan[];
  readonly maxCalls: { max: number; rule: string } | undefined;
  readonly rate: RateLimit | undefined;
  readonly loop: { repeats: number; withinMs: number; rule: string; keep: number; seed: number } | undefined;
  readonly controls: readonly Control[];
  readonly flows: readonly FlowRule[];
  /** `data.rules` that deny calls whose arguments carry a blocked class. */
  readonly argumentRules: readonly ArgumentRule[];
  /** Where path and URL arguments may point (`args.path`, `egress.*`). */
  readonly guards: ArgumentGuards;
  /** Whether deciding reads or writes session state at all. */
  readonly stateful: boolean;
}

export interface ArgumentGuards {
  paths: (PathGuard & { rule: string }) | undefined;
  egress: EgressGuard & { rule: string };
}

export interface CompileOptions {
  /** Tools discovered from upstream servers (`tools/list`), by server name. */
  discovered?: Record<string, McpTool[]>;
}

/** Prepares a schema-valid policy for `decide()`. Throws only on a policy that failed `loadPolicy`. */
export function compile(policy: PolicyFile, options: CompileOptions = {}): CompiledPolicy {
  const catalog = buildCatalog(policy, options.discovered);
  const membership = groupMembership(policy);
  const compileConstraint = constraintCompiler();
  const detector = createDetector(policy.data.patterns ? { patterns: policy.data.patterns } : {});
  const dataRules = policy.data.rules.map((rule, i) => ({
    rule,
    id: rule.id ? `data.rules.${rule.id}` : `data.rules[${i}]`,
    matches: toolMatcher(rule.tools),
  }));
  const flows = policy.data.flows.map((flow, i) => ({
    flow,
    rule: flow.id ? `data.flows.${flow.id}` : `data.flows[${i}]`,
    matches: flow.tools ? toolMatcher(flow.tools) : undefined,
  }));

  const agents = new Map<string, CompiledAgent>();
  for (const [name, agent] of Object.entries(policy.agents)) {
    const limits = resolveLimits(policy, name);
    const grants = agent.grants.map((grant, i) => ({
      grant,
      rule: grant.id ? `agents.${name}.grants.${grant.id}` : `agents.${name}.grants[${i}]`,
      matches: toolMatcher(grant.tools),
    }));
    // Compiling a JSON Schema costs far more than using it: once per grant, not per tool.
    const compiledChecks = new Map<Grant, ArgumentCheck[]>();
    const checksOf = (grant: Grant, rule: string): ArgumentCheck[] => {
      let checks = compiledChecks.get(grant);
      if (!checks) {
        checks = Object.entries(grant.when ?? {}).map(([arg, schema]) => {
          const { validate, error } = compileConstraint(schema);
          if (!validate) throw new Error(`invalid constraint at ${rule}.when.${arg}: ${error}`);
          return { arg, rule: `${rule}.when.${arg}`, validate };
        });
        compiledChecks.set(grant, checks);
      }
      return checks;
    };

    const plans = new Map<string, Plan>();
    for (const tool of catalog.values()) {
      plans.set(tool.key, planFor(policy, name, tool, grants, limits, flows, dataRules, checksOf));
    }
    const deny = (code: string, message: string, rule: string) => denial(rule, code, message);
    agents.set(name, {
      name,
      runBy: usersOf(agent.run_by, membership),
      tokenTtlMs: agent.token_ttl === undefined ? DEFAULT_TOKEN_TTL_MS : durationMs(agent.token_ttl),
      plans,
      denials: {
        userMissing: deny(
          'user.missing',
          `agent \`${name}\` acts for a user, and the call names none`,
          `agents.${name}.run_by`,
        ),
        userUnknown: deny('user.unknown', 'the user is not declared in the policy', 'users'),
        userNotAllowed: deny(
          'user.not_allowed',
          `the user may not run agent \`${name}\``,
          `agents.${name}.run_by`,
        ),
        toolUnknown: deny('tool.unknown', 'the tool is not in the catalog', 'servers'),
      },
    });
  }
  return { policy, catalog, agents, users: new Set(Object.keys(policy.users)), detector };
}

interface ResolvedLimits {
  values: Limits;
  /** Which policy path each limit came from. */
  source: Partial<Record<keyof Limits, string>>;
}

function resolveLimits(policy: PolicyFile, agent: string): ResolvedLimits {
  const values: Limits = {};
  const source: ResolvedLimits['source'] = {};
  const layers: Array<[Limits | undefined, string]> = [
    [policy.limits.default, 'limits.default'],
    [policy.agents[agent]?.limits, `agents.${agent}.limits`],
  ];
  for (const [layer, path] of layers) {
    for (const key of ['rate', 'timeout', 'max_calls', 'loop'] as const) {
      if (layer?.[key] === undefined) continue;
      (values as Record<string, unknown>)[key] = layer[key];
      source[key] = `${path}.${key}`;
    }
  }
  return { values, source };
}

function planFor(
  policy: PolicyFile,
  agent: string,
  tool: CatalogTool,
  grants: Array<{ grant: Grant; rule: string; matches: ToolMatcher }>,
  limits: ResolvedLimits,
  flows: Array<{ flow: PolicyFile['data']['flows'][number]; rule: string; matches?: ToolMatcher }>,
  dataRules: Array<{ rule: DataRule; id: string; matches: ToolMatcher }>,
  checksOf: (grant: Grant, rule: string) => ArgumentCheck[],
): Plan {
  const applicable = dataRules.filter(({ matches }) => matches(tool.server, tool.name));
  const blocks = (rule: DataRule) =>
    new Set(rule.block.map((name) => (name === 'secret' ? 'secrets' : name)));
  const argumentRules: ArgumentRule[] = applicable
    .filter(({ rule }) => rule.direction !== 'out' && rule.action === 'deny')
    .map(({ rule, id }) => ({ rule: id, blocks: blocks(rule) }));
  const redactArguments = applicable.filter(
    ({ rule }) => rule.direction !== 'out' && rule.action === 'redact',
  );
  const resultRules = applicable.filter(({ rule }) => rule.direction !== 'in');
  const matching = grants.filter(({ matches }) => matches(tool.server, tool.name));
  const denies = matching
    .filter(({ grant }) => grant.effect === 'deny')
    .map(({ grant, rule }) => ({
      rule,
      checks: checksOf(grant, rule),
      decision: denial(rule, 'grant.deny', `a deny rule of agent \`${agent}\` covers \`${tool.key}\``),
    }));
  const allows = matching.filter(({ grant }) => grant.effect === 'allow');
  const covering = allows.filter(({ grant }) => ACCESS_RANK[grant.access] >= ACCESS_RANK[tool.access]);

  let fixed: Decision | undefined;
  if (allows.length === 0) {
    fixed = denial(
      `agents.${agent}.grants`,
      'grant.missing',
      `no grant of agent \`${agent}\` covers \`${tool.key}\` (default deny)`,
    );
  } else if (covering.length === 0) {
    fixed = denial(
      allows.map(({ rule }) => rule),
      'grant.access',
      `\`${tool.key}\` needs ${tool.access} access; the grants of agent \`${agent}\` that match it give ${[...new Set(allows.map(({ grant }) => grant.access))].join(', ')}`,
    );
  }

  const controls = tierControls(policy, tool);
  const approvalFallback = approvalFor(policy, tool.tier, agent);
  const flowRules: FlowRule[] = flows
    .filter(
      ({ flow, matches }) =>
        (!flow.tiers || flow.tiers.includes(tool.tier)) &&
        (!matches || matches(tool.server, tool.name)) &&
        (!flow.external || tool.external),
    )
    .map(({ flow, rule }) => ({
      after: flow.after,
      control: {
        verdict: flow.require === 'approval' ? 'approve' : flow.require,
        rule,
        reason: {
          code: `flow.${flow.require}`,
          message: `the session has carried ${flow.after.map((c) => `\`${c}\``).join(' or ')} data, so tier-${tool.tier} \`${tool.key}\` ${flow.require === 'deny' ? 'is denied' : `needs ${flow.require}`}`,
        },
        ...(flow.require === 'approval' ? { approval: approvalFallback } : {}),
      },
    }));

  if (tool.accepts) {
    // Every confidential class the tool does not accept stops the call once the session has it.
    const refused = [
      ...new Set([...knownClasses(policy), ...flows.flatMap(({ flow }) => flow.after)]),
    ].filter((label) => !NOT_CONFIDENTIAL.has(label) && !tool.accepts!.includes(label));
    if (refused.length > 0) {
      flowRules.push({
        after: refused,
        control: {
          verdict: 'deny',
          rule: `servers.${tool.server}.tools.${tool.name}.accepts`,
          reason: {
            code: 'flow.accepts',
            message: `\`${tool.key}\` accepts only ${tool.accepts.length > 0 ? tool.accepts.map((c) => `\`${c}\``).join(', ') : 'non-confidential data'}, and the session has carried other confidential data`,
          },
        },
      });
    }
  }

  const base: Obligations = {};
  if (policy.data.redact.length > 0) base.redact = [...policy.data.redact];
  // What the enforcer does with data after the decision: redact arguments before they reach the
  // tool; block or redact results before they reach the agent.
  if (redactArguments.length > 0) {
    base.redact_arguments = [...new Set(redactArguments.flatMap(({ rule }) => [...blocks(rule)]))];
  }
  const resultBlocks = resultRules.filter(({ rule }) => rule.action === 'deny');
  const resultRedactions = resultRules.filter(({ rule }) => rule.action === 'redact');
  if (resultBlocks.length > 0) {
    base.block_results = [...new Set(resultBlocks.flatMap(({ rule }) => [...blocks(rule)]))];
  }
  if (resultRedactions.length > 0) {
    base.redact_results = [...new Set(resultRedactions.flatMap(({ rule }) => [...blocks(rule)]))];
  }
  if (tool.returns.length > 0) base.labels = [...tool.returns];

  const grantPlans: GrantPlan[] = covering.map(({ grant, rule }) => {
    const timeout = grant.timeout ?? limits.values.timeout;
    const obligations: Obligations = { ...base, ...(timeout ? { timeout_ms: durationMs(timeout) } : {}) };
    const allowReason: Reason = {
      code: 'grant.allow',
      message: `\`${tool.key}\` is granted to agent \`${agent}\` for ${grant.access}`,
    };
    const outcome = (approved: boolean, confirmed: boolean) =>
      freezeDecision(resolveControls(rule, allowReason, obligations, controls, approved, confirmed));
    return {
      rule,
      checks: checksOf(grant, rule),
      // Every plan has every property, so that V8 sees one object shape on the hot path.
      rate: grant.rate
        ? { rule: `${rule}.rate`, key: `${agent}\u0000${rule}`, ...parseRate(grant.rate) }
        : undefined,
      timeoutMs: timeout ? durationMs(timeout) : undefined,
      outcome: {
        plain: outcome(false, false),
        approved: outcome(true, false),
        confirmed: outcome(false, true),
      },
      byFlows: new Map(),
    };
  });

  const { values, source } = limits;
  const loop = values.loop
    ? {
        repeats: values.loop.repeats,
        withinMs: durationMs(values.loop.within),
        rule: source.loop!,
        keep: Math.max(16, 2 * values.loop.repeats + 2),
        // Fingerprints are per tool: the same arguments to another tool are another call.
        seed: Number.parseInt(hash53(tool.key), 36) % 0x7fffffff,
      }
    : undefined;
  const maxCalls = values.max_calls ? { max: values.max_calls, rule: source.max_calls! } : undefined;
  const rate = values.rate ? { rule: source.rate!, key: agent, ...parseRate(values.rate) } : undefined;
  return {
    tool,
    fixed,
    denies,
    grants: grantPlans,
    maxCalls,
    rate,
    loop,
    controls,
    flows: flowRules,
    argumentRules,
    guards: {
      paths: tool.paths
        ? { ...tool.paths, rule: `servers.${tool.server}.tools.${tool.name}.paths` }
        : undefined,
      egress: { ...(policy.egress ?? DEFAULT_EGRESS), rule: 'egress' },
    },
    stateful:
      maxCalls !== undefined ||
      rate !== undefined ||
      loop !== undefined ||
      flowRules.length > 0 ||
      tool.returns.length > 0 ||
      grantPlans.some((g) => g.rate),
  };
}

/** Labels about trust or openness rather than confidentiality: `accepts` does not restrict them. */
const NOT_CONFIDENTIAL = new Set(['untrusted', 'public', 'external']);

/** Every class a session can carry under this policy. */
function knownClasses(policy: PolicyFile): string[] {
  return [
    'pii',
    'secret',
    'secrets',
    'internal',
    ...Object.keys(policy.data.classes ?? {}),
    ...Object.values(policy.servers).flatMap((server) =>
      Object.values(server.tools ?? {}).flatMap((t) => t.returns ?? []),
    ),
  ];
}

/** The tier's controls and the tool's own irreversibility, fixed per tool. */
function tierControls(policy: PolicyFile, tool: CatalogTool): Control[] {
  const controls: Control[] = [];
  const tier = policy.tiers[tool.tier];
  if (tier?.approval) {
    controls.push({
      verdict: 'approve',
      rule: `tiers.${tool.tier}.approval`,
      reason: { code: 'tier.approval', message: `tier-${tool.tier} \`${tool.key}\` needs approval` },
      approval: {
        approvers: [...tier.approval.approvers],
        step_up: tier.approval.step_up,
        expires_ms: durationMs(tier.approval.expires),
      },
    });
  }
  if (tier?.confirm) {
    controls.push({
      verdict: 'confirm',
      rule: `tiers.${tool.tier}.confirm`,
      reason: {
        code: 'tier.confirm',
        message: `tier-${tool.tier} \`${tool.key}\` needs the user's confirmation`,
      },
    });
  }
  // Safe default: with no word on tier 3 at all, its tools still need the user's confirmation.
  if (tool.tier === 3 && policy.tiers[3] === undefined) {
    controls.push({
      verdict: 'confirm',
      rule: 'tiers.3',
      reason: {
        code: 'tier.default_confirm',
        message: `tier-3 \`${tool.key}\` needs the user's confirmation (no tier-3 controls are set)`,
      },
    });
  }
  if (tool.irreversible) {
    controls.push({
      verdict: 'confirm',
      rule: `servers.${tool.server}.tools.${tool.name}.irreversible`,
      reason: {
        code: 'tool.irreversible',
        message: `\`${tool.key}\` cannot be undone, so the user must confirm it`,
      },
    });
  }
  return controls;
}

function approvalFor(policy: PolicyFile, tier: Tier, agent: string): NonNullable<Obligations['approval']> {
  const approval = policy.tiers[tier]?.approval ?? policy.tiers[3]?.approval;
  if (approval) {
    return {
      approvers: [...approval.approvers],
      step_up: approval.step_up,
      expires_ms: durationMs(approval.expires),
    };
  }
  // Nobody named: the agent's owner answers for it.
  return { approvers: [policy.agents[agent]!.owner], step_up: false, expires_ms: 15 * 60_000 };
}

/**
 * Combines a granted call with the controls that apply to it. Deny beats approve beats confirm
 * beats allow; a verified approval satisfies approve and confirm, a confirmation only confirm.
 */
export function resolveControls(
  grantRule: string,
  allowReason: Reason,
  obligations: Obligations,
  controls: readonly Control[],
  approved: boolean,
  confirmed: boolean,
): Decision {
  const denies = controls.filter((c) => c.verdict === 'deny');
  if (denies.length > 0) {
    return {
      decision: 'deny',
      rules: denies.map((c) => c.rule),
      reasons: denies.map((c) => c.reason),
      obligations: {},
    };
  }
  const pending = controls.filter((c) => !(approved || (confirmed && c.verdict === 'confirm')));
  const verdict: Verdict = pending.some((c) => c.verdict === 'approve')
    ? 'approve'
    : pending.length > 0
      ? 'confirm'
      : 'allow';
  const rules = [grantRule, ...pending.map((c) => c.rule)];
  const reasons = [allowReason, ...pending.map((c) => c.reason)];
  const result: Obligations = { ...obligations };
  const approval = pending.find((c) => c.approval)?.approval;
  if (verdict === 'approve' && approval) result.approval = approval;
  if (pending.some((c) => c.verdict === 'confirm')) result.confirm = true;
  if (approved && controls.length > 0) {
    reasons.push({ code: 'approval.granted', message: 'a verified approval covers this exact call' });
  } else if (confirmed && controls.some((c) => c.verdict === 'confirm')) {
    reasons.push({ code: 'confirm.given', message: 'the user confirmed this exact call' });
  }
  return { decision: verdict, rules, reasons, obligations: result };
}

function denial(rules: string | string[], code: string, message: string): Decision {
  return freezeDecision({
    decision: 'deny',
    rules: Array.isArray(rules) ? rules : [rules],
    reasons: [{ code, message }],
    obligations: {},
  });
}

/** Shared decisions are frozen so that no caller can change what the next caller receives. */
export function freezeDecision(decision: Decision): Decision {
  for (const reason of decision.reasons) Object.freeze(reason);
  Object.freeze(decision.rules);
  Object.freeze(decision.reasons);
  if (decision.obligations.approval) Object.freeze(decision.obligations.approval.approvers);
  Object.freeze(decision.obligations.approval);
  Object.freeze(decision.obligations.redact);
  Object.freeze(decision.obligations.labels);
  Object.freeze(decision.obligations);
  return Object.freeze(decision);
}
