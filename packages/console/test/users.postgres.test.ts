// The ConsoleUsers contract on PostgreSQL, in a schema of its own made for this run and dropped
// after; each test gets empty tables. Needs a server (POSTGRES_URL, default the local one); without
// one the suite is skipped with the reason printed, except in CI, where it fails.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
  // Key files of this run, never the repository's .posture/.
  const folder = mkdtempSync(join(tmpdir(), 'posture-console-users-pg-'));
  const keyFile = join(folder, 'console.key');

  beforeAll(async () => {
    if (problem !== undefined) throw new Error(`cannot reach PostgreSQL at ${POSTGRES_URL}: ${problem}`);
    await admin.query(`CREATE SCHEMA ${schema}`);
    await (await openPostgresConsoleUsers({ config, keyFile })).close();
  });

  afterAll(async () => {
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
    await admin.end();
    rmSync(folder, { recursive: true, force: true });
  });

  defineConsoleUsersContract({
    shared: true,
    fresh: async () => {
      await admin.query(`TRUNCATE ${schema}.posture_console_users CASCADE`);
      const keyFile = join(folder, `console-${randomBytes(4).toString('hex')}.key`);
      return {
        open: (options = {}) =>
          openPostgresConsoleUsers({ config, scryptCost: TEST_COST, keyFile, ...options }),
        dump: () => dumpPostgres(admin, schema),
        keyFile,
        raw: {
          async get(name, column) {
            const { rows } = await admin.query(
              `SELECT ${column} AS v FROM ${schema}.posture_console_users WHERE name = $1`,
              [name],
            );
            return (rows[0]?.v as string | null | undefined) ?? null;
          },
          async set(name, column, value) {
            await admin.query(`UPDATE ${schema}.posture_console_users SET ${column} = $2 WHERE name = $1`, [
              name,
              value,
            ]);
          },
        },
      };
    },
  });

  it('migrates once when several consoles open at once, and keeps its version apart', async () => {
    // Secrets the contract left behind were sealed under other keys.
    await admin.query(`TRUNCATE ${schema}.posture_console_users CASCADE`);
    const opened = await Promise.all([1, 2, 3].map(() => openPostgresConsoleUsers({ config, keyFile })));
    await Promise.all(opened.map((users) => users.close()));
    const { rows } = await admin.query(`SELECT version FROM ${schema}.posture_console_schema`);
    expect(rows).toEqual([{ version: 1 }, { version: 2 }]);
  });

  it('uses a pool it is given and leaves it open', async () => {
    // Secrets the contract left behind were sealed under other keys.
    await admin.query(`TRUNCATE ${schema}.posture_console_users CASCADE`);
    const pool = new pg.Pool(config);
    const users = await openPostgresConsoleUsers({ pool, scryptCost: TEST_COST, keyFile });
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
