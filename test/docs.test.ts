// The docs stay true: generated references match what `npm run docs` would write, the threat
// mapping names only real taxonomy ids, checks, scenarios and tests, and README links resolve.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CHECKS, KNOWN_IDS, loadBuiltinScenarios } from '@posture/assess';
import { DOCS_DIR, generatedDocs } from '../packages/cli/src/docs/generate.js';
import { policyFields } from '../packages/cli/src/docs/policy-reference.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');

/** Relative link targets of a markdown file (links and images), without their `#anchor`. */
function localLinks(markdown: string): string[] {
  const targets: string[] = [];
  // Code blocks and HTML comments are not rendered, so what they hold is no link.
  const withoutCode = markdown.replace(/```[\s\S]*?```/g, '').replace(/<!--[\s\S]*?-->/g, '');
  for (const match of withoutCode.matchAll(/!?\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
    const target = match[1]!;
    if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('#')) continue;
    targets.push(decodeURIComponent(target.split('#')[0]!));
  }
  return targets;
}

describe('generated references', () => {
  for (const [name, content] of Object.entries(generatedDocs())) {
    it(`docs/${name} is what npm run docs writes`, () => {
      const path = join(DOCS_DIR, name);
      const committed = existsSync(path) ? readFileSync(path, 'utf8') : '';
      expect(committed === content, `docs/${name} is out of date: run npm run docs`).toBe(true);
    });
  }

  it('describes every key of the policy file', () => {
    const fields = policyFields();
    expect(fields.length).toBeGreaterThan(100);
    expect(fields.filter((field) => field.description === '').map((field) => field.path)).toEqual([]);
    expect(fields.map((field) => field.path)).toContain('agents.<agent>.grants[].when');
  });

  it('lists every command with its options and defaults', () => {
    const reference = generatedDocs()['cli-reference.md']!;
    for (const heading of ['## posture gateway', '### posture audit verify', '### posture token issue']) {
      expect(reference).toContain(heading);
    }
    expect(reference).toMatch(/\| `--policy <file>` \| policy file \|/);
  });
});

describe('docs/security-model.md', () => {
  const model = read('docs/security-model.md');

  it('names only ids the taxonomy data holds', () => {
    const ids = [...model.matchAll(/\b(?:LLM\d{2}:\d{4}|ASI\d{2}|AML\.[A-Z]+\d{4}(?:\.\d{3})?)\b/g)].map(
      (m) => m[0],
    );
    expect(ids.length).toBeGreaterThan(30);
    expect([...new Set(ids.filter((id) => !KNOWN_IDS.has(id)))]).toEqual([]);
  });

  it('names only checks and scenarios that exist', async () => {
    const checkIds = new Set(CHECKS.map((check) => check.id));
    const named = [...model.matchAll(/\bPST-\d{3}\b/g)].map((m) => m[0]);
    expect(named.length).toBeGreaterThan(10);
    expect([...new Set(named.filter((id) => !checkIds.has(id)))]).toEqual([]);

    const { scenarios } = await loadBuiltinScenarios();
    const scenarioIds = new Set(scenarios.map((scenario) => scenario.id));
    const namedScenarios = [...model.matchAll(/scenario `([a-z-]+)`/g)].map((m) => m[1]!);
    expect(namedScenarios.length).toBeGreaterThan(5);
    expect(namedScenarios.filter((id) => !scenarioIds.has(id))).toEqual([]);
  });

  it('maps every check and every attack scenario, and every id they carry', async () => {
    const { scenarios } = await loadBuiltinScenarios();
    const attacks = scenarios.filter((scenario) => scenario.expect === 'stopped');
    const carried = [
      ...CHECKS.flatMap((check) => [...check.owasp, ...check.asi, ...check.atlas]),
      ...attacks.flatMap((scenario) => Object.values(scenario.taxonomy ?? {}).flat()),
    ];
    const missing = [
      ...CHECKS.map((check) => check.id).filter((id) => !new RegExp(`\\b${id}\\b`).test(model)),
      ...attacks
        .map((scenario) => scenario.id)
        .filter((id) => !model.includes(`scenario \`${id}\``) && !model.includes(`\`${id}\``)),
      ...new Set(carried.filter((id) => !model.includes(id))),
    ];
    expect(missing, 'add them to the threat table of docs/security-model.md').toEqual([]);
  });

  it('names only test files that exist', () => {
    const tests = [...model.matchAll(/`((?:packages\/[a-z]+\/)?test\/[\w./-]+\.test\.ts)`/g)].map(
      (m) => m[1]!,
    );
    expect(tests.length).toBeGreaterThan(10);
    expect(tests.filter((path) => !existsSync(join(ROOT, path)))).toEqual([]);
  });
});

describe('README.md', () => {
  it("opens with the two commands, and CI's test command is npm test", () => {
    const quickStart = read('README.md').split('## A five-minute tour')[0]!;
    expect(quickStart).toContain('npm ci && npm start');
    expect(quickStart).toContain('npm ci && npm test');
    expect(JSON.parse(read('package.json')).scripts.test).toMatch(/vitest run/);
  });
});

describe('links', () => {
  for (const file of ['README.md', 'docs/security-model.md']) {
    it(`every relative link in ${file} resolves to a file that exists`, () => {
      const links = localLinks(read(file));
      expect(links.length).toBeGreaterThan(0);
      const base = dirname(join(ROOT, file));
      const missing = links.filter((target) => !existsSync(resolve(base, target)));
      expect(missing).toEqual([]);
    });
  }
});
