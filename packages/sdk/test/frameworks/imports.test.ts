// ADR 0005's promise, checked on the sources: `@posture/sdk` loads no agent framework, and each
// adapter loads only its own, so an agent developer installs and loads only the framework in use.
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const src = fileURLToPath(new URL('../../src/', import.meta.url));
const FRAMEWORKS = ['ai', '@openai/', '@langchain/'];

/** The packages a module loads at run time, following its relative imports (type-only ones load nothing). */
function runtimePackages(file: string, seen = new Set<string>()): Set<string> {
  const found = new Set<string>();
  if (seen.has(file)) return found;
  seen.add(file);
  const text = readFileSync(file, 'utf8');
  for (const match of text.matchAll(
    /(?:^|\n)\s*(import|export)\s+(type\s+)?[^'"]*?from\s+['"]([^'"]+)['"]/g,
  )) {
    if (match[2]) continue;
    const spec = match[3]!;
    if (spec.startsWith('.')) {
      for (const name of runtimePackages(resolve(dirname(file), spec.replace(/\.js$/, '.ts')), seen))
        found.add(name);
    } else {
      found.add(spec);
    }
  }
  return found;
}

const frameworksOf = (entry: string) =>
  [...runtimePackages(join(src, entry))].filter((spec) =>
    FRAMEWORKS.some(
      (prefix) => spec === prefix || spec.startsWith(prefix.endsWith('/') ? prefix : `${prefix}/`),
    ),
  );

describe('what each entry point loads', () => {
  it('@posture/sdk loads no framework', () => {
    expect(frameworksOf('index.ts')).toEqual([]);
  });

  it('each adapter loads only its own framework, if any at run time', () => {
    expect(frameworksOf('frameworks/ai/index.ts')).toEqual([]); // types only: the tool object is plain
    expect(frameworksOf('frameworks/openai-agents/index.ts')).toEqual([]); // types only, likewise
    expect(frameworksOf('frameworks/langchain/index.ts').sort()).toEqual([
      '@langchain/core/messages',
      '@langchain/core/tools',
    ]);
  });
});
