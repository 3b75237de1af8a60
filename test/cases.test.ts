// Runs the YAML decision corpus (test/cases/*.yaml) through the core: one `describe` per file, one
// `it` per request, in order, sharing one state per file (rates, loops and flows are sequential).
import { beforeAll, describe, expect, it } from 'vitest';
import { compile, createMemoryState, decide, loadPolicy } from '@posture/core';
import { loadCases, type Case, type CaseFile } from './cases/load.js';

type Compiled = ReturnType<typeof compile>;
type State = ReturnType<typeof createMemoryState>;
type Decision = Awaited<ReturnType<typeof decide>>;

const MIN_CASES = 80;
const files = loadCases();

function sortedSet(values: readonly string[]): string[] {
  return [...new Set(values)].sort();
}

/** The parts of a decision the case asserts, and what the case expects of them, side by side. */
function compare(decision: Decision, expected: Case['expect']) {
  const codes = decision.reasons.map((reason) => reason.code);
  const obligations = decision.obligations as Record<string, unknown>;
  const actual: Record<string, unknown> = { decision: decision.decision };
  const wanted: Record<string, unknown> = { decision: expected.decision };
  if (expected.rules) {
    actual.rules = sortedSet(decision.rules);
    wanted.rules = sortedSet(expected.rules);
  }
  if (expected.codes) {
    actual.codes = sortedSet(codes);
    wanted.codes = sortedSet(expected.codes);
  }
  if (expected.codes_include) {
    actual.codes_include = sortedSet(expected.codes_include.filter((code) => codes.includes(code)));
    wanted.codes_include = sortedSet(expected.codes_include);
  }
  if (expected.obligations) {
    const got: Record<string, unknown> = {};
    const want: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(expected.obligations)) {
      got[key] = obligations[key];
      // `null` in a case means "absent"; toEqual treats an undefined property as a missing one.
      want[key] = value === null ? undefined : value;
    }
    actual.obligations = got;
    wanted.obligations = want;
  }
  return { actual, wanted };
}

function loadCompiled(file: CaseFile): Compiled {
  const source = `test/cases/${file.name}#policy`;
  const { policy, problems } = loadPolicy(file.policyText, source);
  const errors = problems.filter((problem) => problem.severity === 'error');
  if (errors.length > 0 || !policy) {
    const lines = file.policyText.split('\n');
    const listed = errors.map((p) => {
      const text = lines[p.line - 1]?.trim() ?? '';
      return `  ${p.code} at line ${p.line}:${p.column} (\`${text}\`): ${p.message}${p.hint ? ` (${p.hint})` : ''}`;
    });
    throw new Error(
      `${file.name}: the policy does not load (${errors.length} error(s)):\n${listed.join('\n')}\n--- policy as loaded ---\n${file.policyText}`,
    );
  }
  return compile(policy);
}

describe('decision corpus', () => {
  it(`holds at least ${MIN_CASES} cases`, () => {
    const count = files.reduce((sum, file) => sum + file.requests.length, 0);
    expect(files.length).toBeGreaterThan(0);
    expect(count).toBeGreaterThanOrEqual(MIN_CASES);
  });
});

for (const file of files) {
  describe(file.name, () => {
    let compiled: Compiled;
    let state: State;

    beforeAll(() => {
      compiled = loadCompiled(file);
      state = createMemoryState();
    });

    file.requests.forEach((c, index) => {
      it(`#${index} ${c.name}`, async () => {
        // Awaited so that the same runner works if a state port makes decide() asynchronous.
        const decision = await decide(c.request, compiled, state, { now: c.at });
        const { actual, wanted } = compare(decision, c.expect);
        const context = `${file.name} requests[${index}] ${c.name}\nrequest: ${JSON.stringify(c.request)}\ndecision: ${JSON.stringify(decision)}`;
        expect(actual, context).toEqual(wanted);
      });
    });
  });
}
