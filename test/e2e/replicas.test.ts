// Two `posture gateway` processes sharing PostgreSQL (evidence, approvals, inventory) and Redis
// (limits, sessions), as replicas behind one address: a rate limit holds across both, an approval
// decided on the shared queue releases a call waiting on either, a session opened on one is served
// by the other with its loop detection and plan intact, a token opens one session across both,
// and the evidence stays one log that verifies. Needs the local PostgreSQL and Redis; without them it is skipped with the reason
// printed, except in CI, where it fails.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import pg from 'pg';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokenAuthority, loadOrCreateSigningKey } from '@posture/gateway';
import {
  openPostgresApprovalQueue,
  openPostgresAuditLog,
  verifyLog,
  type ApprovalQueue,
} from '@posture/storage';
import { POSTGRES_URL, REDIS_URL, postgres, redis } from '../../packages/storage/test/support/services.js';

const require = createRequire(import.meta.url);
const EVERYTHING = require.resolve('@modelcontextprotocol/server-everything/dist/index.js');
const BIN = resolve('packages/cli/dist/bin.js');
const AUDIENCE = 'urn:posture:replicas';

const pgService = await postgres('replicas');
const redisService = await redis('replicas');
const skip = pgService.skip || redisService.skip;

const POLICY = `
version: 1
users:
  alice: { groups: [staff] }
  bob: { groups: [approvers] }
agents:
  helper:
    owner: alice
    run_by: [group:staff]
    grants:
      - tools: [everything/echo]
        rate: 4/m                  # per agent and tool, counted in Redis by both replicas
      - tools: [everything/toggle-simulated-logging]
        access: write
      - tools: [everything/get-sum]
      - tools: [everything/get-tiny-image]
    limits:
      loop: { repeats: 3, within: 1m }   # per session, kept in Redis: whichever replica serves it
servers:
  everything:
    command: [node, ${JSON.stringify(EVERYTHING)}, stdio]
    tools:
      echo: { tier: 1, access: read }
      get-sum: { tier: 1, access: read }
      get-tiny-image: { tier: 1, access: read, irreversible: true }   # the user confirms each call
      toggle-simulated-logging: { tier: 3, access: write }
tiers:
  3: { approval: { approvers: [group:approvers], expires: 10m } }
`;

// With Redis for limits and sessions, as deployed at scale, and on PostgreSQL alone.
describe.skipIf(skip).each([
  { shared: 'PostgreSQL and Redis', redis: true },
  { shared: 'PostgreSQL alone', redis: false },
])('two gateways, one state: $shared', ({ redis: withRedis }) => {
  const run = randomBytes(5).toString('hex');
  const schema = `posture_replicas_${run}`;
  const url = new URL(POSTGRES_URL);
  url.searchParams.set('options', `-c search_path=${schema}`);
  const dir = mkdtempSync(join(tmpdir(), 'posture-replicas-'));
  const gateways: ChildProcess[] = [];
  const urls: string[] = [];
  const clients: Client[] = [];
  let admin: pg.Client;
  let authority: TokenAuthority;
  let approvals: ApprovalQueue;

  beforeAll(async () => {
    for (const service of [pgService, redisService]) {
      if (service.problem) throw new Error(`cannot reach ${service.url}: ${service.problem}`);
    }
    admin = new pg.Client({ connectionString: POSTGRES_URL });
    await admin.connect();
    await admin.query(`CREATE SCHEMA ${schema}`);
    writeFileSync(join(dir, 'posture.yaml'), POLICY);
    // Both start in the same folder: they share the token key and the audit signer key.
    for (let i = 0; i < 2; i++) {
      const args = [BIN, 'gateway', '--port', '0', '--audience', AUDIENCE, '--postgres', url.href];
      if (withRedis) args.push('--redis', REDIS_URL, '--redis-prefix', `posture-replicas-${run}:`);
      args.push('--approval-wait', '20s');
      const child = spawn('node', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
      gateways.push(child);
      let stderr = '';
      urls.push(
        await new Promise<string>((resolveUrl, reject) => {
          const timer = setTimeout(() => reject(new Error(`gateway ${i} did not start: ${stderr}`)), 30_000);
          child.stderr!.on('data', (chunk: Buffer) => {
            stderr += chunk.toString();
            const match = /posture gateway: (http:\/\/\S+\/mcp)/.exec(stderr);
            if (match) {
              clearTimeout(timer);
              resolveUrl(match[1]!);
            }
          });
          child.once('exit', (code) => reject(new Error(`gateway ${i} exited ${code}: ${stderr}`)));
        }),
      );
    }
    authority = new TokenAuthority({
      key: await loadOrCreateSigningKey(join(dir, '.posture', 'token-key.json')),
      audience: AUDIENCE,
    });
    approvals = await openPostgresApprovalQueue({ config: { connectionString: url.href } });
  }, 60_000);

  afterAll(async () => {
    for (const client of clients) await client.close().catch(() => {});
    for (const child of gateways) {
      if (child.exitCode !== null) continue;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    await approvals?.close();
    if (admin) {
      await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await admin.end();
    }
    const keys = new Redis(REDIS_URL);
    const stale = await keys.keys(`posture-replicas-${run}:*`);
    if (stale.length > 0) await keys.del(...stale);
    keys.disconnect();
    rmSync(dir, { recursive: true, force: true });
  });

  async function connect(replica: number, token?: string): Promise<Client> {
    token ??= await authority.issue({ agent: 'helper', user: 'alice', ttlMs: 600_000 });
    const client = new Client({ name: `replica-${replica}`, version: '1' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(urls[replica]!), {
        requestInit: { headers: { authorization: `Bearer ${token}` } },
      }),
    );
    clients.push(client);
    return client;
  }

  /** A client of `replica` on a session opened elsewhere: as a load balancer without affinity would route it. */
  async function rejoin(replica: number, token: string, sessionId: string): Promise<Client> {
    const client = new Client({ name: `rejoined-${replica}`, version: '1' });
    // With a session id the SDK's client skips initialize: the gateway must know the session.
    await client.connect(
      new StreamableHTTPClientTransport(new URL(urls[replica]!), {
        sessionId,
        requestInit: { headers: { authorization: `Bearer ${token}` } },
      }),
    );
    clients.push(client);
    return client;
  }

  const sessionOf = (client: Client) => (client.transport as StreamableHTTPClientTransport).sessionId!;
  const text = (result: Awaited<ReturnType<Client['callTool']>>) => JSON.stringify(result.content);

  it('serves a session opened on one replica from the other, its loop detection and plan intact', async () => {
    const token = await authority.issue({ agent: 'helper', user: 'alice', ttlMs: 600_000 });
    const first = await connect(0, token);
    const second = await rejoin(1, token, sessionOf(first));
    const sum = { name: 'everything__get-sum', arguments: { a: 1, b: 2 } };
    // The same call, alternating replicas: once it ran three times, the next is a loop, wherever
    // it lands (each replica alone has seen it at most twice).
    const results = [];
    for (const client of [first, second, first, second]) results.push(await client.callTool(sum));
    expect(results.map((r) => Boolean(r.isError))).toEqual([false, false, false, true]);
    expect(text(results[3]!)).toContain('loop.repeat');

    // A plan declared through one replica binds the session on the other.
    const declared = await first.callTool({
      name: 'posture__plan',
      arguments: { goal: 'add', steps: [{ tool: 'everything__get-sum', args: { a: 5, b: 5 } }] },
    });
    expect(declared.isError).toBeFalsy();
    const outside = await second.callTool({ name: 'everything__get-sum', arguments: { a: 6, b: 6 } });
    expect(outside.isError).toBe(true);
    expect(text(outside)).toContain('plan.outside');
    const step = await second.callTool({ name: 'everything__get-sum', arguments: { a: 5, b: 5 } });
    expect(step.isError).toBeFalsy();
    // Its only step done on the second replica, the plan is over on the first too.
    expect(text(await first.callTool({ name: 'posture__end_plan', arguments: {} }))).toContain(
      'no plan was active',
    );
  });

  it('relays the answer to a confirmation from the replica it reached to the one that asked', async () => {
    // One address for both, as a load balancer without affinity could route it: tools/call to
    // the second replica, everything else (the answer to its elicitation included) to the first.
    const balancer = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        const target = new URL(urls[body.includes('"tools/call"') ? 1 : 0]!);
        const forwarded = httpRequest(
          {
            host: target.hostname,
            port: target.port,
            path: target.pathname,
            method: req.method,
            headers: { ...req.headers, host: target.host },
          },
          (answer) => {
            res.writeHead(answer.statusCode!, answer.headers);
            answer.pipe(res);
          },
        );
        forwarded.on('error', () => res.destroy());
        forwarded.end(body);
      });
    });
    await new Promise<void>((r) => balancer.listen(0, '127.0.0.1', r));
    try {
      const token = await authority.issue({ agent: 'helper', user: 'alice', ttlMs: 600_000 });
      const client = new Client({ name: 'confirming', version: '1' }, { capabilities: { elicitation: {} } });
      const asked: string[] = [];
      client.setRequestHandler(ElicitRequestSchema, (request) => {
        asked.push(request.params.message);
        return { action: 'accept', content: { confirm: true } };
      });
      const address = balancer.address() as AddressInfo;
      await client.connect(
        new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${address.port}/mcp`), {
          requestInit: { headers: { authorization: `Bearer ${token}` } },
        }),
      );
      clients.push(client);
      const result = await client.callTool({ name: 'everything__get-tiny-image', arguments: {} }, undefined, {
        timeout: 20_000,
      });
      expect(asked).toHaveLength(1);
      expect(asked[0]).toContain('everything/get-tiny-image');
      expect(result.isError).toBeFalsy();
      expect(JSON.stringify(result.content)).toContain('image');
    } finally {
      balancer.closeAllConnections();
      await new Promise((r) => balancer.close(r));
    }
  });

  it('lets a token open one session across both replicas', async () => {
    const token = await authority.issue({ agent: 'helper', user: 'alice', ttlMs: 600_000 });
    await connect(0, token);
    const replay = await fetch(urls[1]!, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
      },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: {
          protocolVersion: '2025-06-18',
          capabilities: {},
          clientInfo: { name: 'thief', version: '1' },
        },
      }),
    });
    expect(replay.status).toBe(401);
    expect(replay.headers.get('www-authenticate')).toMatch(/already been used/);
    // Nor may another token ride the session's id on the other replica.
    const other = await connect(1);
    const hijack = await fetch(urls[1]!, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${await authority.issue({ agent: 'helper', user: 'alice', ttlMs: 600_000 })}`,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-session-id': sessionOf(clients.at(-2)!),
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' }),
    });
    expect(hijack.status).toBe(401);
    expect(await hijack.text()).toContain('did not open this session');
    expect((await other.listTools()).tools.length).toBeGreaterThan(0);
  });

  it('ends a session on both replicas when its client ends it on one', async () => {
    const token = await authority.issue({ agent: 'helper', user: 'alice', ttlMs: 600_000 });
    const first = await connect(0, token);
    const id = sessionOf(first);
    const second = await rejoin(1, token, id);
    expect(
      (await second.callTool({ name: 'everything__get-sum', arguments: { a: 7, b: 1 } })).isError,
    ).toBeFalsy();
    expect((await second.listTools()).tools.length).toBeGreaterThan(0);
    await (first.transport as StreamableHTTPClientTransport).terminateSession();
    const after = await second.callTool({ name: 'everything__get-sum', arguments: { a: 7, b: 2 } });
    expect(after.isError).toBe(true);
    expect(text(after)).toContain('session.ended');
    // Nor does the other replica go on listing tools or reading resources for it.
    await expect(second.listTools()).rejects.toThrow(/unknown or expired session/);
    await expect(second.listResources()).rejects.toThrow(/unknown or expired session/);
  });

  it('holds one rate limit across both replicas', async () => {
    const [a, b] = [await connect(0), await connect(1)];
    const results = [];
    for (let i = 0; i < 8; i++) {
      const client = i % 2 === 0 ? a : b;
      results.push(await client.callTool({ name: 'everything__echo', arguments: { message: `call ${i}` } }));
    }
    expect(results.filter((r) => !r.isError)).toHaveLength(4);
    expect(results.filter((r) => JSON.stringify(r.content).includes('limit.rate'))).toHaveLength(4);
  });

  it('releases a call waiting on one replica when its approval is decided on the shared queue', async () => {
    const waiting = await connect(1);
    let decided = false;
    const result = await waiting.callTool(
      { name: 'everything__toggle-simulated-logging', arguments: {} },
      undefined,
      {
        timeout: 30_000,
        onprogress: () => {
          if (decided) return;
          decided = true;
          void (async () => {
            const [request] = await approvals.list({ status: 'pending' }, new Date());
            await approvals.decide(
              request!.id,
              { approve: true, by: 'bob', byGroups: ['approvers'] },
              new Date(),
            );
          })();
        },
      },
    );
    expect(decided).toBe(true);
    expect(result.isError).toBeFalsy();
  });

  /** `posture token revoke` against the store the replicas share, as an operator runs it. */
  function revoke(args: string[]): string {
    // With the evidence, in PostgreSQL, whether or not the replicas keep sessions in Redis.
    return execFileSync('node', [BIN, 'token', 'revoke', ...args, '--as', 'bob', '--postgres', url.href], {
      cwd: dir,
      encoding: 'utf8',
    });
  }

  /** Polls until `call` is refused (the client throws a 401), for at most `ms`. */
  async function refusedWithin(call: () => Promise<unknown>, ms: number): Promise<string> {
    const deadline = Date.now() + ms;
    for (;;) {
      const error = await call().then(
        () => undefined,
        (e: unknown) => String(e),
      );
      if (error !== undefined) return error;
      if (Date.now() > deadline) throw new Error(`still served after ${ms} ms`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  it('refuses a revoked token on both replicas within seconds, then every token of a revoked agent', async () => {
    const token = await authority.issue({ agent: 'helper', user: 'alice', ttlMs: 600_000 });
    const first = await connect(0, token);
    const second = await rejoin(1, token, sessionOf(first));
    const bystander = await connect(1);
    const sum = (client: Client) =>
      client.callTool({ name: 'everything__get-sum', arguments: { a: 2, b: 2 } });
    expect((await sum(second)).isError).toBeFalsy();

    expect(revoke(['--token', token, '--reason', 'leaked in a log'])).toMatch(/^revoked token `/);
    for (const client of [first, second]) {
      expect(await refusedWithin(() => sum(client), 8000)).toMatch(/401|revoked/);
    }
    expect((await sum(bystander)).isError).toBeFalsy();

    expect(revoke(['--agent', 'helper'])).toMatch(/^revoked every token of agent `helper`/);
    expect(await refusedWithin(() => sum(bystander), 8000)).toMatch(/401|revoked/);
    // A token issued after the revocation (the next second) is served.
    await new Promise((r) => setTimeout(r, 1100));
    const fresh = await connect(0);
    expect((await sum(fresh)).isError).toBeFalsy();
  });

  it('keeps one verifiable log with both replicas’ events', async () => {
    const log = await openPostgresAuditLog({
      config: { connectionString: url.href },
      keyFile: join(dir, '.posture', 'audit.key'),
    });
    try {
      const events = await log.read(0, await log.size());
      const calls = events.filter((e) => e.kind === 'call');
      expect(calls.length).toBeGreaterThanOrEqual(10);
      expect(events.filter((e) => e.kind === 'policy_change')).toHaveLength(2); // one per replica start
      expect(
        events.filter((e) => e.kind === 'revocation').map((e) => [e.actor.user, e.detail?.subject]),
      ).toEqual([
        ['bob', 'jti'],
        ['bob', 'agent'],
      ]);
      const checkpoint = await log.checkpoint();
      const verified = await verifyLog(log.entries(), [checkpoint.note], [log.verifierKey]);
      expect(verified).toMatchObject({ ok: true, checked: events.length });
    } finally {
      await log.close();
    }
  });
});
