// `posture token issue` and `posture gateway` as a user runs them: separate processes, a real
// upstream from the npm registry, the SDK's Client over Streamable HTTP and over stdio.
import { execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, ECHO_POLICY, startGatewayProcess, stopProcess } from './support/gateway-process.js';
import { openSqliteAuditLog } from '@posture/storage';

let dir: string;
let gateway: ChildProcess;
let url: string;

function posture(args: string[]): string {
  return execFileSync('node', [BIN, ...args], {
    cwd: dir,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'posture-cli-gateway-'));
  writeFileSync(join(dir, 'posture.yaml'), ECHO_POLICY);
  ({ child: gateway, url } = await startGatewayProcess(['--port', '0', '--metrics', '--alert-log'], dir));
}, 30_000);

afterAll(async () => {
  await stopProcess(gateway);
  rmSync(dir, { recursive: true, force: true });
});

describe('posture gateway (a process)', () => {
  it('serves a token from `posture token issue` and records the call in .posture/posture.db', async () => {
    const token = posture([
      'token',
      'issue',
      '--agent',
      'helper',
      '--user',
      'alice',
      '--audience',
      url,
    ]).trim();
    const client = new Client({ name: 'e2e', version: '1' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(url), {
        requestInit: { headers: { authorization: `Bearer ${token}` } },
      }),
    );
    expect((await client.listTools()).tools.map((t) => t.name)).toEqual([
      'everything__echo',
      'posture__plan',
      'posture__end_plan',
    ]);
    const result = await client.callTool({ name: 'everything__echo', arguments: { message: 'hello' } });
    expect(result.content).toEqual([{ type: 'text', text: 'Echo: hello' }]);
    await client.close();

    const audit = await openSqliteAuditLog({ path: join(dir, '.posture', 'posture.db') });
    try {
      const events = await audit.read(0, await audit.size());
      expect(events.map((e) => [e.kind, e.tool, e.outcome])).toEqual([
        ['policy_change', undefined, undefined],
        ['call', 'everything/echo', 'allowed'],
      ]);
      expect(events[0]!.detail).toMatchObject({
        source: 'posture.yaml',
        sha256: expect.stringMatching(/^[0-9a-f]{64}$/),
      });
    } finally {
      await audit.close();
    }
  });

  it('serves Prometheus metrics of the calls, with tool names and verdicts only', async () => {
    const metrics = await (await fetch(new URL('/metrics', url))).text();
    expect(metrics).toMatch(/posture_calls_total\{[^}]*tool="everything\/echo"[^}]*\} 1/);
    expect(metrics).not.toContain('hello');
  });

  it('refuses a token revoked with `posture token revoke` within seconds, and audits it', async () => {
    const issued = JSON.parse(
      posture(['token', 'issue', '--agent', 'helper', '--user', 'alice', '--audience', url, '--json']),
    ) as { token: string; jti: string };
    const client = new Client({ name: 'revoked', version: '1' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(url), {
        requestInit: { headers: { authorization: `Bearer ${issued.token}` } },
      }),
    );
    const echo = () => client.callTool({ name: 'everything__echo', arguments: { message: 'still here?' } });
    expect((await echo()).isError).toBeFalsy();
    expect(posture(['token', 'revoke', '--jti', issued.jti, '--as', 'alice'])).toContain(
      `revoked token \`${issued.jti}\``,
    );
    const deadline = Date.now() + 8000;
    let refused: unknown;
    while (refused === undefined && Date.now() < deadline) {
      refused = await echo().then(
        () => undefined,
        (error: unknown) => error,
      );
      if (refused === undefined) await new Promise((r) => setTimeout(r, 200));
    }
    expect(String(refused)).toMatch(/401|revoked/);
    await client.close().catch(() => {});
    expect(() => posture(['token', 'revoke', '--as', 'alice'])).toThrow(
      /give one of --token, --jti or --agent/,
    );
    const listed = JSON.parse(posture(['token', 'revocations', '--json'])) as Array<{
      subject: string;
      id: string;
    }>;
    expect(listed).toEqual([expect.objectContaining({ subject: 'jti', id: issued.jti })]);
    expect(posture(['token', 'revocations'])).toContain(`token ${issued.jti}`);

    const audit = await openSqliteAuditLog({ path: join(dir, '.posture', 'posture.db') });
    try {
      const events = await audit.search({ kind: 'revocation' });
      expect(events.map((e) => [e.actor.user, e.detail?.id])).toEqual([['alice', issued.jti]]);
    } finally {
      await audit.close();
    }
  });

  it('over stdio, with the token given at start, again when the desktop client restarts it', async () => {
    const token = posture(['token', 'issue', '--agent', 'helper', '--user', 'alice']).trim();
    // The client starts the gateway with the token from its configuration, each time it starts.
    for (const run of ['first', 'second']) {
      const client = new Client({ name: 'desktop', version: '1' });
      const transport = new StdioClientTransport({
        command: 'node',
        args: [BIN, 'gateway', '--stdio', '--token', token, '--db', join('.posture', 'stdio.db')],
        cwd: dir,
        stderr: 'pipe',
      });
      await client.connect(transport);
      const result = await client.callTool({
        name: 'everything__echo',
        arguments: { message: `from the desktop, ${run} start` },
      });
      expect(result.content).toEqual([{ type: 'text', text: `Echo: from the desktop, ${run} start` }]);
      await client.close();
    }
  });

  it("issues tokens as long-lived as the agent's `token_ttl` allows (an hour by default), and no longer", () => {
    const failure = (args: string[]) => {
      try {
        posture(args);
      } catch (error) {
        const { stderr, stdout } = error as { stderr: string; stdout: string };
        return `${stderr}${stdout}`;
      }
      return undefined;
    };
    expect(failure(['token', 'issue', '--agent', 'helper', '--user', 'alice', '--ttl', '2h'])).toMatch(
      /a token may live at most 60 minutes; asked for 120/,
    );
    const folder = mkdtempSync(join(tmpdir(), 'posture-cli-ttl-'));
    try {
      writeFileSync(
        join(folder, 'posture.yaml'),
        ECHO_POLICY.replace('    run_by: [group:staff]\n', '    run_by: [group:staff]\n    token_ttl: 8h\n'),
      );
      const policy = join(folder, 'posture.yaml');
      const key = join(folder, 'key.json');
      const issue = (ttl: string, ...more: string[]) => [
        'token',
        'issue',
        '--agent',
        'helper',
        '--user',
        'alice',
        '--ttl',
        ttl,
        '--policy',
        policy,
        '--key',
        key,
        ...more,
      ];
      const issued = JSON.parse(posture(issue('8h', '--json'))) as { token: string };
      const claims = JSON.parse(Buffer.from(issued.token.split('.')[1]!, 'base64url').toString()) as {
        exp: number;
        iat: number;
      };
      expect(claims.exp - claims.iat).toBe(8 * 3600);
      expect(failure(issue('9h'))).toMatch(/at most 480 minutes/);
      // Past a day, the policy itself is refused.
      writeFileSync(
        policy,
        ECHO_POLICY.replace('    run_by: [group:staff]\n', '    run_by: [group:staff]\n    token_ttl: 2d\n'),
      );
      expect(failure(['check', policy])).toMatch(/agent\.token_ttl/);
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });

  it('refuses to start over stdio with a token for another gateway', () => {
    const token = posture([
      'token',
      'issue',
      '--agent',
      'helper',
      '--user',
      'alice',
      '--audience',
      'urn:elsewhere',
    ]).trim();
    let failure: { status: number; stderr: string } | undefined;
    try {
      posture(['gateway', '--stdio', '--token', token, '--db', join('.posture', 'refused.db')]);
    } catch (error) {
      failure = error as { status: number; stderr: string };
    }
    expect(failure?.status).toBe(2);
    expect(failure?.stderr).toMatch(/the token is refused: the token is for another audience/);
  });
});

describe('posture gateway restarted', () => {
  // The echo policy, plus a tier-3 tool that Bob approves.
  const RESTART_POLICY = `${ECHO_POLICY.replace(
    'users:\n  alice: { groups: [staff] }',
    'users:\n  alice: { groups: [staff] }\n  bob: { groups: [approvers] }',
  ).replace(
    '      - tools: [everything/echo]',
    '      - tools: [everything/echo]\n      - tools: [everything/toggle-simulated-logging]\n        access: write',
  )}      toggle-simulated-logging: { tier: 3, access: write }
tiers:
  3: { approval: { approvers: [group:approvers], expires: 10m } }
`;

  it('leaves a write that was running when it was killed in the log as `interrupted`', async () => {
    const folder = mkdtempSync(join(tmpdir(), 'posture-cli-killed-'));
    // A slow write: the upstream's long-running operation, declared tier 2.
    writeFileSync(
      join(folder, 'posture.yaml'),
      `${ECHO_POLICY.replace(
        '      - tools: [everything/echo]',
        '      - tools: [everything/echo]\n      - tools: [everything/trigger-long-running-operation]\n        access: write',
      )}      trigger-long-running-operation: { tier: 2, access: write }\n`,
    );
    const running = await startGatewayProcess(['--port', '0', '--audience', 'urn:posture:killed'], folder);
    try {
      const token = execFileSync(
        'node',
        [BIN, 'token', 'issue', '--agent', 'helper', '--user', 'alice', '--audience', 'urn:posture:killed'],
        { cwd: folder, encoding: 'utf8' },
      ).trim();
      const client = new Client({ name: 'killed', version: '1' });
      await client.connect(
        new StreamableHTTPClientTransport(new URL(running.url), {
          requestInit: { headers: { authorization: `Bearer ${token}` } },
        }),
      );
      // Not awaited: the client may go on retrying its stream after the gateway is gone.
      void client
        .callTool({
          name: 'everything__trigger-long-running-operation',
          arguments: { duration: 30, steps: 30 },
        })
        .catch(() => {});
      // Killed while the upstream runs the write (its record is written before the call goes up).
      const deadline = Date.now() + 10_000;
      const db = join(folder, '.posture', 'posture.db');
      const Database = (await import('better-sqlite3')).default;
      const pendingRows = () => {
        const reader = new Database(db, { readonly: true });
        try {
          return reader.prepare('SELECT count(*) FROM audit_pending').pluck().get() as number;
        } finally {
          reader.close();
        }
      };
      while (pendingRows() === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(pendingRows()).toBe(1);
      running.child.kill('SIGKILL');
      await new Promise((r) => running.child.once('exit', r));
      void client.close().catch(() => {});
      const audit = await openSqliteAuditLog({ path: join(folder, '.posture', 'posture.db') });
      try {
        const calls = await audit.search({ kind: 'call' });
        expect(calls.map((e) => [e.tool, e.decision, e.outcome])).toEqual([
          ['everything/trigger-long-running-operation', 'allow', 'interrupted'],
        ]);
        expect(calls[0]).toMatchObject({
          actor: { user: 'alice', agent: 'helper' },
          args: { duration: 30, steps: 30 },
        });
      } finally {
        await audit.close();
      }
    } finally {
      await stopProcess(running.child);
      rmSync(folder, { recursive: true, force: true });
    }
  });

  it("takes up its clients' sessions and pending approvals from .posture/posture.db, and keeps their tokens spent", async () => {
    const folder = mkdtempSync(join(tmpdir(), 'posture-cli-restart-'));
    writeFileSync(join(folder, 'posture.yaml'), RESTART_POLICY);
    const args = ['--port', '0', '--audience', 'urn:posture:restart', '--approval-wait', '0s'];
    const cli = (more: string[]) => execFileSync('node', [BIN, ...more], { cwd: folder, encoding: 'utf8' });
    let running = await startGatewayProcess(args, folder);
    try {
      const token = cli([
        'token',
        'issue',
        '--agent',
        'helper',
        '--user',
        'alice',
        '--audience',
        'urn:posture:restart',
      ]).trim();
      const headers = { authorization: `Bearer ${token}` };
      const before = new Client({ name: 'before', version: '1' });
      const transport = new StreamableHTTPClientTransport(new URL(running.url), { requestInit: { headers } });
      await before.connect(transport);
      expect(
        (await before.callTool({ name: 'everything__echo', arguments: { message: 'one' } })).isError,
      ).toBeFalsy();
      const toggle = { name: 'everything__toggle-simulated-logging', arguments: {} };
      const pending = await before.callTool(toggle);
      const id = /Request ([0-9a-f-]{36})/.exec(JSON.stringify(pending.content))?.[1];
      expect(id, JSON.stringify(pending.content)).toBeDefined();

      await stopProcess(running.child);
      running = await startGatewayProcess(args, folder);
      expect(cli(['approvals', 'approve', id!, '--as', 'bob'])).toContain('approved');
      // The same session, on the restarted gateway (a new port: the client is told the new address).
      const after = new Client({ name: 'after', version: '1' });
      await after.connect(
        new StreamableHTTPClientTransport(new URL(running.url), {
          sessionId: transport.sessionId!,
          requestInit: { headers },
        }),
      );
      const result = await after.callTool({ name: 'everything__echo', arguments: { message: 'two' } });
      expect(result.content).toEqual([{ type: 'text', text: 'Echo: two' }]);
      // The retry of the approved call, in the session it was asked in, runs.
      const retried = await after.callTool(toggle);
      expect(retried.isError, JSON.stringify(retried.content)).toBeFalsy();
      await after.close();

      // The token opened its session before the restart; it opens no other after it.
      const replay = new Client({ name: 'replay', version: '1' });
      await expect(
        replay.connect(new StreamableHTTPClientTransport(new URL(running.url), { requestInit: { headers } })),
      ).rejects.toThrow(/401|already been used/);
    } finally {
      await stopProcess(running.child);
      rmSync(folder, { recursive: true, force: true });
    }
  }, 60_000);
});
