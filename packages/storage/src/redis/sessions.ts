// Sessions in Redis (ioredis), shared by every gateway replica, so any of them serves any session
// and a token opens one session across all of them. A session is `<prefix>session:<id>` =
// `<version> <expires at> <json>`; a token's binding is `<prefix>token:<jti>` =
// `<expires at> <session id>`. Opening is one Lua script (check the binding, write both), and a
// plan update another (check the version, write the record) — each atomic. As with the counters,
// liveness is decided by the gateway's clock in the value; the keys' PX expiry (a minute later)
// only collects them.
import type { Redis, RedisOptions } from 'ioredis';
import type { SessionOpenResult, SessionRecord, SessionStore, TokenRevocation } from '../ports.js';
import { checkRevocation, checkSessionJson, checkSessionRecord } from '../session-rules.js';
import { DEFAULT_REDIS_PREFIX } from './counters.js';
import { connectRedis } from './connect.js';

const COLLECT_AFTER_MS = 60_000;

/** KEYS: token, session. ARGV: now, expires at, session id, record JSON, PX. Returns '' or the bound session. */
const OPEN = `
local bound = redis.call('GET', KEYS[1])
if bound then
  local expires, session = string.match(bound, '^(%d+) (.*)$')
  if expires and tonumber(expires) > tonumber(ARGV[1]) then return session end
end
redis.call('SET', KEYS[1], ARGV[2] .. ' ' .. ARGV[3], 'PX', ARGV[5])
redis.call('SET', KEYS[2], '1 ' .. ARGV[2] .. ' ' .. ARGV[4], 'PX', ARGV[5])
return ''
`;

/**
 * KEYS: the revocations hash. ARGV: field, at, until, now. Keeps the later `at` and `until`, and
 * drops revocations that no longer matter.
 */
const REVOKE = `
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local ends = tonumber(string.match(all[i + 1], ' (%d+)$'))
  if ends and ends <= tonumber(ARGV[4]) then redis.call('HDEL', KEYS[1], all[i]) end
end
local at, ends = tonumber(ARGV[2]), tonumber(ARGV[3])
local before = redis.call('HGET', KEYS[1], ARGV[1])
if before then
  local a, u = string.match(before, '^(%d+) (%d+)$')
  if tonumber(a) > at then at = tonumber(a) end
  if tonumber(u) > ends then ends = tonumber(u) end
end
redis.call('HSET', KEYS[1], ARGV[1], string.format('%d %d', at, ends))
return 1
`;

/** KEYS: session. ARGV: expected version, now, record JSON. Returns the new version, or 0. */
const SET_PLAN = `
local current = redis.call('GET', KEYS[1])
if not current then return 0 end
local version, expires = string.match(current, '^(%d+) (%d+) ')
if version ~= ARGV[1] or tonumber(expires) <= tonumber(ARGV[2]) then return 0 end
local next = tonumber(version) + 1
redis.call('SET', KEYS[1], next .. ' ' .. expires .. ' ' .. ARGV[3], 'KEEPTTL')
return next
`;

export type RedisSessionStoreOptions = {
  /** Prepended to every key; `posture:` unless set (on Redis Cluster, with a hash tag). */
  prefix?: string;
} & (
  | { /** A client the caller owns; close() leaves it open. */ client: Redis }
  | { url: string; redis?: RedisOptions }
);

type Stored = Omit<SessionRecord, 'version' | 'id'>;

export async function openRedisSessionStore(options: RedisSessionStoreOptions): Promise<SessionStore> {
  const prefix = options.prefix ?? DEFAULT_REDIS_PREFIX;
  const owned = !('client' in options);
  const client =
    'client' in options ? options.client : await connectRedis(options.url, 'session store', options.redis);
  if (!('postureSessionOpen' in client)) {
    client.defineCommand('postureSessionOpen', { lua: OPEN, numberOfKeys: 2 });
    client.defineCommand('postureSessionSetPlan', { lua: SET_PLAN, numberOfKeys: 1 });
    client.defineCommand('postureTokenRevoke', { lua: REVOKE, numberOfKeys: 1 });
  }
  const scripts = client as unknown as {
    postureSessionOpen: (...args: Array<string | number>) => Promise<string>;
    postureSessionSetPlan: (...args: Array<string | number>) => Promise<number>;
    postureTokenRevoke: (...args: Array<string | number>) => Promise<number>;
  };
  const revocationsKey = `${prefix}revocations`;
  const sessionKey = (id: string) => `${prefix}session:${id}`;
  const tokenKey = (jti: string) => `${prefix}token:${jti}`;
  const encode = (record: Omit<SessionRecord, 'version'>): string => {
    const stored: Stored & { plan?: unknown } = {
      agent: record.agent,
      user: record.user,
      jti: record.jti,
      expires_at: record.expires_at,
      init: record.init ?? null,
      ...(record.plan !== undefined ? { plan: record.plan } : {}),
    };
    return JSON.stringify(stored);
  };
  let closed = false;
  const check = () => {
    if (closed) throw new Error('the session store is closed');
  };

  return {
    async open(input, now): Promise<SessionOpenResult> {
      check();
      checkSessionRecord(input, now);
      const bound = await scripts.postureSessionOpen(
        tokenKey(input.jti),
        sessionKey(input.id),
        now,
        input.expires_at,
        input.id,
        encode(input),
        input.expires_at - now + COLLECT_AFTER_MS,
      );
      if (bound !== '') return { ok: false, code: 'replay', session: bound };
      return { ok: true, session: { ...structuredClone(input), version: 1 } };
    },
    async get(id, now) {
      check();
      return decode(id, await client.get(sessionKey(id)), now);
    },
    async plan(id, now) {
      check();
      const record = decode(id, await client.get(sessionKey(id)), now);
      if (!record) return undefined;
      return record.plan === undefined
        ? { version: record.version }
        : { plan: record.plan, version: record.version };
    },
    async setPlan(id, plan, version, now) {
      check();
      if (plan !== undefined) checkSessionJson('plan', plan);
      const current = decode(id, await client.get(sessionKey(id)), now);
      if (!current || current.version !== version) return undefined;
      const next: SessionRecord = { ...current };
      if (plan === undefined) delete next.plan;
      else next.plan = plan;
      const written = await scripts.postureSessionSetPlan(sessionKey(id), version, now, encode(next));
      return written === 0 ? undefined : { ...next, version: written };
    },
    async end(id) {
      check();
      await client.del(sessionKey(id));
    },
    async revoke(revocation, now) {
      check();
      checkRevocation(revocation, now);
      const field = `${revocation.subject}:${revocation.id}`;
      await scripts.postureTokenRevoke(revocationsKey, field, revocation.at, revocation.until, now);
    },
    async revocations(now) {
      check();
      const all = await client.hgetall(revocationsKey);
      const revocations: TokenRevocation[] = [];
      for (const [field, value] of Object.entries(all)) {
        const [at, until] = value.split(' ').map(Number) as [number, number];
        if (!(until > now)) continue;
        const colon = field.indexOf(':');
        revocations.push({
          subject: field.slice(0, colon) as 'jti' | 'agent',
          id: field.slice(colon + 1),
          at,
          until,
        });
      }
      return revocations.sort((a, b) => (a.subject + a.id < b.subject + b.id ? -1 : 1));
    },
    async close() {
      if (closed) return;
      closed = true;
      if (owned) await client.quit().catch(() => client.disconnect());
    },
  };
}

function decode(id: string, value: string | null, now: number): SessionRecord | undefined {
  if (value === null) return undefined;
  const first = value.indexOf(' ');
  const second = value.indexOf(' ', first + 1);
  if (Number(value.slice(first + 1, second)) <= now) return undefined;
  const stored = JSON.parse(value.slice(second + 1)) as Stored & { plan?: unknown };
  return { id, ...stored, version: Number(value.slice(0, first)) };
}
