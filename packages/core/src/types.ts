import type { Access, Tier } from './policy/schema.js';

export type { Access, Tier };

/** An MCP tool definition as returned by `tools/list`. */
export interface McpTool {
  name: string;
  title?: string;
  description?: string;
  inputSchema?: Record<string, unknown>;
  outputSchema?: Record<string, unknown>;
  annotations?: {
    title?: string;
    readOnlyHint?: boolean;
    destructiveHint?: boolean;
    idempotentHint?: boolean;
    openWorldHint?: boolean;
    [key: string]: unknown;
  };
}

/** What `classify()` concludes about a tool, and why. */
export interface Classification {
  access: Access;
  tier: Tier;
  irreversible: boolean;
  /** Stable codes with messages, e.g. `verb.destructive`, `annotation.readonly_conflict`. */
  reasons: Reason[];
}

export interface Reason {
  code: string;
  message: string;
}

export type Verdict = 'allow' | 'deny' | 'approve' | 'confirm';

/** One tool call to decide on. Time and ids are passed in: the core reads no clock. */
export interface DecisionRequest {
  agent: string;
  user?: string;
  /** `server/tool` */
  tool: string;
  args?: Record<string, unknown>;
  session?: string;
  /** Data classes the caller says the session already carries; added to the session. */
  labels?: string[];
  /** Set by the enforcer after it verified a single-use approval bound to this exact call. */
  approval?: { id: string };
  /** Set by the enforcer after the acting user confirmed this exact call. */
  confirmed?: boolean;
}

export interface Obligations {
  timeout_ms?: number;
  /** Classes to redact from evidence (audit events, logs, alerts). */
  redact?: string[];
  /** Classes to redact from the arguments before they reach the tool (`data.rules`, action redact). */
  redact_arguments?: string[];
  /** Classes that withhold the whole result from the agent when found in it (`data.rules`, deny). */
  block_results?: string[];
  /** Classes to redact from the result before it reaches the agent (`data.rules`, action redact). */
  redact_results?: string[];
  approval?: { approvers: string[]; step_up: boolean; expires_ms: number };
  confirm?: boolean;
  /** Data classes the session carries after this call returns. */
  labels?: string[];
  approval_id?: string;
}

export interface Decision {
  decision: Verdict;
  /** Ids of the rules that decided, as paths into the policy file (`agents.bot.grants[1]`). */
  rules: string[];
  reasons: Reason[];
  obligations: Obligations;
}

export interface DecideContext {
  /** Milliseconds since the epoch. */
  now: number;
}
