import { z } from 'zod';

// The policy file as users write it. Every object is strict so that a misspelt key is an
// error with a "did you mean", never a silently ignored control.

const DURATION = /^(\d+)(ms|s|m|h|d)$/;
const RATE = /^(\d+)\/(\d*)(ms|s|m|h|d)$/;
// Identifiers are ASCII so that look-alike names cannot hide one agent, tool or server behind
// another (MCP 2025-11-25 tool names: 1–128 of A-Z a-z 0-9 _ - .).
export const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
export const USER_NAME = /^[A-Za-z0-9][A-Za-z0-9_.@+-]{0,127}$/;
export const PRINCIPAL = /^(group:)?[A-Za-z0-9][A-Za-z0-9_.@+-]{0,127}$/;
export const TOOL_GLOB = /^[A-Za-z0-9_.*?-]{1,128}\/[A-Za-z0-9_.*?-]{1,128}$/;
export const CLASS_NAME = /^[a-z][a-z0-9_-]{0,63}$/;

export const Duration = z
  .string()
  .regex(DURATION, 'must be a duration such as `500ms`, `30s`, `15m`, `2h` or `1d`');
export const Rate = z.string().regex(RATE, 'must be a rate such as `60/m`, `1000/h` or `100/10m`');

export const Access = z.enum(['read', 'write', 'admin']);
export type Access = z.infer<typeof Access>;

export const Tier = z.union([z.literal(1), z.literal(2), z.literal(3)], {
  error: 'must be a tier: 1 (read-only), 2 (low-impact write) or 3 (high-impact write)',
});
export type Tier = z.infer<typeof Tier>;

const ClassName = z
  .string()
  .regex(CLASS_NAME, 'must be a data class name in lowercase, such as `pii` or `untrusted`');
const Principal = z.string().regex(PRINCIPAL, 'must be a user name or `group:<name>`');
const ToolGlob = z
  .string()
  .regex(TOOL_GLOB, 'must be a glob over `server/tool`, such as `tickets/*` or `*/get_*`');

// A JSON Schema for one argument. Kept as data and compiled with ajv; checked there.
const JsonSchemaValue = z.union([z.record(z.string(), z.unknown()), z.boolean()]);

export const Loop = z.strictObject({
  repeats: z.number().int().min(1).max(10_000),
  within: Duration,
});

export const Limits = z.strictObject({
  rate: Rate.optional(),
  timeout: Duration.optional(),
  max_calls: z.number().int().min(1).max(1_000_000_000).optional(),
  loop: Loop.optional(),
});
export type Limits = z.infer<typeof Limits>;

export const Grant = z.strictObject({
  id: z.string().regex(NAME).optional(),
  tools: z.array(ToolGlob).min(1),
  access: Access.default('read'),
  effect: z.enum(['allow', 'deny']).default('allow'),
  when: z.record(z.string(), JsonSchemaValue).optional(),
  rate: Rate.optional(),
  timeout: Duration.optional(),
});
export type Grant = z.infer<typeof Grant>;

export const Agent = z.strictObject({
  description: z.string().max(2000).optional(),
  owner: z.string().regex(USER_NAME, 'must be a user name'),
  run_by: z.array(Principal).min(1),
  grants: z.array(Grant).default([]),
  limits: Limits.optional(),
});
export type Agent = z.infer<typeof Agent>;

export const User = z.strictObject({
  groups: z.array(z.string().regex(NAME)).default([]),
  email: z.string().max(320).optional(),
});

export const Group = z.strictObject({
  description: z.string().max(2000).optional(),
  // Groups may contain other groups (`group:sre`); cycles are rejected by the checker.
  members: z.array(Principal).default([]),
});

export const ToolAnnotations = z.looseObject({
  title: z.string().optional(),
  readOnlyHint: z.boolean().optional(),
  destructiveHint: z.boolean().optional(),
  idempotentHint: z.boolean().optional(),
  openWorldHint: z.boolean().optional(),
});

export const ToolOverride = z.strictObject({
  tier: Tier.optional(),
  access: Access.optional(),
  irreversible: z.boolean().optional(),
  returns: z.array(ClassName).optional(),
  /** The only confidential classes the tool may receive; absent: no restriction. */
  accepts: z.array(ClassName).optional(),
  /** Sends what it receives outside the organisation (messages, email, web, third parties). */
  external: z.boolean().optional(),
  /**
   * Returns lists of labelled documents: the enforcer drops those the acting user may not read
   * (`data.retrieval`), and withholds a result it cannot read as such a list.
   */
  retrieval: z.boolean().optional(),
  description: z.string().max(100_000).optional(),
  input_schema: z.record(z.string(), z.unknown()).optional(),
  annotations: ToolAnnotations.optional(),
});
export type ToolOverride = z.infer<typeof ToolOverride>;

export const Server = z
  .strictObject({
    description: z.string().max(2000).optional(),
    command: z.array(z.string()).min(1).optional(),
    url: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).optional(),
    env: z.record(z.string(), z.string()).optional(),
    /**
     * What the gateway does with a tool whose description hides characters or instructions, or
     * whose name looks like another server's tool: `flag` raises an alert, `block` also disables
     * the tool until its definition is approved.
     */
    suspicious: z.enum(['flag', 'block']).default('flag'),
    tools: z.record(z.string(), ToolOverride).optional(),
  })
  .refine((s) => !(s.command && s.url), { error: 'a server has a `command` or a `url`, not both' });
export type Server = z.infer<typeof Server>;

export const Approval = z.strictObject({
  approvers: z.array(Principal).min(1),
  step_up: z.boolean().default(false),
  expires: Duration.default('15m'),
});

export const TierControls = z.strictObject({
  approval: Approval.optional(),
  confirm: z.boolean().optional(),
});

export const Flow = z.strictObject({
  id: z.string().regex(NAME).optional(),
  after: z.array(ClassName).min(1),
  tiers: z.array(Tier).optional(),
  tools: z.array(ToolGlob).optional(),
  /** Only for tools marked `external` (or annotated `openWorldHint`). */
  external: z.boolean().optional(),
  require: z.enum(['approval', 'confirm', 'deny']),
});
export type Flow = z.infer<typeof Flow>;

/** A custom detector: a regular expression whose matches belong to a data class. */
export const Pattern = z.strictObject({
  pattern: z.string().min(1).max(1000),
  /** The family the class belongs to (`secrets`, `pii`) or a class declared under data.classes. */
  class: ClassName,
  description: z.string().max(2000).optional(),
});

/** What may flow into tools (arguments) and out of them (results into the agent's context). */
export const DataRule = z.strictObject({
  id: z.string().regex(NAME).optional(),
  tools: z.array(ToolGlob).min(1),
  direction: z.enum(['in', 'out', 'both']).default('both'),
  /** Detector families (`secrets`, `pii`), detector classes (`aws_access_key`) or custom classes. */
  block: z.array(ClassName).min(1),
  action: z.enum(['deny', 'redact']).default('deny'),
});
export type DataRule = z.infer<typeof DataRule>;

export const Retrieval = z.strictObject({
  /** Who may read documents of each classification; `*` is everyone the policy declares. */
  classifications: z.record(
    z.string().regex(CLASS_NAME),
    z.strictObject({ readers: z.array(z.union([Principal, z.literal('*')])).min(1) }),
  ),
  /** The classification of a document that carries none. Absent: unlabelled documents are withheld. */
  default: z.string().regex(CLASS_NAME).optional(),
});

export const Data = z.strictObject({
  redact: z.array(ClassName).default([]),
  /** How redacted values are replaced: a marker, a keyed hash (equal values correlate), or nothing. */
  redaction: z.enum(['mask', 'hash', 'drop']).default('mask'),
  patterns: z.record(z.string().regex(CLASS_NAME), Pattern).optional(),
  classes: z.record(z.string().regex(CLASS_NAME), z.strictObject({ description: z.string() })).optional(),
  rules: z.array(DataRule).default([]),
  flows: z.array(Flow).default([]),
  retrieval: Retrieval.optional(),
});

/** Anomaly alerts: per-agent rolling baselines, and when a deviation from them raises an alert. */
const RateAlert = z.strictObject({
  /** Alert when a minute's count exceeds this multiple of the agent's usual per-minute count… */
  factor: z.number().min(1).max(1000).default(3),
  /** …and is at least this many (a quiet agent's one extra call is no anomaly). */
  min: z.number().int().min(1).max(1_000_000).default(30),
});
const RatioAlert = z.strictObject({
  /** Alert when this share of the agent's last `window` calls failed (or were denied). */
  ratio: z.number().gt(0).max(1).default(0.5),
  window: z.number().int().min(1).max(10_000).default(20),
});
export const Alerts = z.strictObject({
  /** Calls an agent makes before baseline-relative alerts (rates, new tools, hours) may fire. */
  warmup: z.number().int().min(0).max(1_000_000).default(50),
  call_rate: z.union([z.literal(false), RateAlert]).default({ factor: 3, min: 30 }),
  write_rate: z.union([z.literal(false), RateAlert]).default({ factor: 3, min: 10 }),
  failures: z.union([z.literal(false), RatioAlert]).default({ ratio: 0.5, window: 20 }),
  denials: z.union([z.literal(false), RatioAlert]).default({ ratio: 0.5, window: 20 }),
  new_tool: z.boolean().default(true),
  /** An hour of the day (UTC) holding less than this share of the agent's calls is unusual. */
  unusual_hours: z
    .union([z.literal(false), z.strictObject({ min_share: z.number().min(0).max(1).default(0.01) })])
    .default({ min_share: 0.01 }),
  /** One alert per agent and kind within this window; repeats are counted, not sent. */
  dedupe: Duration.default('10m'),
  /** At most this many alerts per hour across all agents; the rest are counted as suppressed. */
  max_per_hour: z.number().int().min(1).max(1_000_000).default(60),
});
export type Alerts = z.infer<typeof Alerts>;

export const PolicyFile = z.strictObject({
  version: z.literal(1, { error: 'must be `1`, the only policy file version' }),
  users: z.record(z.string().regex(USER_NAME, 'must be a user name'), User).default({}),
  groups: z.record(z.string().regex(NAME), Group).default({}),
  agents: z.record(z.string().regex(NAME), Agent).default({}),
  servers: z.record(z.string().regex(NAME), Server).default({}),
  tiers: z
    .strictObject({ 1: TierControls.optional(), 2: TierControls.optional(), 3: TierControls.optional() })
    .default({}),
  limits: z.strictObject({ default: Limits.optional() }).default({}),
  data: Data.default({ redact: [], redaction: 'mask', rules: [], flows: [] }),
  /**
   * When the audit log cannot be written every call fails closed, unless `fail_open_reads` lets
   * tier-1 reads run meanwhile (counted, and recorded as a gap event once the log is back).
   */
  evidence: z
    .strictObject({ fail_open_reads: z.boolean().default(false) })
    .default({ fail_open_reads: false }),
  alerts: Alerts.optional(),
});
export type PolicyFile = z.infer<typeof PolicyFile>;

/** The JSON Schema of the policy file, for editors (`posture schema`). */
export function policyJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(PolicyFile, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
}
