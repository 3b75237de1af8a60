// What every framework adapter shares: who is calling, and how a call that did not run reads.
// The adapters add no policy; they only carry a framework's tool call to `enforcer.call()` and its
// answer back in the framework's own terms.
import type { Reason } from '@posture/core';
import type { CallOptions, CallResult, Enforcer, Execute } from '../enforcer.js';

/** Who makes a call: the agent, the user it acts for, and the session it belongs to. */
export interface Identity {
  agent: string;
  user: string;
  session: string;
  /** Data classes the session already carries; see `ToolCall.labels`. */
  labels?: string[];
}

/** How an adapter learns who is calling: fixed, or read from the framework's call context. */
export type IdentitySource<Context> = Identity | ((context: Context) => Identity);

export interface GuardOptions<Context> {
  /** The tool's name in the policy's catalog, `server/tool`. */
  tool: string;
  identity: IdentitySource<Context>;
  /** Passed to `enforcer.call()` (`confirm`, `toolIdentity`, `target`). */
  call?: CallOptions;
}

/** A call that did not run, or whose result Posture withheld. */
export type Refusal = Exclude<CallResult, { status: 'ok' } | { status: 'failed' }>;

/**
 * Thrown where a framework (or a plain function's signature) expects a throw for a call that did not
 * succeed. `result` is the enforcer's answer, with its decision and audit event.
 */
export class PostureRefused extends Error {
  override readonly name = 'PostureRefused';
  readonly result: Refusal;
  constructor(tool: string, result: Refusal) {
    super(refusalText(tool, result));
    this.result = result;
  }
}

/**
 * Who is calling, checked: an adapter wired to the wrong context (no identity where it looked) is a
 * programming error, thrown before anything runs, not a call to record under an empty name.
 */
export function resolveIdentity<Context>(
  tool: string,
  source: IdentitySource<Context>,
  context: Context,
): Identity {
  const identity: unknown = typeof source === 'function' ? source(context) : source;
  const fields =
    typeof identity === 'object' && identity !== null ? (identity as Record<string, unknown>) : {};
  const missing = ['agent', 'user', 'session'].filter(
    (key) => typeof fields[key] !== 'string' || fields[key] === '',
  );
  if (missing.length > 0) {
    throw new TypeError(
      `the identity for \`${tool}\` has no ${missing.map((key) => `\`${key}\``).join(', ')}: ` +
        'give `identity` as `{ agent, user, session }` or a function of the call context returning one',
    );
  }
  return identity as Identity;
}

/**
 * The text a model reads for a call that did not run: what happened and what it can do about it,
 * with the reasons' stable codes so that an application can match on them too.
 */
export function refusalText(tool: string, result: Refusal): string {
  switch (result.status) {
    case 'denied':
      return `posture denied the call to \`${tool}\`: ${reasons(result.decision.reasons)}`;
    case 'pending':
      return (
        `the call to \`${tool}\` waits for approval \`${result.approval.id}\` ` +
        `(approvers: ${result.approval.approvers.join(', ') || 'none'}); ` +
        'make the same call with the same arguments again once it is approved'
      );
    case 'timed_out':
      return `the call to \`${tool}\` timed out and was cancelled`;
    case 'error':
      return `posture could not run the call to \`${tool}\`: ${result.message} [${result.code}]`;
  }
}

function reasons(list: ReadonlyArray<{ code: string; message: string }>): string {
  if (list.length === 0) return 'no reason recorded';
  return list.map((reason) => `${reason.message} [${reason.code}]`).join('; ');
}

/**
 * Runs one call through the enforcer. A tool that throws is rethrown as itself (the enforcer only
 * keeps its message), so each framework handles a tool's own failure the way it always does.
 */
export async function callThrough<Context>(
  enforcer: Enforcer,
  options: GuardOptions<Context>,
  context: Context,
  args: Record<string, unknown>,
  execute: Execute,
): Promise<{ ok: true; value: unknown } | { ok: false; refusal: Refusal }> {
  const { labels, ...who } = resolveIdentity(options.tool, options.identity, context);
  let thrown: { error: unknown } | undefined;
  const result = await enforcer.call(
    { ...who, ...(labels ? { labels } : {}), tool: options.tool, args },
    async (run) => {
      try {
        return await execute(run);
      } catch (error) {
        thrown = { error };
        throw error;
      }
    },
    options.call,
  );
  if (result.status === 'ok') return { ok: true, value: result.result };
  if (result.status === 'failed') throw thrown ? thrown.error : new Error(result.error);
  return { ok: false, refusal: result };
}

/** Refuses a call an adapter cannot hand to the policy (its arguments are unreadable), on record. */
export async function refuseThrough<Context>(
  enforcer: Enforcer,
  options: GuardOptions<Context>,
  context: Context,
  reason: Reason,
): Promise<Refusal> {
  const { labels, ...who } = resolveIdentity(options.tool, options.identity, context);
  const call = { ...who, ...(labels ? { labels } : {}), tool: options.tool, args: {} };
  const result = await enforcer.refuse(call, reason, [], options.call);
  // refuse() only ever answers `denied`, or `error` when the denial cannot be recorded.
  return result.status === 'denied' || result.status === 'error'
    ? result
    : { status: 'error', code: 'enforcer.error', message: `unexpected \`${result.status}\`` };
}
