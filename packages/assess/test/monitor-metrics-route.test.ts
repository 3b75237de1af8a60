import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { compile, loadPolicy, type CompiledPolicy } from '@posture/core';
import {
  Gateway,
  TokenAuthority,
  TokenVerifier,
  loadOrCreateSigningKey,
  serveHttp,
  type RunningGateway,
} from '@posture/gateway';
import { createEnforcer } from '@posture/sdk';
import { createMemoryApprovalQueue, createMemoryAuditLog } from '@posture/storage';
import { PostureMetrics } from '../src/index.js';

const POLICY = `
version: 1
users: { alice: {} }
agents:
  bot: { owner: alice, run_by: [alice], grants: [{ tools: [crm/*] }] }
servers:
  crm:
    tools:
      get_customer: { tier: 1, access: read }
`;

describe('GET /metrics on the gateway', () => {
  let running: RunningGateway | undefined;
  let dir: string | undefined;
  afterEach(async () => {
    await running?.close();
    running = undefined;
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  async function serve(metrics?: PostureMetrics): Promise<{ url: string; compiled: CompiledPolicy }> {
    const policy = loadPolicy(POLICY, 'posture.yaml').policy!;
    const compiled = compile(policy);
    dir = mkdtempSync(join(tmpdir(), 'posture-metrics-'));
    const authority = new TokenAuthority({
      key: await loadOrCreateSigningKey(join(dir, 'key.json')),
      audience: 'urn:test',
    });
    const tokens = new TokenVerifier({
      audience: 'urn:test',
      own: { issuer: authority.issuer, jwks: authority.jwks },
      policy: compiled,
    });
    const gateway = new Gateway({
      policy,
      audit: createMemoryAuditLog(),
      approvals: createMemoryApprovalQueue(),
    });
    running = await serveHttp({ gateway, tokens, ...(metrics ? { metrics: () => metrics.text() } : {}) });
    return { url: running.url.replace(/\/mcp$/, '/metrics'), compiled };
  }

  it('serves the Prometheus text without a token, holding tool names and verdicts only', async () => {
    const compiled = compile(loadPolicy(POLICY, 'posture.yaml').policy!);
    const metrics = new PostureMetrics();
    // Calls counted through an enforcer's observe hook, as the gateway's would be.
    const enforcer = createEnforcer({
      policy: compiled,
      audit: createMemoryAuditLog(),
      approvals: createMemoryApprovalQueue(),
      observe: metrics.observe,
    });
    const call = { agent: 'bot', user: 'alice', session: 's', tool: 'crm/get_customer' };
    await enforcer.call({ ...call, args: { email: 'carol@example.com' } }, async () => 'ok');
    const { url } = await serve(metrics);

    const response = await fetch(url);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await response.text();
    expect(text).toContain(
      'posture_calls_total{tool="crm/get_customer",decision="allow",outcome="allowed"} 1',
    );
    expect(text).not.toContain('carol');
    expect((await fetch(url, { method: 'POST' })).status).toBe(405);
    // DNS rebinding: a page on another name that resolves to loopback is refused.
    const status = await new Promise<number | undefined>((resolve, reject) => {
      const req = request(url, { headers: { host: 'evil.example' } }, (res) => {
        res.resume();
        resolve(res.statusCode);
      });
      req.on('error', reject).end();
    });
    expect(status).toBe(403);
  });

  it('is not there unless metrics are configured', async () => {
    const { url } = await serve();
    expect((await fetch(url)).status).toBe(404);
  });
});
