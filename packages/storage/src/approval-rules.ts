// The rules every approvals backend applies the same way: input checks, who may decide, what a
// refusal says. Backends only add the atomic state change (compare-and-set) on top.
import { randomUUID } from 'node:crypto';
import type {
  ApprovalDecision,
  ApprovalRequest,
  ApprovalResult,
  ApprovalStatus,
  BoundCall,
  NewApproval,
  NewException,
  StandingException,
} from './ports.js';

/** How long a standing exception may last unless the store is configured otherwise. */
export const DEFAULT_MAX_EXCEPTION_MS = 24 * 60 * 60 * 1000;

/** The binding fields, in the order refusals name them. */
export const BINDING_FIELDS = ['agent', 'user', 'tool', 'args_hash', 'session'] as const;

/** A random UUID: 122 random bits, so ids cannot be guessed or enumerated. */
export function newId(): string {
  return randomUUID();
}

/** An ISO 8601 time in the one fixed-width UTC form stores compare as text. */
export function isoTime(value: string, field: string): string {
  const time = Date.parse(value);
  if (Number.isNaN(time)) throw new Error(`\`${field}\` is not a time: \`${value}\``);
  return new Date(time).toISOString();
}

function nonEmpty(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new Error(`\`${field}\` must be a non-empty string`);
  }
  return value;
}

/** Whether `name` is an agent identity: the request's agent itself, or any `agent:` principal. */
export function isAgentIdentity(name: string, agent: string): boolean {
  return name === agent || name.startsWith('agent:');
}

/** Checks a new request and returns it with its times normalised; throws a clear error otherwise. */
export function checkNewApproval(input: NewApproval, now: Date): NewApproval {
  for (const field of BINDING_FIELDS) nonEmpty(input[field], field);
  if (!Array.isArray(input.approvers) || input.approvers.length === 0) {
    throw new Error('an approval request needs at least one approver');
  }
  input.approvers.forEach((approver, index) => nonEmpty(approver, `approvers[${index}]`));
  const expires_at = isoTime(input.expires_at, 'expires_at');
  if (Date.parse(expires_at) <= now.getTime()) {
    throw new Error(`\`expires_at\` \`${expires_at}\` is not after now (\`${now.toISOString()}\`)`);
  }
  if (input.args !== undefined) argsJson(input.args);
  return { ...input, expires_at };
}

/** The arguments as stored: JSON text, so the approver later sees exactly what was asked. */
export function argsJson(args: unknown): string | null {
  if (args === undefined) return null;
  try {
    const text = JSON.stringify(args);
    if (text === undefined) throw new Error('not representable');
    return text;
  } catch (error) {
    throw new Error(`\`args\` cannot be stored as JSON: ${(error as Error).message}`);
  }
}

/** Pending or approved: still able to change, and what a retried call finds. */
export function isOpen(status: ApprovalStatus): boolean {
  return status === 'pending' || status === 'approved';
}

/** The status as of `now`: an open request past its expiry reads as `expired`. */
export function statusAt(request: ApprovalRequest, now: Date): ApprovalStatus {
  return isOpen(request.status) && Date.parse(request.expires_at) <= now.getTime()
    ? 'expired'
    : request.status;
}

/** A refused decide or consume. */
export type Refusal = Extract<ApprovalResult, { ok: false }>;

function refuse(code: Refusal['code'], message: string, request?: ApprovalRequest): Refusal {
  return request ? { ok: false, code, message, request } : { ok: false, code, message };
}

export function notFound(id: string): Refusal {
  return refuse('not_found', `no approval request \`${id}\``);
}

/** A request that is past its expiry or already marked expired. */
export function expiredRefusal(request: ApprovalRequest): Refusal {
  return refuse('expired', `approval request \`${request.id}\` expired at \`${request.expires_at}\``, {
    ...request,
    status: 'expired',
  });
}

/**
 * Why `by` (in `byGroups`) may not decide `request` whatever its status: they requested it, are an
 * agent identity, or are not among its approvers. Undefined when they may. The console shows it
 * before anyone clicks; `decide` enforces it.
 */
export function deciderRefusal(
  request: ApprovalRequest,
  by: string,
  byGroups: readonly string[],
): Refusal | undefined {
  if (typeof by !== 'string' || by.length === 0) {
    return refuse('not_approver', 'the deciding user is missing', request);
  }
  if (by === request.user) {
    return refuse(
      'self_approval',
      `\`${by}\` requested \`${request.id}\` and cannot decide their own request`,
      request,
    );
  }
  if (isAgentIdentity(by, request.agent)) {
    return refuse('self_approval', `\`${by}\` is an agent identity and cannot decide requests`, request);
  }
  const groups = new Set(byGroups);
  const approver = request.approvers.some((entry) =>
    entry.startsWith('group:') ? groups.has(entry.slice('group:'.length)) : entry === by,
  );
  if (!approver) {
    return refuse(
      'not_approver',
      `\`${by}\` is not among the approvers of \`${request.id}\` (\`${request.approvers.join('`, `')}\`)`,
      request,
    );
  }
  return undefined;
}

/**
 * Why `decision` may not be applied to `request` (as read just before the compare-and-set), or
 * undefined when it may. Binding, approvers and step-up never change after creation, so checking
 * them before the atomic update is sound; only the status can race, and the update re-checks it.
 */
export function decisionRefusal(
  request: ApprovalRequest,
  decision: ApprovalDecision,
  now: Date,
): Refusal | undefined {
  const status = statusAt(request, now);
  if (status === 'expired') return expiredRefusal(request);
  if (status !== 'pending') {
    return refuse('not_pending', `approval request \`${request.id}\` is already \`${status}\``, request);
  }
  const refused = deciderRefusal(request, decision.by, decision.byGroups);
  if (refused) return refused;
  // Denying is always safe; only letting a call through needs the stronger proof.
  if (decision.approve && request.step_up) {
    const proof = decision.stepUp;
    if (!proof || typeof proof.method !== 'string' || proof.method.length === 0) {
      return refuse('step_up_required', `approving \`${request.id}\` needs step-up authentication`, request);
    }
    const at = Date.parse(proof.at);
    if (Number.isNaN(at) || at < Date.parse(request.created_at) || at > now.getTime()) {
      return refuse(
        'step_up_required',
        `step-up proof at \`${proof.at}\` is not between the request (\`${request.created_at}\`) and now`,
        request,
      );
    }
  }
  return undefined;
}

/** The fields written when a decision wins. */
export function decidedFields(
  decision: ApprovalDecision,
  now: Date,
): Pick<ApprovalRequest, 'status' | 'decided_by' | 'decided_at' | 'step_up_proof' | 'comment'> {
  return {
    status: decision.approve ? 'approved' : 'denied',
    decided_by: decision.by,
    decided_at: now.toISOString(),
    ...(decision.approve && decision.stepUp
      ? { step_up_proof: { method: decision.stepUp.method, at: isoTime(decision.stepUp.at, 'stepUp.at') } }
      : {}),
    ...(decision.comment !== undefined ? { comment: decision.comment } : {}),
  };
}

/** Why `request` cannot be consumed for `call` (read just before the compare-and-set), if it cannot. */
export function consumeRefusal(request: ApprovalRequest, call: BoundCall, now: Date): Refusal | undefined {
  const status = statusAt(request, now);
  if (status === 'expired') return expiredRefusal(request);
  if (status !== 'approved') {
    return refuse(
      'not_pending',
      status === 'consumed'
        ? `approval request \`${request.id}\` was already used`
        : `approval request \`${request.id}\` is \`${status}\`, not approved`,
      request,
    );
  }
  const differing = BINDING_FIELDS.filter((field) => request[field] !== call[field]);
  if (differing.length > 0) {
    return refuse(
      'mismatch',
      `approval request \`${request.id}\` is for another call: ${differing
        .map((field) => `\`${field}\` is \`${call[field]}\`, approved \`${request[field]}\``)
        .join('; ')}`,
      request,
    );
  }
  return undefined;
}

/**
 * The refusal for the loser of a compare-and-set, from the request as read after it lost: the
 * winner moved it on (`not_pending`), or it expired meanwhile.
 */
export function lostRaceRefusal(
  current: ApprovalRequest | undefined,
  id: string,
  operation: 'decide' | 'consume',
  now: Date,
): Refusal {
  if (!current) return notFound(id);
  if (statusAt(current, now) === 'expired') return expiredRefusal(current);
  return refuse(
    'not_pending',
    operation === 'decide'
      ? `approval request \`${id}\` is already \`${current.status}\``
      : `approval request \`${id}\` was already used or is no longer approved (\`${current.status}\`)`,
    current,
  );
}

/** Checks a new standing exception; returns it with its expiry normalised, or throws. */
export function checkNewException(input: NewException, now: Date, maxDurationMs: number): NewException {
  nonEmpty(input.agent, 'agent');
  if (typeof input.justification !== 'string' || input.justification.trim().length === 0) {
    throw new Error('a standing exception needs a justification');
  }
  if (typeof input.approved_by !== 'string' || input.approved_by.length === 0) {
    throw new Error('a standing exception needs an approver (`approved_by`)');
  }
  if (isAgentIdentity(input.approved_by, input.agent)) {
    throw new Error(`\`${input.approved_by}\` is an agent identity and cannot approve a standing exception`);
  }
  if (!Array.isArray(input.tools) || input.tools.length === 0) {
    throw new Error('a standing exception needs at least one tool glob');
  }
  input.tools.forEach((glob, index) => {
    if (typeof glob !== 'string' || !/^[^/]+\/[^/]+$/.test(glob)) {
      throw new Error(`\`tools[${index}]\` must be a \`server/tool\` glob, not \`${String(glob)}\``);
    }
  });
  const expires_at = isoTime(input.expires_at, 'expires_at');
  const lasts = Date.parse(expires_at) - now.getTime();
  if (lasts <= 0) {
    throw new Error(`\`expires_at\` \`${expires_at}\` is not after now (\`${now.toISOString()}\`)`);
  }
  if (lasts > maxDurationMs) {
    throw new Error(
      `a standing exception may last at most \`${maxDurationMs / 3_600_000}h\`; \`expires_at\` \`${expires_at}\` is later`,
    );
  }
  return { ...input, tools: [...input.tools], expires_at };
}

function globPattern(glob: string): RegExp {
  let source = '';
  for (const char of glob) {
    if (char === '*') source += '.*';
    else if (char === '?') source += '.';
    else source += char.replace(/[.+^${}()|[\]\\-]/g, '\\$&');
  }
  return new RegExp(`^${source}$`, 'u');
}

/** Whether a `server/tool` glob covers `tool`; globs match the server and tool parts separately, as grants do. */
export function globCovers(glob: string, tool: string): boolean {
  const [serverGlob, toolGlob] = glob.split('/') as [string, string];
  const slash = tool.indexOf('/');
  if (slash < 0) return false;
  return (
    globPattern(serverGlob).test(tool.slice(0, slash)) && globPattern(toolGlob).test(tool.slice(slash + 1))
  );
}

/** Whether an exception is in force for `agent` calling `tool` at `now`. */
export function exceptionCovers(
  exception: StandingException,
  agent: string,
  tool: string,
  now: Date,
): boolean {
  return (
    exception.agent === agent &&
    exception.revoked_at === undefined &&
    Date.parse(exception.expires_at) > now.getTime() &&
    exception.tools.some((glob) => globCovers(glob, tool))
  );
}

export function checkRevoker(by: string): void {
  nonEmpty(by, 'by');
}
