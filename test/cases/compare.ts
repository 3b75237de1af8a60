// What a corpus case asserts of a decision, shared by the runners for the core, the SDK and the
// gateway: each produces a decision its own way and compares it here.
import { compile, loadPolicy, type CompiledPolicy, type Decision, type PolicyFile } from '@posture/core';
import { argsHash } from '@posture/sdk';
import type { ApprovalQueue, BoundCall } from '@posture/storage';
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


const APPROVER = 'corpus-approver';

/** The call a case makes, as an approval binds it (the session is the runner's to say). */
export function boundOf(c: Case): Omit<BoundCall, 'session'> {
  return { agent: c.request.agent, user: c.request.user ?? '', tool: c.request.tool, args_hash: argsHash(c.request.args ?? {}) };
}

/**
 * What a case's `approval` means to an enforcer: an approved request in the queue, bound to the
 * exact call. The queue may hand back a request the enforcer queued earlier for the same call:
 * it is decided as one of its own approvers, never the requesting user, with step-up proof.
 */
export async function preApprove(queue: ApprovalQueue, call: BoundCall, at: number): Promise<void> {
  const request = await queue.request(
    { ...call, approvers: [APPROVER], step_up: false, reasons: [], rules: [], expires_at: new Date(at + 3_600_000).toISOString() },
    new Date(at),
  );
  const groups = request.approvers.filter((a) => a.startsWith('group:')).map((a) => a.slice(6));
  const by = groups.length > 0 ? APPROVER : (request.approvers.find((a) => a !== call.user) ?? APPROVER);
  const stepUp = { method: 'corpus', at: new Date(at).toISOString() };
  const decided = await queue.decide(request.id, { approve: true, by, byGroups: groups, stepUp }, new Date(at));
  if (!decided.ok && decided.code !== 'not_pending') throw new Error(`could not pre-approve: ${decided.message}`);
}
