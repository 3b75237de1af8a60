// Which state records a decision may touch, known before deciding: what lets a shared store
// (Redis, PostgreSQL) load exactly those records, run the synchronous `decide()` on them, and
// commit them atomically. It follows `decide()`'s own early returns, so a call that cannot reach
// the stateful rules names no record and costs the store nothing.
import type { CompiledPolicy, Plan } from './compile.js';
import type { DecisionRequest } from './types.js';

/** A rate log `decide()` may read and append to, and the window it counts over. */
export interface RateKey {
  key: string;
  /** A log left alone this long holds no call inside the window: it may expire. */
  windowMs: number;
}

/** The records one decision may read and update. */
export interface StateKeys {
  /** The session record's id, or `undefined` when the decision reads no session. */
  session: string | undefined;
  rates: readonly RateKey[];
}

const NONE: StateKeys = Object.freeze({ session: undefined, rates: Object.freeze([]) });

/** Each plan's rate logs, listed once: the agent's own limit and every grant's. */
const planRates = new WeakMap<Plan, readonly RateKey[]>();

function ratesOf(plan: Plan): readonly RateKey[] {
  let rates = planRates.get(plan);
  if (!rates) {
    const found: RateKey[] = [];
    if (plan.rate) found.push({ key: plan.rate.key, windowMs: plan.rate.windowMs });
    // Which grant matches depends on the arguments; naming every grant's log is a safe superset.
    for (const grant of plan.grants) {
      if (grant.rate && !found.some((rate) => rate.key === grant.rate!.key)) {
        found.push({ key: grant.rate.key, windowMs: grant.rate.windowMs });
      }
    }
    rates = Object.freeze(found);
    planRates.set(plan, rates);
  }
  return rates;
}

/**
 * The session and rate logs `decide(request, compiled, …)` may read or write: a superset of what
 * it touches, never less (a test runs the decision corpus against a state that holds only these).
 */
export function stateKeys(request: DecisionRequest, compiled: CompiledPolicy): StateKeys {
  const agent = typeof request.agent === 'string' ? compiled.agents.get(request.agent) : undefined;
  if (!agent) return NONE;
  const user = request.user;
  if (typeof user !== 'string' || !agent.runBy.has(user)) return NONE;
  const plan = typeof request.tool === 'string' ? agent.plans.get(request.tool) : undefined;
  // A fixed plan decides without state, whatever its explicit denies say.
  if (!plan || plan.fixed) return NONE;
  // Malformed labels (not an array) take decide() down the stateful path too; so do they here.
  const labelled = request.labels !== undefined && request.labels?.length !== 0;
  if (!plan.stateful && !labelled) return NONE;
  const session = request.session ?? `${request.agent}\u0000${user}`;
  return { session: typeof session === 'string' ? session : String(session), rates: ratesOf(plan) };
}
