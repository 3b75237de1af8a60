// The message relay on Redis and on PostgreSQL: what one process publishes, every subscriber
// receives; noise on the channel is ignored; oversized messages are refused; and a subscriber
// whose connection the server ends listens again on a new one. Needs the servers; without them
// the suites are skipped with the reason printed, except in CI.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { openPostgresRelay } from '../src/postgres/relay.js';
import { openRedisRelay } from '../src/redis/relay.js';
import type { MessageRelay } from '../src/ports.js';
import { POSTGRES_URL, REDIS_URL, postgres, redis } from './support/services.js';

const pgService = await postgres('message relay');
const redisService = await redis('message relay');

/** Resolves with what `relay` receives until `count` messages arrived (or rejects after 5 s). */
function receive(relay: MessageRelay, count: number): Promise<Array<[string, unknown]>> {
  const got: Array<[string, unknown]> = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`received ${JSON.stringify(got)} only`)), 5000);
    void relay.subscribe((session, message) => {
      got.push([session, message]);
      if (got.length === count) {
        clearTimeout(timer);
        resolve(got);
      }
    });
  });
}

const until = async (check: () => Promise<boolean>) => {
  for (let i = 0; i < 100 && !(await check()); i++) await new Promise((r) => setTimeout(r, 100));
};

describe.skipIf(redisService.skip)('redis message relay', () => {
  const prefix = `posture-test-relay-${randomBytes(4).toString('hex')}:`;
  const relays: MessageRelay[] = [];
  afterAll(async () => {
    for (const relay of relays) await relay.close();
  });

  it('delivers to every subscriber, ignores noise, refuses oversized messages, and resubscribes', async () => {
    // Named, so that only these connections are dropped below (other suites share the server).
    const connectionName = `posture-relay-test-${randomBytes(4).toString('hex')}`;
    const open = () => openRedisRelay({ url: REDIS_URL, prefix, redis: { connectionName } });
    const [a, b] = [await open(), await open()];
    relays.push(a, b);
    const atA = receive(a, 2);
    const atB = receive(b, 2);
    await new Promise((r) => setTimeout(r, 100)); // subscriptions in place
    const admin = new Redis(REDIS_URL);
    await admin.publish(`${prefix}relay`, 'not json');
    await admin.publish(`${prefix}relay`, JSON.stringify({ session: 7, message: {} }));
    await a.publish('s1', { jsonrpc: '2.0', id: 'x', result: {} });
    await b.publish('s2', { jsonrpc: '2.0', id: 'y', result: {} });
    for (const got of [await atA, await atB]) {
      expect(got.map(([session]) => session).sort()).toEqual(['s1', 's2']);
    }
    await expect(a.publish('s', { blob: 'x'.repeat(70_000) })).rejects.toThrow('larger than 64 KiB');

    // The server drops the relays' connections: ioredis connects and subscribes again on its own.
    const clients = (await admin.client('LIST')) as string;
    let killed = 0;
    for (const match of clients.matchAll(/id=(\d+) [^\n]*name=(\S+)/g)) {
      if (match[2] === connectionName) killed += Number(await admin.client('KILL', 'ID', match[1]!));
    }
    expect(killed).toBe(4); // two relays, each a publisher and a subscriber
    const again: string[] = [];
    await b.subscribe((session) => again.push(session));
    await until(async () => {
      await a.publish('s3', {}).catch(() => {});
      return again.includes('s3');
    });
    expect(again).toContain('s3');
    admin.disconnect();
  });
});

describe.skipIf(pgService.skip)('postgres message relay', () => {
  const relays: MessageRelay[] = [];
  afterAll(async () => {
    for (const relay of relays) await relay.close();
  });

  it('delivers to every subscriber, refuses what NOTIFY cannot carry, and listens again', async () => {
    const application = `posture-relay-${randomBytes(4).toString('hex')}`;
    const config = { connectionString: POSTGRES_URL, application_name: application };
    const [a, b] = [await openPostgresRelay({ config }), await openPostgresRelay({ config })];
    relays.push(a, b);
    const atA = receive(a, 2);
    const atB = receive(b, 2);
    await new Promise((r) => setTimeout(r, 200));
    const admin = new pg.Client({ connectionString: POSTGRES_URL });
    await admin.connect();
    await admin.query(`SELECT pg_notify('posture_relay', 'not json')`);
    await a.publish('s1', { jsonrpc: '2.0', id: 'x', result: {} });
    await b.publish('s2', { jsonrpc: '2.0', id: 'y', result: {} });
    for (const got of [await atA, await atB]) {
      expect(got.map(([session]) => session).sort()).toEqual(['s1', 's2']);
    }
    await expect(a.publish('s', { blob: 'x'.repeat(9000) })).rejects.toThrow('notifications allow');

    // The server ends the listening connections: each relay listens again on a new one.
    await admin.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND query LIKE 'LISTEN%'`,
      [application],
    );
    const again: string[] = [];
    await b.subscribe((session) => again.push(session));
    await until(async () => {
      await a.publish('s3', {}).catch(() => {});
      return again.includes('s3');
    });
    expect(again).toContain('s3');
    await admin.end();
  });
});
