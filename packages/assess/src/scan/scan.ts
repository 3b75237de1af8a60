import { compile, createDetector, redact, type Detector } from '@posture/core';
import { CHECKS } from '../checks/registry.js';
import type { Check, CheckContext, Evidence, LoadedPolicy } from '../checks/types.js';
import { SEVERITIES, type Severity } from '../checks/types.js';
import { score, SCORE_FORMULA, toFinding, type Finding, type Scores } from '../report/score.js';
import { connectAll } from './connect.js';
import { discover, type DiscoverOptions } from './discover.js';
import type { Discovery } from './model.js';

export interface ScanOptions extends DiscoverOptions {
  /** List each configured server's tools over MCP (starts local servers; never calls a tool). */
  connect?: boolean;
  connectTimeoutMs?: number;
  /** Milliseconds since the epoch; the clock by default. */
  now?: number;
  checks?: readonly Check[];
}

export interface ScanReport {
  root: string;
  generated_at: string;
  files: string[];
  servers: number;
  tools: number;
  checks: number;
  findings: Finding[];
  scores: Scores;
  formula: string;
}

/** Evidence never carries a secret: whatever a check wrote is redacted once more here. */
function redactEvidence(evidence: Evidence, detector: Detector): Evidence {
  const clean = (text: string) =>
    redact(text, detector, { mode: 'mask', classes: ['secrets'] }).value as string;
  return {
    file: evidence.file,
    ...(evidence.path !== undefined ? { path: clean(evidence.path) } : {}),
    message: clean(evidence.message),
  };
}

export function runChecks(
  discovery: Discovery,
  options: { now?: number; checks?: readonly Check[] } = {},
): Finding[] {
  const detector = createDetector();
  const policies: LoadedPolicy[] = [];
  for (const source of discovery.policies) {
    if (!source.policy) continue;
    const loaded: LoadedPolicy = { file: source.file, policy: source.policy };
    if (!source.problems.some((p) => p.severity === 'error')) {
      try {
        loaded.compiled = compile(source.policy);
      } catch {
        // Reported by PST-037 through the problems; checks that need the catalog skip it.
      }
    }
    policies.push(loaded);
  }
  const context: CheckContext = {
    discovery,
    detector,
    policies,
    clientServers: discovery.servers.filter((s) => s.client !== 'posture'),
    tools: discovery.tools,
    now: options.now ?? Date.now(),
  };
  const findings: Finding[] = [];
  for (const check of options.checks ?? CHECKS) {
    const evidence = check.run(context).map((e) => redactEvidence(e, detector));
    if (evidence.length > 0) findings.push(toFinding(check, evidence));
  }
  const rank = (s: Severity) => SEVERITIES.indexOf(s);
  return findings.sort((a, b) => rank(b.severity) - rank(a.severity) || a.id.localeCompare(b.id));
}

export async function scan(root: string, options: ScanOptions = {}): Promise<ScanReport> {
  const discovery = await discover(root, options);
  if (options.connect)
    await connectAll(
      discovery,
      options.connectTimeoutMs !== undefined ? { timeoutMs: options.connectTimeoutMs } : {},
    );
  const findings = runChecks(discovery, options);
  const now = options.now ?? Date.now();
  return {
    root,
    generated_at: new Date(now).toISOString(),
    files: discovery.files,
    servers: discovery.servers.length,
    tools: new Set(discovery.tools.map((t) => `${t.server}/${t.tool.name}`)).size,
    checks: (options.checks ?? CHECKS).length,
    findings,
    scores: score(findings),
    formula: SCORE_FORMULA,
  };
}

/** Whether any finding is at or above `threshold` (for `--fail-on`). */
export function failsAt(report: ScanReport, threshold: Severity): boolean {
  return report.findings.some((f) => SEVERITIES.indexOf(f.severity) >= SEVERITIES.indexOf(threshold));
}
