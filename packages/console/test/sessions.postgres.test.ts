// The ConsoleSessions contract on PostgreSQL, in a schema of its own made for this run and dropped
// after. Needs a server (POSTGRES_URL); skipped with the reason printed outside CI when it is away.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { POSTGRES_URL, postgres } from '../../storage/test/support/services.js';
import { openPostgresConsoleSessions } from '../src/postgres/sessions.js';
import { dumpPostgres } from './dumps.js';
import { defineConsoleSessionsContract } from './sessions.conformance.js';

const { problem, skip } = await postgres('console sessions');

describe.skipIf(skip)('postgres console sessions', () => {
  const schema = `posture_console_sessions_test_${randomBytes(6).toString('hex')}`;
  const config: pg.PoolConfig = {
    connectionString: POSTGRES_URL,
    options: `-c search_path=${schema}`,
    max: 4,
  };
  const admin = new pg.Pool({ connectionString: POSTGRES_URL, max: 1 });

  beforeAll(async () => {
    if (problem !== undefined) throw new Error(`cannot reach PostgreSQL at ${POSTGRES_URL}: ${problem}`);
    await admin.query(`CREATE SCHEMA ${schema}`);
    await (await openPostgresConsoleSessions({ config })).close();
  });

  afterAll(async () => {
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
    await admin.end();
  });

  defineConsoleSessionsContract({
    shared: true,
    fresh: async () => {
      await admin.query(
        `TRUNCATE ${schema}.posture_console_sessions, ${schema}.posture_console_challenges, ${schema}.posture_console_login_failures`,
      );
      return { open: () => openPostgresConsoleSessions({ config }), dump: () => dumpPostgres(admin, schema) };
    },
  });

  it('says what failed when the server cannot be reached', async () => {
    await expect(
      openPostgresConsoleSessions({ config: { connectionString: 'postgres://postgres@127.0.0.1:1/none' } }),
    ).rejects.toThrow(/^cannot open the console sessions store on postgresql: /);
  });
});
