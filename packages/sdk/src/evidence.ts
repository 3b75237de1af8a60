// What the enforcer does with data: redact evidence always, arguments and results where the
// policy's data.rules say so. One scan per value; the findings decide block, redact and labels.
import {
  redact,
  toolMatcher,
  type CompiledPolicy,
  type Finding,
  type Obligations,
  type Redaction,
  type Removed,
  type ToolMatcher,
} from '@posture/core';

/** Secrets are always redacted from evidence, whatever `data.redact` lists. */
const ALWAYS_REDACTED = ['secrets'];

export interface AgentBound {
  /** The result as the agent may see it. */
  value: unknown;
  removed: Removed[];
  /** Why the whole result is withheld (a `data.rules` deny on results), if it is. */
  blocked?: string;
  /** The families found in the result (`secrets`, `pii`, custom), for session labels. */
  families: ReadonlySet<string>;
}

export class EvidenceRedactor {
  readonly #policy: CompiledPolicy;
  readonly #evidenceClasses: string[];
  readonly #mode: 'mask' | 'hash' | 'drop';
  readonly #key: Uint8Array | undefined;

  constructor(policy: CompiledPolicy, key: Uint8Array | undefined) {
    this.#policy = policy;
    this.#evidenceClasses = [...new Set([...ALWAYS_REDACTED, ...policy.policy.data.redact.map(family)])];
    const mode = policy.policy.data.redaction;
    // A keyed hash needs the installation's key; without one, mask rather than fail.
    this.#mode = mode === 'hash' && key === undefined ? 'mask' : mode;
    this.#key = key;
  }

  /** Arguments or any value as evidence may keep it. */
  forEvidence(value: unknown): Redaction {
    return redact(value, this.#policy.detector, this.#options(this.#evidenceClasses));
  }

  /** A message (a reason, an error) as evidence may keep it. */
  text(message: string): string {
    return this.forEvidence(message).value as string;
  }

  /** Arguments with the classes a `data.rules` redact rule names masked, before they reach the tool. */
  forTool(args: Record<string, unknown>, classes: readonly string[]): unknown {
    return redact(args, this.#policy.detector, { mode: 'mask', classes: classes.map(family) }).value;
  }

  /** A result checked against `data.rules` on results, before it reaches the agent. */
  forAgent(result: unknown, obligations: Obligations): AgentBound {
    const findings = this.#policy.detector.scanValue(result);
    const families = new Set(findings.filter((f) => f.family !== 'limit').map((f) => f.family));
    const block = obligations.block_results;
    if (block) {
      const hit = findings.find((f) => matches(f, block));
      if (hit) {
        return {
          value: undefined,
          removed: [],
          blocked: `the result carries \`${hit.class}\` (${hit.family}) at \`${hit.path.replace(/^\$/, 'result')}\`, which this tool may not return`,
          families,
        };
      }
    }
    const classes = obligations.redact_results;
    if (!classes || !findings.some((f) => matches(f, classes)))
      return { value: result, removed: [], families };
    const redaction = redact(result, findings, { mode: 'mask', classes: classes.map(family) });
    return { value: redaction.value, removed: redaction.removed, families };
  }

  #options(classes: string[]) {
    return this.#mode === 'hash'
      ? { mode: 'hash' as const, key: this.#key!, classes }
      : { mode: this.#mode, classes };
  }
}

/** `secret` is the label; `secrets` the detector family. */
function family(name: string): string {
  return name === 'secret' ? 'secrets' : name;
}

function matches(finding: Finding, classes: readonly string[]): boolean {
  return classes.some((name) => family(name) === finding.class || family(name) === finding.family);
}

/**
 * `data.rules` for what reaches the model other than tool results: the prompts and resources a
 * server serves. A rule's `tools` globs match `<server>/<prompt or resource name>`; rules for
 * results (`direction: out` or both) apply, denying or redacting as they say.
 */
export class ContextRules {
  readonly #policy: CompiledPolicy;
  readonly #rules: Array<{ id: string; matches: ToolMatcher; classes: string[]; action: 'deny' | 'redact' }>;

  constructor(policy: CompiledPolicy) {
    this.#policy = policy;
    this.#rules = policy.policy.data.rules.flatMap((rule, i) =>
      rule.direction === 'in'
        ? []
        : [
            {
              id: rule.id ? `data.rules.${rule.id}` : `data.rules[${i}]`,
              matches: toolMatcher(rule.tools),
              classes: rule.block.map(family),
              action: rule.action,
            },
          ],
    );
  }

  /** The value as the model may see it, or why it is withheld. */
  screen(
    server: string,
    name: string,
    value: unknown,
  ): { ok: true; value: unknown; removed: Removed[] } | { ok: false; rule: string; message: string } {
    const applicable = this.#rules.filter((rule) => rule.matches(server, name));
    if (applicable.length === 0) return { ok: true, value, removed: [] };
    const findings = this.#policy.detector.scanValue(value);
    for (const rule of applicable) {
      if (rule.action !== 'deny') continue;
      const hit = findings.find((f) => matches(f, rule.classes));
      if (hit) {
        return {
          ok: false,
          rule: rule.id,
          message: `\`${server}/${name}\` carries \`${hit.class}\` (${hit.family}) at \`${hit.path}\`, which may not reach the model`,
        };
      }
    }
    const classes = applicable.filter((rule) => rule.action === 'redact').flatMap((rule) => rule.classes);
    if (classes.length === 0 || !findings.some((f) => matches(f, classes)))
      return { ok: true, value, removed: [] };
    const redaction = redact(value, findings, { mode: 'mask', classes });
    return { ok: true, value: redaction.value, removed: redaction.removed };
  }
}
