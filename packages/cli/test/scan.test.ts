import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../src/main.js';
import { fakeIo } from './fake-io.js';

async function run(argv: string[]) {
  const io = fakeIo();
  const code = await main(argv, io);
  return { code, out: io.out, err: io.err };
}

const TOKEN = 'ghp_R4nd0mL00k1ngT0k3nV4lu3xxxxxxxxxxxxx';

const folders: string[] = [];
afterAll(() => {
  for (const dir of folders) rmSync(dir, { recursive: true, force: true });
});

function folder(): string {
  const root = mkdtempSync(join(tmpdir(), 'posture-cli-scan-'));
  folders.push(root);
  mkdirSync(join(root, '.cursor'));
  writeFileSync(
    join(root, '.cursor', 'mcp.json'),
    JSON.stringify({
      mcpServers: { github: { command: 'npx', args: ['-y', 'server-github'], env: { GITHUB_TOKEN: TOKEN } } },
    }),
  );
  return root;
}

describe('posture scan', () => {
  it('prints a table with the score and the findings, never the secret', async () => {
    const { code, out } = await run(['scan', folder()]);
    expect(code).toBe(0);
    expect(out).toMatch(/score \d+\/100/);
    expect(out).toContain('PST-001');
    expect(out).toContain('PST-020');
    expect(out).not.toContain(TOKEN);
  });

  it('fails on a severity for CI, and not below it', async () => {
    const root = folder();
    const high = await run(['scan', root, '--fail-on', 'high', '--format', 'json']);
    expect(high.code).toBe(1);
    expect(high.err).toContain('`high`');
    const report = JSON.parse(high.out) as { findings: Array<{ severity: string }> };
    expect(report.findings.some((f) => f.severity === 'high')).toBe(true);
    expect((await run(['scan', root, '--fail-on', 'critical'])).code).toBe(0);
  });

  it('writes SARIF to a file', async () => {
    const root = folder();
    const out = join(root, 'posture.sarif');
    const { code, err } = await run(['scan', root, '--format', 'sarif', '--out', out]);
    expect(code).toBe(0);
    expect(err).toContain('posture.sarif');
    const sarif = JSON.parse(readFileSync(out, 'utf8')) as {
      version: string;
      runs: Array<{ results: Array<{ ruleId: string }> }>;
    };
    expect(sarif.version).toBe('2.1.0');
    expect(sarif.runs[0]!.results.map((r) => r.ruleId)).toContain('PST-020');
  });

  it('refuses bad options and a missing folder with a clear message', async () => {
    const bad = await run(['scan', folder(), '--format', 'pdf']);
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('`--format pdf` is not one of table, json, sarif, md, html');
    const severity = await run(['scan', folder(), '--fail-on', 'severe']);
    expect(severity.err).toContain('`--fail-on severe` is not one of');
    const missing = await run(['scan', join(tmpdir(), 'no-such-folder-posture')]);
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/is not a folder/);
    expect(missing.err).not.toMatch(/\bat .*\.js:\d+/);
  });
});
