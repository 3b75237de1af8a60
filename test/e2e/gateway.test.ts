// The gateway end to end: the MCP SDK's Client over Streamable HTTP → Posture → the npm registry's
// server-everything over stdio, with a real SQLite audit log and approvals queue.
import { join } from 'node:path';
import { createRequire } from 'node:module';
import type { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokenAuthority, loadOrCreateSigningKey, type Gateway } from '@posture/gateway';
import { verifyLog, type ApprovalQueue, type SqliteAuditLog } from '@posture/storage';
import { AUDIENCE, INITIALIZE, startGateway, type TestGateway } from './support/gateway.js';

const require = createRequire(import.meta.url);
const EVERYTHING = require.resolve('@modelcontextprotocol/server-everything/dist/index.js');
const FAKE_KEY = 'AKIAZ7Q3MEXR4NXW2BTA';

const POLICY = `
version: 1
users:
  alice: { groups: [staff] }
  bob: { groups: [approvers] }
  mallory: {}
agents:
  helper:
    owner: alice
    run_by: [group:staff]
    grants:
      - tools: [everything/echo, everything/get-sum, everything/trigger-long-running-operation, everything/get-env]
      - tools: [everything/toggle-simulated-logging]
        access: write
servers:
  everything:
    command: [node, ${JSON.stringify(EVERYTHING)}, stdio]
    env: { DEMO_CREDENTIAL: ${FAKE_KEY} }
    tools:
      toggle-simulated-logging: { tier: 3, access: write }
      trigger-long-running-operation: { tier: 1, access: read }
      get-env: { tier: 1, access: read }
tiers:
  3: { approval: { approvers: [group:approvers], expires: 10m } }
limits:
  default: { timeout: 500ms }
data:
  redact: [secrets]
  rules:
    - tools: [everything/get-env]
      direction: out
      block: [secrets]
`;

let t: TestGateway;
let audit: SqliteAuditLog;
let approvals: ApprovalQueue;
let gateway: Gateway;
let dir: string;
const token = (...args: Parameters<TestGateway['token']>) => t.token(...args);
const connect = (bearer?: string) => t.connect(bearer);
const post = (body: unknown, headers: Record<string, string>) => t.post(body, headers);

beforeAll(async () => {
  t = await startGateway(POLICY);
  ({ audit, approvals, gateway, dir } = t);
}, 30_000);

afterAll(async () => {
  await t?.close();
});

describe('gateway over Streamable HTTP', () => {
  it('connects to the upstream and lists to an agent only the tools it may call', async () => {
    expect(gateway.upstreamStatus()).toEqual({ everything: 'up' });
    const client = await connect(await token());
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual([
      'everything__echo',
      'everything__get-env',
      'everything__get-sum',
      'everything__toggle-simulated-logging',
      'everything__trigger-long-running-operation',
      'posture__end_plan',
      'posture__plan',
    ]);
    expect(tools.find((t) => t.name === 'everything__echo')?.inputSchema.properties).toHaveProperty(
      'message',
    );
  });

  it('forwards an allowed call and records it in a log that verifies', async () => {
    const client = await connect(await token());
    const before = await audit.size();
    const result = await client.callTool({ name: 'everything__get-sum', arguments: { a: 2, b: 3 } });
    expect(result.isError).toBeFalsy();
    expect(JSON.stringify(result.content)).toContain('5');
    const events = await audit.read(before, await audit.size());
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      tool: 'everything/get-sum',
      actor: { agent: 'helper', user: 'alice' },
      decision: 'allow',
      outcome: 'allowed',
    });
    const checkpoint = await audit.checkpoint();
    const verified = await verifyLog(audit.entries(), [checkpoint.note], [audit.verifierKey]);
    expect(verified.ok).toBe(true);
  });

  it('answers a call of an ungranted tool with a tool error the model can read, on record', async () => {
    const client = await connect(await token());
    const before = await audit.size();
    const result = await client.callTool({ name: 'everything__get-tiny-image', arguments: {} });
    expect(result.isError).toBe(true);
    expect(JSON.stringify(result.content)).toContain('grant.missing');
    expect((await audit.read(before, await audit.size())).map((e) => e.outcome)).toEqual(['denied']);
  });

  it('answers an unknown tool with a protocol error (-32602)', async () => {
    const client = await connect(await token());
    await expect(client.callTool({ name: 'nowhere__nothing', arguments: {} })).rejects.toThrow(
      /-32602.*unknown tool/,
    );
  });

  it('withholds a result carrying a secret, and keeps the secret out of the log', async () => {
    const client = await connect(await token());
    const before = await audit.size();
    const result = await client.callTool({ name: 'everything__get-env', arguments: {} });
    expect(result.isError).toBe(true);
    expect(JSON.stringify(result)).not.toContain(FAKE_KEY);
    expect(JSON.stringify(result.content)).toContain('data.blocked_result');
    const events = await audit.read(before, await audit.size());
    expect(events.map((e) => [e.decision, e.outcome])).toEqual([['deny', 'denied']]);
    expect(JSON.stringify(events)).not.toContain(FAKE_KEY);
  });

  it('cancels a call that runs past its timeout', async () => {
    const client = await connect(await token());
    const result = await client.callTool({
      name: 'everything__trigger-long-running-operation',
      arguments: { duration: 5, steps: 5 },
    });
    expect(result.isError).toBe(true);
    expect(JSON.stringify(result.content)).toContain('did not answer within 500 ms');
  });

  it('queues an approval for a tier-3 call; the same call succeeds once approved', async () => {
    const client = await connect(await token());
    const first = await client.callTool({ name: 'everything__toggle-simulated-logging', arguments: {} });
    expect(first.isError).toBe(true);
    const id = (first._meta as { posture: { approval_id: string } }).posture.approval_id;
    expect(JSON.stringify(first.content)).toContain(`posture approvals approve ${id}`);
    const decided = await approvals.decide(
      id,
      { approve: true, by: 'bob', byGroups: ['approvers'] },
      new Date(),
    );
    expect(decided.ok).toBe(true);
    const second = await client.callTool({ name: 'everything__toggle-simulated-logging', arguments: {} });
    expect(second.isError).toBeFalsy();
    expect((await approvals.get(id, new Date()))?.status).toBe('consumed');
  });
});

describe('gateway authentication', () => {
  it('refuses a request without a token with 401 and a pointer to the resource metadata', async () => {
    const response = await post(INITIALIZE, {});
    expect(response.status).toBe(401);
    expect(response.auth).toMatch(
      /^Bearer resource_metadata="http:\/\/127\.0\.0\.1:\d+\/\.well-known\/oauth-protected-resource"/,
    );
    const metadata = await (
      await fetch(new URL('/.well-known/oauth-protected-resource', t.running.url))
    ).json();
    expect(metadata).toMatchObject({ resource: AUDIENCE, bearer_methods_supported: ['header'] });
  });

  it('refuses expired, not-yet-valid, wrong-audience and forged tokens', async () => {
    const now = Date.now();
    const expired = await token('helper', 'alice', 60_000, now - 3 * 60 * 60_000);
    const future = await token('helper', 'alice', 60_000, now + 60 * 60_000);
    // The same key, another audience: only the audience is wrong.
    const other = await new TokenAuthority({
      key: await loadOrCreateSigningKey(join(dir, 'token-key.json')),
      audience: 'urn:another-gateway',
    }).issue({ agent: 'helper', user: 'alice', ttlMs: 60_000 });
    const stranger = await new TokenAuthority({
      key: await loadOrCreateSigningKey(join(dir, 'stranger-key.json')),
      audience: AUDIENCE,
    }).issue({ agent: 'helper', user: 'alice', ttlMs: 60_000 });
    const valid = await token();
    const forged = `${valid.slice(0, valid.lastIndexOf('.'))}.${'A'.repeat(86)}`;
    const cases: Array<[string, RegExp]> = [
      [expired, /expired/],
      [future, /not valid yet/],
      [other, /another audience/],
      [forged, /signature/],
      [stranger, /signature/],
      ['not-a-token', /compact JWT/],
    ];
    for (const [bearer, reason] of cases) {
      const response = await post(INITIALIZE, { authorization: `Bearer ${bearer}` });
      expect(response.status).toBe(401);
      expect(response.auth).toMatch(reason);
    }
  });

  it('refuses unknown agents and users who may not run the agent', async () => {
    const unknown = await token('ghost', 'alice');
    const notAllowed = await token('helper', 'mallory');
    expect((await post(INITIALIZE, { authorization: `Bearer ${unknown}` })).auth).toMatch(/not declared/);
    expect((await post(INITIALIZE, { authorization: `Bearer ${notAllowed}` })).auth).toMatch(/may not run/);
  });

  it('lets a token open one session; replaying it elsewhere or riding another session fails', async () => {
    const bearer = await token();
    const first = await post(INITIALIZE, { authorization: `Bearer ${bearer}` });
    expect(first.status).toBe(200);
    const replay = await post(INITIALIZE, { authorization: `Bearer ${bearer}` });
    expect(replay.status).toBe(401);
    expect(replay.auth).toMatch(/already been used/);

    const client = await connect(await token());
    const sessionId = (client.transport as StreamableHTTPClientTransport).sessionId!;
    const intruder = await post(
      { jsonrpc: '2.0', id: 2, method: 'tools/list' },
      {
        authorization: `Bearer ${await token()}`,
        'mcp-session-id': sessionId,
        'mcp-protocol-version': '2025-06-18',
      },
    );
    expect(intruder.status).toBe(401);
    expect(intruder.auth).toMatch(/did not open this session/);
  });

  it('refuses a foreign Host (DNS rebinding) and accepts loopback names for itself', async () => {
    const { request } = await import('node:http');
    const status = (host: string) =>
      new Promise<number>((resolve, reject) => {
        const url = new URL(t.running.url);
        const req = request(
          {
            host: url.hostname,
            port: url.port,
            path: '/mcp',
            method: 'POST',
            headers: { host, 'content-type': 'application/json' },
          },
          (res) => {
            res.resume();
            resolve(res.statusCode!);
          },
        );
        req.on('error', reject);
        req.end(JSON.stringify(INITIALIZE));
      });
    expect(await status('evil.example:8700')).toBe(403);
    // Past the Host check, a loopback name gets as far as authentication.
    expect(await status(`localhost:${new URL(t.running.url).port}`)).toBe(401);
  });

  it('refuses a foreign Origin (DNS rebinding)', async () => {
    const response = await post(INITIALIZE, {
      authorization: `Bearer ${await token()}`,
      origin: 'http://evil.example',
    });
    expect(response.status).toBe(403);
  });

  it('caps token lifetimes at an hour', async () => {
    await expect(token('helper', 'alice', 2 * 60 * 60_000)).rejects.toThrow(/at most 60 minutes/);
  });
});

describe('a call that waits for its approval', () => {
  let waiting: TestGateway;

  beforeAll(async () => {
    waiting = await startGateway(POLICY, { approvalWaitMs: 10_000, approvalPollMs: 50 });
  }, 30_000);

  afterAll(async () => {
    await waiting?.close();
  });

  it('streams progress while it waits, and runs once approved', async () => {
    const client = await waiting.connect(await waiting.token());
    const progress: string[] = [];
    let decided = false;
    const result = await client.callTool(
      { name: 'everything__toggle-simulated-logging', arguments: {} },
      undefined,
      {
        onprogress: (notification) => {
          progress.push(notification.message ?? '');
          if (decided) return;
          decided = true;
          // The approver acts while the call is still open.
          void (async () => {
            const [request] = await waiting.approvals.list({ status: 'pending' }, new Date());
            await waiting.approvals.decide(
              request!.id,
              { approve: true, by: 'bob', byGroups: ['approvers'] },
              new Date(),
            );
          })();
        },
      },
    );
    expect(result.isError).toBeFalsy();
    expect(progress[0]).toMatch(/waiting for approval/);
    const events = await waiting.audit.read(0, await waiting.audit.size());
    expect(events.map((e) => e.outcome)).toEqual(['pending', 'allowed']);
  });
});

describe('a decorated enforcer', () => {
  let traced: TestGateway;
  const seen: string[] = [];

  beforeAll(async () => {
    traced = await startGateway(POLICY, {
      decorate: (enforcer) => ({
        get policy() {
          return enforcer.policy;
        },
        refuse: (...args) => enforcer.refuse(...args),
        note: (event) => enforcer.note(event),
        call: (call, execute, options) => {
          seen.push(call.tool);
          return enforcer.call(call, execute, options);
        },
      }),
    });
  }, 30_000);

  afterAll(async () => {
    await traced?.close();
  });

  it('runs every call the gateway makes (tracing hooks in here)', async () => {
    const client = await traced.connect(await traced.token());
    await client.callTool({ name: 'everything__echo', arguments: { message: 'traced' } });
    expect(seen).toEqual(['everything/echo']);
  });
});
