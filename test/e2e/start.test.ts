// `posture start` on embedded defaults: SQLite under .posture/, the gateway in front of the demo
// company's server, the console with a user to sign in as, a ready token; Ctrl-C closes it all.
import { execFile, execFileSync } from 'node:child_process';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSqliteAuditLog } from '@posture/storage';
import { BIN, startPosture, type StartedPosture } from './support/posture-start.js';

describe('posture start', () => {
  const dir = mkdtempSync(join(tmpdir(), 'posture-start-'));
  let posture: StartedPosture;

  beforeAll(async () => {
    posture = await startPosture({ dir });
  }, 30_000);

  afterAll(async () => {
    await posture?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('prints the console, a user and password, the gateway, a token and the next command', () => {
    expect(posture.stdout).toContain('evidence in .posture/posture.db');
    expect(posture.consoleUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(posture.consoleUser).toBe('dana'); // the policy's first tier-3 approver
    expect(posture.consolePassword).toMatch(/^[\w-]{16}$/);
    expect(posture.gatewayUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/mcp$/);
    expect(posture.token.split('.')).toHaveLength(3);
    expect(posture.stdout).toContain('npx posture demo agent');
  });

  it('serves the demo company through the gateway with the printed token', async () => {
    const client = new Client({ name: 'start-test', version: '1' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(posture.gatewayUrl), {
        requestInit: { headers: { authorization: `Bearer ${posture.token}` } },
      }),
    );
    try {
      const names = (await client.listTools()).tools.map((tool) => tool.name);
      expect(names).toEqual(
        expect.arrayContaining([
          'northwind__list_orders',
          'northwind__issue_refund',
          'northwind__get_config',
        ]),
      );
      const orders = await client.callTool({ name: 'northwind__list_orders', arguments: {} });
      expect(orders.isError).toBeFalsy();
      expect(JSON.stringify(orders.content)).toContain('NW-5001');
    } finally {
      await client.close();
    }
  });

  it('signs the printed console user in with the printed password', async () => {
    const login = async (password: string) =>
      fetch(`${posture.consoleUrl}/api/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ user: posture.consoleUser, password }),
      });
    const good = await login(posture.consolePassword!);
    expect(good.status).toBe(200);
    expect(((await good.json()) as { roles: string[] }).roles).toEqual(
      expect.arrayContaining(['approver', 'admin']),
    );
    expect((await login('not-the-password')).status).toBe(401);
  });

  it('leaves what the demo agent needs in .posture/start.json, readable by its owner only', () => {
    const path = join(dir, '.posture', 'start.json');
    expect(statSync(path).mode & 0o077).toBe(0);
    const state = JSON.parse(readFileSync(path, 'utf8')) as Record<string, string>;
    expect(state).toMatchObject({
      gateway: posture.gatewayUrl,
      audience: posture.gatewayUrl,
      agent: 'support-agent',
      user: 'sam',
      token: posture.token,
      console: posture.consoleUrl,
      console_user: 'dana',
    });
  });

  it('stops cleanly on SIGTERM; the next start reuses the user and prints the same password', async () => {
    expect(await posture.stop()).toBe(0);
    expect(posture.stderr()).toContain('upstream northwind: closed');
    const audit = await openSqliteAuditLog({ path: join(dir, '.posture', 'posture.db') });
    try {
      const events = await audit.read(0, await audit.size());
      expect(events.some((event) => event.kind === 'policy_change')).toBe(true);
      expect(events.some((event) => event.kind === 'call' && event.tool === 'northwind/list_orders')).toBe(
        true,
      );
    } finally {
      await audit.close();
    }
    const again = await startPosture({ dir });
    try {
      expect(again.consoleUser).toBe('dana');
      expect(again.consolePassword).toBe(posture.consolePassword);
    } finally {
      expect(await again.stop()).toBe(0);
    }
  }, 30_000);

  it('runs another policy without the console, its relative server path found from the root', async () => {
    const other = mkdtempSync(join(tmpdir(), 'posture-start-other-'));
    writeFileSync(
      join(other, 'team.yaml'),
      `version: 1
users:
  erin: { groups: [ops] }
  finn: { groups: [ops] }
agents:
  helper:
    owner: erin
    run_by: [finn]
    grants: [{ tools: [catalog/*] }]
servers:
  catalog:
    command: [node, test/support/catalog-server.js]
    env: { POSTURE_TOOLS: '[{"name":"ping","inputSchema":{"type":"object"}}]' }
    tools: { ping: { tier: 1, access: read } }
`,
    );
    const started = await startPosture({ dir: other, args: ['--policy', 'team.yaml', '--no-console'] });
    try {
      expect(started.stdout).toContain('Console  not running (--no-console)');
      expect(started.stdout).toContain('Agent    helper acting for finn');
      expect(started.consoleUrl).toBeUndefined();
      const client = new Client({ name: 'start-test', version: '1' });
      await client.connect(
        new StreamableHTTPClientTransport(new URL(started.gatewayUrl), {
          requestInit: { headers: { authorization: `Bearer ${started.token}` } },
        }),
      );
      const result = await client.callTool({ name: 'catalog__ping', arguments: {} });
      await client.close();
      expect(result.isError).toBeFalsy();
      expect(await started.stop()).toBe(0);
    } finally {
      await started.cleanup();
      rmSync(other, { recursive: true, force: true });
    }
  }, 30_000);

  it('refuses a port that is not one, without starting anything', () => {
    let failure: { status: number; stderr: string } | undefined;
    try {
      execFileSync('node', [BIN, 'start', '--port', '99999'], { cwd: dir, encoding: 'utf8', stdio: 'pipe' });
    } catch (error) {
      failure = error as { status: number; stderr: string };
    }
    expect(failure?.status).toBe(2);
    expect(failure?.stderr).toContain('`--port 99999` is not a port');
  });

  it('says so when the gateway port is taken, closes what it started and exits', async () => {
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    const { port } = taken.address() as AddressInfo;
    try {
      const result = await new Promise<{ code: number | null; stderr: string }>((resolveRun) => {
        execFile(
          'node',
          [BIN, 'start', '--port', String(port), '--console-port', '0'],
          { cwd: dir, timeout: 20_000 },
          (error, _stdout, stderr) => resolveRun({ code: error ? (error.code as number) : 0, stderr }),
        );
      });
      expect(result.stderr).toContain(`127.0.0.1:${port} is in use: pass another \`--port\``);
      expect(result.code).toBe(2);
    } finally {
      taken.close();
    }
  }, 30_000);
});
