// Approvals and standing exceptions in PostgreSQL (`pg`), shared by every gateway replica.
// Exactly-once: a decide or consume is one `UPDATE … WHERE id = $1 AND status = … AND
// expires_at > $now RETURNING …`. Racing updates of one row queue on its row lock; when the
// winner commits, READ COMMITTED re-checks the loser's WHERE against the new row version, finds
// the status changed, and updates nothing. No explicit locks, no retries, any number of processes.
import type pg from 'pg';
import { guardClient, newPool } from './pool.js';
import { migrateSchema } from './schema.js';
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

/**
 * Versioned schema steps, tracked in `posture_approvals_schema` so they never collide with other
 * stores' migrations in the same database. Append; never edit a shipped step.
 */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE posture_approvals (
     id text PRIMARY KEY,
     agent text NOT NULL,
     user_name text NOT NULL,
     tool text NOT NULL,
     args_hash text NOT NULL,
     session text NOT NULL,
     args_json text,
     target text,
     approvers jsonb NOT NULL,
     step_up boolean NOT NULL,
     reasons jsonb NOT NULL,
     rules jsonb NOT NULL,
     created_at timestamptz NOT NULL,
     expires_at timestamptz NOT NULL,
     status text NOT NULL CHECK (status IN ('pending', 'approved', 'denied', 'expired', 'consumed')),
     decided_by text,
     decided_at timestamptz,
     step_up_method text,
     step_up_at timestamptz,
     comment text,
     consumed_at timestamptz
   );
   -- At most one open request per call: what makes concurrent request() calls agree on one id.
   CREATE UNIQUE INDEX posture_approvals_open_call
     ON posture_approvals (agent, user_name, tool, args_hash, session)
     WHERE status IN ('pending', 'approved');
   CREATE INDEX posture_approvals_created ON posture_approvals (created_at);
   CREATE TABLE posture_exceptions (
     id text PRIMARY KEY,
     agent text NOT NULL,
     tools jsonb NOT NULL,
     justification text NOT NULL,
     approved_by text NOT NULL,
     created_at timestamptz NOT NULL,
     expires_at timestamptz NOT NULL,
     revoked_by text,
     revoked_at timestamptz
   );
   CREATE INDEX posture_exceptions_agent ON posture_exceptions (agent, expires_at);`,
];

/** Where the store's connections come from: a pool the caller owns, or a config to open one from. */
export type PostgresApprovalsOptions = { pool: pg.Pool } | { config: pg.PoolConfig };

export type PostgresExceptionStoreOptions = PostgresApprovalsOptions & {
  /** The longest a standing exception may last; 24 h unless set. */
  maxDurationMs?: number;
};

/** A pool, and whether this store opened it (and so must end it on close). */
interface Connection {
  pool: pg.Pool;
  owned: boolean;
}

/** Ends the pool if the store opened it; a second close does nothing. */
async function release(connection: Connection): Promise<void> {
  if (!connection.owned || connection.pool.ended || connection.pool.ending) return;
  await connection.pool.end();
}

async function connect(options: PostgresApprovalsOptions): Promise<Connection> {
  const owned = !('pool' in options);
  const pool = 'pool' in options ? options.pool : await newPool(options.config);
  // An idle client dropped by the server (a restart) must not crash the process; the pool
  // replaces it on the next query, and that query reports any lasting failure.
  if (owned) pool.on('error', () => {});
  try {
    await migrateSchema(pool, 'approvals', MIGRATIONS);
  } catch (error) {
    if (owned) await pool.end().catch(() => {});
    throw new Error(`cannot open approvals store on postgresql: ${(error as Error).message}`, {
      cause: error,
    });
  }
  return { pool, owned };
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
  approvers: string[];
  step_up: boolean;
  reasons: ApprovalRequest['reasons'];
  rules: string[];
  created_at: Date;
  expires_at: Date;
  status: ApprovalStatus;
  decided_by: string | null;
  decided_at: Date | null;
  step_up_method: string | null;
  step_up_at: Date | null;
  comment: string | null;
  consumed_at: Date | null;
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
    approvers: row.approvers,
    step_up: row.step_up,
    reasons: row.reasons,
    rules: row.rules,
    created_at: row.created_at.toISOString(),
    expires_at: row.expires_at.toISOString(),
    status: row.status,
    ...(row.decided_by !== null ? { decided_by: row.decided_by } : {}),
    ...(row.decided_at !== null ? { decided_at: row.decided_at.toISOString() } : {}),
    ...(row.step_up_method !== null && row.step_up_at !== null
      ? { step_up_proof: { method: row.step_up_method, at: row.step_up_at.toISOString() } }
      : {}),
    ...(row.comment !== null ? { comment: row.comment } : {}),
    ...(row.consumed_at !== null ? { consumed_at: row.consumed_at.toISOString() } : {}),
  };
}

/** The columns with the status as of `$now` (parameter `now`): past-expiry open requests read as expired. */
const columnsAsOf = (now: string) => `id, agent, user_name, tool, args_hash, session, args_json, target,
  approvers, step_up, reasons, rules, created_at, expires_at,
  CASE WHEN status IN ('pending', 'approved') AND expires_at <= ${now} THEN 'expired' ELSE status END
    AS status,
  decided_by, decided_at, step_up_method, step_up_at, comment, consumed_at`;

/** `agent = $a AND …` over the five binding columns, from parameter number `first` on. */
const bindingFrom = (first: number) =>
  `agent = $${first} AND user_name = $${first + 1} AND tool = $${first + 2} AND args_hash = $${first + 3}
   AND session = $${first + 4}`;

const bindingValues = (call: BoundCall) => [call.agent, call.user, call.tool, call.args_hash, call.session];

class PostgresApprovalQueue implements ApprovalQueue {
  readonly #connection: Connection;

  constructor(connection: Connection) {
    this.#connection = connection;
  }

  get #pool(): pg.Pool {
    return this.#connection.pool;
  }

  async request(input: NewApproval, now: Date): Promise<ApprovalRequest> {
    const checked = checkNewApproval(input, now);
    const call = bindingValues(checked);
    // A concurrent request() for the same call may commit between our insert and our read, and
    // someone may decide that request meanwhile; a few rounds settle it.
    for (let attempt = 0; attempt < 5; attempt++) {
      const client = await this.#pool.connect();
      const unguard = guardClient(client);
      try {
        await client.query('BEGIN');
        // Free the call's slot in the unique index from open requests past their expiry.
        await client.query(
          `UPDATE posture_approvals SET status = 'expired'
           WHERE ${bindingFrom(1)} AND status IN ('pending', 'approved') AND expires_at <= $6`,
          [...call, now],
        );
        // Waits for a concurrent insert of the same call to commit, then inserts nothing.
        const inserted = await client.query<ApprovalRow>(
          `INSERT INTO posture_approvals (id, agent, user_name, tool, args_hash, session, args_json, target,
             approvers, step_up, reasons, rules, created_at, expires_at, status)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, 'pending')
           ON CONFLICT (agent, user_name, tool, args_hash, session) WHERE status IN ('pending', 'approved')
           DO NOTHING
           RETURNING *`,
          [
            newId(),
            ...call,
            argsJson(checked.args),
            checked.target ?? null,
            JSON.stringify(checked.approvers),
            checked.step_up,
            JSON.stringify(checked.reasons ?? []),
            JSON.stringify(checked.rules ?? []),
            now,
            checked.expires_at,
          ],
        );
        const row =
          inserted.rows[0] ??
          (
            await client.query<ApprovalRow>(
              `SELECT * FROM posture_approvals WHERE ${bindingFrom(1)} AND status IN ('pending', 'approved')`,
              call,
            )
          ).rows[0];
        await client.query('COMMIT');
        if (row) return toRequest(row);
      } catch (error) {
        await client.query('ROLLBACK').catch(() => {});
        throw error;
      } finally {
        unguard();
        client.release();
      }
    }
    throw new Error(
      `could not queue an approval request for \`${checked.tool}\`: the call's requests kept changing`,
    );
  }

  async findOpen(call: BoundCall, now: Date): Promise<ApprovalRequest | undefined> {
    const { rows } = await this.#pool.query<ApprovalRow>(
      `SELECT * FROM posture_approvals
       WHERE ${bindingFrom(1)} AND status IN ('pending', 'approved') AND expires_at > $6`,
      [...bindingValues(call), now],
    );
    return rows[0] ? toRequest(rows[0]) : undefined;
  }

  async get(id: string, now: Date): Promise<ApprovalRequest | undefined> {
    const { rows } = await this.#pool.query<ApprovalRow>(
      `SELECT ${columnsAsOf('$2')} FROM posture_approvals WHERE id = $1`,
      [id, now],
    );
    return rows[0] ? toRequest(rows[0]) : undefined;
  }

  async list(filter: { status?: ApprovalStatus; limit?: number }, now: Date): Promise<ApprovalRequest[]> {
    const { rows } = await this.#pool.query<ApprovalRow>(
      `SELECT * FROM (SELECT ${columnsAsOf('$1')} FROM posture_approvals) AS requests
       WHERE $2::text IS NULL OR status = $2::text
       ORDER BY created_at DESC, id LIMIT $3`,
      [now, filter.status ?? null, filter.limit ?? 100],
    );
    return rows.map(toRequest);
  }

  async decide(id: string, decision: ApprovalDecision, now: Date): Promise<ApprovalResult> {
    const before = await this.get(id, now);
    if (!before) return notFound(id);
    const refusal = decisionRefusal(before, decision, now);
    if (refusal) return this.#recordExpiry(refusal, id, now);
    const fields = decidedFields(decision, now);
    const { rows } = await this.#pool.query<ApprovalRow>(
      `UPDATE posture_approvals
       SET status = $3, decided_by = $4, decided_at = $2, step_up_method = $5, step_up_at = $6, comment = $7
       WHERE id = $1 AND status = 'pending' AND expires_at > $2
       RETURNING *`,
      [
        id,
        now,
        fields.status,
        fields.decided_by ?? null,
        fields.step_up_proof?.method ?? null,
        fields.step_up_proof?.at ?? null,
        fields.comment ?? null,
      ],
    );
    if (rows[0]) return { ok: true, request: toRequest(rows[0]) };
    return this.#recordExpiry(lostRaceRefusal(await this.get(id, now), id, 'decide', now), id, now);
  }

  async consume(id: string, call: BoundCall, now: Date): Promise<ApprovalResult> {
    const before = await this.get(id, now);
    if (!before) return notFound(id);
    const refusal = consumeRefusal(before, call, now);
    if (refusal) return this.#recordExpiry(refusal, id, now);
    const { rows } = await this.#pool.query<ApprovalRow>(
      `UPDATE posture_approvals SET status = 'consumed', consumed_at = $2
       WHERE id = $1 AND status = 'approved' AND expires_at > $2 AND ${bindingFrom(3)}
       RETURNING *`,
      [id, now, ...bindingValues(call)],
    );
    if (rows[0]) return { ok: true, request: toRequest(rows[0]) };
    return this.#recordExpiry(lostRaceRefusal(await this.get(id, now), id, 'consume', now), id, now);
  }

  async close(): Promise<void> {
    await release(this.#connection);
  }

  /** An `expired` refusal also writes the status, so the store says what the caller was told. */
  async #recordExpiry(result: ApprovalResult, id: string, now: Date): Promise<ApprovalResult> {
    if (!result.ok && result.code === 'expired') {
      await this.#pool.query(
        `UPDATE posture_approvals SET status = 'expired'
         WHERE id = $1 AND status IN ('pending', 'approved') AND expires_at <= $2`,
        [id, now],
      );
    }
    return result;
  }
}

interface ExceptionRow {
  id: string;
  agent: string;
  tools: string[];
  justification: string;
  approved_by: string;
  created_at: Date;
  expires_at: Date;
  revoked_by: string | null;
  revoked_at: Date | null;
}

function toException(row: ExceptionRow): StandingException {
  return {
    id: row.id,
    agent: row.agent,
    tools: row.tools,
    justification: row.justification,
    approved_by: row.approved_by,
    created_at: row.created_at.toISOString(),
    expires_at: row.expires_at.toISOString(),
    ...(row.revoked_by !== null ? { revoked_by: row.revoked_by } : {}),
    ...(row.revoked_at !== null ? { revoked_at: row.revoked_at.toISOString() } : {}),
  };
}

class PostgresExceptionStore implements ExceptionStore {
  readonly #connection: Connection;
  readonly #maxDurationMs: number;

  constructor(connection: Connection, maxDurationMs: number) {
    this.#connection = connection;
    this.#maxDurationMs = maxDurationMs;
  }

  get #pool(): pg.Pool {
    return this.#connection.pool;
  }

  async append(input: NewException, now: Date): Promise<StandingException> {
    const checked = checkNewException(input, now, this.#maxDurationMs);
    const { rows } = await this.#pool.query<ExceptionRow>(
      `INSERT INTO posture_exceptions (id, agent, tools, justification, approved_by, created_at, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7)
       RETURNING *`,
      [
        newId(),
        checked.agent,
        JSON.stringify(checked.tools),
        checked.justification,
        checked.approved_by,
        now,
        checked.expires_at,
      ],
    );
    return toException(rows[0]!);
  }

  async active(agent: string, tool: string, now: Date): Promise<StandingException[]> {
    const { rows } = await this.#pool.query<ExceptionRow>(
      `SELECT * FROM posture_exceptions WHERE agent = $1 AND revoked_at IS NULL AND expires_at > $2`,
      [agent, now],
    );
    return rows.map(toException).filter((exception) => exceptionCovers(exception, agent, tool, now));
  }

  async list(): Promise<StandingException[]> {
    const { rows } = await this.#pool.query<ExceptionRow>(
      'SELECT * FROM posture_exceptions ORDER BY created_at DESC, id',
    );
    return rows.map(toException);
  }

  async revoke(id: string, by: string, now: Date): Promise<ExceptionRevokeResult> {
    checkRevoker(by);
    const { rows } = await this.#pool.query<ExceptionRow>(
      `UPDATE posture_exceptions SET revoked_by = $2, revoked_at = $3
       WHERE id = $1 AND revoked_at IS NULL AND expires_at > $3
       RETURNING *`,
      [id, by, now],
    );
    if (rows[0]) return { ok: true, exception: toException(rows[0]) };
    const found = await this.#pool.query('SELECT 1 FROM posture_exceptions WHERE id = $1', [id]);
    if (found.rowCount === 0)
      return { ok: false, code: 'not_found', message: `no standing exception \`${id}\`` };
    return { ok: false, code: 'not_active', message: `standing exception \`${id}\` is no longer active` };
  }

  async close(): Promise<void> {
    await release(this.#connection);
  }
}

/** Opens (migrating as needed) the approvals queue; `close()` ends the pool only if it opened it. */
export async function openPostgresApprovalQueue(options: PostgresApprovalsOptions): Promise<ApprovalQueue> {
  return new PostgresApprovalQueue(await connect(options));
}

/** Opens the standing exceptions; `close()` ends the pool only if it opened it. */
export async function openPostgresExceptionStore(
  options: PostgresExceptionStoreOptions,
): Promise<ExceptionStore> {
  return new PostgresExceptionStore(
    await connect(options),
    options.maxDurationMs ?? DEFAULT_MAX_EXCEPTION_MS,
  );
}
