// The generated references and where they live; `npm run docs` writes them, test/docs.test.ts
// checks the committed copies against a fresh rendering.
import { fileURLToPath } from 'node:url';
import type { Io } from '../io.js';
import { buildProgram } from '../main.js';
import { renderCliReference } from './cli-reference.js';
import { renderPolicyReference } from './policy-reference.js';

/** An Io for building the program only: commands are registered, never run. */
const silentIo: Io = {
  stdout: () => true,
  stderr: () => {},
  drain: async () => {},
  stdin: async function* () {},
  readFile: async (path) => {
    throw new Error(`docs generation reads no files (asked for \`${path}\`)`);
  },
};

/** The repository's docs/ folder (two levels above dist/docs/ and src/docs/ of packages/cli). */
export const DOCS_DIR = fileURLToPath(new URL('../../../../docs/', import.meta.url));

/** File name under docs/ → its generated content. */
export function generatedDocs(): Record<string, string> {
  return {
    'policy-reference.md': renderPolicyReference(),
    'cli-reference.md': renderCliReference(buildProgram(silentIo)),
  };
}
