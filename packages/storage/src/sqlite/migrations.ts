// The audit log's schema, as ordered migrations. Each runs once, in one transaction with the others
// pending, and is recorded in `migrations` under the component `audit`, so other stores can keep
// their own schema steps in the same file. A released migration is never edited, only followed.
import type Database from 'better-sqlite3';

export const COMPONENT = 'audit';

export interface Migration {
  version: number;
  description: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'audit log: events with search columns, checkpoints, merkle frontier, log identity',
    sql: `
      CREATE TABLE audit_meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
      ) STRICT;

      -- seq is the log position (the rowid); json is the canonical JSON the leaf hash commits to;
      -- the other columns copy fields of json for search and are not part of the evidence.
      CREATE TABLE audit_events (
        seq INTEGER PRIMARY KEY,
        time TEXT NOT NULL,
        kind TEXT NOT NULL,
        actor_user TEXT,
        actor_agent TEXT,
        tool TEXT,
        decision TEXT,
        outcome TEXT,
        json TEXT NOT NULL,
        leaf_hash BLOB NOT NULL
      ) STRICT;
      -- Every index also holds the rowid, so each one returns matches in seq order.
      CREATE INDEX audit_events_time ON audit_events (time);
      CREATE INDEX audit_events_user ON audit_events (actor_user);
      CREATE INDEX audit_events_agent ON audit_events (actor_agent);
      CREATE INDEX audit_events_tool ON audit_events (tool);
      CREATE INDEX audit_events_decision ON audit_events (decision);
      CREATE INDEX audit_events_outcome ON audit_events (outcome);
      CREATE INDEX audit_events_kind ON audit_events (kind);

      -- One checkpoint per size: a log must never sign two roots for one size.
      CREATE TABLE audit_checkpoints (
        size INTEGER PRIMARY KEY,
        root BLOB NOT NULL,
        note TEXT NOT NULL,
        signed_at TEXT NOT NULL
      ) STRICT;

      -- The compact range of the tree, updated in the transaction of every batch, so opening the
      -- log does not rehash it and the next seq is read under the write lock.
      CREATE TABLE audit_frontier (
        id INTEGER PRIMARY KEY CHECK (id = 0),
        size INTEGER NOT NULL,
        hashes TEXT NOT NULL
      ) STRICT;
      INSERT INTO audit_frontier (id, size, hashes) VALUES (0, 0, '[]');
    `,
  },
  {
    version: 2,
    description: 'audit log: calls recorded before they run, until their event is written',
    sql: `
      -- Not events: outside the Merkle tree. A row lives from just before its call runs until the
      -- call's event is committed in the same transaction that deletes it. \`owner\` names the
      -- process (host:pid:instance), so a row left by a process that stopped can be told apart.
      CREATE TABLE audit_pending (
        id TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        time TEXT NOT NULL,
        json TEXT NOT NULL
      ) STRICT;
    `,
  },
];

/** Applies the migrations `db` has not seen, under the write lock so two processes cannot race. */
export function migrate(
  db: Database.Database,
  file: string,
  migrations: readonly Migration[] = MIGRATIONS,
): void {
  const latest = migrations.at(-1)?.version ?? 0;
  db.transaction(() => {
    db.exec(`CREATE TABLE IF NOT EXISTS migrations (
      component TEXT NOT NULL,
      version INTEGER NOT NULL,
      description TEXT NOT NULL,
      applied_at TEXT NOT NULL,
      PRIMARY KEY (component, version)
    ) STRICT`);
    const current =
      (db.prepare('SELECT max(version) FROM migrations WHERE component = ?').pluck().get(COMPONENT) as
        number | null) ?? 0;
    if (current > latest) {
      throw new Error(
        `audit database \`${file}\` has audit schema version \`${current}\`, newer than this Posture knows (\`${latest}\`): upgrade Posture`,
      );
    }
    const record = db.prepare(
      'INSERT INTO migrations (component, version, description, applied_at) VALUES (?, ?, ?, ?)',
    );
    for (const migration of migrations) {
      if (migration.version <= current) continue;
      db.exec(migration.sql);
      record.run(COMPONENT, migration.version, migration.description, new Date().toISOString());
    }
  }).immediate();
}

/** For a read-only open: `db` holds an audit schema this Posture can read. */
export function checkSchema(
  db: Database.Database,
  file: string,
  migrations: readonly Migration[] = MIGRATIONS,
): void {
  const latest = migrations.at(-1)?.version ?? 0;
  const exists = db
    .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'migrations'")
    .pluck()
    .get();
  const current = exists
    ? ((db.prepare('SELECT max(version) FROM migrations WHERE component = ?').pluck().get(COMPONENT) as
        number | null) ?? 0)
    : 0;
  if (current === 0) throw new Error(`audit database \`${file}\` holds no audit log`);
  if (current > latest) {
    throw new Error(
      `audit database \`${file}\` has audit schema version \`${current}\`, newer than this Posture knows (\`${latest}\`): upgrade Posture`,
    );
  }
}
