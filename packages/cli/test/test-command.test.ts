import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { main } from '../src/main.js';
import { fakeIo } from './fake-io.js';

const SUPPORT = new URL('../../../examples/support/posture.yaml', import.meta.url).pathname;

async function run(argv: string[], files: Record<string, string> = {}) {
  const io = fakeIo('', files);
  const code = await main(argv, io);
  return { code, out: io.out, err: io.err };
}

describe('posture test', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it('replays the built-in library against the support example: every attack stopped, exit 0', async () => {
    const { code, out } = await run(['test', '--policy', SUPPORT]);
    expect(code).toBe(0);
    expect(out).toContain('10 scenarios against');
    expect(out).toMatch(/ {2}stopped +injected-payment/);
    expect(out).toContain(
      'support-bot: denied at step 2, payments/payout, by agents.support-bot.grants (grant.missing)',
    );
    expect(out).toMatch(/ {2}stopped +credential-harvesting/);
    expect(out).toMatch(/LLM01:2025 +4\/4 +Prompt Injection/);
    expect(out).toContain('9 stopped, 1 not stopped, 0 not applicable: every scenario as expected');
  });

  it('exits 1 for a policy that lets an attack through, naming it', async () => {
    dir = mkdtempSync(join(tmpdir(), 'posture-test-'));
    // The support example without its data rule on results: harvested credentials get through.
    const weakened = readFileSync(SUPPORT, 'utf8').replace(/ {2}rules:\n(?: {4}.*\n| {6}.*\n)+/, '');
    expect(weakened).not.toContain('no-credentials-in-results');
    writeFileSync(join(dir, 'posture.yaml'), weakened);
    const { code, out } = await run(['test', '--policy', join(dir, 'posture.yaml')]);
    expect(code).toBe(1);
    expect(out).toMatch(/✗ NOT STOPPED credential-harvesting/);
    expect(out).toContain('8 stopped, 2 not stopped, 0 not applicable: 1 not as expected');
  });

  it('prints JSON with --json, and exits 0 when every scenario is as expected', async () => {
    dir = mkdtempSync(join(tmpdir(), 'posture-test-'));
    writeFileSync(
      join(dir, 'mine.yaml'),
      `scenarios:
  - id: big-refund
    title: a refund over the limit
    agent: support-bot
    taxonomy: { owasp_llm: [LLM06:2025] }
    steps:
      - { attack: true, tool: payments/refund, args: { payment_id: P-1, amount: 900, currency: EUR } }
`,
    );
    const { code, out } = await run([
      'test',
      '--policy',
      SUPPORT,
      '--scenarios',
      dir,
      '--no-builtin',
      '--json',
    ]);
    expect(code).toBe(0);
    const report = JSON.parse(out) as { passed: boolean; scenarios: { id: string; verdict: string }[] };
    expect(report.passed).toBe(true);
    expect(report.scenarios.map((s) => [s.id, s.verdict])).toEqual([['big-refund', 'stopped']]);
  });

  it('a bad scenario file is reported with file:line:column and exit 2; nothing runs', async () => {
    dir = mkdtempSync(join(tmpdir(), 'posture-test-'));
    const file = join(dir, 'bad.yaml');
    writeFileSync(
      file,
      'scenarios:\n  - id: x\n    title: t\n    taxonomy: { asi: [ASI99] }\n    steps: []\n',
    );
    const { code, out, err } = await run(['test', '--policy', SUPPORT, '--scenarios', dir]);
    expect(code).toBe(2);
    expect(out).toBe('');
    expect(err).toContain(
      `${file}:4:23 error scenario.custom: \`scenarios.0.taxonomy.asi.0\` is not a known`,
    );
    expect(err).toMatch(/bad\.yaml:5:12 error scenario\.too_small/);
    expect(err).toContain('posture: 2 problems in the scenarios');
  });

  it('an unreadable policy or scenario folder is a clean error', async () => {
    const missing = await run(['test', '--policy', '/nonexistent/posture.yaml']);
    expect(missing.code).toBe(2);
    expect(missing.err).toContain('cannot read policy `/nonexistent/posture.yaml`: ENOENT');
    const folder = await run(['test', '--policy', SUPPORT, '--scenarios', '/nonexistent/scenarios']);
    expect(folder.code).toBe(2);
    expect(folder.err).toContain(
      '/nonexistent/scenarios:1:1 error file.unreadable: cannot read the folder (ENOENT)',
    );
  });
});
