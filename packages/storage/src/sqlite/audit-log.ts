// The audit log in SQLite (better-sqlite3) in WAL mode; group commit, one BEGIN IMMEDIATE … COMMIT
// per batch of concurrent appends.
//
// Durability is that of synchronous=FULL: no append resolves before the WAL holding its commit has
// been flushed to disk (fdatasync). The flush runs after COMMIT, outside SQLite (the connection uses
// synchronous=NORMAL, under which SQLite flushes only around its own checkpoints), and the callers
// of each batch are released once its flush (and every earlier one) has completed. On a disk that
// flushes in well under a millisecond the flush runs inline: handing it to the thread pool costs
// two thread wake-ups, more than the flush. On a slower disk it runs in the thread pool, and the
// next batch is written while the disk flushes this one.
//
// Several processes may open one file. Each batch takes SQLite's write lock (BEGIN IMMEDIATE,
// waiting up to `busyTimeoutMs`), reads the frontier row under it and assigns seqs from there, so
// two writers interleave whole batches and never assign a seq twice. A checkpoint is signed under
// the same lock, so every checkpoint extends the one before it.
//
// A call may be recorded before it runs (`begin`: a row in audit_pending, flushed in the thread pool
// while the call runs); its event replaces that row when it ends, and its caller is released once
// that is committed and the row is on disk, while the event's own flush runs in the background.
// Rows left by a process that stopped become `interrupted` events when the log is next opened.
import Database from 'better-sqlite3';
import { randomUUID } from 'node:crypto';
import {
  closeSync,
  existsSync,
  fdatasync,
  fdatasyncSync,
  fstatSync,
  fsync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  statSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { MerkleFrontier } from '../merkle/frontier.js';
import { parseSignerKey, signCheckpoint, type NoteSigner } from '../merkle/checkpoint.js';
import { leafHash } from '../merkle/tree.js';
import type {
  AppendOptions,
  AuditEvent,
  AuditFilter,
  AuditLog,
  Checkpoint,
  LoggedEvent,
  OpenCall,
  StoredEvent,
} from '../ports.js';
import { checkRange } from '../audit/filter.js';
import { GroupCommit, type Flushing } from '../audit/group-commit.js';
import { interruptedEvent } from '../audit/interrupted.js';
import { leafText, parseStored, prepareEvent, type PreparedEvent } from '../audit/leaf.js';
import { createEvidenceRedactor, type EvidenceRedactor } from '../audit/redaction.js';
import { checkCheckpointEvery, newOrigin, type AuditLogOptions } from '../audit/options.js';
import { loadOrCreateSignerKey } from '../audit/signer-key-file.js';
import { checkSchema, migrate } from './migrations.js';
import { startWalCheckpointer, type WalCheckpointer } from './wal-checkpointer.js';

export interface SqliteAuditLogOptions extends AuditLogOptions {
  /** The database file (default `.posture/posture.db` in the working directory). */
  path?: string;
  /** Where the signer key is kept when `signerKey` is not given (default `audit.key` beside the database). */
  keyFile?: string;
  /** How long a batch waits for another process's write lock before it fails (default 5000 ms). */
  busyTimeoutMs?: number;
  /**
   * Flushes run on the main thread while they average at most this many milliseconds, else in the
   * thread pool (default 1); 0 runs every flush in the thread pool.
   */
  inlineFlushMs?: number;
  /**
   * Open an existing log to read and verify it only: no migrations, no signer key needed, and
   * `append` and `checkpoint` reject. `verifierKey` is then the given one, else the `.pub` file
   * beside the key file, else empty.
   */
  readOnly?: boolean;
  verifierKey?: string;
}

export interface SqliteAuditLog extends AuditLog {
  /** The absolute path of the database file. */
  readonly path: string;
}

export const DEFAULT_DATABASE_PATH = join('.posture', 'posture.db');

const PAGE_ROWS = 10_000;
/** Flushes run inline while they average at most this long, by default (see the top of this file). */
const INLINE_FLUSH_MS = 1;
/** An open call's `durable` until its batch's flush is requested (set before anyone sees it). */
const NOT_FLUSHED: Promise<void> = Promise.resolve();

/** An event waiting for its batch, and the pending call it ends, if any. */
type QueuedEvent = PreparedEvent & { settles?: string; begins?: undefined };
/** A call to record before it runs, waiting for its batch. */
interface QueuedCall {
  begins: { id: string; time: string; json: string };
}
type Queued = QueuedEvent | QueuedCall;
/** What a batch gives back for each item: the stored event, or the open call (durable once flushed). */
type Written = StoredEvent | { id: string; durable: Promise<void> };

/** `pid@host/instance`: which process wrote a pending row, and whether it may still finish it. */
function ownerName(instance: string): string {
  return `${process.pid}@${hostname()}/${instance}`;
}

/** True when the owner of a pending row is a process of this host that no longer runs. */
function ownerStopped(owner: string): boolean {
  const match = /^(\d+)@(.*)\/[^/]+$/.exec(owner);
  if (!match || match[2] !== hostname()) return false; // another host's: it alone knows
  const pid = Number(match[1]);
  if (pid === process.pid) return false; // this process's: a log still open here, or closed cleanly
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}
const SQLITE_MAGIC = 'SQLite format 3\0';

/** Whether the database's write-ahead log exists and holds frames (beyond its 32-byte header). */
function walHolds(file: string): boolean {
  try {
    return statSync(`${file}-wal`).size > 32;
  } catch {
    return false;
  }
}

/** Checks the file header before SQLite sees the file: SQLite itself reports damage only lazily. */
function checkDatabaseFile(file: string): void {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new Error(`cannot open audit database \`${file}\`: ${(error as Error).message}`, { cause: error });
  }
  try {
    const size = fstatSync(fd).size;
    // SQLite treats an empty file as a new database.
    if (size === 0) return;
    const header = Buffer.alloc(100);
    const read = readSync(fd, header, 0, 100, 0);
    if (read < 100 || header.toString('latin1', 0, 16) !== SQLITE_MAGIC) {
      throw corrupt(file, 'it is not an SQLite database');
    }
    const pageSizeField = header.readUInt16BE(16);
    const pageSize = pageSizeField === 1 ? 65_536 : pageSizeField;
    const pages = header.readUInt32BE(28);
    // The page count in the header is valid only when its version matches the change counter.
    const pagesValid = header.readUInt32BE(92) === header.readUInt32BE(24);
    if (pageSize < 512 || (pageSize & (pageSize - 1)) !== 0 || size % pageSize !== 0) {
      throw corrupt(file, `its size (\`${size}\` bytes) is not a whole number of \`${pageSize}\`-byte pages`);
    }
    // A checkpoint cut short (the process killed while it copied pages from the WAL into this file)
    // leaves a header that counts pages the file does not hold yet; the WAL still holds them.
    if (pagesValid && size < pages * pageSize && !walHolds(file)) {
      throw corrupt(
        file,
        `it is truncated: its header counts \`${pages}\` pages, the file holds \`${size / pageSize}\``,
      );
    }
  } finally {
    closeSync(fd);
  }
}

function corrupt(file: string, why: string, cause?: unknown): Error {
  return new Error(
    `audit database \`${file}\` is damaged: ${why}; it was left untouched (restore it from a copy, or move it aside to start a new log)`,
    { cause },
  );
}

function isCorruption(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return code === 'SQLITE_CORRUPT' || code === 'SQLITE_NOTADB' || String(code).startsWith('SQLITE_CORRUPT_');
}

const text = (value: unknown): string | null => (typeof value === 'string' ? value : null);

interface FilterClause {
  sql: string;
  value: (filter: AuditFilter) => unknown;
}

const FILTER_CLAUSES: Partial<Record<keyof AuditFilter, FilterClause>> = {
  after: { sql: 'seq > ?', value: (f) => f.after },
  agent: { sql: 'actor_agent = ?', value: (f) => f.agent },
  user: { sql: 'actor_user = ?', value: (f) => f.user },
  tool: { sql: 'tool = ?', value: (f) => f.tool },
  decision: { sql: 'decision = ?', value: (f) => f.decision },
  outcome: { sql: 'outcome = ?', value: (f) => f.outcome },
  kind: { sql: 'kind = ?', value: (f) => f.kind },
  since: { sql: 'time >= ?', value: (f) => f.since },
  until: { sql: 'time <= ?', value: (f) => f.until },
};

/** Opens (creating if needed) the audit log in an SQLite file and runs its migrations. */
export async function openSqliteAuditLog(options: SqliteAuditLogOptions = {}): Promise<SqliteAuditLog> {
  checkCheckpointEvery(options.checkpointEvery);
  const file = resolve(options.path ?? DEFAULT_DATABASE_PATH);
  checkDatabaseFile(file);
  if (options.readOnly) {
    if (!existsSync(file)) throw new Error(`no audit database \`${file}\``);
  } else mkdirSync(dirname(file), { recursive: true });
  let db: Database.Database | undefined;
  try {
    db = new Database(file, options.readOnly ? { readonly: true, fileMustExist: true } : {});
    db.pragma(`busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? 5000))}`);
    if (options.readOnly) {
      checkSchema(db, file);
      return SqliteAuditLogImpl.create(db, file, options);
    }
    const mode = db.pragma('journal_mode = WAL', { simple: true });
    if (mode !== 'wal') throw new Error(`cannot switch to WAL (journal mode is \`${String(mode)}\`)`);
    // FULL durability comes from the flush after each commit (see above).
    db.pragma('synchronous = NORMAL');
    // better-sqlite3 gives each connection a 16 MB page cache, which an append-only log fills with
    // pages it never reads again (a gateway's RSS grew by that much under load); 4 MB hold what
    // appends touch: the right edges of the table and its indexes, with room for large batches.
    db.pragma('cache_size = -4096');
    migrate(db, file);
    const log = SqliteAuditLogImpl.create(db, file, options);
    await log.recoverInterrupted();
    return log;
  } catch (error) {
    db?.close();
    if (isCorruption(error)) throw corrupt(file, (error as Error).message, error);
    const message = (error as Error).message;
    if (message.includes(`\`${file}\``)) throw error;
    throw new Error(`cannot open audit database \`${file}\`: ${message}`, { cause: error });
  }
}

interface WriteResult {
  written: Written[];
  frontier: MerkleFrontier;
}

class SqliteAuditLogImpl implements SqliteAuditLog {
  readonly path: string;
  readonly origin: string;
  readonly verifierKey: string;
  readonly #db: Database.Database;
  /** None when read-only. */
  readonly #signer: NoteSigner | undefined;
  readonly #options: SqliteAuditLogOptions;
  readonly #queue: GroupCommit<Queued, Written>;
  /** This log's name on the pending rows it writes. */
  readonly #owner = ownerName(randomUUID());
  /** Flushes still running: none may hold the WAL's descriptor when it is closed. */
  readonly #flushing = new Set<Promise<void>>();
  readonly #redact: EvidenceRedactor;
  readonly #statements;
  readonly #searches = new Map<string, Database.Statement>();
  #frontier: MerkleFrontier;
  /** The write-ahead log, opened after the first commit, for flushing it. */
  #wal: number | undefined;
  /** How long flushes take, as a moving average (ms): decides whether they run inline. */
  #flushMs = 0;
  readonly #checkpointer: WalCheckpointer;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  static create(db: Database.Database, file: string, options: SqliteAuditLogOptions): SqliteAuditLogImpl {
    const storedOrigin = db.prepare("SELECT value FROM audit_meta WHERE key = 'origin'").pluck().get() as
      string | undefined;
    if (options.readOnly) {
      if (storedOrigin === undefined) throw new Error(`audit database \`${file}\` holds no audit log yet`);
      const pub = (options.keyFile ?? join(dirname(file), 'audit.key')).replace(/(\.key)?$/, '.pub');
      const verifierKey = options.verifierKey ?? (existsSync(pub) ? readFileSync(pub, 'utf8').trim() : '');
      return new SqliteAuditLogImpl(db, file, storedOrigin, verifierKey, undefined, options);
    }
    const origin = storedOrigin ?? options.origin ?? newOrigin();
    const signerKey =
      options.signerKey ?? loadOrCreateSignerKey(options.keyFile ?? join(dirname(file), 'audit.key'), origin);
    if (storedOrigin === undefined) {
      // Two processes may create the log at once: the first origin written wins for both.
      db.prepare("INSERT OR IGNORE INTO audit_meta (key, value) VALUES ('origin', ?)").run(origin);
    }
    const finalOrigin = db
      .prepare("SELECT value FROM audit_meta WHERE key = 'origin'")
      .pluck()
      .get() as string;
    const signer = parseSignerKey(signerKey);
    return new SqliteAuditLogImpl(db, file, finalOrigin, signer.verifierKey, signer, options);
  }

  private constructor(
    db: Database.Database,
    file: string,
    origin: string,
    verifierKey: string,
    signer: NoteSigner | undefined,
    options: SqliteAuditLogOptions,
  ) {
    this.#db = db;
    this.path = file;
    this.origin = origin;
    this.#signer = signer;
    this.verifierKey = verifierKey;
    this.#options = options;
    this.#statements = {
      frontierSize: db.prepare('SELECT size FROM audit_frontier WHERE id = 0').pluck(),
      frontier: db.prepare('SELECT size, hashes FROM audit_frontier WHERE id = 0'),
      updateFrontier: db.prepare('UPDATE audit_frontier SET size = ?, hashes = ? WHERE id = 0'),
      insertEvent: db.prepare(
        `INSERT INTO audit_events (seq, time, kind, actor_user, actor_agent, tool, decision, outcome, json, leaf_hash)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      read: db.prepare('SELECT json FROM audit_events WHERE seq >= ? AND seq < ? ORDER BY seq').pluck(),
      page: db
        // The leaf hash as lowercase hex from SQLite itself: no Buffer per row to convert.
        .prepare(
          'SELECT seq, json, lower(hex(leaf_hash)) FROM audit_events WHERE seq > ? ORDER BY seq LIMIT ?',
        )
        .raw(),
      latestCheckpointSize: db.prepare('SELECT max(size) FROM audit_checkpoints').pluck(),
      latestCheckpoint: db.prepare(
        'SELECT size, root, note FROM audit_checkpoints ORDER BY size DESC LIMIT 1',
      ),
      checkpoints: db.prepare('SELECT size, root, note FROM audit_checkpoints ORDER BY size'),
      insertCheckpoint: db.prepare(
        'INSERT INTO audit_checkpoints (size, root, note, signed_at) VALUES (?, ?, ?, ?)',
      ),
      ...(options.readOnly
        ? {}
        : {
            insertPending: db.prepare(
              'INSERT INTO audit_pending (id, owner, time, json) VALUES (?, ?, ?, ?)',
            ),
            deletePending: db.prepare('DELETE FROM audit_pending WHERE id = ?'),
            pending: db.prepare('SELECT id, owner, json FROM audit_pending ORDER BY time, id'),
          }),
    };
    this.#writeBatchTransaction = db.transaction(this.#writeTransaction);
    this.#frontier = this.#loadFrontier();
    this.#checkpointer = options.readOnly
      ? { stop: async () => {} }
      : startWalCheckpointer(db, file, Math.max(0, Math.floor(options.busyTimeoutMs ?? 5000)));
    this.#redact = createEvidenceRedactor(options.redaction);
    this.#queue = new GroupCommit((items) => this.#writeBatch(items), options.maxBatch ?? 1000);
    const ms = options.checkpointEvery?.ms;
    if (ms !== undefined && !options.readOnly) {
      this.#timer = setInterval(() => {
        if (this.#closed) return;
        try {
          this.#checkpointNow();
          this.#flush().catch(() => {});
        } catch {
          // Retried on the next tick; appends report write failures to their callers.
        }
      }, ms);
      this.#timer.unref();
    }
  }

  #loadFrontier(): MerkleFrontier {
    const row = this.#statements.frontier.get() as { size: number; hashes: string };
    return MerkleFrontier.fromJSON({ size: row.size, hashes: JSON.parse(row.hashes) as unknown });
  }

  /** Under the write lock: the frontier as committed, reloaded if another process appended. */
  #currentFrontier(): MerkleFrontier {
    const size = this.#statements.frontierSize.get() as number;
    if (size !== this.#frontier.size) this.#frontier = this.#loadFrontier();
    return this.#frontier;
  }

  #signAndStore(frontier: MerkleFrontier): Checkpoint {
    const checkpoint = signCheckpoint(
      { origin: this.origin, size: frontier.size, root: frontier.root() },
      this.#signer!,
    );
    this.#statements.insertCheckpoint.run(
      checkpoint.size,
      Buffer.from(checkpoint.root, 'base64'),
      checkpoint.note,
      new Date().toISOString(),
    );
    return checkpoint;
  }

  readonly #writeBatchTransaction: Database.Transaction<(items: Queued[]) => WriteResult>;

  readonly #writeTransaction = (items: Queued[]): WriteResult => {
    const frontier = this.#currentFrontier().clone();
    const size = frontier.size;
    const insert = this.#statements.insertEvent;
    const written: Written[] = [];
    for (const prepared of items) {
      if (prepared.begins !== undefined) {
        const { id, time, json } = prepared.begins;
        this.#statements.insertPending!.run(id, this.#owner, time, json);
        written.push({ id, durable: NOT_FLUSHED });
        continue;
      }
      const seq = frontier.size;
      const json = leafText(prepared, seq);
      const leaf = leafHash(json);
      const { event } = prepared;
      insert.run(
        seq,
        event.time,
        event.kind,
        text(event.actor?.user),
        text(event.actor?.agent),
        text(event.tool),
        text(event.decision),
        text(event.outcome),
        json,
        leaf,
      );
      frontier.append(leaf);
      if (prepared.settles !== undefined) this.#statements.deletePending!.run(prepared.settles);
      // The prepared event is this log's own copy: it becomes the stored event.
      const stored = event as StoredEvent;
      stored.seq = seq;
      written.push(stored);
    }
    if (frontier.size === size) return { written, frontier };
    this.#statements.updateFrontier.run(frontier.size, JSON.stringify(frontier.toJSON().hashes));
    const every = this.#options.checkpointEvery?.events;
    if (every !== undefined) {
      const signed = (this.#statements.latestCheckpointSize.get() as number | null) ?? 0;
      if (frontier.size - signed >= every) this.#signAndStore(frontier);
    }
    return { written, frontier };
  };

  /**
   * Flushes the WAL (and, the first time, the folder entry that names it) to disk. `inBackground`:
   * in the thread pool whatever the disk, for a flush nobody waits on (the events that end open
   * calls) or that should overlap the calls it records (see the top of this file).
   */
  #flush(inBackground = false): Promise<void> {
    const flushing = this.#flushNow(inBackground);
    this.#flushing.add(flushing);
    const forget = () => this.#flushing.delete(flushing);
    flushing.then(forget, forget);
    return flushing;
  }

  #flushNow(inBackground: boolean): Promise<void> {
    return new Promise((resolve, reject) => {
      const done = (error: NodeJS.ErrnoException | null) => {
        if (error === null) resolve();
        else {
          reject(
            new Error(
              `audit log \`${this.path}\`: committed events could not be flushed to disk, so they may not survive a crash: ${error.message}`,
              { cause: error },
            ),
          );
        }
      };
      try {
        if (this.#wal === undefined) {
          this.#wal = openSync(`${this.path}-wal`, 'r');
          const folder = openSync(dirname(this.path), 'r');
          fsync(folder, (error) => {
            closeSync(folder);
            if (error !== null) done(error);
            else fdatasync(this.#wal!, done);
          });
          return;
        }
        const started = performance.now();
        const timed = (error: NodeJS.ErrnoException | null) => {
          this.#flushMs = this.#flushMs * 0.8 + (performance.now() - started) * 0.2;
          done(error);
        };
        const inline = this.#options.inlineFlushMs ?? INLINE_FLUSH_MS;
        if (inBackground || inline <= 0 || this.#flushMs > inline) {
          fdatasync(this.#wal, timed);
          return;
        }
        fdatasyncSync(this.#wal);
        timed(null);
      } catch (error) {
        done(error as NodeJS.ErrnoException);
      }
    });
  }

  #writeBatch(items: Queued[]): Flushing<Written> {
    let result: WriteResult;
    try {
      // better-sqlite3 rolls the transaction back if the function or the COMMIT throws.
      result = this.#writeBatchTransaction.immediate(items);
    } catch (error) {
      throw this.#failure(
        `writing a batch of \`${items.length}\` events failed and nothing of it was kept`,
        error,
      );
    }
    this.#frontier = result.frontier;
    // Only open calls and the events that end them: nobody waits on this flush on the main thread.
    const durable = this.#flush(
      items.every((item) => item.begins !== undefined || item.settles !== undefined),
    );
    for (const item of result.written) if (!('seq' in item)) item.durable = durable;
    return { results: result.written, durable };
  }

  /** Pending rows of processes that stopped (or, at close, this log's own) become `interrupted` events. */
  async recoverInterrupted(own = false): Promise<number> {
    if (this.#signer === undefined) return 0;
    const rows = (this.#statements.pending!.all() as { id: string; owner: string; json: string }[]).filter(
      (row) => (own ? row.owner === this.#owner : ownerStopped(row.owner)),
    );
    if (rows.length === 0) return 0;
    const items: QueuedEvent[] = rows.map((row) =>
      Object.assign(prepareEvent(interruptedEvent(JSON.parse(row.json) as AuditEvent)), { settles: row.id }),
    );
    const { durable } = this.#writeBatch(items);
    await durable;
    return rows.length;
  }

  #failure(what: string, error: unknown): Error {
    if (isCorruption(error)) return corrupt(this.path, (error as Error).message, error);
    return new Error(`audit log \`${this.path}\`: ${what}: ${(error as Error).message}`, { cause: error });
  }

  #checkOpen(): void {
    if (this.#closed) throw new Error(`audit log \`${this.path}\` is closed`);
  }

  /** The signer, for the operations that write; a read-only log has none. */
  #writable(): NoteSigner {
    this.#checkOpen();
    if (this.#signer === undefined) throw new Error(`audit log \`${this.path}\` is open read-only`);
    return this.#signer;
  }

  append(event: AuditEvent, options?: AppendOptions): Promise<StoredEvent> {
    // Not async: one promise per append, the queue's, instead of two.
    try {
      this.#writable();
      const prepared: QueuedEvent = prepareEvent(this.#redact(event));
      const settles = options?.settles;
      if (settles === undefined) return this.#queue.submit(prepared) as Promise<StoredEvent>;
      prepared.settles = settles.id;
      return this.#queue.submit(prepared, settles.durable) as Promise<StoredEvent>;
    } catch (error) {
      return Promise.reject(error as Error);
    }
  }

  async begin(event: AuditEvent): Promise<OpenCall> {
    this.#writable();
    const { event: clean } = prepareEvent(this.#redact(event));
    const begins = { id: randomUUID(), time: clean.time, json: JSON.stringify(clean) };
    // Released once committed, in the batch of the appends made in this turn of the event loop.
    const open = (await this.#queue.submit({ begins }, 'written')) as OpenCall;
    open.durable.catch(() => {}); // its caller learns of a failure through the append that settles it
    return open;
  }

  async size(): Promise<number> {
    this.#checkOpen();
    return this.#statements.frontierSize.get() as number;
  }

  async read(from: number, to: number): Promise<StoredEvent[]> {
    this.#checkOpen();
    checkRange(from, to);
    return (this.#statements.read.all(from, to) as string[]).map((json) => JSON.parse(json) as StoredEvent);
  }

  async search(filter: AuditFilter): Promise<StoredEvent[]> {
    this.#checkOpen();
    const conditions: string[] = [];
    const values: unknown[] = [];
    for (const [key, clause] of Object.entries(FILTER_CLAUSES) as [keyof AuditFilter, FilterClause][]) {
      if (filter[key] === undefined) continue;
      conditions.push(clause.sql);
      values.push(clause.value(filter));
    }
    let sql = `SELECT json FROM audit_events${conditions.length > 0 ? ` WHERE ${conditions.join(' AND ')}` : ''} ORDER BY seq`;
    if (filter.limit !== undefined) {
      sql += ' LIMIT ?';
      values.push(filter.limit);
    }
    let statement = this.#searches.get(sql);
    if (statement === undefined) {
      statement = this.#db.prepare(sql).pluck();
      this.#searches.set(sql, statement);
    }
    return (statement.all(...values) as string[]).map((json) => JSON.parse(json) as StoredEvent);
  }

  async *entries(from = 0): AsyncGenerator<LoggedEvent> {
    this.#checkOpen();
    // Pages by the seq column, in its order: the verifier, not this reader, judges the seqs inside.
    let after = from - 1;
    for (;;) {
      const rows = this.#statements.page.all(after, PAGE_ROWS) as [number, string, string][];
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
    const checkpoint = this.#checkpointNow();
    await this.#flush();
    return checkpoint;
  }

  #checkpointNow(): Checkpoint {
    try {
      return this.#db
        .transaction((): Checkpoint => {
          const frontier = this.#currentFrontier();
          const latest = this.#latest();
          if (latest !== undefined && latest.size === frontier.size) return latest;
          return this.#signAndStore(frontier);
        })
        .immediate();
    } catch (error) {
      throw this.#failure('signing a checkpoint failed', error);
    }
  }

  #row(row: { size: number; root: Buffer; note: string }): Checkpoint {
    return { origin: this.origin, size: row.size, root: row.root.toString('base64'), note: row.note };
  }

  #latest(): Checkpoint | undefined {
    const row = this.#statements.latestCheckpoint.get() as
      { size: number; root: Buffer; note: string } | undefined;
    return row === undefined ? undefined : this.#row(row);
  }

  async latestCheckpoint(): Promise<Checkpoint | undefined> {
    this.#checkOpen();
    return this.#latest();
  }

  async checkpoints(): Promise<Checkpoint[]> {
    this.#checkOpen();
    return (this.#statements.checkpoints.all() as { size: number; root: Buffer; note: string }[]).map((row) =>
      this.#row(row),
    );
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    // Refuse new appends at once; the ones already queued are written before the file closes.
    this.#closed = true;
    clearInterval(this.#timer);
    try {
      await this.#queue.drain();
      // Calls still running here will not get their event from this log: they end interrupted.
      if (this.#signer !== undefined) await this.recoverInterrupted(true);
      if (this.#options.checkpointOnClose !== false && this.#signer !== undefined) {
        const size = this.#statements.frontierSize.get() as number;
        const signed = (this.#statements.latestCheckpointSize.get() as number | null) ?? 0;
        if (size > signed) {
          this.#checkpointNow();
          await this.#flush();
        }
      }
    } finally {
      await Promise.allSettled([...this.#flushing]);
      await this.#checkpointer.stop();
      if (this.#wal !== undefined) closeSync(this.#wal);
      this.#db.close();
    }
  }
}
