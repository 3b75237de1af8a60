// @posture/assess: posture assessment — discovery, checks, scores, reports, attack replay.
export {
  KNOWN_IDS,
  MITRE_ATLAS,
  OWASP_AGENTIC_2026,
  OWASP_LLM_2025,
  SOURCES,
  type AtlasTechnique,
  type TaxonomyEntry,
} from './taxonomy.js';
export {
  replay,
  type AgentRun,
  type CallTrace,
  type CoverageRow,
  type ReplayReport,
  type ScenarioResult,
  type Verdict,
} from './replay/replay.js';
export { formatScenarioProblem, parseScenarios, Scenario, type ScenarioProblem } from './replay/scenario.js';
export {
  BUILTIN_SCENARIOS_DIR,
  loadBuiltinScenarios,
  loadScenarioDir,
  type LoadedScenarios,
} from './replay/library.js';
export { CHECKS } from './checks/registry.js';
export {
  PILLARS,
  SEVERITIES,
  type Check,
  type CheckContext,
  type Evidence,
  type Pillar,
  type Severity,
} from './checks/types.js';
export { discover, homeCandidates, MAX_CONFIG_BYTES, type DiscoverOptions } from './scan/discover.js';
export { connectAll, listServerTools, DEFAULT_CONNECT_TIMEOUT_MS } from './scan/connect.js';
export type { ClientKind, ConfiguredServer, Discovery, KnownTool, ScanProblem } from './scan/model.js';
export { failsAt, runChecks, scan, type ScanOptions, type ScanReport } from './scan/scan.js';
export { SCORE_FORMULA, SEVERITY_WEIGHT, score, type Finding, type Scores } from './report/score.js';
export { FORMATS, render, toSarif, type Format } from './report/formats.js';
export * from './monitor/index.js';
