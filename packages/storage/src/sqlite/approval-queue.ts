// Approvals and standing exceptions in a SQLite file (better-sqlite3), shared by every process
// that opens it. Exactly-once: a decide or consume is one `UPDATE … WHERE status = … RETURNING`
// statement; SQLite runs one writer at a time, so of racing statements exactly one finds the row
// still pending (or approved) and changes it, and the others change nothing. WAL lets readers go
// on meanwhile; `busy_timeout` makes writers wait for the lock instead of failing.
import type Database from 'better-sqlite3';
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
  DEFAULT_MAX_EXCEPTION_MS,
  argsJson,
  checkNewApproval,
  checkNewException,
  checkRevoker,
  consumeRefusal,
  decidedFields,
  decisionRefusal,
  exceptionCovers,
  lostRaceRefusal,
  newId,
  notFound,
} from '../approval-rules.js';
import { openStoreFile } from './store-file.js';

/**
 * Versioned schema steps. The version lives in its own table, `posture_approvals_schema`, so these
 * never collide with other stores' migrations in the same file. Append; never edit a shipped step.
 */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE posture_approvals (
     id TEXT PRIMARY KEY,
     agent TEXT NOT NULL,
     user_name TEXT NOT NULL,
     tool TEXT NOT NULL,
     args_hash TEXT NOT NULL,
     session TEXT NOT NULL,
     args_json TEXT,
     target TEXT,
     approvers_json TEXT NOT NULL,
     step_up INTEGER NOT NULL,
     reasons_json TEXT NOT NULL,
     rules_json TEXT NOT NULL,
     created_at TEXT NOT NULL,
     expires_at TEXT NOT NULL,
     status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'denied', 'expired', 'consumed')),
     decided_by TEXT,
     decided_at TEXT,
     step_up_method TEXT,
     step_up_at TEXT,
     comment TEXT,
     consumed_at TEXT
   ) STRICT;
   -- At most one open request per call: the backstop for "a retried call never queues a duplicate".
   CREATE UNIQUE INDEX posture_approvals_open_call
     ON posture_approvals (agent, user_name, tool, args_hash, session)
     WHERE status IN ('pending', 'approved');
   CREATE INDEX posture_approvals_created ON posture_approvals (created_at);
   CREATE TABLE posture_exceptions (
     id TEXT PRIMARY KEY,
     agent TEXT NOT NULL,
     tools_json TEXT NOT NULL,
     justification TEXT NOT NULL,
     approved_by TEXT NOT NULL,
     created_at TEXT NOT NULL,
     expires_at TEXT NOT NULL,
     revoked_by TEXT,
     revoked_at TEXT
   ) STRICT;
   CREATE INDEX posture_exceptions_agent ON posture_exceptions (agent, expires_at);`,
];

export interface SqliteApprovalsOptions {
  /** Create the file (and its folder) when missing; true unless set. The CLI opens existing stores only. */
  create?: boolean;
  /** How long a writer waits for another process's lock before failing, in ms; 5000 unless set. */
  busyTimeoutMs?: number;
}

export interface SqliteExceptionStoreOptions extends SqliteApprovalsOptions {
  /** The longest a standing exception may last; 24 h unless set. */
  maxDurationMs?: number;
}

function openDatabase(path: string, options: SqliteApprovalsOptions): Database.Database {
  // A decision must survive a crash the moment it is reported: sync every commit.
  return openStoreFile(path, {
    component: 'approvals',
    label: 'approvals store',
    steps: MIGRATIONS,
    synchronous: 'FULL',
    ...(options.create !== undefined ? { create: options.create } : {}),
    ...(options.busyTimeoutMs !== undefined ? { busyTimeoutMs: options.busyTimeoutMs } : {}),
  });
}

interface ApprovalRow {
  id: string;
  agent: string;
  user_name: string;
  tool: string;
  args_hash: string;
  session: string;
  args_json: string | null;
  target: string | null;
  approvers_json: string;
  step_up: number;
  reasons_json: string;
  rules_json: string;
  created_at: string;
  expires_at: string;
  status: ApprovalStatus;
  decided_by: string | null;
  decided_at: string | null;
  step_up_method: string | null;
  step_up_at: string | null;
  comment: string | null;
  consumed_at: string | null;
}

function toRequest(row: ApprovalRow): ApprovalRequest {
  return {
    id: row.id,
    agent: row.agent,
    user: row.user_name,
    tool: row.tool,
    args_hash: row.args_hash,
    session: row.session,
    ...(row.args_json !== null ? { args: JSON.parse(row.args_json) as unknown } : {}),
    ...(row.target !== null ? { target: row.target } : {}),
    approvers: JSON.parse(row.approvers_json) as string[],
    step_up: row.step_up === 1,
    reasons: JSON.parse(row.reasons_json) as ApprovalRequest['reasons'],
    rules: JSON.parse(row.rules_json) as string[],
    created_at: row.created_at,
    expires_at: row.expires_at,
    status: row.status,
    ...(row.decided_by !== null ? { decided_by: row.decided_by } : {}),
    ...(row.decided_at !== null ? { decided_at: row.decided_at } : {}),
    ...(row.step_up_method !== null && row.step_up_at !== null
      ? { step_up_proof: { method: row.step_up_method, at: row.step_up_at } }
      : {}),
    ...(row.comment !== null ? { comment: row.comment } : {}),
    ...(row.consumed_at !== null ? { consumed_at: row.consumed_at } : {}),
  };
}

// Times are stored as fixed-width UTC ISO text (`toISOString`), so text order is time order. The
// status as of `now` is computed in SQL, so a request past its expiry reads as expired at once.
const COLUMNS = `id, agent, user_name, tool, args_hash, session, args_json, target, approvers_json, step_up,
  reasons_json, rules_json, created_at, expires_at,
  CASE WHEN status IN ('pending', 'approved') AND expires_at <= @now THEN 'expired' ELSE status END AS status,
  decided_by, decided_at, step_up_method, step_up_at, comment, consumed_at`;
const RETURNING = `id, agent, user_name, tool, args_hash, session, args_json, target, approvers_json, step_up,
  reasons_json, rules_json, created_at, expires_at, status, decided_by, decided_at, step_up_method,
  step_up_at, comment, consumed_at`;
const BINDING = `agent = @agent AND user_name = @user AND tool = @tool AND args_hash = @args_hash
  AND session = @session`;

function prepareApprovalStatements(db: Database.Database) {
  return {
    get: db.prepare<{ id: string; now: string }, ApprovalRow>(
      `SELECT ${COLUMNS} FROM posture_approvals WHERE id = @id`,
    ),
    list: db.prepare<{ now: string; status: string | null; limit: number }, ApprovalRow>(
      `SELECT * FROM (SELECT ${COLUMNS} FROM posture_approvals)
       WHERE @status IS NULL OR status = @status
       ORDER BY created_at DESC, id LIMIT @limit`,
    ),
    expireCall: db.prepare<BoundCall & { now: string }>(
      `UPDATE posture_approvals SET status = 'expired'
       WHERE ${BINDING} AND status IN ('pending', 'approved') AND expires_at <= @now`,
    ),
    openForCall: db.prepare<BoundCall, ApprovalRow>(
      `SELECT ${RETURNING} FROM posture_approvals
       WHERE ${BINDING} AND status IN ('pending', 'approved')`,
    ),
    insert: db.prepare<Record<string, string | number | null>>(
      `INSERT INTO posture_approvals (id, agent, user_name, tool, args_hash, session, args_json, target,
         approvers_json, step_up, reasons_json, rules_json, created_at, expires_at, status)
       VALUES (@id, @agent, @user, @tool, @args_hash, @session, @args_json, @target, @approvers_json,
         @step_up, @reasons_json, @rules_json, @created_at, @expires_at, 'pending')`,
    ),
    decide: db.prepare<Record<string, string | null>, ApprovalRow>(
      `UPDATE posture_approvals
       SET status = @status, decided_by = @decided_by, decided_at = @decided_at,
           step_up_method = @step_up_method, step_up_at = @step_up_at, comment = @comment
       WHERE id = @id AND status = 'pending' AND expires_at > @now
       RETURNING ${RETURNING}`,
    ),
    consume: db.prepare<BoundCall & { id: string; now: string }, ApprovalRow>(
      `UPDATE posture_approvals SET status = 'consumed', consumed_at = @now
       WHERE id = @id AND status = 'approved' AND expires_at > @now AND ${BINDING}
       RETURNING ${RETURNING}`,
    ),
    markExpired: db.prepare<{ id: string; now: string }>(
      `UPDATE posture_approvals SET status = 'expired'
       WHERE id = @id AND status IN ('pending', 'approved') AND expires_at <= @now`,
    ),
  };
}

class SqliteApprovalQueue implements ApprovalQueue {
  readonly #db: Database.Database;
  readonly #statements: ReturnType<typeof prepareApprovalStatements>;

  constructor(db: Database.Database) {
    this.#db = db;
    this.#statements = prepareApprovalStatements(db);
  }

  async request(input: NewApproval, now: Date): Promise<ApprovalRequest> {
    const checked = checkNewApproval(input, now);
    const call: BoundCall = {
      agent: checked.agent,
      user: checked.user,
      tool: checked.tool,
      args_hash: checked.args_hash,
      session: checked.session,
    };
    const nowIso = now.toISOString();
    // One IMMEDIATE transaction: find-or-insert cannot interleave with another process's.
    const row = this.#db
      .transaction((): ApprovalRow => {
        this.#statements.expireCall.run({ ...call, now: nowIso });
        const open = this.#statements.openForCall.get(call);
        if (open) return open;
        const id = newId();
        this.#statements.insert.run({
          id,
          ...call,
          args_json: argsJson(checked.args),
          target: checked.target ?? null,
          approvers_json: JSON.stringify(checked.approvers),
          step_up: checked.step_up ? 1 : 0,
          reasons_json: JSON.stringify(checked.reasons ?? []),
          rules_json: JSON.stringify(checked.rules ?? []),
          created_at: nowIso,
          expires_at: checked.expires_at,
        });
        return this.#statements.get.get({ id, now: nowIso })!;
      })
      .immediate();
    return toRequest(row);
  }

  async findOpen(call: BoundCall, now: Date): Promise<ApprovalRequest | undefined> {
    const binding: BoundCall = {
      agent: call.agent,
      user: call.user,
      tool: call.tool,
      args_hash: call.args_hash,
      session: call.session,
    };
    const row = this.#statements.openForCall.get(binding);
    if (!row) return undefined;
    const request = toRequest(row);
    return Date.parse(request.expires_at) > now.getTime() ? request : undefined;
  }

  async get(id: string, now: Date): Promise<ApprovalRequest | undefined> {
    const row = this.#statements.get.get({ id, now: now.toISOString() });
    return row ? toRequest(row) : undefined;
  }

  async list(filter: { status?: ApprovalStatus; limit?: number }, now: Date): Promise<ApprovalRequest[]> {
    return this.#statements.list
      .all({ now: now.toISOString(), status: filter.status ?? null, limit: filter.limit ?? 100 })
      .map(toRequest);
  }

  async decide(id: string, decision: ApprovalDecision, now: Date): Promise<ApprovalResult> {
    const nowIso = now.toISOString();
    const before = await this.get(id, now);
    if (!before) return notFound(id);
    const refusal = decisionRefusal(before, decision, now);
    if (refusal) return this.#recordExpiry(refusal, id, nowIso);
    const fields = decidedFields(decision, now);
    const won = this.#statements.decide.get({
      id,
      now: nowIso,
      status: fields.status,
      decided_by: fields.decided_by ?? null,
      decided_at: fields.decided_at ?? null,
      step_up_method: fields.step_up_proof?.method ?? null,
      step_up_at: fields.step_up_proof?.at ?? null,
      comment: fields.comment ?? null,
    });
    if (won) return { ok: true, request: toRequest(won) };
    return this.#recordExpiry(lostRaceRefusal(await this.get(id, now), id, 'decide', now), id, nowIso);
  }

  async consume(id: string, call: BoundCall, now: Date): Promise<ApprovalResult> {
    const nowIso = now.toISOString();
    const before = await this.get(id, now);
    if (!before) return notFound(id);
    const refusal = consumeRefusal(before, call, now);
    if (refusal) return this.#recordExpiry(refusal, id, nowIso);
    const won = this.#statements.consume.get({
      id,
      now: nowIso,
      agent: call.agent,
      user: call.user,
      tool: call.tool,
      args_hash: call.args_hash,
      session: call.session,
    });
    if (won) return { ok: true, request: toRequest(won) };
    return this.#recordExpiry(lostRaceRefusal(await this.get(id, now), id, 'consume', now), id, nowIso);
  }

  async close(): Promise<void> {
    if (this.#db.open) this.#db.close();
  }

  /** An `expired` refusal also writes the status, so the store says what the caller was told. */
  #recordExpiry(result: ApprovalResult, id: string, nowIso: string): ApprovalResult {
    if (!result.ok && result.code === 'expired') this.#statements.markExpired.run({ id, now: nowIso });
    return result;
  }
}

interface ExceptionRow {
  id: string;
  agent: string;
  tools_json: string;
  justification: string;
  approved_by: string;
  created_at: string;
  expires_at: string;
  revoked_by: string | null;
  revoked_at: string | null;
}

function toException(row: ExceptionRow): StandingException {
  return {
    id: row.id,
    agent: row.agent,
    tools: JSON.parse(row.tools_json) as string[],
    justification: row.justification,
    approved_by: row.approved_by,
    created_at: row.created_at,
    expires_at: row.expires_at,
    ...(row.revoked_by !== null ? { revoked_by: row.revoked_by } : {}),
    ...(row.revoked_at !== null ? { revoked_at: row.revoked_at } : {}),
  };
}

function prepareExceptionStatements(db: Database.Database) {
  return {
    insert: db.prepare<ExceptionRow>(
      `INSERT INTO posture_exceptions (id, agent, tools_json, justification, approved_by, created_at,
         expires_at, revoked_by, revoked_at)
       VALUES (@id, @agent, @tools_json, @justification, @approved_by, @created_at, @expires_at, NULL, NULL)`,
    ),
    candidates: db.prepare<{ agent: string; now: string }, ExceptionRow>(
      `SELECT * FROM posture_exceptions
       WHERE agent = @agent AND revoked_at IS NULL AND expires_at > @now`,
    ),
    list: db.prepare<[], ExceptionRow>('SELECT * FROM posture_exceptions ORDER BY created_at DESC, id'),
    exists: db.prepare<{ id: string }, { id: string }>('SELECT id FROM posture_exceptions WHERE id = @id'),
    revoke: db.prepare<{ id: string; by: string; now: string }, ExceptionRow>(
      `UPDATE posture_exceptions SET revoked_by = @by, revoked_at = @now
       WHERE id = @id AND revoked_at IS NULL AND expires_at > @now
       RETURNING *`,
    ),
  };
}

class SqliteExceptionStore implements ExceptionStore {
  readonly #db: Database.Database;
  readonly #maxDurationMs: number;
  readonly #statements: ReturnType<typeof prepareExceptionStatements>;

  constructor(db: Database.Database, maxDurationMs: number) {
    this.#db = db;
    this.#maxDurationMs = maxDurationMs;
    this.#statements = prepareExceptionStatements(db);
  }

  async append(input: NewException, now: Date): Promise<StandingException> {
    const checked = checkNewException(input, now, this.#maxDurationMs);
    const row: ExceptionRow = {
      id: newId(),
      agent: checked.agent,
      tools_json: JSON.stringify(checked.tools),
      justification: checked.justification,
      approved_by: checked.approved_by,
      created_at: now.toISOString(),
      expires_at: checked.expires_at,
      revoked_by: null,
      revoked_at: null,
    };
    this.#statements.insert.run(row);
    return toException(row);
  }

  async active(agent: string, tool: string, now: Date): Promise<StandingException[]> {
    return this.#statements.candidates
      .all({ agent, now: now.toISOString() })
      .map(toException)
      .filter((exception) => exceptionCovers(exception, agent, tool, now));
  }

  async list(): Promise<StandingException[]> {
    return this.#statements.list.all().map(toException);
  }

  async revoke(id: string, by: string, now: Date): Promise<ExceptionRevokeResult> {
    checkRevoker(by);
    const row = this.#statements.revoke.get({ id, by, now: now.toISOString() });
    if (row) return { ok: true, exception: toException(row) };
    if (!this.#statements.exists.get({ id })) {
      return { ok: false, code: 'not_found', message: `no standing exception \`${id}\`` };
    }
    return { ok: false, code: 'not_active', message: `standing exception \`${id}\` is no longer active` };
  }

  async close(): Promise<void> {
    if (this.#db.open) this.#db.close();
  }
}

/** Opens (creating and migrating as needed) the approvals queue in the SQLite file at `path`. */
export function openSqliteApprovalQueue(path: string, options: SqliteApprovalsOptions = {}): ApprovalQueue {
  return new SqliteApprovalQueue(openDatabase(path, options));
}

/** Opens the standing exceptions kept in the SQLite file at `path` (the same file as the queue is fine). */
export function openSqliteExceptionStore(
  path: string,
  options: SqliteExceptionStoreOptions = {},
): ExceptionStore {
  return new SqliteExceptionStore(
    openDatabase(path, options),
    options.maxDurationMs ?? DEFAULT_MAX_EXCEPTION_MS,
  );
}
