// Counters in Redis (ioredis), shared by every gateway replica. A record is one string key,
// `<prefix><id>` = `<version> <expires at> <json>`. The expiry in the value is by the enforcer's
// clock and decides whether the record is live, as in every backend; the key's PX expiry (a
// minute later) only collects it, so clock skew between Redis and the gateways up to that minute
// cannot forget a rate log early. Loading is one MGET (atomic); committing
// is one Lua script that checks every record still has the version it was loaded with, then
// writes them all under a new version from one INCR counter — so versions never repeat, even
// after a key expires and is created again (no ABA), and the check and the writes are atomic.
// A transaction that keeps losing takes the store's turn: a `<prefix>turn` key with its token,
// set NX with a lease; while it exists, only its holder's commits succeed.
import { randomUUID } from 'node:crypto';
import type { DecisionState, StateKeys } from '@posture/core';
// Types only: the driver is loaded when a Redis store is opened, so a gateway that uses none does
// not carry it.
import type { Redis, RedisOptions } from 'ioredis';
import type { Counters } from '../ports.js';
import { connectRedis } from './connect.js';
import {
  TransactionQueue,
  checkOptions,
  type CounterDriver,
  type CountersOptions,
} from '../counter-records.js';

export const DEFAULT_REDIS_PREFIX = 'posture:';

/** Kept after a record's own expiry before Redis deletes its key. */
const COLLECT_AFTER_MS = 60_000;

/** How long a turn lasts at most, should its holder die holding it. */
const TURN_LEASE_MS = 2000;

/**
 * KEYS[1] is the version counter, KEYS[2] the turn, KEYS[3..] the records; ARGV[1] is the
 * caller's turn token (or empty), then version, value and ttl per record.
 */
const COMMIT = `
local holder = redis.call('GET', KEYS[2])
if holder and holder ~= ARGV[1] then return 0 end
local n = #KEYS - 2
for i = 1, n do
  local current = redis.call('GET', KEYS[i + 2])
  local version = '0'
  if current then version = string.match(current, '^(%d+) ') or '' end
  if version ~= ARGV[3 * i - 1] then return 0 end
end
local version = redis.call('INCR', KEYS[1])
for i = 1, n do
  redis.call('SET', KEYS[i + 2], version .. ' ' .. ARGV[3 * i], 'PX', ARGV[3 * i + 1])
end
return version
`;

/** Ends a turn, if it is still the caller's. */
const END_TURN = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

export type RedisCountersOptions = CountersOptions & {
  /**
   * Prepended to every key; `posture:` unless set. On Redis Cluster, put a hash tag in it
   * (`{posture}:`) so that all of one store's keys share a slot, as the commit script needs.
   */
  prefix?: string;
} & (
    | { /** A client the caller owns; close() leaves it open. */ client: Redis }
    | {
        /** `redis://host:port/db`; the store opens and closes its own client. */ url: string;
        redis?: RedisOptions;
      }
  );

type CommitCommand = (numKeys: number, ...args: Array<string | number>) => Promise<number>;

export async function openRedisCounters(options: RedisCountersOptions): Promise<Counters> {
  const settings = checkOptions(options);
  const prefix = options.prefix ?? DEFAULT_REDIS_PREFIX;
  const owned = !('client' in options);
  const client =
    'client' in options ? options.client : await connectRedis(options.url, 'counters store', options.redis);
  if (!('postureCountersCommit' in client)) {
    client.defineCommand('postureCountersCommit', { lua: COMMIT });
    client.defineCommand('postureCountersEndTurn', { lua: END_TURN, numberOfKeys: 1 });
  }
  const scripts = client as unknown as {
    postureCountersCommit: CommitCommand;
    postureCountersEndTurn: (key: string, token: string) => Promise<number>;
  };
  const versionKey = `${prefix}version`;
  const turnKey = `${prefix}turn`;

  const load: CounterDriver<string>['load'] = async (specs, now) => {
    const values = await client.mget(specs.map((spec) => prefix + spec.id));
    return values.map((value) => {
      if (value === null) return { json: undefined, version: '0' };
      const first = value.indexOf(' ');
      const second = value.indexOf(' ', first + 1);
      const live = Number(value.slice(first + 1, second)) > now;
      // An expired record reads as empty but keeps its version, so the commit replaces it.
      return { json: live ? value.slice(second + 1) : undefined, version: value.slice(0, first) };
    });
  };
  const commitAs =
    (token: string): CounterDriver<string>['commit'] =>
    async (writes) => {
      const args: Array<string | number> = [versionKey, turnKey];
      for (const write of writes) args.push(prefix + write.spec.id);
      args.push(token);
      for (const write of writes) {
        args.push(write.version, `${write.expiresAt} ${write.json}`, write.spec.ttlMs + COLLECT_AFTER_MS);
      }
      return (await scripts.postureCountersCommit(writes.length + 2, ...args)) !== 0;
    };

  const driver: CounterDriver<string> = {
    load,
    commit: commitAs(''),
    async exclusive(body) {
      const token = randomUUID();
      // A few seconds of waiting (about 3 ms a try) outlasts any holder's lease.
      for (let tries = 0; (await client.set(turnKey, token, 'PX', TURN_LEASE_MS, 'NX')) === null; tries++) {
        if (tries >= 2000) throw new Error("counters: the store's turn stayed taken by other processes");
        await new Promise((resolve) => setTimeout(resolve, 1 + Math.random() * 4));
      }
      try {
        return await body({ load, commit: commitAs(token) });
      } finally {
        await scripts.postureCountersEndTurn(turnKey, token).catch(() => {});
      }
    },
  };
  const transactions = new TransactionQueue(driver, settings);
  let closed = false;

  return {
    async transact<T>(keys: StateKeys, now: number, fn: (state: DecisionState) => T): Promise<T> {
      if (closed) throw new Error('the counters store is closed');
      return transactions.transact(keys, now, fn);
    },
    async close() {
      if (closed) return;
      closed = true;
      await transactions.idle();
      if (owned) await client.quit().catch(() => client.disconnect());
    },
  };
}
