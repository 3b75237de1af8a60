// What the console's pages show, computed from the policy and the stores: scores and findings
// (the same checks `posture scan` runs, over the policy file and the live evidence), decisions
// over time, the inventory with the policy's tiers, and the audit log's verification.
import { dirname } from 'node:path';
import { runChecks, score, type Discovery, type Finding, type Scores } from '@posture/assess';
import {
  compile,
  createDetector,
  loadPolicy,
  type CompiledPolicy,
  type McpTool,
  type PolicyFile,
  type Problem,
} from '@posture/core';
import { verifyLog, type AuditLog, type Inventory, type StoredEvent } from '@posture/storage';

export interface LoadedConsolePolicy {
  path: string;
  text: string;
  policy?: PolicyFile;
  compiled?: CompiledPolicy;
  problems: Problem[];
}

export function loadConsolePolicy(path: string, text: string): LoadedConsolePolicy {
  const { policy, problems } = loadPolicy(text, path);
  let compiled: CompiledPolicy | undefined;
  if (policy && !problems.some((p) => p.severity === 'error')) {
    try {
      compiled = compile(policy);
    } catch {
      // The problems already say why; pages that need the catalog do without it.
    }
  }
  return { path, text, ...(policy ? { policy } : {}), ...(compiled ? { compiled } : {}), problems };
}

export interface Verification {
  ok: boolean;
  size: number;
  root: string | null;
  checkpoint: string | null;
  problems: string[];
}

export async function verifyAudit(audit: AuditLog): Promise<Verification> {
  const size = await audit.size();
  const checkpoints = await audit.checkpoints();
  const latest = await audit.latestCheckpoint();
  const problems: string[] = [];
  if (audit.verifierKey === '') {
    problems.push('no verifier key for this log (keep audit.pub beside the signing key)');
    return { ok: false, size, root: latest?.root ?? null, checkpoint: latest?.note ?? null, problems };
  }
  const result = await verifyLog(
    audit.entries(),
    checkpoints.map((c) => c.note),
    [audit.verifierKey],
  );
  if (!result.ok) {
    const where =
      result.firstBadIndex !== undefined
        ? `first bad index ${result.firstBadIndex}`
        : result.badCheckpoint !== undefined
          ? `bad checkpoint ${result.badCheckpoint}`
          : 'no proof';
    problems.push(`${where}: ${result.reason ?? 'unknown reason'}`);
  } else if (result.covered < size) {
    problems.push(`${size - result.covered} event(s) after the latest checkpoint are not yet signed`);
  }
  return { ok: result.ok, size, root: latest?.root ?? null, checkpoint: latest?.note ?? null, problems };
}

/** Secrets and personal data stored as they are in the most recent events (as `posture scan` counts). */
async function unredactedIn(audit: AuditLog, size: number) {
  const detector = createDetector();
  const counts = { secrets: 0, pii: 0, events: 0 };
  for await (const event of audit.entries(Math.max(0, size - 10_000))) {
    let found = false;
    for (const finding of detector.scanValue({
      args: event.args,
      detail: event.detail,
      reasons: event.reasons?.map((r) => r.message),
    })) {
      if (finding.family === 'secrets') counts.secrets++;
      else if (finding.family === 'pii') counts.pii++;
      else continue;
      found = true;
    }
    if (found) counts.events++;
  }
  return counts;
}

/** The checks of `posture scan`, over the policy file and the console's stores instead of a folder. */
export async function findingsOf(
  policy: LoadedConsolePolicy,
  stores: { audit: AuditLog; inventory: Inventory },
  now: Date,
): Promise<{ findings: Finding[]; scores: Scores }> {
  const discovery: Discovery = {
    root: dirname(policy.path),
    files: [policy.path],
    servers: [],
    policies: [
      { file: policy.path, ...(policy.policy ? { policy: policy.policy } : {}), problems: policy.problems },
    ],
    databases: [],
    tools: [],
    problems: [],
    modes: {},
  };
  if (policy.policy) {
    for (const [name, server] of Object.entries(policy.policy.servers)) {
      const [command, ...args] = server.command ?? [];
      discovery.servers.push({
        name,
        client: 'posture',
        file: policy.path,
        ...(command !== undefined ? { command } : {}),
        args,
        env: server.env ?? {},
        ...(server.url !== undefined ? { url: server.url } : {}),
        headers: {},
      });
      for (const [tool, override] of Object.entries(server.tools ?? {})) {
        const mcp: McpTool = { name: tool };
        if (override.description !== undefined) mcp.description = override.description;
        if (override.annotations !== undefined) mcp.annotations = override.annotations;
        discovery.tools.push({ server: name, tool: mcp, source: 'policy', file: policy.path });
      }
    }
  }
  const tools = await stores.inventory.tools();
  const agents = await stores.inventory.agents();
  const size = await stores.audit.size();
  const database: Discovery['databases'][number] = { file: 'evidence store', tools, agents };
  if (size > 0) {
    const verified = await verifyAudit(stores.audit);
    database.audit = {
      ok: verified.ok,
      checked: verified.size,
      covered: verified.ok ? verified.size : 0,
      ...(verified.ok ? {} : { reason: verified.problems.join('; ') }),
      verifierKey: stores.audit.verifierKey !== '',
      unredacted: await unredactedIn(stores.audit, size),
    };
  }
  for (const tool of tools) {
    discovery.tools.push({
      server: tool.server,
      tool: { ...(tool.definition as unknown as McpTool), name: tool.name },
      source: 'inventory',
      file: 'evidence store',
    });
  }
  discovery.databases.push(database);
  const findings = runChecks(discovery, { now: now.getTime() });
  return { findings, scores: score(findings) };
}

export function scoresView(scores: Scores) {
  return {
    overall: scores.overall,
    pillars: Object.entries(scores.pillars).map(([pillar, value]) => ({ pillar, score: value })),
  };
}

export interface DecisionBucket {
  time: string;
  allow: number;
  deny: number;
  approve: number;
  confirm: number;
}

const HOUR = 3_600_000;

/**
 * The last day's calls, read from the log once and then only what was appended since: the
 * overview is fetched on every change, and must not reread a day of events each time.
 */
export class RecentCalls {
  private calls: CallSummary[] = [];
  private after: number | undefined;
  constructor(private readonly audit: AuditLog) {}

  private turn: Promise<unknown> = Promise.resolve();

  /** One read at a time: two at once would both add what came after the same `after`. */
  get(now: Date): Promise<CallSummary[]> {
    const result = this.turn.then(() => this.read(now));
    this.turn = result.catch(() => {});
    return result;
  }

  private async read(now: Date): Promise<CallSummary[]> {
    const since = Math.floor(now.getTime() / HOUR) * HOUR - 23 * HOUR;
    for (;;) {
      const page = await this.audit.search({
        kind: 'call',
        ...(this.after !== undefined ? { after: this.after } : { since: new Date(since).toISOString() }),
        limit: 5000,
      });
      for (const e of page) {
        this.calls.push({ seq: e.seq, time: e.time, decision: e.decision, outcome: e.outcome });
      }
      if (page.length > 0) this.after = page[page.length - 1]!.seq;
      else if (this.after === undefined) this.after = (await this.audit.size()) - 1;
      if (page.length < 5000) break;
    }
    this.calls = this.calls.filter((c) => Date.parse(c.time) >= since);
    return this.calls;
  }
}

/** Hourly counts of decisions over the last 24 hours, oldest first, and outcomes over the same calls. */
export type CallSummary = Pick<StoredEvent, 'seq' | 'time' | 'decision' | 'outcome'>;

export function decisionsOverTime(calls: readonly CallSummary[], now: Date) {
  const end = Math.floor(now.getTime() / HOUR) * HOUR;
  const buckets: DecisionBucket[] = [];
  for (let i = 23; i >= 0; i--) {
    buckets.push({ time: new Date(end - i * HOUR).toISOString(), allow: 0, deny: 0, approve: 0, confirm: 0 });
  }
  const first = end - 23 * HOUR;
  const outcomes: Record<string, number> = {};
  for (const event of calls) {
    const at = Date.parse(event.time);
    if (Number.isNaN(at) || at < first) continue;
    const bucket = buckets[Math.min(23, Math.floor((at - first) / HOUR))]!;
    if (event.decision) bucket[event.decision]++;
    if (event.outcome) outcomes[event.outcome] = (outcomes[event.outcome] ?? 0) + 1;
  }
  return { decisions: buckets, outcomes };
}
