// The audit log in PostgreSQL (`pg`), shared by every gateway replica. Group commit: one statement,
// its own transaction, per batch of concurrent appends, each caller released once it returned (with
// `synchronous_commit` forced on, so the WAL is flushed by then).
//
// Any number of processes may append. A batch's seqs and Merkle leaves are computed from the head
// (size and frontier) as this process last committed it; the statement locks the head row
// (`FOR UPDATE`) and writes only if the head is still that size, moving it in the same transaction.
// If another writer moved it first, nothing is written and the batch is computed again from the
// new head: writers interleave whole batches, and seqs have no gaps or duplicates. A checkpoint is
// signed under the same lock, so every checkpoint extends the one before it.
//
// A connection that breaks (a server restart, `pg_terminate_backend`) fails only the attempt: the
// batch is written again on a new connection. If it broke after the statement was sent, the batch
// may already be kept; every batch records its id, and the retry looks for it first, so nothing is
// written twice.
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type pg from 'pg';
import { newPool } from './pool.js';
import { MerkleFrontier } from '../merkle/frontier.js';
import { parseSignerKey, signCheckpoint, type NoteSigner } from '../merkle/checkpoint.js';
import { leafHash } from '../merkle/tree.js';
import type { AuditEvent, AuditFilter, AuditLog, Checkpoint, LoggedEvent, StoredEvent } from '../ports.js';
import { checkRange } from '../audit/filter.js';
import { GroupCommit } from '../audit/group-commit.js';
import { leafText, parseStored, prepareEvent, type PreparedEvent } from '../audit/leaf.js';
import { createEvidenceRedactor, type EvidenceRedactor } from '../audit/redaction.js';
import { checkCheckpointEvery, newOrigin, type AuditLogOptions } from '../audit/options.js';
import { loadOrCreateSignerKey } from '../audit/signer-key-file.js';
import { checkSchema, migrate } from './migrations.js';

export type PostgresAuditLogOptions = AuditLogOptions &
  ({ pool: pg.Pool } | { config: pg.PoolConfig }) & {
    /**
     * Where the signer key is kept when `signerKey` is not given (default `.posture/audit.key`).
     * Never in the database: whoever can write the events must not be able to sign for them.
     * Replicas of one log share the key.
     */
    keyFile?: string;
    /** How long a batch keeps retrying on broken connections before it fails (default 10,000 ms). */
    retryForMs?: number;
    /**
     * Open an existing log to read and verify it only: no migrations, no signer key needed, and
     * `append` and `checkpoint` reject. `verifierKey` is then the given one, else the `.pub` file
     * beside the key file, else empty (never the key the database names: whoever can write the
     * database could have replaced it).
     */
    readOnly?: boolean;
    verifierKey?: string;
  };

export type PostgresAuditLog = AuditLog;

const PAGE_ROWS = 10_000;
/** Beside the default SQLite database, as the SQLite log keeps its key. */
export const DEFAULT_KEY_FILE = join('.posture', 'audit.key');

/** SQLSTATEs after which the same transaction may succeed on a new connection. */
const RETRIABLE_STATES = new Set(['57P01', '57P02', '57P03', '53300', '40001', '40P01']);
const RETRIABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH']);

function isRetriable(error: unknown): boolean {
  const { code, severity } = error as { code?: unknown; severity?: unknown };
  if (typeof code === 'string' && (code.startsWith('08') || RETRIABLE_STATES.has(code))) return true;
  if (typeof code === 'string' && RETRIABLE_CODES.has(code)) return true;
  // Errors pg raises itself when the connection is gone carry no server severity.
  return (
    severity === undefined &&
    /connection|terminated|not queryable|timeout/i.test(String((error as Error).message))
  );
}

// PostgreSQL text holds neither NUL nor lone surrogates. The search columns (not the evidence,
// which is JSON text and escapes both) store them as U+FFFD; filters are mapped the same way.
// eslint-disable-next-line no-control-regex
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
const column = (value: unknown): string | null =>
  typeof value === 'string' ? value.replace(UNSTORABLE, '\uFFFD') : null;

interface FilterClause {
  sql: string;
  value: (filter: AuditFilter) => unknown;
}

const FILTER_CLAUSES: Partial<Record<keyof AuditFilter, FilterClause>> = {
  after: { sql: 'seq > $', value: (f) => f.after },
  agent: { sql: 'actor_agent = $', value: (f) => column(f.agent) },
  user: { sql: 'actor_user = $', value: (f) => column(f.user) },
  tool: { sql: 'tool = $', value: (f) => column(f.tool) },
  decision: { sql: 'decision = $', value: (f) => column(f.decision) },
  outcome: { sql: 'outcome = $', value: (f) => column(f.outcome) },
  kind: { sql: 'kind = $', value: (f) => column(f.kind) },
  since: { sql: 'time >= $', value: (f) => column(f.since) },
  until: { sql: 'time <= $', value: (f) => column(f.until) },
};

const LOCK_HEAD = `BEGIN; SET LOCAL synchronous_commit = on;
  SELECT size::float8 AS size, hashes FROM posture_audit_head WHERE id = 0 FOR UPDATE`;

// One statement, its own transaction, for a whole batch: it locks the head row only if the log
// still has the size the seqs were computed from, inserts the rows (one array per search column;
// the events' JSON as one text split at U+001E, which JSON text always escapes; the leaf hashes as
// one bytea of 32 bytes each: no per-element array quoting for the large values), records
// the batch and moves the head. If another writer moved the head first, it changes nothing and
// returns no row. `synchronous_commit` is forced on for this transaction: the WAL is flushed before
// the statement returns.
const WRITE_BATCH = `WITH head AS (
    SELECT h.size FROM posture_audit_head h, (SELECT set_config('synchronous_commit', 'on', true)) AS durable
    WHERE h.id = 0 AND h.size = $1
    FOR UPDATE OF h
  ), events AS (
    INSERT INTO posture_audit_events
      (seq, time, kind, actor_user, actor_agent, tool, decision, outcome, json, leaf_hash)
    SELECT $1::int8 + n - 1, time, kind, actor_user, actor_agent, tool, decision, outcome, json,
           substring($10::bytea FROM (n::int - 1) * 32 + 1 FOR 32)
    FROM head, unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
                      string_to_array($9::text, chr(30)))
      WITH ORDINALITY AS t(time, kind, actor_user, actor_agent, tool, decision, outcome, json, n)
  ), batch AS (
    INSERT INTO posture_audit_batches (id, first_seq, count) SELECT $11, $1, $12 FROM head
  )
  UPDATE posture_audit_head h SET size = $13, hashes = $14 FROM head WHERE h.id = 0
  RETURNING h.size`;

const ignore = () => {};

interface CheckpointRow {
  size: number;
  root: Buffer;
  note: string;
}

interface Connection {
  pool: pg.Pool;
  owned: boolean;
}

/** Opens (creating and migrating as needed) the audit log in a PostgreSQL database. */
export async function openPostgresAuditLog(options: PostgresAuditLogOptions): Promise<PostgresAuditLog> {
  checkCheckpointEvery(options.checkpointEvery);
  const owned = !('pool' in options);
  const pool = 'pool' in options ? options.pool : await newPool(options.config);
  // An idle client dropped by the server (a restart) must not crash the process; the pool
  // replaces it on the next query, and that query reports any lasting failure.
  if (owned) pool.on('error', () => {});
  try {
    if (options.readOnly) await checkSchema(pool);
    else await migrate(pool);
    return await PostgresAuditLogImpl.create({ pool, owned }, options);
  } catch (error) {
    if (owned) await pool.end().catch(() => {});
    throw new Error(`cannot open audit log on postgresql: ${(error as Error).message}`, { cause: error });
  }
}

class PostgresAuditLogImpl implements PostgresAuditLog {
  readonly origin: string;
  readonly verifierKey: string;
  readonly #connection: Connection;
  /** None when read-only. */
  readonly #signer: NoteSigner | undefined;
  readonly #options: PostgresAuditLogOptions;
  readonly #queue: GroupCommit<PreparedEvent, StoredEvent>;
  readonly #redact: EvidenceRedactor;
  /** The head as this process last committed it: where its next batch starts, unless another moved it. */
  #head: MerkleFrontier | undefined;
  /** The largest checkpoint this process knows of, for `checkpointEvery.events`. */
  #signedSize = 0;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  static async create(
    connection: Connection,
    options: PostgresAuditLogOptions,
  ): Promise<PostgresAuditLogImpl> {
    const { pool } = connection;
    const meta = async (key: string) =>
      (await pool.query<{ value: string }>('SELECT value FROM posture_audit_meta WHERE key = $1', [key]))
        .rows[0]?.value;
    const storedOrigin = await meta('origin');
    if (options.readOnly) {
      if (storedOrigin === undefined) throw new Error('the database holds no audit log yet');
      const pub = resolve(options.keyFile ?? DEFAULT_KEY_FILE).replace(/(\.key)?$/, '.pub');
      const verifierKey = options.verifierKey ?? (existsSync(pub) ? readFileSync(pub, 'utf8').trim() : '');
      return new PostgresAuditLogImpl(connection, storedOrigin, verifierKey, undefined, options);
    }
    const origin = storedOrigin ?? options.origin ?? newOrigin();
    const signer = parseSignerKey(
      options.signerKey ?? loadOrCreateSignerKey(resolve(options.keyFile ?? DEFAULT_KEY_FILE), origin),
    );
    // Replicas may create the log at once: the first origin and key written win for all.
    await pool.query(
      `INSERT INTO posture_audit_meta (key, value) VALUES ('origin', $1), ('verifier_key', $2)
       ON CONFLICT (key) DO NOTHING`,
      [origin, signer.verifierKey],
    );
    const [finalOrigin, key] = [(await meta('origin'))!, (await meta('verifier_key'))!];
    if (key !== signer.verifierKey) {
      // A replica with another key would sign checkpoints that no verifier of this log accepts.
      throw new Error(
        `audit log \`${finalOrigin}\` is signed with key \`${key}\`, but the signer key given verifies as \`${signer.verifierKey}\``,
      );
    }
    return new PostgresAuditLogImpl(connection, finalOrigin, signer.verifierKey, signer, options);
  }

  private constructor(
    connection: Connection,
    origin: string,
    verifierKey: string,
    signer: NoteSigner | undefined,
    options: PostgresAuditLogOptions,
  ) {
    this.#connection = connection;
    this.origin = origin;
    this.#signer = signer;
    this.verifierKey = verifierKey;
    this.#options = options;
    this.#redact = createEvidenceRedactor(options.redaction);
    this.#queue = new GroupCommit((items) => this.#writeBatch(items), options.maxBatch ?? 1000);
    const ms = options.checkpointEvery?.ms;
    if (ms !== undefined && signer !== undefined) {
      this.#timer = setInterval(() => {
        if (this.#closed) return;
        // Retried on the next tick; appends report write failures to their callers.
        this.#checkpointNow().catch(() => {});
      }, ms);
      this.#timer.unref();
    }
  }

  get #pool(): pg.Pool {
    return this.#connection.pool;
  }

  /** Runs `work` in a transaction holding the head row lock; returns its result after COMMIT. */
  async #underHeadLock<T>(work: (client: pg.PoolClient, frontier: MerkleFrontier) => Promise<T>): Promise<T> {
    const client = await this.#pool.connect();
    // A checked-out client whose connection drops between queries emits `error`; the next query
    // fails and says so, so the event itself must not crash the process.
    client.on('error', ignore);
    let broken: Error | undefined;
    try {
      const results = (await client.query(LOCK_HEAD)) as unknown as pg.QueryResult[];
      const row = results[2]!.rows[0] as { size: number; hashes: string };
      const frontier = MerkleFrontier.fromJSON({ size: row.size, hashes: JSON.parse(row.hashes) as unknown });
      const result = await work(client, frontier);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      broken = error as Error;
      await client.query('ROLLBACK').catch(() => {});
      throw error;
    } finally {
      // A client that failed is discarded: its connection may be gone or mid-transaction.
      client.off('error', ignore);
      client.release(broken);
    }
  }

  async #signAndStore(client: pg.PoolClient, frontier: MerkleFrontier): Promise<Checkpoint> {
    const checkpoint = signCheckpoint(
      { origin: this.origin, size: frontier.size, root: frontier.root() },
      this.#signer!,
    );
    await client.query({
      name: 'posture_audit_insert_checkpoint',
      text: 'INSERT INTO posture_audit_checkpoints (size, root, note, signed_at) VALUES ($1, $2, $3, now())',
      values: [checkpoint.size, Buffer.from(checkpoint.root, 'base64'), checkpoint.note],
    });
    return checkpoint;
  }

  async #writeBatch(items: PreparedEvent[]): Promise<StoredEvent[]> {
    const id = randomUUID();
    const retryFor = this.#options.retryForMs ?? 10_000;
    const started = Date.now();
    // After a connection broke with the statement sent, this batch may be in the log already.
    let mayBeKept = false;
    for (let attempt = 0; ;) {
      try {
        if (mayBeKept) {
          const kept = await this.#keptBatch(id, items);
          if (kept !== undefined) return kept;
        }
        const sent = () => (mayBeKept = true);
        // Optimistic, one statement, from the head this process last wrote; if another writer
        // moved it, the batch is written again holding the head lock, which always succeeds.
        const events =
          this.#head !== undefined
            ? await this.#writeAttempt(this.#head, items, id, sent)
            : await this.#underHeadLock((client, head) =>
                this.#writeAttempt(head, items, id, sent, client),
              ).catch((error: unknown) => {
                // A COMMIT that broke may have been applied.
                if (isRetriable(error)) sent();
                throw error;
              });
        if (events !== undefined) {
          await this.#checkpointIfDue();
          return events;
        }
        this.#head = undefined;
      } catch (error) {
        this.#head = undefined;
        if (isRetriable(error) && !this.#closedForGood() && Date.now() - started < retryFor) {
          await new Promise((resolve) => setTimeout(resolve, Math.min(1000, 25 * 2 ** attempt++)));
          continue;
        }
        const what = mayBeKept
          ? `writing a batch of \`${items.length}\` events failed after the connection broke, so the server may have kept it`
          : `writing a batch of \`${items.length}\` events failed and nothing of it was kept`;
        throw new Error(`audit log \`${this.origin}\`: ${what}: ${(error as Error).message}`, {
          cause: error,
        });
      }
    }
  }

  /** The stored events of batch `id`, if it was committed. */
  async #keptBatch(id: string, items: PreparedEvent[]): Promise<StoredEvent[] | undefined> {
    const { rows } = await this.#pool.query<{ first_seq: number }>(
      'SELECT first_seq::float8 AS first_seq FROM posture_audit_batches WHERE id = $1',
      [id],
    );
    if (rows[0] === undefined) return undefined;
    const first = rows[0].first_seq;
    return items.map((prepared, i) => ({ ...prepared.event, seq: first + i }) as StoredEvent);
  }

  /** Signs a checkpoint when `checkpointEvery.events` were appended since the last one this process saw. */
  async #checkpointIfDue(): Promise<void> {
    const every = this.#options.checkpointEvery?.events;
    if (every === undefined || this.#head === undefined || this.#head.size - this.#signedSize < every) return;
    try {
      this.#signedSize = (await this.#checkpointNow()).size;
    } catch {
      // The events are kept; the checkpoint is signed after a later batch, or on close.
    }
  }

  /** Whether the pool is gone (closing with an error still pending): retrying would only wait. */
  #closedForGood(): boolean {
    return this.#pool.ended || this.#pool.ending;
  }

  /** Writes the batch after `head`; undefined if the log has moved past `head` meanwhile. */
  async #writeAttempt(
    head: MerkleFrontier,
    items: PreparedEvent[],
    id: string,
    onSentAndBroken: () => void,
    /** A client in a transaction holding the head lock; otherwise the statement is its own transaction. */
    locked?: pg.PoolClient,
  ): Promise<StoredEvent[] | undefined> {
    const frontier = head.clone();
    const first = frontier.size;
    const n = items.length;
    const columns = {
      time: new Array<string | null>(n),
      kind: new Array<string | null>(n),
      user: new Array<string | null>(n),
      agent: new Array<string | null>(n),
      tool: new Array<string | null>(n),
      decision: new Array<string | null>(n),
      outcome: new Array<string | null>(n),
      json: new Array<string>(n),
      leaves: Buffer.allocUnsafe(32 * n),
    };
    const events: StoredEvent[] = new Array<StoredEvent>(n);
    for (let i = 0; i < n; i++) {
      const prepared = items[i]!;
      const seq = first + i;
      const json = leafText(prepared, seq);
      const leaf = leafHash(json);
      const { event } = prepared;
      columns.time[i] = column(event.time);
      columns.kind[i] = column(event.kind);
      columns.user[i] = column(event.actor?.user);
      columns.agent[i] = column(event.actor?.agent);
      columns.tool[i] = column(event.tool);
      columns.decision[i] = column(event.decision);
      columns.outcome[i] = column(event.outcome);
      columns.json[i] = json;
      columns.leaves.set(leaf, 32 * i);
      frontier.append(leaf);
      events[i] = { ...event, seq };
    }
    // Connecting first: a failure there means nothing was sent.
    const client = locked ?? (await this.#pool.connect());
    if (locked === undefined) client.on('error', ignore);
    let broken: Error | undefined;
    let rows: unknown[];
    try {
      ({ rows } = await client.query({
        name: 'posture_audit_write_batch',
        text: WRITE_BATCH,
        values: [
          first,
          columns.time,
          columns.kind,
          columns.user,
          columns.agent,
          columns.tool,
          columns.decision,
          columns.outcome,
          columns.json.join('\u001e'),
          columns.leaves,
          id,
          n,
          frontier.size,
          JSON.stringify(frontier.toJSON().hashes),
        ],
      }));
    } catch (error) {
      broken = error as Error;
      if (isRetriable(error)) onSentAndBroken();
      throw error;
    } finally {
      if (locked === undefined) {
        client.off('error', ignore);
        client.release(broken);
      }
    }
    if (rows.length === 0) return undefined;
    this.#head = frontier;
    return events;
  }

  async #latestSize(client: pg.PoolClient | pg.Pool): Promise<number> {
    const { rows } = await client.query<{ size: number | null }>({
      name: 'posture_audit_latest_size',
      text: 'SELECT max(size)::float8 AS size FROM posture_audit_checkpoints',
    });
    return rows[0]?.size ?? 0;
  }

  #checkOpen(): void {
    if (this.#closed) throw new Error(`audit log \`${this.origin}\` is closed`);
  }
  /** The signer, for the operations that write; a read-only log has none. */
  #writable(): NoteSigner {
    this.#checkOpen();
    if (this.#signer === undefined) throw new Error(`audit log \`${this.origin}\` is open read-only`);
    return this.#signer;
  }

  append(event: AuditEvent): Promise<StoredEvent> {
    // Not async: one promise per append, the queue's, instead of two.
    try {
      this.#writable();
      return this.#queue.submit(prepareEvent(this.#redact(event)));
    } catch (error) {
      return Promise.reject(error as Error);
    }
  }

  async size(): Promise<number> {
    this.#checkOpen();
    const { rows } = await this.#pool.query<{ size: number }>(
      'SELECT size::float8 AS size FROM posture_audit_head WHERE id = 0',
    );
    return rows[0]!.size;
  }

  async read(from: number, to: number): Promise<StoredEvent[]> {
    this.#checkOpen();
    checkRange(from, to);
    const { rows } = await this.#pool.query<{ json: string }>(
      'SELECT json FROM posture_audit_events WHERE seq >= $1 AND seq < $2 ORDER BY seq',
      [from, to],
    );
    return rows.map((row) => JSON.parse(row.json) as StoredEvent);
  }

  async search(filter: AuditFilter): Promise<StoredEvent[]> {
    this.#checkOpen();
    const conditions: string[] = [];
    const values: unknown[] = [];
    for (const [key, clause] of Object.entries(FILTER_CLAUSES) as [keyof AuditFilter, FilterClause][]) {
      if (filter[key] === undefined) continue;
      values.push(clause.value(filter));
      conditions.push(`${clause.sql}${values.length}`);
    }
    let sql = `SELECT json FROM posture_audit_events${conditions.length > 0 ? ` WHERE ${conditions.join(' AND ')}` : ''} ORDER BY seq`;
    if (filter.limit !== undefined) {
      values.push(filter.limit);
      sql += ` LIMIT $${values.length}`;
    }
    const { rows } = await this.#pool.query<{ json: string }>(sql, values);
    return rows.map((row) => JSON.parse(row.json) as StoredEvent);
  }

  async *entries(from = 0): AsyncGenerator<LoggedEvent> {
    this.#checkOpen();
    // Pages by the seq column, in its order: the verifier, not this reader, judges the seqs inside.
    let after = from - 1;
    for (;;) {
      const { rows } = await this.#pool.query<[number, string, string]>({
        text: `SELECT seq::float8, json, encode(leaf_hash, 'hex') FROM posture_audit_events
               WHERE seq > $1 ORDER BY seq LIMIT $2`,
        values: [after, PAGE_ROWS],
        rowMode: 'array',
      });
      for (const [, json, leaf] of rows) {
        const event = parseStored<LoggedEvent>(json);
        event.leaf_hash = leaf;
        yield event;
      }
      if (rows.length < PAGE_ROWS) return;
      after = rows[rows.length - 1]![0];
    }
  }

  async checkpoint(): Promise<Checkpoint> {
    this.#writable();
    return this.#checkpointNow();
  }

  async #checkpointNow(): Promise<Checkpoint> {
    try {
      return await this.#underHeadLock(async (client, frontier) => {
        const latest = await this.#latest(client);
        if (latest !== undefined && latest.size === frontier.size) return latest;
        return this.#signAndStore(client, frontier);
      });
    } catch (error) {
      throw new Error(
        `audit log \`${this.origin}\`: signing a checkpoint failed: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
  }

  #row(row: CheckpointRow): Checkpoint {
    return { origin: this.origin, size: Number(row.size), root: row.root.toString('base64'), note: row.note };
  }

  async #latest(client: pg.PoolClient | pg.Pool): Promise<Checkpoint | undefined> {
    const { rows } = await client.query<CheckpointRow>(
      'SELECT size::float8 AS size, root, note FROM posture_audit_checkpoints ORDER BY size DESC LIMIT 1',
    );
    return rows[0] === undefined ? undefined : this.#row(rows[0]);
  }

  async latestCheckpoint(): Promise<Checkpoint | undefined> {
    this.#checkOpen();
    return this.#latest(this.#pool);
  }

  async checkpoints(): Promise<Checkpoint[]> {
    this.#checkOpen();
    const { rows } = await this.#pool.query<CheckpointRow>(
      'SELECT size::float8 AS size, root, note FROM posture_audit_checkpoints ORDER BY size',
    );
    return rows.map((row) => this.#row(row));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    // Refuse new appends at once; the ones already queued are written before the pool ends.
    this.#closed = true;
    clearInterval(this.#timer);
    try {
      await this.#queue.drain();
      if (this.#options.checkpointOnClose !== false && this.#signer !== undefined) {
        const { rows } = await this.#pool.query<{ size: number }>(
          'SELECT size::float8 AS size FROM posture_audit_head WHERE id = 0',
        );
        if (rows[0]!.size > (await this.#latestSize(this.#pool))) await this.#checkpointNow();
      }
    } finally {
      if (this.#connection.owned && !this.#pool.ended && !this.#pool.ending) await this.#pool.end();
    }
  }
}
