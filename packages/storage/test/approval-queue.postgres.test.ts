// The approvals contract on PostgreSQL, in a schema of its own made for this run and dropped after.
// Needs a server (POSTGRES_URL, default the local one); without one the suite is skipped with the
// reason printed, except in CI, where it fails.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPostgresApprovalQueue, openPostgresExceptionStore } from '../src/postgres/approval-queue.js';
import { defineApprovalQueueContract } from './conformance/approval-queue.js';
import { POSTGRES_URL, postgres } from './support/services.js';

const { problem, skip } = await postgres('approvals');

describe.skipIf(skip)('postgres approvals', () => {
  const schema = `posture_approvals_test_${randomBytes(6).toString('hex')}`;
  // Every connection, the children's included, works in this run's schema only.
  const config: pg.PoolConfig = { connectionString: POSTGRES_URL, options: `-c search_path=${schema}` };
  const admin = new pg.Pool({ connectionString: POSTGRES_URL, max: 1 });

  beforeAll(async () => {
    if (problem !== undefined) throw new Error(`cannot reach PostgreSQL at ${POSTGRES_URL}: ${problem}`);
    await admin.query(`CREATE SCHEMA ${schema}`);
    // Migrate once, so that each test can start from emptied tables.
    await (await openPostgresApprovalQueue({ config })).close();
  });

  afterAll(async () => {
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
    await admin.end();
  });

  defineApprovalQueueContract({
    persistent: true,
    fresh: async () => {
      await admin.query(`TRUNCATE ${schema}.posture_approvals, ${schema}.posture_exceptions`);
      return {
        open: async (options) => ({
          queue: await openPostgresApprovalQueue({ config }),
          exceptions: await openPostgresExceptionStore({ config, maxDurationMs: options?.maxExceptionMs }),
        }),
        child: {
          module: new URL('../src/postgres/approval-queue.ts', import.meta.url).href,
          opener: 'openPostgresApprovalQueue',
          args: [{ config: { ...config, max: 2 } }],
        },
      };
    },
  });

  it('keeps its schema version in a table of its own', async () => {
    const { rows } = await admin.query(`SELECT version FROM ${schema}.posture_approvals_schema`);
    expect(rows).toEqual([{ version: 1 }]);
  });

  it('uses a pool it is given without ending it', async () => {
    const pool = new pg.Pool(config);
    const queue = await openPostgresApprovalQueue({ pool });
    await queue.close();
    expect((await pool.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    await pool.end();
  });

  it('says what failed when the server cannot be reached', async () => {
    await expect(
      openPostgresApprovalQueue({ config: { connectionString: 'postgres://postgres@127.0.0.1:1/none' } }),
    ).rejects.toThrow(/^cannot open approvals store on postgresql: /);
  });
});
