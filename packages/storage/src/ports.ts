import type { DecisionState, Reason, StateKeys, Verdict } from '@posture/core';

/** What happened, as the audit log records it. Callers pass arguments already redacted. */
/** Every kind of event, for filters and their validation (`revocation`: `posture token revoke`). */
export const EVENT_KINDS = [
  'call',
  'approval',
  'exception',
  'policy_change',
  'alert',
  'gap',
  'revocation',
] as const;
export type EventKind = (typeof EVENT_KINDS)[number];

/** Every outcome, for filters and schemas. */
export const OUTCOMES = [
  'allowed', // decided allow; the call ran and returned
  'denied',
  'pending', // waiting for an approval or a confirmation
  'approved',
  'rejected',
  'failed', // the upstream returned an error or crashed
  'timed_out',
  'interrupted', // the call was running when its gateway stopped: whether it completed is unknown
  'error', // Posture itself failed; the call did not run
] as const;
export type Outcome = (typeof OUTCOMES)[number];

export interface AuditEvent {
  /** ISO 8601, from the enforcer's clock; order is by `seq`, never by time. */
  time: string;
  kind: EventKind;
  /** The actor chain: the user the agent acts for, the agent, and the identity used upstream. */
  actor: { user?: string; agent?: string; tool_identity?: string };
  session?: string;
  /** `server/tool` */
  tool?: string;
  access?: 'read' | 'write' | 'admin';
  tier?: 1 | 2 | 3;
  /** Redacted arguments, and the hash of the original ones (hex SHA-256 of canonical JSON). */
  args?: unknown;
  args_hash?: string;
  decision?: Verdict;
  rules?: string[];
  reasons?: Reason[];
  outcome?: Outcome;
  latency_ms?: number;
  approval_id?: string;
  /** What redaction removed: class, path, count; never the value. */
  redactions?: Array<{ class: string; path: string; count: number }>;
  /** Kind-specific details (an approval's approver and step-up, an alert's rule, a policy's hash). */
  detail?: Record<string, unknown>;
}

/**
 * An event as stored: the event and its position in the log. Its Merkle leaf is
 * SHA-256(0x00 ‖ UTF-8 of `canonicalJson(storedEvent)`), `seq` included.
 */
export interface StoredEvent extends AuditEvent {
  seq: number;
}

export interface AuditFilter {
  agent?: string;
  user?: string;
  tool?: string;
  decision?: Verdict;
  outcome?: Outcome;
  kind?: EventKind;
  /** Inclusive ISO bounds. */
  since?: string;
  until?: string;
  /** Return events with seq greater than this (for paging and tailing). */
  after?: number;
  limit?: number;
}

/** A signed statement of the log's size and root, in the C2SP signed-note checkpoint format. */
export interface Checkpoint {
  origin: string;
  size: number;
  /** base64 of the RFC 6962 root hash */
  root: string;
  /** The whole signed note, as text. */
  note: string;
}

/** A stored event as exported and verified: with the hex SHA-256 leaf hash the store kept for it. */
export type LoggedEvent = StoredEvent & { leaf_hash: string };

/**
 * A call recorded before it runs (`AuditLog.begin`): committed when `begin` resolves, so a stopped
 * process leaves it behind, and on disk once `durable` resolves. The call's one event is the one
 * `append(event, { settles })` writes; a call whose event never comes is logged `interrupted`.
 */
export interface OpenCall {
  readonly id: string;
  /** Resolves once the record is on disk; rejects if it could not be flushed. */
  readonly durable: Promise<void>;
}

export interface AppendOptions {
  /**
   * The call this event ends. The append then resolves once the event is committed and the
   * call's record is durable: the flush that makes this event durable runs after the caller is
   * released (a power loss before it leaves the call in the log as `interrupted`, never absent).
   */
  settles?: OpenCall;
}

/**
 * The tamper-evident audit log. `append` resolves only once the event is durable (group commit:
 * concurrent appends share one transaction), or with `settles`, as described there. If it rejects,
 * the event was not written.
 */
export interface AuditLog {
  /** The checkpoints' origin line: the identity of this log. */
  readonly origin: string;
  /** The key that verifies this log's checkpoints, as `<name>+<hex key hash>+<base64 key>`. */
  readonly verifierKey: string;
  append(event: AuditEvent, options?: AppendOptions): Promise<StoredEvent>;
  /**
   * Records a call before it runs, so that its evidence exists before its effects: rejects if the
   * record cannot be written (the caller must then not run the call). Backends without it make the
   * enforcer write the call's one event after the call, durable before its result is returned.
   */
  begin?(event: AuditEvent): Promise<OpenCall>;
  size(): Promise<number>;
  /** Events with seq in [from, to). */
  read(from: number, to: number): Promise<StoredEvent[]>;
  search(filter: AuditFilter): Promise<StoredEvent[]>;
  /** Every event from `from` on, in seq order, with its stored leaf hash: for verify and export. */
  entries(from?: number): AsyncIterable<LoggedEvent>;
  /** Signs and stores a checkpoint of the current size (returns the stored one if the size is unchanged). */
  checkpoint(): Promise<Checkpoint>;
  latestCheckpoint(): Promise<Checkpoint | undefined>;
  /** Every stored checkpoint, by size. */
  checkpoints(): Promise<Checkpoint[]>;
  /** Waits for queued appends, signs a last checkpoint if the log grew, and releases the store. */
  close(): Promise<void>;
}

/** The call an approval is bound to: who, what, with which arguments, in which session. */
export interface BoundCall {
  agent: string;
  user: string;
  /** `server/tool` */
  tool: string;
  /** Hex SHA-256 of the canonical JSON of the original (unredacted) arguments. */
  args_hash: string;
  session: string;
}

/**
 * Where a request is in its life. `pending` → `approved` | `denied` | `expired`;
 * `approved` → `consumed` | `expired`. `denied`, `expired` and `consumed` are final.
 */
export type ApprovalStatus = 'pending' | 'approved' | 'denied' | 'expired' | 'consumed';

/** A request for a human decision, bound to the exact call it would let through. */
export interface ApprovalRequest extends BoundCall {
  /** Unguessable (a random UUID): knowing an id is not a capability, but it must not be enumerable. */
  id: string;
  /** Redacted arguments, for the approver to see the real action (never the model's summary). */
  args?: unknown;
  /** What the call reaches: the upstream server's URL or command, as the enforcer resolved it. */
  target?: string;
  /** Who may decide (`alice`, `group:approvers`) and whether step-up authentication is needed. */
  approvers: string[];
  step_up: boolean;
  reasons: Reason[];
  rules: string[];
  created_at: string;
  expires_at: string;
  /**
   * As of the `now` the store was asked with: a `pending` or `approved` request past `expires_at`
   * reads as `expired` even before anything wrote that status (after a restart, for instance).
   */
  status: ApprovalStatus;
  decided_by?: string;
  decided_at?: string;
  /** How the approver proved themselves again, and when (step-up). */
  step_up_proof?: { method: string; at: string };
  comment?: string;
  /** When the approved call was let through. */
  consumed_at?: string;
}

export type NewApproval = Omit<
  ApprovalRequest,
  'id' | 'status' | 'created_at' | 'decided_by' | 'decided_at' | 'step_up_proof' | 'comment' | 'consumed_at'
>;

/** A human's decision on a request. */
export interface ApprovalDecision {
  approve: boolean;
  /** The deciding user. */
  by: string;
  /** The deciding user's groups, from the policy (they make `group:x` approvers match). */
  byGroups: readonly string[];
  /** Required to approve a `step_up` request; `at` must fall between the request's creation and now. */
  stepUp?: { method: string; at: string };
  comment?: string;
}

/**
 * Why a decide or consume was refused:
 * - `not_found`: no request with that id;
 * - `not_pending`: the request is no longer in the state the operation needs — already decided
 *   (decide), not approved or already consumed (consume); the loser of a race gets this;
 * - `expired`: past `expires_at` (its status is now `expired`);
 * - `not_approver`: the deciding user is not among `approvers`, directly or through a group;
 * - `self_approval`: the deciding user is the requesting user, or an agent identity;
 * - `step_up_required`: approving needs step-up proof, and none (or a stale one) was given;
 * - `mismatch`: consume was asked for a call other than the one the request binds.
 */
export type ApprovalRefusal =
  | 'not_found'
  | 'not_pending'
  | 'expired'
  | 'not_approver'
  | 'self_approval'
  | 'step_up_required'
  | 'mismatch';

/** The outcome of trying to decide or consume a request: exactly one attempt wins. */
export type ApprovalResult =
  | { ok: true; request: ApprovalRequest }
  | { ok: false; code: ApprovalRefusal; message: string; request?: ApprovalRequest };

/**
 * The persistent approvals queue. Every method takes the enforcer's `now`; stores read no clock.
 * Decide and consume are compare-and-set: under concurrent attempts, from any number of
 * processes, exactly one wins and every other gets `not_pending`.
 */
export interface ApprovalQueue {
  /**
   * Queues a request, or returns the open one (pending, or approved and not yet consumed, and not
   * expired) already bound to the same call: a retried call never queues a duplicate.
   * Throws on invalid input (no approvers, an expiry not after `now`, an empty binding field).
   */
  request(input: NewApproval, now: Date): Promise<ApprovalRequest>;
  get(id: string, now: Date): Promise<ApprovalRequest | undefined>;
  /**
   * The open request (pending, or approved and not yet consumed, and not expired) bound to exactly
   * this call, without queueing one: lets an already-approved call through a confirmation.
   */
  findOpen(call: BoundCall, now: Date): Promise<ApprovalRequest | undefined>;
  /** Newest first; `status` as of `now`; at most `limit` (default 100). */
  list(filter: { status?: ApprovalStatus; limit?: number }, now: Date): Promise<ApprovalRequest[]>;
  /**
   * Approves or denies once. Only a user among `approvers` may decide; the requesting user and
   * any agent identity — a `by` equal to the request's agent or starting with `agent:` — never
   * may, whatever their groups. Approving a `step_up` request needs `stepUp` proof.
   */
  decide(id: string, decision: ApprovalDecision, now: Date): Promise<ApprovalResult>;
  /** Uses an approved request for the exact call it binds, once (→ `consumed`). */
  consume(id: string, call: BoundCall, now: Date): Promise<ApprovalResult>;
  close(): Promise<void>;
}

/**
 * A standing exception (break-glass): for a while, the agent may call the matching tools without
 * per-call approval. Always justified, approved by a human and bounded in time; revocable.
 */
export interface StandingException {
  id: string;
  agent: string;
  /** Globs over `server/tool`, as in grants. */
  tools: string[];
  justification: string;
  approved_by: string;
  created_at: string;
  expires_at: string;
  revoked_by?: string;
  revoked_at?: string;
}

export type NewException = Omit<StandingException, 'id' | 'created_at' | 'revoked_by' | 'revoked_at'>;

export type ExceptionRevokeResult =
  | { ok: true; exception: StandingException }
  | { ok: false; code: 'not_found' | 'not_active'; message: string };

/** Standing exceptions. The enforcer writes the audit events for them; this only stores them. */
export interface ExceptionStore {
  /**
   * Stores an exception. Throws unless it has a justification, a human approver (not the agent,
   * not an `agent:` identity), at least one tool glob, and an expiry after `now` and at most the
   * store's maximum duration (24 h unless configured) from it.
   */
  append(input: NewException, now: Date): Promise<StandingException>;
  /** The unrevoked, unexpired exceptions of `agent` that cover `tool`. */
  active(agent: string, tool: string, now: Date): Promise<StandingException[]>;
  /** Every exception, newest first, revoked and expired ones included. */
  list(): Promise<StandingException[]>;
  /** Ends an exception early; once (a second revoke, or one of an expired exception, is `not_active`). */
  revoke(id: string, by: string, now: Date): Promise<ExceptionRevokeResult>;
  close(): Promise<void>;
}

/**
 * Shared execution state for `decide()`: sessions (calls, labels, recent-call history) and rate
 * logs, so several gateway processes enforce one set of limits exactly.
 *
 * `transact` loads the records `keys` names as of one instant, runs `fn` — the synchronous
 * `decide()` — on them, and, if `fn` changed any, commits every record it read in one atomic
 * compare-and-set. If another process committed one of them in between, nothing is written and
 * `fn` runs again on fresh records, a bounded number of times; so of two processes racing for the
 * last slot of a rate limit, exactly one gets it. `fn` must have no effect besides `state`.
 *
 * Records expire: a rate log once its window has passed since it was last written, a session
 * once it has been idle for the store's session TTL. Stores read no clock for that; `now` is the
 * enforcer's, as for `decide()`.
 */
export interface Counters {
  /**
   * Rejects only when the store fails or stays contended through every attempt (the enforcer
   * then denies: fail closed). `fn` reaching a record `keys` does not name throws inside it.
   */
  transact<T>(keys: StateKeys, now: number, fn: (state: DecisionState) => T): Promise<T>;
  close(): Promise<void>;
}

/** The parts of an MCP tool definition that tell a model and a client what the tool does. */
export interface ToolDefinition {
  name: string;
  description?: string;
  inputSchema?: Record<string, unknown>;
  annotations?: Record<string, unknown>;
}

/**
 * `new`: seen but never approved; `approved`: the definition seen now is the approved one;
 * `changed`: the definition seen now differs from the approved one (a rug pull until re-approved).
 */
export type ToolStatus = 'new' | 'approved' | 'changed';

export interface InventoryTool {
  server: string;
  name: string;
  /** Hex SHA-256 of the canonical JSON of the definition last seen (`toolDefinitionHash`). */
  hash: string;
  definition: ToolDefinition;
  first_seen: string;
  last_seen: string;
  /** How many times the definition seen has changed since the tool was first seen. */
  changes: number;
  status: ToolStatus;
  approved_hash?: string;
  approved_by?: string;
  approved_at?: string;
}

/** One tool of a `tools/list` as recorded: where it stands, and what this sighting changed. */
export interface ToolSighting extends InventoryTool {
  /** `first`: never seen before; `changed`: its definition differs from the last one seen. */
  seen: 'first' | 'changed' | 'same';
  /** The hash seen before this sighting, when `seen` is `changed`. */
  previous_hash?: string;
}

/** One definition a tool has had, and when it was first seen. */
export interface ToolVersion {
  hash: string;
  definition: ToolDefinition;
  first_seen: string;
}

export interface InventoryAgent {
  name: string;
  first_seen: string;
  last_seen: string;
}

export interface InventoryServer {
  name: string;
  first_seen: string;
  last_seen: string;
}

export type ToolApprovalResult =
  | { ok: true; tool: InventoryTool }
  | { ok: false; code: 'not_found' | 'mismatch'; message: string; tool?: InventoryTool };

/**
 * What Posture has seen: agents, upstream servers and their tools, each tool's definition hash,
 * and which definition a human approved. Concurrent recordings of one server (several gateways
 * listing it at once) apply one after the other, so a change is reported once.
 */
export interface Inventory {
  /** Records one server's `tools/list` as seen at `now`. Tools missing from the list are kept. */
  recordTools(server: string, tools: readonly ToolDefinition[], now: Date): Promise<ToolSighting[]>;
  recordAgent(agent: string, now: Date): Promise<void>;
  /**
   * Approves the tool's definition with `hash` — the one the approver saw. Refused with `mismatch`
   * when the tool's current definition has another hash (it changed while they looked).
   */
  approve(server: string, name: string, hash: string, by: string, now: Date): Promise<ToolApprovalResult>;
  tool(server: string, name: string): Promise<InventoryTool | undefined>;
  /** By server, then name. */
  tools(filter?: { server?: string; status?: ToolStatus }): Promise<InventoryTool[]>;
  /** Every definition the tool has had, oldest first. */
  history(server: string, name: string): Promise<ToolVersion[]>;
  agents(): Promise<InventoryAgent[]>;
  servers(): Promise<InventoryServer[]>;
  close(): Promise<void>;
}

/**
 * An agent's MCP session as every gateway replica sees it: who opened it, with which token, what
 * the client said when it did, and the plan it runs. With a shared store any replica (or a
 * restarted gateway) can serve the session, and a token opens one session across all of them.
 */
export interface SessionRecord {
  /** The `Mcp-Session-Id`: a random UUID. */
  id: string;
  agent: string;
  user: string;
  /** The `jti` of the token that opened the session: only that token may use it. */
  jti: string;
  /**
   * When the token expires, ms since the epoch by the gateway's clock: the session and the
   * token's binding to it end then (a session outlives no token).
   */
  expires_at: number;
  /** The client's `initialize` request, replayed by a replica that takes the session up. */
  init: unknown;
  /** The active plan, as the gateway keeps it; opaque to the store. */
  plan?: unknown;
  /** Changes with every write of the record: plan updates are compare-and-set on it. */
  version: number;
}

/** Tokens refused before they expire: one (`jti`), or every token of an agent issued until `at`. */
export interface TokenRevocation {
  subject: 'jti' | 'agent';
  /** The token's `jti`, or the agent's name. */
  id: string;
  /** When it was revoked, ms since the epoch: an agent's tokens issued at or before it are refused. */
  at: number;
  /** When the last token it refuses expires, ms: then it is forgotten. */
  until: number;
}

export type SessionOpenResult =
  | { ok: true; session: SessionRecord }
  /** The token already opened a session (a replay), here or in another process. */
  | { ok: false; code: 'replay'; session: string };

/**
 * Sessions shared by gateway replicas. `open` is atomic across processes: of two opening a
 * session with the same token at once, exactly one succeeds. Records are live until
 * `expires_at`; stores read no clock, `now` is the gateway's.
 */
export interface SessionStore {
  open(record: Omit<SessionRecord, 'version'>, now: number): Promise<SessionOpenResult>;
  /** The live record, or undefined (never opened, ended, or expired). */
  get(id: string, now: number): Promise<SessionRecord | undefined>;
  /** `get` without `init`, for the per-call plan check: the plan (if any) and the version. */
  plan(id: string, now: number): Promise<Pick<SessionRecord, 'plan' | 'version'> | undefined>;
  /**
   * Replaces the plan (undefined clears it) if the record still has `version`. Undefined when it
   * has another (a concurrent write won: read it again), or the session is gone.
   */
  setPlan(id: string, plan: unknown, version: number, now: number): Promise<SessionRecord | undefined>;
  /** Ends a session (the client's DELETE). Its token stays spent until it expires. */
  end(id: string): Promise<void>;
  /**
   * Records a revocation; gateways read them with `revocations` and refuse the tokens. Revoking
   * the same subject again keeps the later `at` and `until`.
   */
  revoke(revocation: TokenRevocation, now: number): Promise<void>;
  /** The revocations in force at `now` (`until` after it). */
  revocations(now: number): Promise<TokenRevocation[]>;
  close(): Promise<void>;
}

/**
 * Messages for the replica that holds something: a client's answer to an elicitation sent by
 * another replica of the same session. Delivery is at most once and best effort (a replica that
 * is down misses it; its caller then times out, and an unconfirmed call does not run).
 */
export interface MessageRelay {
  publish(session: string, message: unknown): Promise<void>;
  /** Calls `onMessage` with every message published by any process, this one's included. */
  subscribe(onMessage: (session: string, message: unknown) => void): Promise<void>;
  close(): Promise<void>;
}
