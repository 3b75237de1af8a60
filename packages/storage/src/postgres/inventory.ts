// The inventory in PostgreSQL (`pg`), shared by every gateway replica. Recording one server's
// tools is one transaction holding an advisory lock on that server, so gateways listing it at once
// apply one after the other and a definition change is reported by exactly one of them. An
// approval updates the row only where its hash is still the approved one (compare-and-set).
import type pg from 'pg';
import { guardClient, newPool } from './pool.js';
import { migrateSchema } from './schema.js';
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

/**
 * Versioned schema steps, tracked in `posture_inventory_schema` so they never collide with other
 * stores' migrations in the same database. Append; never edit a shipped step. Names sort
 * `COLLATE "C"` (code-point order), as in every backend.
 */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE posture_inventory_tools (
     server text COLLATE "C" NOT NULL,
     name text COLLATE "C" NOT NULL,
     hash text NOT NULL,
     definition text NOT NULL,
     first_seen text NOT NULL,
     last_seen text NOT NULL,
     changes integer NOT NULL,
     approved_hash text,
     approved_by text,
     approved_at text,
     PRIMARY KEY (server, name)
   );
   CREATE TABLE posture_inventory_versions (
     server text NOT NULL,
     name text NOT NULL,
     hash text NOT NULL,
     definition text NOT NULL,
     first_seen text NOT NULL,
     seq bigserial,
     PRIMARY KEY (server, name, hash)
   );
   CREATE TABLE posture_inventory_servers (
     name text COLLATE "C" PRIMARY KEY,
     first_seen text NOT NULL,
     last_seen text NOT NULL
   );
   CREATE TABLE posture_inventory_agents (
     name text COLLATE "C" PRIMARY KEY,
     first_seen text NOT NULL,
     last_seen text NOT NULL
   );`,
];

export type PostgresInventoryOptions = { pool: pg.Pool } | { config: pg.PoolConfig };

const TOOL_COLUMNS =
  'server, name, hash, definition, first_seen, last_seen, changes, approved_hash, approved_by, approved_at';

export async function openPostgresInventory(options: PostgresInventoryOptions): Promise<Inventory> {
  const owned = !('pool' in options);
  const pool = 'pool' in options ? options.pool : await newPool(options.config);
  if (owned) pool.on('error', () => {});
  try {
    await migrateSchema(pool, 'inventory', MIGRATIONS);
  } catch (error) {
    if (owned) await pool.end().catch(() => {});
    throw new Error(`cannot open inventory on postgresql: ${(error as Error).message}`, { cause: error });
  }

  /** Runs `body` in a transaction holding the advisory lock of `server`. */
  async function locked<T>(server: string, body: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await pool.connect();
    const unguard = guardClient(client);
    try {
      await client.query('BEGIN');
      await client.query(`SELECT pg_advisory_xact_lock(hashtext('posture_inventory'), hashtext($1))`, [
        server,
      ]);
      const result = await body(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {});
      throw error;
    } finally {
      unguard();
      client.release();
    }
  }

  const getTool = async (client: pg.ClientBase | pg.Pool, server: string, name: string) =>
    (
      await client.query<ToolRow>(
        `SELECT ${TOOL_COLUMNS} FROM posture_inventory_tools WHERE server = $1 AND name = $2`,
        [server, name],
      )
    ).rows[0];
  const putTool = (client: pg.ClientBase, row: ToolRow) =>
    client.query(
      `INSERT INTO posture_inventory_tools (${TOOL_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
       ON CONFLICT (server, name) DO UPDATE SET hash = excluded.hash, definition = excluded.definition,
         first_seen = excluded.first_seen, last_seen = excluded.last_seen, changes = excluded.changes,
         approved_hash = excluded.approved_hash, approved_by = excluded.approved_by, approved_at = excluded.approved_at`,
      [
        row.server,
        row.name,
        row.hash,
        row.definition,
        row.first_seen,
        row.last_seen,
        row.changes,
        row.approved_hash,
        row.approved_by,
        row.approved_at,
      ],
    );
  const seen = (table: 'servers' | 'agents', client: pg.ClientBase | pg.Pool, name: string, at: string) =>
    client.query(
      `INSERT INTO posture_inventory_${table} (name, first_seen, last_seen) VALUES ($1, $2, $2)
       ON CONFLICT (name) DO UPDATE SET last_seen = greatest(posture_inventory_${table}.last_seen, excluded.last_seen)`,
      [name, at],
    );
  let closed = false;
  const live = () => {
    if (closed) throw new Error('the inventory is closed');
  };

  return {
    async recordTools(server, tools, now) {
      live();
      checkName('`server`', server);
      const at = checkTime(now);
      const checked = checkTools(server, tools);
      return locked(server, async (client) => {
        await seen('servers', client, server, at);
        const sightings = [];
        for (const found of checked) {
          const { row, sighting } = sight(
            await getTool(client, server, found.definition.name),
            server,
            found,
            at,
          );
          await putTool(client, row);
          await client.query(
            `INSERT INTO posture_inventory_versions (server, name, hash, definition, first_seen)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`,
            [server, row.name, found.hash, found.json, at],
          );
          sightings.push(sighting);
        }
        return sightings;
      });
    },
    async recordAgent(agent, now) {
      live();
      await seen('agents', pool, checkName('`agent`', agent), checkTime(now));
    },
    async approve(server, name, hash, by, now) {
      live();
      checkName('`by`', by);
      const at = checkTime(now);
      return locked(server, async (client) => {
        const { row, result } = approval(await getTool(client, server, name), { server, name }, hash, by, at);
        if (row) await putTool(client, row);
        return result;
      });
    },
    async tool(server, name) {
      live();
      const row = await getTool(pool, server, name);
      return row && toTool(row);
    },
    async tools(filter = {}) {
      live();
      const { rows } = await pool.query<ToolRow>(
        `SELECT ${TOOL_COLUMNS} FROM posture_inventory_tools
         WHERE ($1::text IS NULL OR server = $1) ORDER BY server, name`,
        [filter.server ?? null],
      );
      return rows.map(toTool).filter((tool) => filter.status === undefined || tool.status === filter.status);
    },
    async history(server, name): Promise<ToolVersion[]> {
      live();
      const { rows } = await pool.query<{ hash: string; definition: string; first_seen: string }>(
        `SELECT hash, definition, first_seen FROM posture_inventory_versions
         WHERE server = $1 AND name = $2 ORDER BY first_seen, seq`,
        [server, name],
      );
      return rows.map((row) => ({ ...row, definition: JSON.parse(row.definition) as ToolDefinition }));
    },
    async agents(): Promise<InventoryAgent[]> {
      live();
      return (await pool.query<InventoryAgent>('SELECT * FROM posture_inventory_agents ORDER BY name')).rows;
    },
    async servers(): Promise<InventoryServer[]> {
      live();
      return (await pool.query<InventoryServer>('SELECT * FROM posture_inventory_servers ORDER BY name'))
        .rows;
    },
    async close() {
      if (closed) return;
      closed = true;
      if (owned && !pool.ended && !pool.ending) await pool.end();
    },
  };
}
