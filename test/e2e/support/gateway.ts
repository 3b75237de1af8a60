// A gateway for end-to-end tests: a policy, a real SQLite audit log and approvals queue in a
// temporary folder, the gateway's upstreams started, and a token authority for its audience.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { compile, loadPolicy } from '@posture/core';
import {
  Gateway,
  TokenAuthority,
  TokenVerifier,
  loadOrCreateSigningKey,
  serveHttp,
  type GatewayOptions,
  type RunningGateway,
} from '@posture/gateway';
import {
  openSqliteApprovalQueue,
  openSqliteAuditLog,
  type ApprovalQueue,
  type SqliteAuditLog,
} from '@posture/storage';

export const AUDIENCE = 'urn:posture:test-gateway';

export interface TestGateway {
  dir: string;
  gateway: Gateway;
  running: RunningGateway;
  audit: SqliteAuditLog;
  approvals: ApprovalQueue;
  authority: TokenAuthority;
  token(agent?: string, user?: string, ttlMs?: number, now?: number): Promise<string>;
  connect(bearer?: string): Promise<Client>;
  /** A raw POST, to see status codes and headers the SDK client hides. */
  post(
    body: unknown,
    headers?: Record<string, string>,
  ): Promise<{ status: number; auth: string | null; text: string }>;
  close(): Promise<void>;
}

export async function startGateway(
  policyText: string,
  options: Partial<Omit<GatewayOptions, 'policy' | 'audit' | 'approvals'>> = {},
): Promise<TestGateway> {
  const loaded = loadPolicy(policyText, 'posture.yaml');
  if (!loaded.policy)
    throw new Error(loaded.problems.map((p) => `${p.line}:${p.column} ${p.message}`).join('\n'));
  const policy = loaded.policy;
  const dir = mkdtempSync(join(tmpdir(), 'posture-gateway-'));
  const db = join(dir, 'posture.db');
  const audit = await openSqliteAuditLog({ path: db });
  const approvals = openSqliteApprovalQueue(db);
  const gateway = new Gateway({ approvalWaitMs: 0, ...options, policy, audit, approvals });
  await gateway.start();
  const authority = new TokenAuthority({
    key: await loadOrCreateSigningKey(join(dir, 'token-key.json')),
    audience: AUDIENCE,
  });
  const tokens = new TokenVerifier({
    audience: AUDIENCE,
    own: { issuer: authority.issuer, jwks: authority.jwks },
    policy: compile(policy),
  });
  const running = await serveHttp({ gateway, tokens, resource: AUDIENCE });
  const clients: Client[] = [];
  return {
    dir,
    gateway,
    running,
    audit,
    approvals,
    authority,
    token: (agent = 'helper', user = 'alice', ttlMs = 10 * 60_000, now?: number) =>
      authority.issue({ agent, user, ttlMs, ...(now ? { now } : {}) }),
    async connect(bearer) {
      const client = new Client({ name: 'e2e', version: '1' });
      const transport = new StreamableHTTPClientTransport(new URL(running.url), {
        requestInit: { headers: bearer ? { authorization: `Bearer ${bearer}` } : {} },
      });
      await client.connect(transport);
      clients.push(client);
      return client;
    },
    async post(body, headers = {}) {
      const response = await fetch(running.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          ...headers,
        },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      });
      return {
        status: response.status,
        auth: response.headers.get('www-authenticate'),
        text: await response.text(),
      };
    },
    async close() {
      for (const client of clients) await client.close().catch(() => {});
      await running.close();
      await gateway.close();
      await audit.close();
      await approvals.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export const INITIALIZE = {
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
};
