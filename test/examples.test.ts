// Every example policy (examples/*/posture.yaml) must load without errors and compile; warnings
// are printed so that a reader sees what the checker thinks of the examples.
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { compile, loadPolicy } from '@posture/core';

const EXAMPLES = fileURLToPath(new URL('../examples/', import.meta.url));
const policies = readdirSync(EXAMPLES, { withFileTypes: true })
  .filter((entry) => entry.isDirectory() && existsSync(join(EXAMPLES, entry.name, 'posture.yaml')))
  .map((entry) => entry.name)
  .sort();

describe('example policies', () => {
  it('include the support, coding and ops examples', () => {
    expect(policies).toEqual(expect.arrayContaining(['coding', 'ops', 'support']));
  });

  for (const name of policies) {
    it(`examples/${name}/posture.yaml loads without errors`, () => {
      const file = `examples/${name}/posture.yaml`;
      const { policy, problems } = loadPolicy(
        readFileSync(join(EXAMPLES, name, 'posture.yaml'), 'utf8'),
        file,
      );
      const describeProblem = (p: (typeof problems)[number]) =>
        `${p.file}:${p.line}:${p.column} ${p.severity} ${p.code}: ${p.message}${p.hint ? ` (${p.hint})` : ''}`;
      for (const warning of problems.filter((p) => p.severity === 'warning')) {
        console.warn(describeProblem(warning));
      }
      const errors = problems.filter((p) => p.severity === 'error').map(describeProblem);
      expect(errors).toEqual([]);
      expect(policy).toBeDefined();
      expect(() => compile(policy!)).not.toThrow();
    });
  }
});
