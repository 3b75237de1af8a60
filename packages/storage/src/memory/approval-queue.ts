// Approvals and standing exceptions in memory: for tests and single-process embedding. Nothing
// survives the process. Exactly-once holds because every check-and-change below runs without an
// `await` in between, so no other call can interleave.
import type {
  ApprovalDecision,
  ApprovalQueue,
  ApprovalRequest,
  ApprovalResult,
  ApprovalStatus,
  BoundCall,
  ExceptionRevokeResult,
  ExceptionStore,
  NewApproval,
  NewException,
  StandingException,
} from '../ports.js';
import {
  BINDING_FIELDS,
  DEFAULT_MAX_EXCEPTION_MS,
  checkNewApproval,
  checkNewException,
  checkRevoker,
  consumeRefusal,
  decidedFields,
  decisionRefusal,
  exceptionCovers,
  isOpen,
  newId,
  notFound,
  statusAt,
} from '../approval-rules.js';

/** A deep copy, so callers can neither change stored requests nor see later changes. */
function copy<T>(value: T): T {
  return structuredClone(value);
}

class MemoryApprovalQueue implements ApprovalQueue {
  readonly #requests = new Map<string, ApprovalRequest>();

  async request(input: NewApproval, now: Date): Promise<ApprovalRequest> {
    const checked = checkNewApproval(input, now);
    this.#expireOpen(now);
    for (const existing of this.#requests.values()) {
      if (isOpen(existing.status) && BINDING_FIELDS.every((field) => existing[field] === checked[field])) {
        return copy(existing);
      }
    }
    const created: ApprovalRequest = {
      ...copy(checked),
      id: newId(),
      status: 'pending',
      created_at: now.toISOString(),
    };
    if (created.args === undefined) delete created.args;
    if (created.target === undefined) delete created.target;
    this.#requests.set(created.id, created);
    return copy(created);
  }

  async findOpen(call: BoundCall, now: Date): Promise<ApprovalRequest | undefined> {
    this.#expireOpen(now);
    for (const existing of this.#requests.values()) {
      if (isOpen(existing.status) && BINDING_FIELDS.every((field) => existing[field] === call[field])) {
        return copy(existing);
      }
    }
    return undefined;
  }

  async get(id: string, now: Date): Promise<ApprovalRequest | undefined> {
    const found = this.#requests.get(id);
    return found ? { ...copy(found), status: statusAt(found, now) } : undefined;
  }

  async list(filter: { status?: ApprovalStatus; limit?: number }, now: Date): Promise<ApprovalRequest[]> {
    const limit = filter.limit ?? 100;
    return [...this.#requests.values()]
      .map((request) => ({ ...copy(request), status: statusAt(request, now) }))
      .filter((request) => filter.status === undefined || request.status === filter.status)
      .sort((a, b) => b.created_at.localeCompare(a.created_at) || a.id.localeCompare(b.id))
      .slice(0, limit);
  }

  async decide(id: string, decision: ApprovalDecision, now: Date): Promise<ApprovalResult> {
    const request = this.#requests.get(id);
    if (!request) return notFound(id);
    const refusal = decisionRefusal(copy(request), decision, now);
    if (refusal) {
      if (refusal.code === 'expired') request.status = 'expired';
      return refusal;
    }
    Object.assign(request, decidedFields(decision, now));
    return { ok: true, request: copy(request) };
  }

  async consume(id: string, call: BoundCall, now: Date): Promise<ApprovalResult> {
    const request = this.#requests.get(id);
    if (!request) return notFound(id);
    const refusal = consumeRefusal(copy(request), call, now);
    if (refusal) {
      if (refusal.code === 'expired') request.status = 'expired';
      return refusal;
    }
    request.status = 'consumed';
    request.consumed_at = now.toISOString();
    return { ok: true, request: copy(request) };
  }

  async close(): Promise<void> {}

  /** Writes `expired` on open requests past their expiry, so a retried call queues a fresh one. */
  #expireOpen(now: Date): void {
    for (const request of this.#requests.values()) {
      if (isOpen(request.status) && statusAt(request, now) === 'expired') request.status = 'expired';
    }
  }
}

class MemoryExceptionStore implements ExceptionStore {
  readonly #exceptions = new Map<string, StandingException>();

  constructor(readonly maxDurationMs: number) {}

  async append(input: NewException, now: Date): Promise<StandingException> {
    const checked = checkNewException(input, now, this.maxDurationMs);
    const created: StandingException = { ...checked, id: newId(), created_at: now.toISOString() };
    this.#exceptions.set(created.id, created);
    return copy(created);
  }

  async active(agent: string, tool: string, now: Date): Promise<StandingException[]> {
    return [...this.#exceptions.values()]
      .filter((exception) => exceptionCovers(exception, agent, tool, now))
      .map(copy);
  }

  async list(): Promise<StandingException[]> {
    return [...this.#exceptions.values()]
      .sort((a, b) => b.created_at.localeCompare(a.created_at) || a.id.localeCompare(b.id))
      .map(copy);
  }

  async revoke(id: string, by: string, now: Date): Promise<ExceptionRevokeResult> {
    checkRevoker(by);
    const exception = this.#exceptions.get(id);
    if (!exception) return { ok: false, code: 'not_found', message: `no standing exception \`${id}\`` };
    if (exception.revoked_at !== undefined || Date.parse(exception.expires_at) <= now.getTime()) {
      return { ok: false, code: 'not_active', message: `standing exception \`${id}\` is no longer active` };
    }
    exception.revoked_by = by;
    exception.revoked_at = now.toISOString();
    return { ok: true, exception: copy(exception) };
  }

  async close(): Promise<void> {}
}

export function createMemoryApprovalQueue(): ApprovalQueue {
  return new MemoryApprovalQueue();
}

export interface MemoryExceptionStoreOptions {
  /** The longest a standing exception may last; 24 h unless set. */
  maxDurationMs?: number;
}

export function createMemoryExceptionStore(options: MemoryExceptionStoreOptions = {}): ExceptionStore {
  return new MemoryExceptionStore(options.maxDurationMs ?? DEFAULT_MAX_EXCEPTION_MS);
}
