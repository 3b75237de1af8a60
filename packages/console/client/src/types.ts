// The shapes the UI reads from the API: the parts of @posture/storage's and @posture/assess's types
// it shows. Declared here because the browser build imports nothing from the Node packages.

export type Verdict = 'allow' | 'deny' | 'approve' | 'confirm';

export interface Reason {
  code: string;
  message: string;
}

export interface StoredEvent {
  seq: number;
  time: string;
  kind: string;
  actor: { user?: string; agent?: string; tool_identity?: string };
  session?: string;
  tool?: string;
  access?: string;
  tier?: number;
  args?: unknown;
  args_hash?: string;
  decision?: Verdict;
  rules?: string[];
  reasons?: Reason[];
  outcome?: string;
  latency_ms?: number;
  approval_id?: string;
  redactions?: Array<{ class: string; path: string; count: number }>;
  detail?: Record<string, unknown>;
}

export interface ApprovalRequest {
  id: string;
  agent: string;
  user: string;
  tool: string;
  args_hash: string;
  session: string;
  args?: unknown;
  target?: string;
  approvers: string[];
  step_up: boolean;
  reasons: Reason[];
  rules: string[];
  created_at: string;
  expires_at: string;
  status: string;
  decided_by?: string;
  decided_at?: string;
  step_up_proof?: { method: string; at: string };
  comment?: string;
  consumed_at?: string;
  /** Set by the server when the signed-in approver could not decide this request, and why. */
  refusal?: { code: 'not_approver' | 'self_approval'; message: string };
}

export interface ToolDefinition {
  name: string;
  description?: string;
  inputSchema?: Record<string, unknown>;
  annotations?: Record<string, unknown>;
}

export interface InventoryTool {
  server: string;
  name: string;
  hash: string;
  definition: ToolDefinition;
  /** The definition a human approved, for a `changed` tool: what the current one is compared with. */
  approved_definition?: ToolDefinition;
  first_seen: string;
  last_seen: string;
  changes: number;
  status: 'new' | 'approved' | 'changed';
  approved_hash?: string;
  approved_by?: string;
  approved_at?: string;
  /** From the policy's catalog, where the policy knows the tool. */
  tier?: number;
  access?: string;
  in_policy?: boolean;
}

export interface StandingException {
  id: string;
  agent: string;
  tools: string[];
  justification: string;
  approved_by: string;
  created_at: string;
  expires_at: string;
  revoked_by?: string;
  revoked_at?: string;
}

export interface Seen {
  name: string;
  first_seen: string;
  last_seen: string;
  /** Agents only: every token issued until `at` is refused, until `until`. */
  tokens_revoked?: { at: string; until: string };
}

export interface PillarScore {
  pillar: string;
  score: number;
}

export interface Scores {
  overall: number;
  pillars: PillarScore[];
}

export interface DecisionBucket {
  time: string;
  allow: number;
  deny: number;
  approve: number;
  confirm: number;
}

export interface Overview {
  scores: Scores;
  decisions: DecisionBucket[];
  /** Outcomes of the same calls, by outcome. */
  outcomes?: Record<string, number>;
  alerts: StoredEvent[];
  pending_approvals: number;
  audit_size: number;
}

export interface Finding {
  id: string;
  title: string;
  severity: string;
  pillar: string;
  owasp: readonly string[];
  asi: readonly string[];
  atlas: readonly string[];
  remediation: string;
  evidence: Array<{ file: string; path?: string; message: string }>;
  penalty: number;
  score: string;
}

export interface PolicyProblem {
  code: string;
  message: string;
  line?: number;
  column?: number;
  severity: string;
}

export interface VerifyResult {
  ok: boolean;
  size: number;
  root?: string;
  checkpoint?: unknown;
  problems: string[];
}

/** Scores arrive as `[{pillar, score}]` per the contract; a `Record` (as @posture/assess has it) is accepted too. */
export function pillarScores(pillars: unknown): PillarScore[] {
  if (Array.isArray(pillars)) return pillars as PillarScore[];
  if (typeof pillars === 'object' && pillars !== null) {
    return Object.entries(pillars as Record<string, number>).map(([pillar, score]) => ({ pillar, score }));
  }
  return [];
}
