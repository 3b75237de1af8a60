// The inventory in a SQLite file (better-sqlite3), usually the same `.posture/posture.db` as the
// audit log and approvals. Each recording and approval is one IMMEDIATE transaction: SQLite runs
// one writer at a time, so concurrent recordings from several processes apply one after the other
// and a definition change is reported by exactly one of them.
import type Database from 'better-sqlite3';
import type { Inventory, InventoryAgent, InventoryServer, ToolDefinition, ToolVersion } from '../ports.js';
import {
  approval,
  checkName,
  checkTime,
  checkTools,
  sight,
  toTool,
  type ToolRow,
} from '../inventory-rules.js';
import { openStoreFile } from './store-file.js';

/**
 * Versioned schema steps, tracked in `posture_inventory_schema` so they never collide with other
 * stores' migrations in the same file. Append; never edit a shipped step.
 */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE posture_inventory_tools (
     server TEXT NOT NULL,
     name TEXT NOT NULL,
     hash TEXT NOT NULL,
     definition TEXT NOT NULL,
     first_seen TEXT NOT NULL,
     last_seen TEXT NOT NULL,
     changes INTEGER NOT NULL,
     approved_hash TEXT,
     approved_by TEXT,
     approved_at TEXT,
     PRIMARY KEY (server, name)
   ) STRICT;
   CREATE TABLE posture_inventory_versions (
     server TEXT NOT NULL,
     name TEXT NOT NULL,
     hash TEXT NOT NULL,
     definition TEXT NOT NULL,
     first_seen TEXT NOT NULL,
     PRIMARY KEY (server, name, hash)
   ) STRICT;
   CREATE TABLE posture_inventory_servers (
     name TEXT PRIMARY KEY,
     first_seen TEXT NOT NULL,
     last_seen TEXT NOT NULL
   ) STRICT;
   CREATE TABLE posture_inventory_agents (
     name TEXT PRIMARY KEY,
     first_seen TEXT NOT NULL,
     last_seen TEXT NOT NULL
   ) STRICT;`,
];

export interface SqliteInventoryOptions {
  /** Create the file (and its folder) when missing; true unless set. */
  create?: boolean;
  /** How long a writer waits for another process's lock before failing, in ms; 5000 unless set. */
  busyTimeoutMs?: number;
}

export function openSqliteInventory(path: string, options: SqliteInventoryOptions = {}): Inventory {
  const db = openDatabase(path, options);
  const getTool = db.prepare<[string, string], ToolRow>(
    'SELECT * FROM posture_inventory_tools WHERE server = ? AND name = ?',
  );
  const putTool = db.prepare<ToolRow>(
    `INSERT OR REPLACE INTO posture_inventory_tools
       (server, name, hash, definition, first_seen, last_seen, changes, approved_hash, approved_by, approved_at)
     VALUES (@server, @name, @hash, @definition, @first_seen, @last_seen, @changes, @approved_hash, @approved_by, @approved_at)`,
  );
  const putVersion = db.prepare<[string, string, string, string, string]>(
    `INSERT INTO posture_inventory_versions (server, name, hash, definition, first_seen) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT DO NOTHING`,
  );
  const seen = (table: 'servers' | 'agents') =>
    db.prepare<[string, string, string]>(
      `INSERT INTO posture_inventory_${table} (name, first_seen, last_seen) VALUES (?, ?, ?)
       ON CONFLICT (name) DO UPDATE SET last_seen = max(last_seen, excluded.last_seen)`,
    );
  const seeServer = seen('servers');
  const seeAgent = seen('agents');

  const record = db.transaction((server: string, checked: ReturnType<typeof checkTools>, at: string) => {
    seeServer.run(server, at, at);
    return checked.map((found) => {
      const { row, sighting } = sight(getTool.get(server, found.definition.name), server, found, at);
      putTool.run(row);
      putVersion.run(server, row.name, found.hash, found.json, at);
      return sighting;
    });
  });
  const approve = db.transaction((server: string, name: string, hash: string, by: string, at: string) => {
    const { row, result } = approval(getTool.get(server, name), { server, name }, hash, by, at);
    if (row) putTool.run(row);
    return result;
  });
  let closed = false;
  const live = () => {
    if (closed) throw new Error('the inventory is closed');
  };

  return {
    async recordTools(server, tools, now) {
      live();
      checkName('`server`', server);
      const at = checkTime(now);
      return record.immediate(server, checkTools(server, tools), at);
    },
    async recordAgent(agent, now) {
      live();
      seeAgent.run(checkName('`agent`', agent), checkTime(now), checkTime(now));
    },
    async approve(server, name, hash, by, now) {
      live();
      checkName('`by`', by);
      return approve.immediate(server, name, hash, by, checkTime(now));
    },
    async tool(server, name) {
      live();
      const row = getTool.get(server, name);
      return row && toTool(row);
    },
    async tools(filter = {}) {
      live();
      const rows = db
        .prepare<[], ToolRow>('SELECT * FROM posture_inventory_tools ORDER BY server, name')
        .all()
        .map(toTool);
      return rows.filter(
        (tool) =>
          (filter.server === undefined || tool.server === filter.server) &&
          (filter.status === undefined || tool.status === filter.status),
      );
    },
    async history(server, name): Promise<ToolVersion[]> {
      live();
      return db
        .prepare<[string, string], { hash: string; definition: string; first_seen: string }>(
          `SELECT hash, definition, first_seen FROM posture_inventory_versions
           WHERE server = ? AND name = ? ORDER BY first_seen, rowid`,
        )
        .all(server, name)
        .map((row) => ({ ...row, definition: JSON.parse(row.definition) as ToolDefinition }));
    },
    async agents(): Promise<InventoryAgent[]> {
      live();
      return db.prepare<[], InventoryAgent>('SELECT * FROM posture_inventory_agents ORDER BY name').all();
    },
    async servers(): Promise<InventoryServer[]> {
      live();
      return db.prepare<[], InventoryServer>('SELECT * FROM posture_inventory_servers ORDER BY name').all();
    },
    async close() {
      if (closed) return;
      closed = true;
      db.close();
    },
  };
}

function openDatabase(path: string, options: SqliteInventoryOptions): Database.Database {
  return openStoreFile(path, {
    component: 'inventory',
    label: 'inventory',
    steps: MIGRATIONS,
    ...(options.create !== undefined ? { create: options.create } : {}),
    ...(options.busyTimeoutMs !== undefined ? { busyTimeoutMs: options.busyTimeoutMs } : {}),
  });
}
