// The inventory contract on PostgreSQL, in a schema of its own made for this run and dropped after.
// Needs a server (POSTGRES_URL, default the local one); without one the suite is skipped with the
// reason printed, except in CI, where it fails.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPostgresInventory } from '../src/postgres/inventory.js';
import { defineInventoryContract } from './conformance/inventory.js';
import { POSTGRES_URL, postgres } from './support/services.js';

const { problem, skip } = await postgres('inventory');

describe.skipIf(skip)('postgres inventory', () => {
  const schema = `posture_inventory_test_${randomBytes(6).toString('hex')}`;
  const config: pg.PoolConfig = {
    connectionString: POSTGRES_URL,
    options: `-c search_path=${schema}`,
    max: 2,
  };
  const admin = new pg.Pool({ connectionString: POSTGRES_URL, max: 1 });
  const TABLES = ['tools', 'versions', 'servers', 'agents'].map((t) => `${schema}.posture_inventory_${t}`);

  beforeAll(async () => {
    if (problem !== undefined) throw new Error(`cannot reach PostgreSQL at ${POSTGRES_URL}: ${problem}`);
    await admin.query(`CREATE SCHEMA ${schema}`);
    await (await openPostgresInventory({ config })).close();
  });

  afterAll(async () => {
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
    await admin.end();
  });

  defineInventoryContract({
    persistent: true,
    fresh: async () => {
      await admin.query(`TRUNCATE ${TABLES.join(', ')}`);
      return { open: () => openPostgresInventory({ config }) };
    },
  });

  it('keeps its schema version in a table of its own', async () => {
    const { rows } = await admin.query(`SELECT version FROM ${schema}.posture_inventory_schema`);
    expect(rows).toEqual([{ version: 1 }]);
  });

  it('says what failed when the server cannot be reached', async () => {
    await expect(
      openPostgresInventory({ config: { connectionString: 'postgres://postgres@127.0.0.1:1/none' } }),
    ).rejects.toThrow(/^cannot open inventory on postgresql: /);
  });
});
