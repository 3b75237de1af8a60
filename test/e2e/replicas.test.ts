// Two `posture gateway` processes sharing PostgreSQL (evidence, approvals, inventory) and Redis
// (limits), as replicas behind one address: a rate limit holds across both, an approval decided
// on the shared queue releases a call waiting on either, and the evidence stays one log that
// verifies. Needs the local PostgreSQL and Redis; without them it is skipped with the reason
// printed, except in CI, where it fails.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
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
servers:
  everything:
    command: [node, ${JSON.stringify(EVERYTHING)}, stdio]
    tools:
      echo: { tier: 1, access: read }
      toggle-simulated-logging: { tier: 3, access: write }
tiers:
  3: { approval: { approvers: [group:approvers], expires: 10m } }
`;

describe.skipIf(skip)('two gateways, one state', () => {
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
      args.push('--redis', REDIS_URL, '--redis-prefix', `posture-replicas-${run}:`, '--approval-wait', '20s');
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

  async function connect(replica: number): Promise<Client> {
    const token = await authority.issue({ agent: 'helper', user: 'alice', ttlMs: 600_000 });
    const client = new Client({ name: `replica-${replica}`, version: '1' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(urls[replica]!), {
        requestInit: { headers: { authorization: `Bearer ${token}` } },
      }),
    );
    clients.push(client);
    return client;
  }

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
      const checkpoint = await log.checkpoint();
      const verified = await verifyLog(log.entries(), [checkpoint.note], [log.verifierKey]);
      expect(verified).toMatchObject({ ok: true, checked: events.length });
    } finally {
      await log.close();
    }
  });
});
