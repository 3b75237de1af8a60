// The enforcer: the one pipeline every enforcement point runs a tool call through. decide →
// (approval, confirmation) → execute with a timeout → check and redact the result → record one
// audit event → return. The gateway and the SDK wrappers are thin adapters over `call()`, so both
// paths behave the same. Deny is a value here too: `call()` never throws for a refused call.
import {
  compileRetrieval,
  createMemoryState,
  decide,
  stateKeys,
  type RetrievalAccess,
  type CompiledPolicy,
  type Decision,
  type DecisionRequest,
  type DecisionState,
  type Reason,
  type Verdict,
} from '@posture/core';
import type {
  ApprovalQueue,
  ApprovalRequest,
  AuditEvent,
  AuditLog,
  Counters,
  ExceptionStore,
  OpenCall,
  Outcome,
  StoredEvent,
} from '@posture/storage';
import { argsHash } from './args-hash.js';
import { defaultApprovers } from './approvers.js';
import { EvidenceRedactor } from './evidence.js';
import { ArgumentGuards, type ArgumentGuardOptions } from './guards.js';
import { InputSchemas } from './input-schema.js';
import { filterRetrieval } from './retrieval.js';

/** One tool call, as an adapter hands it over. */
export interface ToolCall {
  agent: string;
  /** The user the agent acts for. */
  user: string;
  session: string;
  /** `server/tool` */
  tool: string;
  args: Record<string, unknown>;
  /**
   * Data classes the caller says the session already carries (`untrusted` after reading an email
   * in-process, say). Trusted input: the gateway never takes it from an agent.
   */
  labels?: string[];
}

export interface ExecuteContext {
  /** Aborted when the call's timeout passes: stop the work (an MCP client sends `notifications/cancelled`). */
  signal: AbortSignal;
  /** The arguments to send, after `data.rules` redaction. */
  args: Record<string, unknown>;
}

/** Runs the tool itself; only called for a call that may run. */
export type Execute = (context: ExecuteContext) => Promise<unknown>;

/** What the acting user answered when asked to confirm (MCP elicitation's actions). */
export type ConfirmAnswer = 'accept' | 'decline' | 'cancel';

export interface CallOptions {
  /**
   * Asks the acting user to confirm the call (elicitation). Without it, a call that needs
   * confirmation is handled as one that needs approval.
   */
  confirm?: (call: ToolCall, decision: Decision) => Promise<ConfirmAnswer>;
  /** The identity the tool runs as upstream (the gateway's credential for the server). */
  toolIdentity?: string;
  /** What the call reaches (the upstream's URL or command), for the approver to see. */
  target?: string;
  /**
   * An approval the adapter has already verified and used for this call — one approval of a
   * declared plan covering each of its steps. It satisfies approval and confirmation; the
   * enforcer records its id. Only trusted adapter code sets it, never an agent.
   */
  covered?: { approvalId: string };
}

/** How a call ended. Every outcome carries the audit event that records it. */
export type CallResult =
  | { status: 'ok'; result: unknown; decision: Decision; event: StoredEvent }
  | { status: 'denied'; decision: Decision; event: StoredEvent }
  | { status: 'pending'; decision: Decision; approval: ApprovalRequest; event: StoredEvent }
  | { status: 'failed'; error: string; decision: Decision; event: StoredEvent }
  | { status: 'timed_out'; decision: Decision; event: StoredEvent }
  /** Posture itself could not do its part (evidence unavailable); the call did not run, or its result is withheld. */
  | { status: 'error'; code: string; message: string; decision?: Decision; event?: StoredEvent };

export interface EnforcerOptions {
  policy: CompiledPolicy;
  audit: AuditLog;
  approvals: ApprovalQueue;
  exceptions?: ExceptionStore;
  /** Decision state (rates, loops, session labels); in this process's memory by default. */
  state?: DecisionState;
  /**
   * Shared decision state, for several enforcers (gateway replicas) that must hold one set of
   * limits: every decision runs in a transaction over the records it touches. Replaces `state`.
   */
  counters?: Counters;
  /** Milliseconds since the epoch; `Date.now` by default. Tests pass their own. */
  clock?: () => number;
  /** Per-installation key for `hash` redaction of evidence; without it evidence is masked. */
  redactionKey?: Uint8Array;
  /**
   * While the audit log cannot be written, tier-1 reads still run (counted, and recorded as a gap
   * event once the log is back). Everything else fails closed. Default: the policy's
   * `evidence.fail_open_reads`, false unless set.
   */
  failOpenReads?: boolean;
  /**
   * Sees each call's audit event once it is recorded (anomaly detection, metrics). Runs on the
   * call's path, so it must be synchronous and cheap; what it throws is ignored.
   */
  observe?: (event: StoredEvent) => void;
  /**
   * How URL and path arguments are checked beyond the policy's lexical guards: host names are
   * resolved (an internal address is refused, `egress.private`) with the system resolver unless
   * `resolveHost` replaces it; symlinks are followed only when `realPath` is given (the tools'
   * files are on this machine: `systemRealPath`).
   */
  guards?: ArgumentGuardOptions;
}

export interface Enforcer {
  call(call: ToolCall, execute: Execute, options?: CallOptions): Promise<CallResult>;
  /**
   * Refuses a call without deciding it, for what an adapter knows that the policy cannot (a tool
   * disabled because its definition changed, say), and records the denial like any other.
   */
  refuse(call: ToolCall, reason: Reason, rules: string[], options?: CallOptions): Promise<CallResult>;
  /** Appends an event that is not a call (an alert, a policy change), redacted like every event. */
  note(event: Omit<AuditEvent, 'time'>): Promise<StoredEvent | undefined>;
  readonly policy: CompiledPolicy;
}

export function createEnforcer(options: EnforcerOptions): Enforcer {
  return new PipelineEnforcer(options);
}

/** Families found in a result that label the session even where the tool did not declare them. */
const FOUND_LABELS: Record<string, string> = { secrets: 'secret', pii: 'pii' };

class PipelineEnforcer implements Enforcer {
  readonly policy: CompiledPolicy;
  readonly #audit: AuditLog;
  readonly #approvals: ApprovalQueue;
  readonly #exceptions: ExceptionStore | undefined;
  readonly #state: DecisionState;
  readonly #counters: Counters | undefined;
  readonly #clock: () => number;
  readonly #redactor: EvidenceRedactor;
  readonly #failOpenReads: boolean;
  readonly #schemas = new InputSchemas();
  readonly #guards: ArgumentGuards;
  readonly #retrieval: RetrievalAccess | undefined;
  readonly #observe: ((event: StoredEvent) => void) | undefined;
  /** Set while the audit log refuses writes: when it began, and what ran or was refused meanwhile. */
  #outage: { since: string; error: string; unlogged: number; refused: number } | undefined;

  constructor(options: EnforcerOptions) {
    this.policy = options.policy;
    this.#audit = options.audit;
    this.#approvals = options.approvals;
    this.#exceptions = options.exceptions;
    this.#state = options.state ?? createMemoryState();
    this.#counters = options.counters;
    this.#clock = options.clock ?? Date.now;
    this.#redactor = new EvidenceRedactor(options.policy, options.redactionKey);
    this.#failOpenReads = options.failOpenReads ?? options.policy.policy.evidence.fail_open_reads;
    this.#retrieval = compileRetrieval(options.policy.policy);
    this.#observe = options.observe;
    this.#guards = new ArgumentGuards(options.guards);
  }

  async call(call: ToolCall, execute: Execute, options: CallOptions = {}): Promise<CallResult> {
    try {
      return await this.#call(call, execute, options);
    } catch (error) {
      // A store that failed mid-way (approvals, exceptions): the call did not run.
      return {
        status: 'error',
        code: 'enforcer.error',
        message: `the call did not run: ${this.#redactor.text(error instanceof Error ? error.message : String(error))}`,
      };
    }
  }

  async refuse(
    call: ToolCall,
    reason: Reason,
    rules: string[],
    options: CallOptions = {},
  ): Promise<CallResult> {
    const decision: Decision = { decision: 'deny', rules, reasons: [reason], obligations: {} };
    return this.#recordDecision(call, argsHash(call.args), this.#clock(), decision, options, undefined);
  }

  async note(event: Omit<AuditEvent, 'time'>): Promise<StoredEvent | undefined> {
    try {
      return await this.#audit.append({
        ...event,
        time: new Date(this.#clock()).toISOString(),
        ...(event.args !== undefined ? { args: this.#redactor.forEvidence(event.args).value } : {}),
        ...(event.detail
          ? { detail: this.#redactor.forEvidence(event.detail).value as Record<string, unknown> }
          : {}),
      });
    } catch {
      return undefined; // an alert that cannot be written is not a reason to fail a call
    }
  }

  async #call(call: ToolCall, execute: Execute, options: CallOptions): Promise<CallResult> {
    const started = this.#clock();
    const hash = argsHash(call.args);
    const request: DecisionRequest = {
      agent: call.agent,
      user: call.user,
      tool: call.tool,
      args: call.args,
      session: call.session,
      ...(call.labels ? { labels: call.labels } : {}),
    };
    let decision = await this.#decide(request, started);
    if (decision.decision !== 'deny') {
      const tool = this.policy.catalog.get(call.tool);
      const misfit = this.#schemas.checkFor(tool?.inputSchema)?.(call.args);
      if (misfit !== undefined && tool) {
        const rule = `servers.${tool.server}.tools.${tool.name}`;
        const refused: Decision = { ...decision, rules: [rule] };
        return this.#deny(call, hash, started, { ...refused, reasons: [] }, 'args.invalid', options, misfit);
      }
      const guarded = await this.#guards.check(this.policy, call.agent, call.tool, call.args, started);
      if (guarded) {
        const refused: Decision = { ...decision, rules: [guarded.rule], reasons: [] };
        return this.#deny(call, hash, started, refused, guarded.reason.code, options, guarded.reason.message);
      }
    }
    let approvalId: string | undefined;
    let exceptionId: string | undefined;
    const bound = {
      agent: call.agent,
      user: call.user,
      tool: call.tool,
      args_hash: hash,
      session: call.session,
    };
    const raised = () => decision.decision === 'approve' || decision.decision === 'confirm';

    // An approver may already have approved this exact call (it was queued on an earlier try):
    // that approval satisfies approval and confirmation alike, without asking anyone again.
    if (raised() && options.covered) {
      approvalId = options.covered.approvalId;
      decision = await this.#decide({ ...request, approval: { id: approvalId } }, this.#clock());
    }
    let approved = raised() ? await this.#approvals.findOpen(bound, new Date(this.#clock())) : undefined;
    if (approved?.status !== 'approved') approved = undefined;

    if (!approved && decision.decision === 'confirm' && options.confirm) {
      let answer: ConfirmAnswer;
      try {
        answer = await options.confirm(call, decision);
      } catch {
        answer = 'cancel';
      }
      // Declined, cancelled or failed: a deny, never a silent allow.
      if (answer !== 'accept') return this.#deny(call, hash, started, decision, 'confirm.declined', options);
      decision = await this.#decide({ ...request, confirmed: true }, this.#clock());
    }

    if (!approved && raised()) {
      const exception = await this.#standingException(call);
      if (exception) {
        exceptionId = exception;
        const approval = { id: `exception:${exception}` };
        decision = await this.#decide({ ...request, approval }, this.#clock());
      } else {
        const pending = await this.#requestApproval(call, hash, decision, options);
        if (pending.status !== 'approved') {
          const recorded = await this.#record(call, hash, started, decision, 'pending', options, {
            approval_id: pending.id,
          });
          return recorded.ok
            ? { status: 'pending', decision, approval: pending, event: recorded.event }
            : this.#evidenceError(decision, recorded.error);
        }
        approved = pending;
      }
    }

    if (approved) {
      // Decide again as the approved call, then use the approval (once, compare-and-set).
      approvalId = approved.id;
      decision = await this.#decide({ ...request, approval: { id: approved.id } }, this.#clock());
      if (decision.decision === 'allow') {
        const used = await this.#approvals.consume(approved.id, bound, new Date(this.#clock()));
        if (!used.ok)
          return this.#deny(call, hash, started, decision, `approval.${used.code}`, options, used.message);
      }
    }

    if (decision.decision !== 'allow') {
      return this.#recordDecision(call, hash, started, decision, options, approvalId);
    }
    return this.#run(call, hash, started, decision, execute, options, { approvalId, exceptionId });
  }

  async #run(
    call: ToolCall,
    hash: string,
    started: number,
    decision: Decision,
    execute: Execute,
    options: CallOptions,
    ids: { approvalId: string | undefined; exceptionId: string | undefined },
  ): Promise<CallResult> {
    const extra = {
      ...(ids.approvalId ? { approval_id: ids.approvalId } : {}),
      ...(ids.exceptionId ? { detail: { exception_id: ids.exceptionId } } : {}),
    };
    const tier = this.policy.catalog.get(call.tool)?.tier;
    if (this.#outage && !(await this.#recover())) {
      if (!(this.#failOpenReads && tier === 1)) {
        this.#outage.refused++;
        return notRun(decision, this.#outage.error);
      }
      // Counted below, if its event then fails to be written too.
    }

    // A write's evidence is written before it runs (where the log can): a log that cannot take it
    // refuses the call before it has any effect, a crash mid-call leaves it `interrupted` in the
    // log, and the record's flush to disk overlaps the call itself. Reads change nothing: their
    // one event is written after them, as before.
    // (Only then are the redacted arguments made this early: kept across the call, they would
    // outlive the young generation on the commonest path.)
    let begun: Begun | undefined;
    if (this.#audit.begin && !this.#outage && tier !== 1) {
      const evidence = this.#redactor.forEvidence(call.args);
      try {
        const open = await this.#audit.begin(
          this.#event(call, hash, started, this.#clock(), decision, undefined, options, extra, evidence),
        );
        begun = { evidence, open };
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        this.#outage = {
          since: new Date(this.#clock()).toISOString(),
          error: message,
          unlogged: 0,
          refused: 1,
        };
        return notRun(decision, message);
      }
    }

    const sent = decision.obligations.redact_arguments
      ? this.#redactor.forTool(call.args, decision.obligations.redact_arguments)
      : call.args;
    const controller = new AbortController();
    const timeoutMs = decision.obligations.timeout_ms;
    let timer: NodeJS.Timeout | undefined;
    let outcome: { kind: 'ok'; value: unknown } | { kind: 'failed'; error: string } | { kind: 'timed_out' };
    try {
      const work = execute({ signal: controller.signal, args: sent as Record<string, unknown> });
      const timeout =
        timeoutMs === undefined
          ? undefined
          : new Promise<'timeout'>((resolve) => {
              timer = setTimeout(() => resolve('timeout'), timeoutMs);
            });
      const value = timeout ? await Promise.race([work, timeout]) : await work;
      if (value === 'timeout' && timeout) {
        controller.abort(new Error(`timed out after ${timeoutMs} ms`));
        work.catch(() => {}); // its late failure is no longer anyone's to see
        outcome = { kind: 'timed_out' };
      } else {
        outcome = { kind: 'ok', value };
      }
    } catch (error) {
      outcome = { kind: 'failed', error: error instanceof Error ? error.message : String(error) };
    } finally {
      if (timer) clearTimeout(timer);
    }

    if (outcome.kind === 'timed_out') {
      const recorded = await this.#record(call, hash, started, decision, 'timed_out', options, extra, begun);
      return recorded.ok
        ? { status: 'timed_out', decision, event: recorded.event }
        : this.#evidenceError(decision, recorded.error);
    }
    if (outcome.kind === 'failed') {
      const recorded = await this.#record(
        call,
        hash,
        started,
        decision,
        'failed',
        options,
        {
          ...extra,
          detail: { ...extra.detail, error: outcome.error },
        },
        begun,
      );
      return recorded.ok
        ? { status: 'failed', error: outcome.error, decision, event: recorded.event }
        : this.#evidenceError(decision, recorded.error);
    }

    let value = outcome.value;
    let withheldDocuments = 0;
    if (this.policy.catalog.get(call.tool)?.retrieval) {
      const filtered = filterRetrieval(this.#retrieval, call.user, value);
      if (!filtered.ok) {
        const refused: Decision = {
          decision: 'deny',
          rules: ['data.retrieval'],
          reasons: [{ code: filtered.code, message: `the result is withheld: ${filtered.message}` }],
          obligations: {},
        };
        const recorded = await this.#record(call, hash, started, refused, 'denied', options, extra, begun);
        return recorded.ok
          ? { status: 'denied', decision: refused, event: recorded.event }
          : this.#evidenceError(refused, recorded.error);
      }
      value = filtered.value;
      withheldDocuments = filtered.withheld;
    }
    const checked = this.#redactor.forAgent(value, decision.obligations);
    await this.#labelSession(call.session, checked.families);
    if (checked.blocked) {
      const blocked: Decision = {
        decision: 'deny',
        rules: decision.rules,
        reasons: [{ code: 'data.blocked_result', message: checked.blocked }],
        obligations: {},
      };
      const recorded = await this.#record(call, hash, started, blocked, 'denied', options, extra, begun);
      return recorded.ok
        ? { status: 'denied', decision: blocked, event: recorded.event }
        : this.#evidenceError(blocked, recorded.error);
    }
    const recorded = await this.#record(
      call,
      hash,
      started,
      decision,
      'allowed',
      options,
      {
        ...extra,
        ...(checked.removed.length > 0 || withheldDocuments > 0
          ? {
              detail: {
                ...extra.detail,
                ...(checked.removed.length > 0 ? { result_redactions: checked.removed } : {}),
                ...(withheldDocuments > 0 ? { withheld_documents: withheldDocuments } : {}),
              },
            }
          : {}),
      },
      begun,
    );
    if (!recorded.ok) {
      // The tool ran but its evidence is not written: withhold the result rather than return
      // something the log cannot account for. Tier-1 reads may pass when configured to.
      if (this.#failOpenReads && tier === 1) {
        this.#outage!.unlogged++;
        return { status: 'ok', result: checked.value, decision, event: unloggedEvent(call, decision) };
      }
      return this.#evidenceError(decision, recorded.error);
    }
    return { status: 'ok', result: checked.value, decision, event: recorded.event };
  }

  /** The active standing exception covering this call, if any. */
  async #standingException(call: ToolCall): Promise<string | undefined> {
    if (!this.#exceptions) return undefined;
    const active = await this.#exceptions.active(call.agent, call.tool, new Date(this.#clock()));
    return active[0]?.id;
  }

  /** Queues (or finds the open) approval request bound to exactly this call. */
  async #requestApproval(
    call: ToolCall,
    hash: string,
    decision: Decision,
    options: CallOptions,
  ): Promise<ApprovalRequest> {
    const now = this.#clock();
    const approval = decision.obligations.approval;
    const approvers = approval?.approvers ?? defaultApprovers(this.policy, call.agent);
    return this.#approvals.request(
      {
        agent: call.agent,
        user: call.user,
        tool: call.tool,
        args_hash: hash,
        session: call.session,
        args: this.#redactor.forEvidence(call.args).value,
        ...(options.target ? { target: options.target } : {}),
        approvers,
        step_up: approval?.step_up ?? false,
        reasons: decision.reasons,
        rules: decision.rules,
        expires_at: new Date(now + (approval?.expires_ms ?? DEFAULT_APPROVAL_MS)).toISOString(),
      },
      new Date(now),
    );
  }

  async #labelSession(session: string, families: ReadonlySet<string>): Promise<void> {
    const found = [...families].flatMap((family) => (FOUND_LABELS[family] ? [FOUND_LABELS[family]] : []));
    if (found.length === 0) return;
    const add = (state: DecisionState) => {
      const labels = state.session(session).labels;
      for (const label of found) if (!labels.includes(label)) labels.push(label);
    };
    if (!this.#counters) return add(this.#state);
    await this.#counters.transact({ session, rates: [] }, this.#clock(), add);
  }

  /**
   * The core's decision, on this process's state or, with shared counters, inside one transaction
   * over exactly the records it may touch. A store that fails denies: fail closed.
   */
  async #decide(request: DecisionRequest, now: number): Promise<Decision> {
    if (!this.#counters) return decide(request, this.policy, this.#state, { now });
    const keys = stateKeys(request, this.policy);
    if (keys.session === undefined && keys.rates.length === 0)
      return decide(request, this.policy, STATELESS, { now });
    try {
      return await this.#counters.transact(keys, now, (state) =>
        decide(request, this.policy, state, { now }),
      );
    } catch (error) {
      return {
        decision: 'deny',
        rules: ['limits'],
        reasons: [
          {
            code: 'state.unavailable',
            message: `the shared limits cannot be read: ${error instanceof Error ? error.message : String(error)}`,
          },
        ],
        obligations: {},
      };
    }
  }

  async #deny(
    call: ToolCall,
    hash: string,
    started: number,
    from: Decision,
    code: string,
    options: CallOptions,
    message?: string,
  ): Promise<CallResult> {
    const reason: Reason = { code, message: message ?? DENIAL_MESSAGES[code] ?? code };
    // The reasons that led here stay on record, followed by why the call was refused after all.
    const decision: Decision = {
      decision: 'deny',
      rules: from.rules,
      reasons: [...from.reasons, reason],
      obligations: {},
    };
    return this.#recordDecision(call, hash, started, decision, options, undefined);
  }

  async #recordDecision(
    call: ToolCall,
    hash: string,
    started: number,
    decision: Decision,
    options: CallOptions,
    approvalId: string | undefined,
  ): Promise<CallResult> {
    const recorded = await this.#record(
      call,
      hash,
      started,
      decision,
      OUTCOME_OF[decision.decision],
      options,
      approvalId ? { approval_id: approvalId } : {},
    );
    if (!recorded.ok) return this.#evidenceError(decision, recorded.error);
    return { status: 'denied', decision, event: recorded.event };
  }

  async #record(
    call: ToolCall,
    hash: string,
    started: number,
    decision: Decision,
    outcome: Outcome,
    options: CallOptions,
    extra: Partial<AuditEvent>,
    begun?: Begun,
  ): Promise<{ ok: true; event: StoredEvent } | { ok: false; error: string }> {
    const event = this.#event(
      call,
      hash,
      started,
      this.#clock(),
      decision,
      outcome,
      options,
      extra,
      begun?.evidence,
    );
    let stored: StoredEvent;
    try {
      stored = await this.#audit.append(event, begun ? { settles: begun.open } : undefined);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      this.#outage ??= { since: event.time, error: message, unlogged: 0, refused: 0 };
      return { ok: false, error: message };
    }
    if (this.#observe) {
      try {
        this.#observe(stored);
      } catch {
        // an observer's failure is not the call's
      }
    }
    return { ok: true, event: stored };
  }

  /** A call's audit event; `outcome` is left out for the record written before the call runs. */
  #event(
    call: ToolCall,
    hash: string,
    started: number,
    now: number,
    decision: Decision,
    outcome: Outcome | undefined,
    options: CallOptions,
    extra: Partial<AuditEvent>,
    evidence = this.#redactor.forEvidence(call.args),
  ): AuditEvent {
    const tool = this.policy.catalog.get(call.tool);
    const reasons = decision.reasons.map((reason) => ({
      code: reason.code,
      message: this.#redactor.text(reason.message),
    }));
    const event: AuditEvent = {
      time: new Date(now).toISOString(),
      kind: 'call',
      actor: {
        user: call.user,
        agent: call.agent,
        ...(options.toolIdentity ? { tool_identity: options.toolIdentity } : {}),
      },
      session: call.session,
      tool: call.tool,
      ...(tool ? { access: tool.access, tier: tool.tier } : {}),
      args: evidence.value,
      args_hash: hash,
      decision: decision.decision,
      rules: decision.rules,
      reasons,
      ...(outcome !== undefined ? { outcome, latency_ms: now - started } : {}),
      ...(evidence.removed.length > 0 ? { redactions: evidence.removed } : {}),
      ...extra,
      // Details carry upstream errors and the like: evidence too, so redacted too.
      ...(extra.detail
        ? { detail: this.#redactor.forEvidence(extra.detail).value as Record<string, unknown> }
        : {}),
    };
    return event;
  }

  /** Tries to write the gap event that closes an outage; true once the log takes writes again. */
  async #recover(): Promise<boolean> {
    const outage = this.#outage!;
    try {
      await this.#audit.append({
        time: new Date(this.#clock()).toISOString(),
        kind: 'gap',
        actor: {},
        outcome: 'error',
        detail: {
          since: outage.since,
          error: this.#redactor.text(outage.error),
          unlogged_calls: outage.unlogged,
          refused_calls: outage.refused,
        },
      });
      this.#outage = undefined;
      return true;
    } catch {
      return false;
    }
  }

  #evidenceError(decision: Decision, error: string): CallResult {
    return {
      status: 'error',
      code: 'evidence.unavailable',
      message: `the audit log cannot be written (${error}); nothing is returned that the log does not record`,
      decision,
    };
  }
}

const DEFAULT_APPROVAL_MS = 15 * 60 * 1000;

/** A call refused because its evidence cannot be written: it did not run. */
function notRun(decision: Decision, error: string): CallResult {
  return {
    status: 'error',
    code: 'evidence.unavailable',
    message: `the call did not run: the audit log cannot be written (${error})`,
    decision,
  };
}

/** A running write's redacted arguments, and its record in the log. */
interface Begun {
  evidence: ReturnType<EvidenceRedactor['forEvidence']>;
  open: OpenCall;
}

/** For decisions that touch no record: any read of it is a bug in stateKeys(), so it throws (and denies). */
const STATELESS: DecisionState = {
  session: () => {
    throw new Error('a decision read a session that stateKeys() did not name');
  },
  rateLog: () => {
    throw new Error('a decision read a rate log that stateKeys() did not name');
  },
};

const OUTCOME_OF: Record<Verdict, Outcome> = {
  allow: 'allowed',
  deny: 'denied',
  approve: 'pending',
  confirm: 'pending',
};

const DENIAL_MESSAGES: Record<string, string> = {
  'confirm.declined': 'the user did not confirm the call',
};

/** What a fail-open read returns in place of a stored event: seq -1 says it is not in the log. */
function unloggedEvent(call: ToolCall, decision: Decision): StoredEvent {
  return {
    seq: -1,
    time: '',
    kind: 'call',
    actor: { user: call.user, agent: call.agent },
    tool: call.tool,
    decision: decision.decision,
    outcome: 'allowed',
  };
}
