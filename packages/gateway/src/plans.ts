// Transactions for agents: the gateway's own `posture__plan` tool lets an agent declare the steps
// it intends (each a tool and, optionally, its exact arguments and a compensating step). One
// approval covers the whole plan; while it runs, calls outside it are refused; and when a step
// fails, the agent is told the compensating steps of what already ran, last first. The active
// plan lives in the session's record in the session store, so every replica serving the session
// holds it to the same plan.
import type { Tool } from '@modelcontextprotocol/sdk/types.js';
import { canonicalJson, createMemoryState, decide, type CompiledPolicy, type Decision } from '@posture/core';
import type { ApprovalQueue, SessionStore } from '@posture/storage';
import { argsHash, defaultApprovers } from '@posture/sdk';
import type { Identity } from './identity.js';

export const PLAN_TOOL = 'posture__plan';
export const END_PLAN_TOOL = 'posture__end_plan';
/** The `server/tool` a plan's approval is bound to. */
export const PLAN_KEY = 'posture/plan';

export interface PlanStep {
  /** `server/tool` */
  tool: string;
  /** When given, the step runs with exactly these arguments. */
  args?: Record<string, unknown>;
  /** What undoes the step, reported if a later step fails. */
  compensate?: { tool: string; args?: Record<string, unknown> };
}

export interface Plan {
  goal: string;
  steps: PlanStep[];
}

interface ActivePlan extends Plan {
  approvalId?: string;
  done: boolean[];
}

/** Plan updates that lose a compare-and-set race are retried this many times. */
const UPDATE_ATTEMPTS = 20;

export const PLAN_TOOLS: Tool[] = [
  {
    name: PLAN_TOOL,
    description:
      'Declare the tool calls you intend to make, in order, before making them. One approval can cover the whole plan; ' +
      'while a plan is active, only its steps may be called. Give each step the tool (as listed) and, where you know ' +
      'them, its exact arguments and the call that would undo it.',
    inputSchema: {
      type: 'object',
      properties: {
        goal: { type: 'string', description: 'What the plan achieves, in a sentence' },
        steps: {
          type: 'array',
          minItems: 1,
          maxItems: 50,
          items: {
            type: 'object',
            properties: {
              tool: { type: 'string' },
              args: { type: 'object' },
              compensate: {
                type: 'object',
                properties: { tool: { type: 'string' }, args: { type: 'object' } },
                required: ['tool'],
              },
            },
            required: ['tool'],
          },
        },
      },
      required: ['goal', 'steps'],
    },
    annotations: { readOnlyHint: true, openWorldHint: false },
  },
  {
    name: END_PLAN_TOOL,
    description: 'End the active plan (done, or abandoned); later calls are decided one by one again.',
    inputSchema: { type: 'object', properties: {} },
    annotations: { readOnlyHint: true, openWorldHint: false },
  },
];

export type Declared =
  | { kind: 'active'; plan: Plan; approvalId: string | undefined }
  | { kind: 'pending'; approvalId: string; approvers: string[]; expiresAt: string; needs: string[] }
  | { kind: 'refused'; message: string };

/** The plans of the gateway's sessions, kept in the session store. */
export class Plans {
  readonly #store: SessionStore;
  readonly #now: () => number;

  constructor(store: SessionStore, now: () => number) {
    this.#store = store;
    this.#now = now;
  }

  /**
   * Declares a plan: every step is decided now (on scratch state: limits are checked again on each
   * real call). A step that would be denied refuses the plan; steps that need approval or
   * confirmation are covered by one approval of the whole plan.
   */
  async declare(
    identity: Identity,
    raw: unknown,
    context: {
      policy: CompiledPolicy;
      approvals: ApprovalQueue;
      now: number;
      toKey: (name: string) => string | undefined;
    },
  ): Promise<Declared> {
    const plan = parsePlan(raw, context.toKey);
    if (typeof plan === 'string') return { kind: 'refused', message: plan };
    const scratch = createMemoryState();
    const needs: string[] = [];
    const approvers = new Set<string>();
    let expiresMs = 15 * 60 * 1000;
    for (const [index, step] of plan.steps.entries()) {
      const decision: Decision = decide(
        {
          agent: identity.agent,
          user: identity.user,
          session: identity.session,
          tool: step.tool,
          args: step.args ?? {},
        },
        context.policy,
        scratch,
        { now: context.now },
      );
      if (decision.decision === 'deny') {
        return {
          kind: 'refused',
          message: `step ${index + 1} (\`${step.tool}\`) would be denied: ${decision.reasons.map((r) => `${r.message} (${r.code})`).join('; ')}`,
        };
      }
      if (decision.decision !== 'allow') {
        needs.push(
          `step ${index + 1} \`${step.tool}\`: ${decision.reasons.map((r) => r.message).join('; ')}`,
        );
        for (const approver of decision.obligations.approval?.approvers ??
          defaultApprovers(context.policy, identity.agent)) {
          approvers.add(approver);
        }
        if (decision.obligations.approval)
          expiresMs = Math.min(expiresMs, decision.obligations.approval.expires_ms);
      }
    }
    if (needs.length === 0) {
      if (!(await this.#activate(identity.session, plan, undefined))) return SESSION_GONE;
      return { kind: 'active', plan, approvalId: undefined };
    }
    const call = {
      agent: identity.agent,
      user: identity.user,
      tool: PLAN_KEY,
      args_hash: argsHash(plan as unknown as Record<string, unknown>),
      session: identity.session,
    };
    const now = new Date(context.now);
    const open = await context.approvals.findOpen(call, now);
    if (open?.status === 'approved') {
      const used = await context.approvals.consume(open.id, call, now);
      if (!used.ok) return { kind: 'refused', message: used.message };
      if (!(await this.#activate(identity.session, plan, open.id))) return SESSION_GONE;
      return { kind: 'active', plan, approvalId: open.id };
    }
    const request =
      open ??
      (await context.approvals.request(
        {
          ...call,
          args: plan,
          approvers: [...approvers],
          step_up: false,
          reasons: needs.map((message) => ({ code: 'plan.approval', message })),
          rules: ['posture.plan'],
          expires_at: new Date(context.now + expiresMs).toISOString(),
        },
        now,
      ));
    return {
      kind: 'pending',
      approvalId: request.id,
      approvers: request.approvers,
      expiresAt: request.expires_at,
      needs,
    };
  }

  /** Ends the session's plan; false when none was active. */
  async end(session: string): Promise<boolean> {
    let ended = false;
    await this.#update(session, (plan) => {
      ended = plan !== undefined;
      return undefined;
    });
    return ended;
  }

  /**
   * Where a call stands against the session's plan: no plan (decide it alone), a step of it (with
   * the plan's approval), or outside it (refuse) — or no session: ended (by its client, on any
   * replica) or expired.
   */
  async match(
    session: string,
    tool: string,
    args: Record<string, unknown>,
  ): Promise<
    | { kind: 'gone' }
    | { kind: 'none' }
    | { kind: 'step'; index: number; approvalId: string | undefined }
    | { kind: 'outside'; expected: string[] }
  > {
    const record = await this.#store.plan(session, this.#now());
    if (!record) return { kind: 'gone' };
    const plan = record.plan as ActivePlan | undefined;
    if (!plan) return { kind: 'none' };
    const text = canonicalJson(args);
    for (const [index, step] of plan.steps.entries()) {
      if (plan.done[index] || step.tool !== tool) continue;
      if (step.args !== undefined && canonicalJson(step.args) !== text) continue;
      return { kind: 'step', index, approvalId: plan.approvalId };
    }
    return { kind: 'outside', expected: plan.steps.filter((_, i) => !plan.done[i]).map((s) => s.tool) };
  }

  /** Marks a step done; the plan ends when every step is. */
  async done(session: string, index: number): Promise<void> {
    await this.#update(session, (plan) => {
      if (!plan) return undefined;
      const done = plan.done.map((value, i) => value || i === index);
      return done.every(Boolean) ? undefined : { ...plan, done };
    });
  }

  /** A step failed: the plan ends, and what undoes the steps that ran is returned, last first. */
  async failed(session: string, index: number): Promise<string[]> {
    let ended: ActivePlan | undefined;
    await this.#update(session, (plan) => {
      ended = plan;
      return undefined;
    });
    const plan = ended;
    if (!plan) return [];
    return plan.steps
      .slice(0, index)
      .map((step, i) => ({ step, i }))
      .filter(({ i }) => plan.done[i])
      .reverse()
      .map(({ step, i }) =>
        step.compensate
          ? `undo step ${i + 1}: call \`${step.compensate.tool}\`${step.compensate.args ? ` with ${JSON.stringify(step.compensate.args)}` : ''}`
          : `step ${i + 1} (\`${step.tool}\`) declared no compensation`,
      );
  }

  async #activate(session: string, plan: Plan, approvalId: string | undefined): Promise<boolean> {
    const active: ActivePlan = {
      ...plan,
      ...(approvalId ? { approvalId } : {}),
      done: plan.steps.map(() => false),
    };
    return this.#update(session, () => active);
  }

  /**
   * Read, change, compare-and-set: `change` may run more than once when another replica writes
   * the session meanwhile. False when the session is gone.
   */
  async #update(
    session: string,
    change: (plan: ActivePlan | undefined) => ActivePlan | undefined,
  ): Promise<boolean> {
    for (let attempt = 0; attempt < UPDATE_ATTEMPTS; attempt++) {
      const record = await this.#store.plan(session, this.#now());
      if (!record) return false;
      const current = record.plan as ActivePlan | undefined;
      const next = change(current);
      if (next === undefined && current === undefined) return true;
      if (await this.#store.setPlan(session, next, record.version, this.#now())) return true;
    }
    throw new Error(`the plan of session \`${session}\` kept changing under this update`);
  }
}

const SESSION_GONE: Declared = { kind: 'refused', message: 'this session has ended; open a new one' };

/** Checks the declared plan and maps its tools to `server/tool`; a message when it is unusable. */
function parsePlan(raw: unknown, toKey: (name: string) => string | undefined): Plan | string {
  if (!isRecord(raw) || typeof raw.goal !== 'string' || !Array.isArray(raw.steps) || raw.steps.length === 0) {
    return 'a plan has a `goal` and at least one step in `steps`';
  }
  if (raw.steps.length > 50) return 'a plan has at most 50 steps';
  const steps: PlanStep[] = [];
  for (const [index, value] of raw.steps.entries()) {
    if (!isRecord(value) || typeof value.tool !== 'string') return `step ${index + 1} names no \`tool\``;
    const tool = toKey(value.tool);
    if (!tool) return `step ${index + 1}: \`${value.tool}\` is not a tool you may call`;
    if (value.args !== undefined && !isRecord(value.args))
      return `step ${index + 1}: \`args\` is not an object`;
    let compensate: PlanStep['compensate'];
    if (value.compensate !== undefined) {
      if (!isRecord(value.compensate) || typeof value.compensate.tool !== 'string') {
        return `step ${index + 1}: \`compensate\` names no \`tool\``;
      }
      compensate = {
        tool: value.compensate.tool,
        ...(isRecord(value.compensate.args) ? { args: value.compensate.args } : {}),
      };
    }
    steps.push({ tool, ...(value.args ? { args: value.args } : {}), ...(compensate ? { compensate } : {}) });
  }
  return { goal: raw.goal, steps };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
