/** A problem found in a policy file: data with a stable code; the wording is for people. */
export interface Problem {
  code: ProblemCode;
  severity: 'error' | 'warning';
  message: string;
  /** The path of the offending value inside the policy file. */
  path: (string | number)[];
  file: string;
  line: number;
  column: number;
  hint?: string;
}

/** Every code `posture check` can report, with what it means. Tests cover each one. */
export const PROBLEM_CODES = {
  'file.too_large': 'the policy file is larger than the limit',
  'file.empty': 'the policy file is empty',
  'yaml.syntax': 'the file is not valid YAML',
  'yaml.duplicate_key': 'a key appears twice in one mapping, so one of the two would be lost',
  'yaml.alias': 'YAML anchors and aliases are not allowed in a policy file',
  'schema.required': 'a required key is missing',
  'schema.type': 'a value has the wrong type',
  'schema.value': 'a value is out of range or not one of the allowed values',
  'schema.unknown_key': 'a key the policy file does not know',
  'name.invalid': 'a name uses characters outside A-Z a-z 0-9 _ . -',
  'name.invisible': 'a name contains invisible or bidirectional-control characters',
  'name.confusable': 'a name contains characters that look like ASCII letters but are not',
  'name.lookalike': 'two names of the same kind look alike',
  'principal.unknown': 'a user or group that is not declared',
  'group.cycle': 'groups contain each other',
  'agent.token_ttl': "an agent's `token_ttl` is longer than 24 hours",
  'approver.unknown': 'an approver who is neither a declared user nor a declared group',
  'grant.unknown_server': 'a grant names a server that is not in the catalog',
  'grant.unknown_tool': 'a grant names a tool that its server does not have',
  'grant.never_matches': 'a grant matches no tool in the catalog',
  'grant.access_below_tool': 'a grant matches only tools that need more access than it gives',
  'grant.unconstrained_tier3_write': 'a write grant on a tier-3 tool without argument constraints',
  'constraint.unknown_argument': 'a constraint on an argument the tool does not declare',
  'constraint.invalid_schema': 'a constraint that is not a valid JSON Schema',
  'catalog.undeclared_tools': 'a server whose tools are neither declared nor discovered',
  'tier.no_approval': 'tier-3 tools can be called for writing but tier 3 requires no approval',
  'flow.unknown_class': 'a data class that is neither built in nor declared under data.classes',
  'tool.classification_conflict': 'a tool override lowers what its annotations or name imply',
  'pattern.invalid':
    'a custom detector pattern that is not a valid or a safe (linear-time) regular expression',
  'retrieval.no_readers': 'a retrieval tool, but no `data.retrieval` says who may read its documents',
  'retrieval.unknown_default': 'the default classification of documents is not a declared classification',
} as const;

export type ProblemCode = keyof typeof PROBLEM_CODES;

/** `file:line:column severity code: message` and an indented hint: the format editors link. */
export function formatProblem(problem: Problem): string {
  const head = `${problem.file}:${problem.line}:${problem.column} ${problem.severity} ${problem.code}: ${problem.message}`;
  return problem.hint ? `${head}\n  hint: ${problem.hint}` : head;
}
