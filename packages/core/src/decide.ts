import type { Control, CompiledPolicy, GrantPlan, Plan, RateLimit } from './compile.js';
import { freezeDecision, resolveControls } from './compile.js';
import type { ArgumentCheck } from './policy/constraints.js';
import { failureMessage } from './policy/constraints.js';
import type { DecisionState, RateLog, SessionState } from './state.js';
import { fingerprintOf } from './text.js';
import { checkPathArguments, checkUrlArguments } from './guards.js';
import type { DecideContext, Decision, DecisionRequest } from './types.js';

const AGENT_UNKNOWN = freezeDecision({
  decision: 'deny',
  rules: ['agents'],
  reasons: [{ code: 'agent.unknown', message: 'the agent is not declared in the policy' }],
  obligations: {},
});

const REQUEST_INVALID = freezeDecision({
  decision: 'deny',
  rules: ['request'],
  reasons: [{ code: 'request.invalid', message: 'the call is malformed: `args` must be an object' }],
  obligations: {},
});

const EMPTY_ARGS: Record<string, unknown> = Object.freeze({}) as Record<string, unknown>;

/**
 * Decides one tool call. Pure but for `state`, which it reads and, for an allowed call, updates.
 * Never throws: anything unexpected denies (fail closed) with the error as the reason.
 */
export function decide(
  request: DecisionRequest,
  compiled: CompiledPolicy,
  state: DecisionState,
  context: DecideContext,
): Decision {
  try {
    return decideOrThrow(request, compiled, state, context);
  } catch (error) {
    return {
      decision: 'deny',
      rules: ['internal'],
      reasons: [
        { code: 'internal.error', message: `deciding failed: ${(error as Error)?.message ?? String(error)}` },
      ],
      obligations: {},
    };
  }
}

function decideOrThrow(
  request: DecisionRequest,
  compiled: CompiledPolicy,
  state: DecisionState,
  context: DecideContext,
): Decision {
  const agent = typeof request.agent === 'string' ? compiled.agents.get(request.agent) : undefined;
  if (!agent) return AGENT_UNKNOWN;
  const user = request.user;
  if (typeof user !== 'string' || user === '') return agent.denials.userMissing;
  if (!agent.runBy.has(user)) {
    return compiled.users.has(user) ? agent.denials.userNotAllowed : agent.denials.userUnknown;
  }
  const plan = typeof request.tool === 'string' ? agent.plans.get(request.tool) : undefined;
  if (!plan) return agent.denials.toolUnknown;
  if (plan.fixed && plan.denies.length === 0) return plan.fixed;

  const args = request.args ?? EMPTY_ARGS;
  if (typeof args !== 'object' || args === null || Array.isArray(args)) return REQUEST_INVALID;

  // An explicit deny is named even where no grant would have allowed the call anyway.
  for (const deny of plan.denies) {
    if (allPass(deny.checks, args)) return deny.decision;
  }
  if (plan.fixed) return plan.fixed;

  let grant: GrantPlan | undefined;
  let failures: Array<{ check: ArgumentCheck; value: unknown }> | undefined;
  for (const candidate of plan.grants) {
    if (allPass(candidate.checks, args)) {
      grant = candidate;
      break;
    }
    // Report every failing argument, so the agent can correct them all at once. Each check
    // runs again here to leave its own errors in place for the message.
    for (const check of candidate.checks) {
      if (!passes(check, args)) (failures ??= []).push({ check, value: args[check.arg] });
    }
  }
  if (!grant) {
    return {
      decision: 'deny',
      rules: failures!.map((f) => f.check.rule),
      reasons: failures!.map((f) => ({
        code: 'constraint.failed',
        message: failureMessage(f.check, f.value),
      })),
      obligations: {},
    };
  }

  if (plan.argumentRules.length > 0) {
    const blocked = blockedArgument(plan, compiled, args);
    if (blocked) return blocked;
  }
  const guarded = guardedArgument(plan, args);
  if (guarded) return guarded;

  const approved = request.approval !== undefined && request.approval !== null;
  const confirmed = request.confirmed === true;
  if (!plan.stateful && (request.labels === undefined || request.labels.length === 0)) {
    return approved ? grant.outcome.approved : confirmed ? grant.outcome.confirmed : grant.outcome.plain;
  }

  const session = state.session(request.session ?? `${request.agent}\u0000${user}`);
  const now = context.now;

  if (plan.maxCalls && session.calls >= plan.maxCalls.max) {
    return limitDenial(
      plan.maxCalls.rule,
      'limit.max_calls',
      `the session has made ${session.calls} calls; the limit is ${plan.maxCalls.max}`,
    );
  }
  const agentLog = plan.rate ? state.rateLog(plan.rate.key) : undefined;
  if (plan.rate && overLimit(agentLog!, plan.rate, now)) return rateDenial(plan.rate);
  const grantLog = grant.rate ? state.rateLog(grant.rate.key) : undefined;
  if (grant.rate && overLimit(grantLog!, grant.rate, now)) return rateDenial(grant.rate);

  let fingerprint = 0;
  if (plan.loop) {
    fingerprint = fingerprintOf(args, plan.loop.seed);
    const loopDenial = detectLoop(session, plan.loop, fingerprint, now);
    if (loopDenial) return loopDenial;
  }

  const fired = firedFlows(plan, session.labels, request.labels);
  const outcome = fired === 0 ? grant.outcome : flowOutcome(plan, grant, fired);
  const decision = approved ? outcome.approved : confirmed ? outcome.confirmed : outcome.plain;

  if (decision.decision === 'allow') {
    session.calls++;
    if (agentLog) record(agentLog, plan.rate!.limit, now);
    if (grantLog) record(grantLog, grant.rate!.limit, now);
    if (plan.loop) {
      const history = session.history;
      history.push(fingerprint, now);
      if (history.length > 2 * plan.loop.keep) history.splice(0, history.length - 2 * plan.loop.keep);
    }
    if (request.labels) addLabels(session, request.labels);
    if (plan.tool.returns.length > 0) addLabels(session, plan.tool.returns);
  }
  return decision;
}

function passes(check: ArgumentCheck, args: Record<string, unknown>): boolean {
  const value = args[check.arg];
  return value !== undefined && check.validate(value) === true;
}

/** The first argument value a `data.rules` entry forbids this tool to receive, as a denial. */
/** A path outside the tool's roots, or a URL at an internal address: denied with where it points. */
function guardedArgument(plan: Plan, args: Record<string, unknown>): Decision | undefined {
  const { paths, egress } = plan.guards;
  const pathFailure = paths ? checkPathArguments(args, paths) : undefined;
  const failure = pathFailure ?? checkUrlArguments(args, egress, paths?.args);
  if (!failure) return undefined;
  return {
    decision: 'deny',
    rules: [pathFailure ? paths!.rule : egress.rule],
    reasons: [{ code: failure.code, message: failure.message }],
    obligations: {},
  };
}

function blockedArgument(
  plan: Plan,
  compiled: CompiledPolicy,
  args: Record<string, unknown>,
): Decision | undefined {
  const findings = compiled.detector.scanValue(args);
  for (const rule of plan.argumentRules) {
    for (const finding of findings) {
      const path = finding.path.replace(/^\$/, 'args');
      // A part the detector could not scan (nested too deep, a cycle) may hide anything: fail closed.
      if (finding.family === 'limit') {
        return {
          decision: 'deny',
          rules: [rule.rule],
          reasons: [
            {
              code: 'data.unscanned',
              message: `\`${path}\` could not be scanned (${finding.class}), so \`${plan.tool.key}\` may not receive it`,
            },
          ],
          obligations: {},
        };
      }
      if (!rule.blocks.has(finding.class) && !rule.blocks.has(finding.family)) continue;
      return {
        decision: 'deny',
        rules: [rule.rule],
        reasons: [
          {
            code: 'data.blocked',
            message: `\`${path}\` carries \`${finding.class}\` (${finding.family}), which \`${plan.tool.key}\` may not receive`,
          },
        ],
        obligations: {},
      };
    }
  }
  return undefined;
}

function allPass(checks: readonly ArgumentCheck[], args: Record<string, unknown>): boolean {
  for (let i = 0; i < checks.length; i++) if (!passes(checks[i]!, args)) return false;
  return true;
}

function addLabels(session: SessionState, labels: readonly string[]): void {
  for (const label of labels) if (!session.labels.includes(label)) session.labels.push(label);
}

/** Whether one more call would exceed the limit: the `limit`-th most recent call is in the window. */
function overLimit(log: RateLog, rate: RateLimit, now: number): boolean {
  return log.times.length >= rate.limit && log.times[log.next]! > now - rate.windowMs;
}

function record(log: RateLog, limit: number, now: number): void {
  if (log.times.length < limit) log.times.push(now);
  else log.times[log.next] = now;
  log.next = (log.next + 1) % limit;
}

function rateDenial(rate: RateLimit): Decision {
  return limitDenial(
    rate.rule,
    'limit.rate',
    `the rate limit of ${rate.limit} calls per ${formatWindow(rate.windowMs)} is reached`,
  );
}

function limitDenial(rule: string, code: string, message: string): Decision {
  return { decision: 'deny', rules: [rule], reasons: [{ code, message }], obligations: {} };
}

function detectLoop(
  session: SessionState,
  loop: NonNullable<Plan['loop']>,
  fingerprint: number,
  now: number,
): Decision | undefined {
  const horizon = now - loop.withinMs;
  const history = session.history;
  const n = history.length;
  // One walk back over the window: count repeats of this call, and the length of the run in
  // which the newest call (B) and this one (A) alternate.
  const other = n >= 2 && history[n - 2] !== fingerprint ? history[n - 2]! : undefined;
  let repeats = 0;
  let run = 0;
  let alternating = other !== undefined;
  for (let i = n - 2; i >= 0; i -= 2) {
    if (history[i + 1]! <= horizon) break;
    const fp = history[i]!;
    const same = fp === fingerprint;
    if (same) repeats++;
    if (alternating) {
      if (run % 2 === 0 ? fp === other : same) run++;
      else alternating = false;
    }
  }
  // A-B-A-B first: such a run also repeats A, and the oscillation is the better reason.
  if (run >= 2 * loop.repeats) {
    return limitDenial(
      loop.rule,
      'loop.oscillation',
      `the session has alternated between two calls ${Math.floor(run / 2)} times within ${formatWindow(loop.withinMs)}`,
    );
  }
  if (repeats >= loop.repeats) {
    return limitDenial(
      loop.rule,
      'loop.repeat',
      `the same call with the same arguments already ran ${repeats} times within ${formatWindow(loop.withinMs)}`,
    );
  }
  return undefined;
}

/** The flows the session's labels (and those the request brings) set off, as a bit mask. */
function firedFlows(plan: Plan, labels: readonly string[], extra: readonly string[] | undefined): number {
  if (labels.length === 0 && !extra?.length) return 0;
  let mask = 0;
  for (let i = 0; i < plan.flows.length; i++) {
    for (const label of plan.flows[i]!.after) {
      if (labels.includes(label) || extra?.includes(label) === true) {
        mask |= 1 << i;
        break;
      }
    }
  }
  return mask;
}

/** Outcomes with some flows fired: built once per grant and combination of flows, then shared. */
function flowOutcome(plan: Plan, grant: GrantPlan, mask: number): GrantPlan['outcome'] {
  let outcome = grant.byFlows.get(mask);
  if (!outcome) {
    const fired = plan.flows.filter((_, i) => mask & (1 << i)).map((flow) => flow.control);
    const controls: Control[] = [...plan.controls, ...fired];
    const { plain } = grant.outcome;
    const build = (approved: boolean, confirmed: boolean) =>
      freezeDecision(
        resolveControls(grant.rule, plain.reasons[0]!, baseObligations(plain), controls, approved, confirmed),
      );
    outcome = { plain: build(false, false), approved: build(true, false), confirmed: build(false, true) };
    grant.byFlows.set(mask, outcome);
  }
  return outcome;
}

function baseObligations(decision: Decision): Decision['obligations'] {
  const { approval: _approval, confirm: _confirm, ...rest } = decision.obligations;
  return rest;
}

function formatWindow(ms: number): string {
  for (const [unit, size] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ] as const) {
    if (ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}
