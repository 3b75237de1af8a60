// What a corpus case asserts of a decision, shared by the runners for the core, the SDK and the
// gateway: each produces a decision its own way and compares it here.
import { compile, loadPolicy, type CompiledPolicy, type Decision, type PolicyFile } from '@posture/core';
import type { Case, CaseFile } from './load.js';

function sortedSet(values: readonly string[]): string[] {
  return [...new Set(values)].sort();
}

/** The parts of a decision the case asserts, and what the case expects of them, side by side. */
export function compare(decision: Decision, expected: Case['expect']) {
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

export function loadCompiled(file: CaseFile): CompiledPolicy {
  return compile(loadCasePolicy(file));
}

/** The case file's policy, loaded and checked; a clear error naming the lines when it does not load. */
export function loadCasePolicy(file: CaseFile): PolicyFile {
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
  return policy;
}

