// Module hooks that let a child process run this package's TypeScript sources directly, as vitest
// does for the tests themselves: a child must test the code under edit, not a stale dist/.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

// Storage takes only `canonicalJson` and the data layer from the core: loading the whole core
// (ajv, zod, yaml) through the transpiler would cost seconds per child.
const CORE = new URL('./core-subset.ts', import.meta.url).href;

export async function resolve(specifier, context, nextResolve) {
  if (specifier === '@posture/core') return { url: CORE, shortCircuit: true };
  if (specifier.startsWith('.') && specifier.endsWith('.js') && context.parentURL?.endsWith('.ts')) {
    const url = new URL(`${specifier.slice(0, -3)}.ts`, context.parentURL);
    if (existsSync(fileURLToPath(url))) return { url: url.href, shortCircuit: true };
  }
  return nextResolve(specifier, context);
}

export async function load(url, context, nextLoad) {
  if (!url.endsWith('.ts')) return nextLoad(url, context);
  const file = fileURLToPath(url);
  const { outputText } = ts.transpileModule(await readFile(file, 'utf8'), {
    fileName: file,
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, sourceMap: false },
  });
  return { format: 'module', source: outputText, shortCircuit: true };
}
