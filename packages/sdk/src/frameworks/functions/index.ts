// Plain async functions: the guarded function has the wrapped one's signature, so a call that does
// not run is a `PostureRefused` throw (with the enforcer's answer on it), and the function's own
// failure is its own error.
import type { Enforcer } from '../../enforcer.js';
import { callThrough, PostureRefused, type GuardOptions } from '../refusal.js';

/** Where the function can learn that its call was cancelled (the policy's timeout passed). */
export interface GuardedContext {
  signal: AbortSignal;
}

/**
 * `fn` run through the enforcer: decided, approved where the policy says, timed out, its result
 * checked and redacted, one audit event per call. `fn` receives the arguments as the policy lets
 * them through (redacted where a data rule says so).
 */
export function guard<A extends Record<string, unknown>, R>(
  enforcer: Enforcer,
  options: GuardOptions<A>,
  fn: (args: A, context: GuardedContext) => Promise<R> | R,
): (args: A) => Promise<R> {
  return async (args) => {
    const outcome = await callThrough(enforcer, options, args, args, ({ signal, args: sent }) =>
      Promise.resolve(fn(sent as A, { signal })),
    );
    if (!outcome.ok) throw new PostureRefused(options.tool, outcome.refusal);
    return outcome.value as R;
  };
}

export { PostureRefused, refusalText } from '../refusal.js';
export type { GuardOptions, Identity, IdentitySource, Refusal } from '../refusal.js';
