// `npm run docs`: regenerate docs/policy-reference.md and docs/cli-reference.md.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DOCS_DIR, generatedDocs } from './generate.js';

for (const [name, content] of Object.entries(generatedDocs())) {
  await writeFile(join(DOCS_DIR, name), content);
  process.stdout.write(`wrote docs/${name}\n`);
}
