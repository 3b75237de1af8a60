// The Counters contract on Redis, under a key prefix of its own made for this run and deleted
// after. Needs a server (REDIS_URL, default the local one); without one the suite is skipped with
// the reason printed, except in CI, where it fails.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openRedisCounters } from '../src/redis/counters.js';
import { defineCountersContract } from './conformance/counters.js';
import { REDIS_URL, redis } from './support/services.js';

const { problem, skip } = await redis('counters');

describe.skipIf(skip)('redis counters', () => {
  const run = `posture-test-${randomBytes(6).toString('hex')}:`;
  let locations = 0;
  let interferences = 0;
  let admin: Redis;

  beforeAll(async () => {
    if (problem !== undefined) throw new Error(`cannot reach Redis at ${REDIS_URL}: ${problem}`);
    admin = new Redis(REDIS_URL);
  });

  afterAll(async () => {
    // Every key this run wrote, whatever the location, starts with the run's prefix.
    let cursor = '0';
    do {
      const [next, keys] = await admin.scan(cursor, 'MATCH', `${run}*`, 'COUNT', 1000);
      if (keys.length > 0) await admin.del(...keys);
      cursor = next;
    } while (cursor !== '0');
    await admin.quit();
  });

  defineCountersContract({
    shared: true,
    fresh: async () => {
      const prefix = `${run}${locations++}:`;
      return {
        open: (options) => openRedisCounters({ url: REDIS_URL, prefix, ...options }),
        child: {
          module: new URL('../src/redis/counters.ts', import.meta.url).href,
          opener: 'openRedisCounters',
          // One optimistic attempt: the children take the store's turn often, and must still agree.
          args: [{ url: REDIS_URL, prefix, optimisticAttempts: 1 }],
        },
        interfere: (id, json) => {
          // A version the store's own counter will not reach in a test, and a day of life.
          const value = `${1e12 + ++interferences} ${Date.UTC(2100, 0)} ${json}`;
          execFileSync('redis-cli', ['-u', REDIS_URL, 'SET', `${prefix}${id}`, value], { stdio: 'ignore' });
        },
      };
    },
  });

  it('stores each record as one key under the prefix, with the version and an expiry', async () => {
    const prefix = `${run}layout:`;
    const counters = await openRedisCounters({ url: REDIS_URL, prefix });
    await counters.transact({ session: 's', rates: [{ key: 'bot', windowMs: 60_000 }] }, 1000, (state) => {
      state.session('s').calls = 1;
      state.rateLog('bot').times.push(1000);
      state.rateLog('bot').next = 1;
    });
    await counters.close();
    expect(await admin.get(`${prefix}s:"s"`)).toBe(
      `1 ${1000 + 24 * 3600_000} {"calls":1,"labels":[],"history":[]}`,
    );
    expect(await admin.get(`${prefix}r:"bot"`)).toBe('1 61000 {"times":[1000],"next":1}');
    const ttl = await admin.pttl(`${prefix}r:"bot"`);
    // Collected a minute after the record's own expiry.
    expect(ttl).toBeGreaterThan(115_000);
    expect(ttl).toBeLessThanOrEqual(120_000);
    expect(await admin.pttl(`${prefix}s:"s"`)).toBeGreaterThan(23 * 3600_000);
  });

  it('denies, rather than trusts, a record that is not what it stored', async () => {
    const prefix = `${run}corrupt:`;
    await admin.set(`${prefix}s:"s"`, '7 9000000000000 {"calls":"many"}');
    const counters = await openRedisCounters({ url: REDIS_URL, prefix });
    await expect(
      counters.transact({ session: 's', rates: [] }, 1000, (state) => state.session('s')),
    ).rejects.toThrow('counters record `s:"s"` is not a session record');
    await counters.close();
  });

  it('carries on, limits intact, after the server drops its connection', async () => {
    const prefix = `${run}dropped:`;
    const connectionName = `posture-counters-${randomBytes(4).toString('hex')}`;
    const counters = await openRedisCounters({ url: REDIS_URL, prefix, redis: { connectionName } });
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
    const clients = (await admin.client('LIST')) as string;
    const id = /id=(\d+) [^\n]*name=(\S+)/g;
    for (const match of clients.matchAll(id)) {
      if (match[2] === connectionName) await admin.client('KILL', 'ID', match[1]!);
    }
    // The next call may fail (the enforcer denies); then calls go through on a new connection,
    // and the limit counts exactly the calls that went through.
    const after: unknown[] = [];
    for (const now of [1002, 1003, 1004]) after.push(await take(now).catch(() => 'error'));
    expect(after.filter((outcome) => outcome === 'error').length).toBeLessThanOrEqual(1);
    expect(after.filter((outcome) => outcome === true)).toHaveLength(1);
    expect(after.at(-1)).toBe(false);
    await counters.close();
  });

  it('uses a client it is given without closing it', async () => {
    const client = new Redis(REDIS_URL);
    const counters = await openRedisCounters({ client, prefix: `${run}given:` });
    await counters.close();
    expect(await client.ping()).toBe('PONG');
    await client.quit();
  });

  it('says what failed when the server cannot be reached, without the password', async () => {
    await expect(openRedisCounters({ url: 'redis://:hunter2@127.0.0.1:1' })).rejects.toThrow(
      /^cannot open counters store on redis at `redis:\/\/:\*\*\*@127\.0\.0\.1:1`: /,
    );
  });
});
