// Opening the SQLite file of a store other than the audit log: WAL, a busy timeout, the store's
// durability, and its versioned schema steps in its own version table (`posture_<component>_schema`),
// run under the write lock so two processes opening a new file migrate one after the other.
// Errors name the file; a database a newer Posture migrated further is refused.
import Database from 'better-sqlite3';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

export interface StoreFile {
  component: 'approvals' | 'counters' | 'inventory' | 'sessions';
  /** How the store is named in errors: `approvals store`, `inventory`. */
  label: string;
  steps: readonly string[];
  /** Create the file (and its folder) when missing (default true). */
  create?: boolean;
  busyTimeoutMs?: number;
  /** `FULL` for what must survive a power loss the moment it is reported; default SQLite's. */
  synchronous?: 'FULL' | 'NORMAL';
}

export function openStoreFile(path: string, store: StoreFile): Database.Database {
  const create = store.create ?? true;
  if (!create && path !== ':memory:' && !existsSync(path))
    throw new Error(`no ${store.label} at \`${path}\``);
  if (create && path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  let db: Database.Database | undefined;
  try {
    db = new Database(path, { fileMustExist: !create });
    db.pragma(`busy_timeout = ${Math.max(0, Math.floor(store.busyTimeoutMs ?? 5000))}`);
    if (db.pragma('journal_mode', { simple: true }) !== 'wal' && path !== ':memory:') {
      db.pragma('journal_mode = WAL');
    }
    if (store.synchronous) db.pragma(`synchronous = ${store.synchronous}`);
    migrate(db, store);
    return db;
  } catch (error) {
    db?.close();
    throw new Error(`cannot open ${store.label} \`${path}\`: ${(error as Error).message}`, { cause: error });
  }
}

function migrate(db: Database.Database, store: StoreFile): void {
  const table = `posture_${store.component}_schema`;
  db.exec(`CREATE TABLE IF NOT EXISTS ${table} (
             version INTEGER PRIMARY KEY,
             applied_at TEXT NOT NULL
           ) STRICT`);
  db.transaction(() => {
    const row = db.prepare(`SELECT max(version) AS version FROM ${table}`).get() as {
      version: number | null;
    };
    const current = row.version ?? 0;
    if (current > store.steps.length) {
      throw new Error(
        `${store.component} schema version \`${current}\` is newer than this posture supports (\`${store.steps.length}\`)`,
      );
    }
    for (let version = current + 1; version <= store.steps.length; version++) {
      db.exec(store.steps[version - 1]!);
      db.prepare(`INSERT INTO ${table} (version, applied_at) VALUES (?, ?)`).run(
        version,
        new Date().toISOString(),
      );
    }
  }).immediate();
}
