import { existsSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { scan } from '../src/index.js';
import { tempDir } from './scan-helpers.js';

const SERVER = fileURLToPath(new URL('./fixtures/servers/tools-server.mjs', import.meta.url));

function folder(servers: Record<string, unknown>): string {
  const root = tempDir();
  writeFileSync(join(root, '.mcp.json'), JSON.stringify({ mcpServers: servers }));
  return root;
}

describe('posture scan --connect', () => {
  it('lists the tools of a real server without calling one, and checks them', async () => {
    const calls = join(tempDir(), 'calls.txt');
    const root = folder({
      fixture: { command: process.execPath, args: [SERVER], env: { CALLED_FILE: calls } },
    });
    const report = await scan(root, { connect: true, connectTimeoutMs: 10_000 });
    expect(report.tools).toBe(2);
    const poisoned = report.findings.find((f) => f.id === 'PST-004');
    expect(poisoned?.evidence.map((e) => e.path)).toEqual(['fixture/add_note']);
    expect(existsSync(calls)).toBe(false);
    expect(report.findings.map((f) => f.id)).not.toContain('PST-011');
  });

  it('reports a hanging and a crashing server as findings and goes on', async () => {
    const root = folder({
      hangs: { command: process.execPath, args: ['-e', 'setInterval(() => {}, 1000)'] },
      crashes: { command: process.execPath, args: ['-e', 'process.exit(3)'] },
      fixture: { command: process.execPath, args: [SERVER] },
      posture: { command: 'posture', args: ['gateway', '--stdio'] },
    });
    const started = Date.now();
    const report = await scan(root, { connect: true, connectTimeoutMs: 1500 });
    expect(Date.now() - started).toBeLessThan(15_000);
    const failed = report.findings.find((f) => f.id === 'PST-011');
    const messages = failed?.evidence.map((e) => e.message) ?? [];
    expect(messages).toHaveLength(2);
    expect(messages.find((m) => m.includes('`hangs`'))).toMatch(/within 1500 ms|timed out/i);
    expect(messages.some((m) => m.includes('`crashes`'))).toBe(true);
    expect(report.tools).toBe(2);
  });

  it('times out on an HTTP server that never answers', async () => {
    const server = createServer(() => {
      // Accepts the request and never answers.
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    try {
      const root = folder({ silent: { url: `http://127.0.0.1:${port}/mcp` } });
      const report = await scan(root, { connect: true, connectTimeoutMs: 800 });
      const failed = report.findings.find((f) => f.id === 'PST-011');
      expect(failed?.evidence[0]?.message).toMatch(
        /`silent` \(claude-code\) could not be listed: .*800 ms|timed out/i,
      );
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('does not connect without the option', async () => {
    const root = folder({ fixture: { command: process.execPath, args: [SERVER] } });
    const report = await scan(root);
    expect(report.tools).toBe(0);
    expect(report.findings.map((f) => f.id)).not.toContain('PST-011');
  });
});
