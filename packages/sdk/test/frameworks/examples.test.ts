// The SDK examples (examples/sdk/*.mjs) run as a reader would run them, on the built packages
// (`npx tsc -b` first, as `npm test` does), and tell the same story: denied, pending, approved, run.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../../../', import.meta.url));
const run = promisify(execFile);

const EVIDENCE = [
  'audit: payments/refund deny denied',
  'audit: payments/refund approve pending',
  'audit: payments/refund allow allowed',
];

describe('SDK examples', () => {
  for (const name of ['functions', 'ai', 'openai-agents', 'langchain']) {
    it(`examples/sdk/${name}.mjs refuses, waits for approval, then runs the refund once`, async () => {
      const { stdout } = await run(process.execPath, [`examples/sdk/${name}.mjs`], { cwd: root });
      const lines = stdout.trim().split('\n');
      expect(lines.filter((line) => line.includes('refunding'))).toEqual(['refunding 120']);
      expect(lines.slice(-3)).toEqual(EVIDENCE);
      expect(stdout).toContain(
        'posture denied the call to `payments/refund`: argument `amount` must be <= 500',
      );
      const id = /waits for approval `([^`]+)`/.exec(stdout)?.[1];
      expect(stdout).toContain(`bob approved ${id}`);
    });
  }
});
