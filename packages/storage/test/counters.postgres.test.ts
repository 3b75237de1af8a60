// The Counters contract on PostgreSQL, in a schema of its own made for this run and dropped after.
// Needs a server (POSTGRES_URL, default the local one); without one the suite is skipped with the
// reason printed, except in CI, where it fails.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPostgresCounters } from '../src/postgres/counters.js';
import { defineCountersContract } from './conformance/counters.js';
import { POSTGRES_URL, postgres } from './support/services.js';

const { problem, skip } = await postgres('counters');

describe.skipIf(skip)('postgres counters', () => {
  const schema = `posture_counters_test_${randomBytes(6).toString('hex')}`;
  // Every connection, the children's included, works in this run's schema only.
  const config: pg.PoolConfig = { connectionString: POSTGRES_URL, options: `-c search_path=${schema}` };
  const admin = new pg.Pool({ connectionString: POSTGRES_URL, max: 1 });

  beforeAll(async () => {
    if (problem !== undefined) throw new Error(`cannot reach PostgreSQL at ${POSTGRES_URL}: ${problem}`);
    await admin.query(`CREATE SCHEMA ${schema}`);
    await (await openPostgresCounters({ config })).close();
  });

  afterAll(async () => {
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
    await admin.end();
  });

  defineCountersContract({
    shared: true,
    fresh: async () => {
      await admin.query(`TRUNCATE ${schema}.posture_counters`);
      return {
        open: (options) => openPostgresCounters({ config, ...options }),
        child: {
          module: new URL('../src/postgres/counters.ts', import.meta.url).href,
          opener: 'openPostgresCounters',
          // One optimistic attempt: the children take the store's turn often, and must still agree.
          args: [{ config: { ...config, max: 4 }, optimisticAttempts: 1 }],
        },
        interfere: (id, json) => {
          const sql = `INSERT INTO ${schema}.posture_counters (id, version, data, expires_at)
            VALUES ('${id.replaceAll("'", "''")}', nextval('${schema}.posture_counters_version'), '${json}', 4102444800000)
            ON CONFLICT (id) DO UPDATE SET version = excluded.version, data = excluded.data, expires_at = excluded.expires_at`;
          execFileSync('psql', [POSTGRES_URL, '-qc', sql], { stdio: 'ignore' });
        },
      };
    },
  });

  it('keeps its schema version in a table of its own', async () => {
    const { rows } = await admin.query(
      `SELECT version FROM ${schema}.posture_counters_schema ORDER BY version`,
    );
    expect(rows).toEqual([{ version: 1 }, { version: 2 }]);
  });

  it('deletes expired rows as it goes, and never a live one', async () => {
    await admin.query(`TRUNCATE ${schema}.posture_counters`);
    const counters = await openPostgresCounters({ config, sweepEvery: 5 });
    for (let i = 0; i < 4; i++) {
      await counters.transact(
        { session: undefined, rates: [{ key: `old-${i}`, windowMs: 1000 }] },
        1000,
        (state) => {
          state.rateLog(`old-${i}`).times.push(1000);
        },
      );
    }
    // The fifth commit, long after the first four expired, sweeps them.
    await counters.transact(
      { session: 'live', rates: [] },
      100_000,
      (state) => void state.session('live').calls++,
    );
    await counters.close();
    const { rows } = await admin.query(`SELECT id FROM ${schema}.posture_counters ORDER BY id`);
    expect(rows).toEqual([{ id: 's:"live"' }]);
  });

  it('denies, rather than trusts, a row that is not what it stored', async () => {
    await admin.query(
      `INSERT INTO ${schema}.posture_counters (id, version, data, expires_at) VALUES ('s:"bad"', 1, '{"calls":1}', 9e12)`,
    );
    const counters = await openPostgresCounters({ config });
    await expect(
      counters.transact({ session: 'bad', rates: [] }, 1000, (state) => state.session('bad')),
    ).rejects.toThrow('counters record `s:"bad"` is not a session record');
    await counters.close();
  });

  it('carries on, limits intact, after the server ends its connections', async () => {
    await admin.query(`TRUNCATE ${schema}.posture_counters`);
    const application = `posture-counters-${randomBytes(4).toString('hex')}`;
    const counters = await openPostgresCounters({ config: { ...config, application_name: application } });
    const keys = { session: undefined, rates: [{ key: 'bot', windowMs: 60_000 }] };
    const take = (now: number) =>
      counters.transact(keys, now, (state) => {
        const log = state.rateLog('bot');
        if (log.times.length >= 3) return false;
        log.times.push(now);
        log.next = log.times.length % 3;
        return true;
      });
    expect([await take(1000), await take(1001)]).toEqual([true, true]);
    const { rowCount } = await admin.query(
      'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1',
      [application],
    );
    expect(rowCount).toBeGreaterThan(0);
    // The next call may fail (the enforcer denies); then calls go through on a new connection,
    // and the limit counts exactly the calls that went through.
    const after: unknown[] = [];
    for (const now of [1002, 1003, 1004]) after.push(await take(now).catch(() => 'error'));
    expect(after.filter((outcome) => outcome === 'error').length).toBeLessThanOrEqual(1);
    expect(after.filter((outcome) => outcome === true)).toHaveLength(1);
    expect(after.at(-1)).toBe(false);
    await counters.close();
  });

  it('uses a pool it is given without ending it', async () => {
    const pool = new pg.Pool(config);
    const counters = await openPostgresCounters({ pool });
    await counters.close();
    expect((await pool.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    await pool.end();
  });

  it('says what failed when the server cannot be reached', async () => {
    await expect(
      openPostgresCounters({ config: { connectionString: 'postgres://postgres@127.0.0.1:1/none' } }),
    ).rejects.toThrow(/^cannot open counters store on postgresql: /);
  });
});
