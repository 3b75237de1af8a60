export type * from './types.js';
export { classify } from './classify.js';
export { compile, type CompiledPolicy, type CompileOptions, type Plan } from './compile.js';
export { decide } from './decide.js';
export {
  createMemoryState,
  type DecisionState,
  type SessionState,
  type RateLog,
  type MemoryStateOptions,
} from './state.js';
export { stateKeys, type RateKey, type StateKeys } from './state-keys.js';
export {
  loadPolicy,
  locateRule,
  MAX_POLICY_BYTES,
  type LoadOptions,
  type LoadResult,
} from './policy/load.js';
export { Alerts, PolicyFile, policyJsonSchema } from './policy/schema.js';
export { PROBLEM_CODES, formatProblem, type Problem, type ProblemCode } from './policy/problems.js';
export type { CatalogTool } from './policy/catalog.js';
export { groupMembership } from './policy/catalog.js';
export {
  DEFAULT_TOKEN_TTL_MS,
  LONGEST_REVOCATION_MS,
  LONGEST_TOKEN_TTL_MS,
  REVOCATION_MARGIN_MS,
} from './policy/check.js';
export { canonicalJson, durationMs, skeleton, toolMatcher, type ToolMatcher } from './text.js';
export {
  createDetector,
  redact,
  type Detector,
  type DetectorOptions,
  type Finding,
  type RedactOptions,
  type Redaction,
} from './data/index.js';
export {
  compileRetrieval,
  filterDocuments,
  canReadResource,
  filterResourceList,
  filterResourceRead,
  filterRetrievalResult,
  RESOURCE_LABELS_KEY,
  type DocumentLabels,
  type RetrievalAccess,
  type LabelledResource,
  type RetrievalFilterResult,
} from './data/retrieval.js';
export { generateRls, quoteIdent, quoteLiteral, type RlsOptions } from './data/rls.js';
export * from './data/index.js';
export {
  checkPath,
  checkPathArguments,
  checkUrlArguments,
  hostAllowed,
  internalAddress,
  normalise as normalisePath,
  pathArguments,
  urlHosts,
  type EgressGuard,
  type GuardFailure,
  type PathGuard,
} from './guards.js';
