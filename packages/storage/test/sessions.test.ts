// The SessionStore contract on every backend: memory, SQLite files, PostgreSQL (a schema of this
// run's, dropped after) and Redis (a key prefix of this run's, deleted after). The last two need
// their servers; without them they are skipped with the reason printed, except in CI.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemorySessionStore } from '../src/memory/sessions.js';
import { openPostgresSessionStore } from '../src/postgres/sessions.js';
import { openRedisSessionStore } from '../src/redis/sessions.js';
import { openSqliteSessionStore } from '../src/sqlite/sessions.js';
import { defineSessionsContract } from './conformance/sessions.js';
import { POSTGRES_URL, REDIS_URL, postgres, redis } from './support/services.js';

const pgService = await postgres('session store');
const redisService = await redis('session store');
const run = randomBytes(6).toString('hex');

describe('memory session store', () => {
  // One store is one location: "another process" is the same object, as in one gateway.
  defineSessionsContract({
    fresh: async () => {
      const store = createMemorySessionStore();
      const shared = { ...store, close: async () => {} };
      return { open: async () => shared };
    },
  });

  it('forgets expired sessions past its bound, then the oldest', async () => {
    const store = createMemorySessionStore({ maxSessions: 2 });
    const open = (id: string, expires_at: number, now: number) =>
      store.open({ id, agent: 'a', user: 'u', jti: `j-${id}`, expires_at, init: {} }, now);
    await open('s1', 10, 0);
    await open('s2', 1000, 0);
    await open('s3', 1000, 20); // full: s1 has expired, and goes
    expect(await store.get('s2', 20)).toBeDefined();
    await open('s4', 1000, 20); // full, none expired: the oldest, s2, goes
    expect(await store.get('s2', 20)).toBeUndefined();
    expect(await store.get('s3', 20)).toBeDefined();
    expect(await store.get('s4', 20)).toBeDefined();
  });
});

describe('sqlite session store', () => {
  const folder = mkdtempSync(join(tmpdir(), 'posture-sessions-sqlite-'));
  let files = 0;
  afterAll(() => rmSync(folder, { recursive: true, force: true }));
  defineSessionsContract({
    fresh: async () => {
      const path = join(folder, `sessions-${files++}.db`);
      return { open: () => openSqliteSessionStore(path) };
    },
  });

  it('names the file when it cannot open it', async () => {
    await expect(openSqliteSessionStore(join(folder, 'missing.db'), { create: false })).rejects.toThrow(
      'no session store at',
    );
  });
});

describe.skipIf(pgService.skip)('postgres session store', () => {
  const admin = new pg.Pool({ connectionString: POSTGRES_URL, max: 1 });
  const schemas: string[] = [];
  beforeAll(() => {
    if (pgService.problem)
      throw new Error(`cannot reach PostgreSQL at ${POSTGRES_URL}: ${pgService.problem}`);
  });
  afterAll(async () => {
    for (const schema of schemas)
      await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
    await admin.end();
  });
  defineSessionsContract({
    fresh: async () => {
      const schema = `posture_sessions_test_${run}_${schemas.length}`;
      schemas.push(schema);
      await admin.query(`CREATE SCHEMA ${schema}`);
      const config = { connectionString: POSTGRES_URL, options: `-c search_path=${schema}` };
      return { open: () => openPostgresSessionStore({ config }) };
    },
  });

  it('says what failed when the server cannot be reached', async () => {
    await expect(
      openPostgresSessionStore({ config: { connectionString: 'postgres://postgres@127.0.0.1:1/none' } }),
    ).rejects.toThrow(/^cannot open session store on postgresql: /);
  });
});

describe.skipIf(redisService.skip)('redis session store', () => {
  const prefix = `posture-test-sessions-${run}:`;
  let locations = 0;
  let admin: Redis;
  beforeAll(() => {
    if (redisService.problem) throw new Error(`cannot reach Redis at ${REDIS_URL}: ${redisService.problem}`);
    admin = new Redis(REDIS_URL);
  });
  afterAll(async () => {
    const keys = await admin.keys(`${prefix}*`);
    if (keys.length > 0) await admin.del(...keys);
    await admin.quit();
  });
  defineSessionsContract({
    fresh: async () => {
      const location = `${prefix}${locations++}:`;
      return { open: () => openRedisSessionStore({ url: REDIS_URL, prefix: location }) };
    },
  });

  it('keeps a session and its token as keys that Redis collects a minute after expiry', async () => {
    const location = `${prefix}layout:`;
    const store = await openRedisSessionStore({ url: REDIS_URL, prefix: location });
    const now = Date.now();
    await store.open({ id: 's', agent: 'a', user: 'u', jti: 'j', expires_at: now + 60_000, init: {} }, now);
    await store.close();
    expect(await admin.get(`${location}token:j`)).toBe(`${now + 60_000} s`);
    expect(await admin.get(`${location}session:s`)).toMatch(/^1 \d+ \{"agent":"a"/);
    const ttl = await admin.pttl(`${location}session:s`);
    expect(ttl).toBeGreaterThan(115_000);
    expect(ttl).toBeLessThanOrEqual(120_000);
  });
});
