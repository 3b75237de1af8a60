// The ConsoleUsers contract on PostgreSQL, in a schema of its own made for this run and dropped
// after; each test gets empty tables. Needs a server (POSTGRES_URL, default the local one); without
// one the suite is skipped with the reason printed, except in CI, where it fails.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { POSTGRES_URL, postgres } from '../../storage/test/support/services.js';
import { openPostgresConsoleUsers } from '../src/postgres/users.js';
import { dumpPostgres } from './dumps.js';
import { TEST_COST } from './harness.js';
import { defineConsoleUsersContract } from './users.conformance.js';

const { problem, skip } = await postgres('console users');

describe.skipIf(skip)('postgres console users', () => {
  const schema = `posture_console_users_test_${randomBytes(6).toString('hex')}`;
  const config: pg.PoolConfig = {
    connectionString: POSTGRES_URL,
    options: `-c search_path=${schema}`,
    max: 4,
  };
  const admin = new pg.Pool({ connectionString: POSTGRES_URL, max: 1 });

  beforeAll(async () => {
    if (problem !== undefined) throw new Error(`cannot reach PostgreSQL at ${POSTGRES_URL}: ${problem}`);
    await admin.query(`CREATE SCHEMA ${schema}`);
    await (await openPostgresConsoleUsers({ config })).close();
  });

  afterAll(async () => {
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
    await admin.end();
  });

  defineConsoleUsersContract({
    shared: true,
    fresh: async () => {
      await admin.query(`TRUNCATE ${schema}.posture_console_users CASCADE`);
      return {
        open: () => openPostgresConsoleUsers({ config, scryptCost: TEST_COST }),
        dump: () => dumpPostgres(admin, schema),
      };
    },
  });

  it('migrates once when several consoles open at once, and keeps its version apart', async () => {
    const opened = await Promise.all([1, 2, 3].map(() => openPostgresConsoleUsers({ config })));
    await Promise.all(opened.map((users) => users.close()));
    const { rows } = await admin.query(`SELECT version FROM ${schema}.posture_console_schema`);
    expect(rows).toEqual([{ version: 1 }]);
  });

  it('uses a pool it is given and leaves it open', async () => {
    const pool = new pg.Pool(config);
    const users = await openPostgresConsoleUsers({ pool, scryptCost: TEST_COST });
    await users.add({ name: 'pooled', password: 'long enough', roles: ['viewer'] });
    await users.close();
    expect(
      (await pool.query('SELECT count(*)::int AS n FROM posture_console_users WHERE name = $1', ['pooled']))
        .rows[0].n,
    ).toBe(1);
    await pool.end();
  });

  it('says what failed when the server cannot be reached', async () => {
    await expect(
      openPostgresConsoleUsers({ config: { connectionString: 'postgres://postgres@127.0.0.1:1/none' } }),
    ).rejects.toThrow(/^cannot open the console users store on postgresql: /);
  });
});
