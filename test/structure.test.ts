import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// The architecture rules of DESIGN.md, checked on the sources: the core is pure (no `node:*`,
// no imports of other packages of ours), packages only import downwards, and no module cycles.
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const packages = readdirSync(join(root, 'packages')).filter((p) =>
  statSync(join(root, 'packages', p)).isDirectory(),
);
const ORDER = ['core', 'storage', 'sdk', 'gateway', 'assess', 'console', 'cli'];

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) return sources(path);
    return /\.tsx?$/.test(entry) && !entry.endsWith('.d.ts') ? [path] : [];
  });
}

function imports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const found = [...text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]/g)].map(
    (m) => m[1]!,
  );
  found.push(...[...text.matchAll(/import\(\s*['"]([^'"]+)['"]\s*\)/g)].map((m) => m[1]!));
  return found;
}

describe('structure', () => {
  it('the core imports no node:* module', () => {
    const offenders = sources(join(root, 'packages/core/src')).flatMap((file) =>
      imports(file)
        .filter(
          (spec) => spec.startsWith('node:') || /^(fs|path|os|crypto|child_process|net|http)$/.test(spec),
        )
        .map((spec) => `${relative(root, file)} imports ${spec}`),
    );
    expect(offenders).toEqual([]);
  });

  it('packages import only packages below them', () => {
    const offenders: string[] = [];
    for (const pkg of packages) {
      for (const file of sources(join(root, 'packages', pkg, 'src'))) {
        for (const spec of imports(file)) {
          const target = /^@posture\/([^/]+)/.exec(spec)?.[1];
          if (target === undefined) continue;
          if (target === pkg || !ORDER.includes(target) || ORDER.indexOf(target) > ORDER.indexOf(pkg)) {
            offenders.push(`${relative(root, file)} imports ${spec}`);
          }
        }
      }
    }
    expect(offenders).toEqual([]);
  });

  it('no package has an import cycle between its modules', () => {
    const cycles: string[] = [];
    for (const pkg of packages) {
      const files = sources(join(root, 'packages', pkg, 'src'));
      const graph = new Map(
        files.map((file) => [
          file,
          imports(file)
            .filter((spec) => spec.startsWith('.'))
            .map((spec) => resolve(dirname(file), spec).replace(/\.js$/, '.ts')),
        ]),
      );
      const state = new Map<string, number>();
      const visit = (file: string, trail: string[]) => {
        if (state.get(file) === 2) return;
        if (state.get(file) === 1) {
          cycles.push([...trail.slice(trail.indexOf(file)), file].map((f) => relative(root, f)).join(' → '));
          return;
        }
        state.set(file, 1);
        for (const next of graph.get(file) ?? []) visit(next, [...trail, file]);
        state.set(file, 2);
      };
      for (const file of files) visit(file, []);
    }
    expect(cycles).toEqual([]);
  });

  it('finds imports, so the checks above can fail', () => {
    const core = sources(join(root, 'packages/core/src'));
    expect(core.length).toBeGreaterThan(3);
    expect(core.some((file) => imports(file).some((spec) => spec.startsWith('./')))).toBe(true);
  });
});
