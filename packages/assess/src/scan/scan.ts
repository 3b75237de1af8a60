import { compile, createDetector, redact, type Detector } from '@posture/core';
import { isGateway, SECRET_NAME } from '../checks/helpers.js';
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
  inventory: Inventory;
}

/** What was found, redacted: environment values are left out, arguments and URLs masked. */
export interface Inventory {
  servers: Array<{
    name: string;
    client: string;
    file: string;
    launch?: string;
    url?: string;
    env: string[];
    gateway: boolean;
  }>;
  tools: Array<{ server: string; name: string; source: string }>;
}

/** `--token X`, `--api-key=X`: values of secret-named flags, which a detector may not recognise. */
function maskSecretFlags(args: readonly string[]): string[] {
  return args.map((arg, i) => {
    const inline = /^(--?[A-Za-z0-9_-]+)=/.exec(arg);
    if (inline && SECRET_NAME.test(inline[1]!.replace(/^-+/, ''))) return `${inline[1]}=[REDACTED]`;
    const previous = args[i - 1];
    if (
      previous !== undefined &&
      /^--?[A-Za-z0-9_-]+$/.test(previous) &&
      SECRET_NAME.test(previous.replace(/^-+/, ''))
    ) {
      return '[REDACTED]';
    }
    return arg;
  });
}

function inventoryOf(discovery: Discovery, detector: Detector): Inventory {
  const mask = (text: string) =>
    redact(text, detector, { mode: 'mask', classes: ['secrets'] }).value as string;
  const seen = new Set<string>();
  return {
    servers: discovery.servers.map((s) => ({
      name: s.name,
      client: s.client,
      file: s.file,
      ...(s.command !== undefined ? { launch: mask([s.command, ...maskSecretFlags(s.args)].join(' ')) } : {}),
      ...(s.url !== undefined
        ? { url: mask(s.url.replace(/\?.*$/, (q) => (q.length > 1 ? '?…' : ''))) }
        : {}),
      env: Object.keys(s.env),
      gateway: isGateway(s),
    })),
    tools: discovery.tools
      .filter((t) => {
        const key = `${t.server}/${t.tool.name}`;
        if (seen.has(key)) return false;
        seen.add(key);
        return true;
      })
      .map((t) => ({ server: t.server, name: mask(t.tool.name), source: t.source })),
  };
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
    let evidence: Evidence[];
    try {
      evidence = check.run(context).map((e) => redactEvidence(e, detector));
    } catch (error) {
      // A check that breaks on some input must not end the scan; PST-064 (last) reports it.
      discovery.problems.push({
        file: discovery.root,
        code: 'check.failed',
        message: `check \`${check.id}\` could not run: ${error instanceof Error ? error.message : String(error)}`,
      });
      continue;
    }
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
    inventory: inventoryOf(discovery, createDetector()),
  };
}

/** Whether any finding is at or above `threshold` (for `--fail-on`). */
export function failsAt(report: ScanReport, threshold: Severity): boolean {
  return report.findings.some((f) => SEVERITIES.indexOf(f.severity) >= SEVERITIES.indexOf(threshold));
}
