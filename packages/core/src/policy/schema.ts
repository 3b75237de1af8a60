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
  repeats: z
    .number()
    .int()
    .min(1)
    .max(10_000)
    .describe(
      'deny a call once the same tool with the same arguments (or an A-B-A-B alternation) ran this many times',
    ),
  within: Duration.describe('the window the repeats are counted in'),
});

export const Limits = z.strictObject({
  rate: Rate.optional().describe('calls per agent per window; over it a call is denied (`limit.rate`)'),
  timeout: Duration.optional().describe(
    'how long a call may run before it is cancelled and fails as timed out',
  ),
  max_calls: z
    .number()
    .int()
    .min(1)
    .max(1_000_000_000)
    .optional()
    .describe('calls one session may make (`limit.max_calls`)'),
  loop: Loop.optional().describe('loop detection: repeated identical calls or two calls alternating'),
});
export type Limits = z.infer<typeof Limits>;

export const Grant = z.strictObject({
  id: z
    .string()
    .regex(NAME)
    .optional()
    .describe('names the grant in rule ids: `agents.<agent>.grants.<id>` instead of `grants[<index>]`'),
  tools: z.array(ToolGlob).min(1).describe('the tools the grant covers, as globs over `<server>/<tool>`'),
  access: Access.default('read').describe(
    'the highest access level granted; covers tools of that level and below (`read < write < admin`)',
  ),
  effect: z
    .enum(['allow', 'deny'])
    .default('allow')
    .describe('`deny` refuses the matching tools whatever else is granted (`grant.deny`)'),
  when: z
    .record(z.string(), JsonSchemaValue)
    .optional()
    .describe(
      'argument constraints: a JSON Schema per argument name; all must hold and a constrained argument must be present',
    ),
  rate: Rate.optional().describe(
    'a separate rate limit for the calls this grant covers (per agent and tool)',
  ),
  timeout: Duration.optional().describe('the call timeout for the tools this grant covers'),
});
export type Grant = z.infer<typeof Grant>;

export const Agent = z.strictObject({
  description: z.string().max(2000).optional().describe('what the agent is for'),
  owner: z
    .string()
    .regex(USER_NAME, 'must be a user name')
    .describe('the user accountable for the agent; must be declared under `users`'),
  run_by: z
    .array(Principal)
    .min(1)
    .describe('the users and groups (`group:<name>`) the agent may act for; anyone else is denied'),
  grants: z
    .array(Grant)
    .default([])
    .describe('what the agent may call; nothing is allowed without a grant, and a deny grant wins'),
  limits: Limits.optional().describe('overrides `limits.default` key by key for this agent'),
  token_ttl: Duration.optional().describe(
    'the longest a token for this agent may live (default 1h, at most 24h): a longer-lived one is refused when issued and when presented',
  ),
});
export type Agent = z.infer<typeof Agent>;

export const User = z.strictObject({
  groups: z.array(z.string().regex(NAME)).default([]).describe('the groups the user belongs to'),
  email: z.string().max(320).optional().describe("the user's email address, for people reading evidence"),
});

export const Group = z.strictObject({
  description: z.string().max(2000).optional().describe('what the group is'),
  // Groups may contain other groups (`group:sre`); cycles are rejected by the checker.
  members: z
    .array(Principal)
    .default([])
    .describe('users and groups (`group:<name>`) in this group, besides users naming it; cycles are errors'),
});

export const ToolAnnotations = z.looseObject({
  title: z.string().optional().describe('a human-readable title'),
  readOnlyHint: z.boolean().optional().describe('the tool does not modify its environment'),
  destructiveHint: z.boolean().optional().describe('the tool may perform destructive updates'),
  idempotentHint: z
    .boolean()
    .optional()
    .describe('calling it again with the same arguments has no further effect'),
  openWorldHint: z.boolean().optional().describe('the tool reaches outside entities (counts as `external`)'),
});

export const ToolOverride = z.strictObject({
  tier: Tier.optional().describe(
    'risk tier: 1 read-only, 2 low-impact write, 3 high-impact write; absent: classified automatically (upward when unsure)',
  ),
  access: Access.optional().describe('the access level a grant needs; absent: classified automatically'),
  irreversible: z
    .boolean()
    .optional()
    .describe('the effect cannot be undone; such calls always need confirmation (`tool.irreversible`)'),
  returns: z
    .array(ClassName)
    .optional()
    .describe(
      'data classes of what the tool returns; the session carries them after a call, for `data.flows`',
    ),
  accepts: z
    .array(ClassName)
    .optional()
    .describe(
      'the only confidential classes the tool may receive; once the session carries another, calls are denied (`flow.accepts`); absent: no restriction',
    ),
  external: z
    .boolean()
    .optional()
    .describe('sends what it receives outside the organisation (messages, email, web, third parties)'),
  retrieval: z
    .boolean()
    .optional()
    .describe(
      'returns lists of labelled documents: the enforcer drops those the acting user may not read (`data.retrieval`), and withholds a result it cannot read as such a list',
    ),
  paths: z
    .strictObject({
      args: z
        .array(z.string().min(1).max(128))
        .min(1)
        .describe('the arguments that hold a file path (or a list of paths, or a `file:` URL)'),
      roots: z
        .array(
          z
            .string()
            .regex(/^(\/|[A-Za-z]:[\\/])/, 'must be an absolute path such as `/srv/data`')
            .refine((root) => !/(^|[\\/])\.\.?([\\/]|$)/.test(root), 'must be canonical: no `.` or `..`'),
        )
        .min(1)
        .describe('the directories those paths must stay under once canonicalised'),
    })
    .optional()
    .describe(
      'path arguments are canonicalised (percent escapes, backslashes, `..`, symlinks) and must stay under `roots` (`args.path`)',
    ),
  description: z
    .string()
    .max(100_000)
    .optional()
    .describe("the tool's description, for classification; replaces the server's"),
  input_schema: z
    .record(z.string(), z.unknown())
    .optional()
    .describe(
      "the JSON Schema of the arguments (replaces the server's); arguments that do not fit are refused",
    ),
  annotations: ToolAnnotations.optional().describe(
    "MCP tool annotations for automatic classification (replace the server's)",
  ),
});
export type ToolOverride = z.infer<typeof ToolOverride>;

export const Server = z
  .strictObject({
    description: z.string().max(2000).optional().describe('what the server is'),
    command: z
      .array(z.string())
      .min(1)
      .optional()
      .describe('the command and arguments the gateway starts the server with (stdio); not with `url`'),
    url: z
      .url({ protocol: /^https?$/, error: 'must be an http(s) URL' })
      .optional()
      .describe('the http(s) URL of a Streamable HTTP server; not with `command`'),
    env: z.record(z.string(), z.string()).optional().describe('environment variables for the started server'),
    suspicious: z
      .enum(['flag', 'block'])
      .default('flag')
      .describe(
        "what the gateway does with a tool whose description hides characters or instructions, or whose name looks like another server's tool: `flag` raises an alert, `block` also disables the tool until its definition is approved",
      ),
    tools: z
      .record(z.string(), ToolOverride)
      .optional()
      .describe(
        'the tool catalog: what the policy says about each tool; undeclared tools are classified automatically',
      ),
  })
  .refine((s) => !(s.command && s.url), { error: 'a server has a `command` or a `url`, not both' });
export type Server = z.infer<typeof Server>;

export const Approval = z.strictObject({
  approvers: z
    .array(Principal)
    .min(1)
    .describe('who may approve: users and groups (`group:<name>`); never the requester'),
  step_up: z
    .boolean()
    .default(false)
    .describe('approving needs a fresh authentication of the approver (step-up)'),
  expires: Duration.default('15m').describe('an approval not decided within this time expires'),
});

export const TierControls = z.strictObject({
  approval: Approval.optional().describe(
    'calls of this tier wait for a human approval bound to the exact call, used once (`tier.approval`)',
  ),
  confirm: z
    .boolean()
    .optional()
    .describe('calls of this tier need the acting user to confirm (`tier.confirm`)'),
});

export const Flow = z.strictObject({
  id: z.string().regex(NAME).optional().describe('names the rule in rule ids: `data.flows.<id>`'),
  after: z
    .array(ClassName)
    .min(1)
    .describe('the rule applies once the session carries any of these data classes'),
  tiers: z.array(Tier).optional().describe('only calls to tools of these tiers'),
  tools: z.array(ToolGlob).optional().describe('only calls to these tools (globs over `<server>/<tool>`)'),
  external: z
    .boolean()
    .optional()
    .describe('only calls to tools marked `external` (or annotated `openWorldHint`)'),
  require: z
    .enum(['approval', 'confirm', 'deny'])
    .describe(
      'what the matching calls need (`flow.approval`, `flow.confirm`) or that they are denied (`flow.deny`)',
    ),
});
export type Flow = z.infer<typeof Flow>;

/** A custom detector: a regular expression whose matches belong to a data class. */
export const Pattern = z.strictObject({
  pattern: z
    .string()
    .min(1)
    .max(1000)
    .describe('a regular expression that must stay linear: no backreferences or unbounded quantifiers'),
  class: ClassName.describe(
    'the family the class belongs to (`secrets`, `pii`) or a class declared under `data.classes`',
  ),
  description: z.string().max(2000).optional().describe('what the pattern finds'),
});

/** What may flow into tools (arguments) and out of them (results into the agent's context). */
export const DataRule = z.strictObject({
  id: z.string().regex(NAME).optional().describe('names the rule in reasons and rule ids'),
  tools: z.array(ToolGlob).min(1).describe('the tools the rule covers (globs over `<server>/<tool>`)'),
  direction: z
    .enum(['in', 'out', 'both'])
    .default('both')
    .describe('`in`: arguments; `out`: results, prompts and resources; `both`'),
  block: z
    .array(ClassName)
    .min(1)
    .describe('detector families (`secrets`, `pii`), detector classes (`aws_access_key`) or custom classes'),
  action: z
    .enum(['deny', 'redact'])
    .default('deny')
    .describe(
      '`deny` refuses the call or withholds the result (`data.blocked`); `redact` replaces what matched',
    ),
});
export type DataRule = z.infer<typeof DataRule>;

export const Retrieval = z.strictObject({
  classifications: z
    .record(
      z.string().regex(CLASS_NAME),
      z.strictObject({
        readers: z
          .array(z.union([Principal, z.literal('*')]))
          .min(1)
          .describe(
            'users and groups (`group:<name>`) who read this classification; `*` is every declared user',
          ),
      }),
    )
    .describe('who may read documents of each classification; unknown classifications are withheld'),
  default: z
    .string()
    .regex(CLASS_NAME)
    .optional()
    .describe(
      'the classification of a document that carries none; absent: unlabelled documents are withheld',
    ),
});

export const Data = z.strictObject({
  redact: z
    .array(ClassName)
    .default([])
    .describe('classes or families to redact where a rule says so; evidence is always redacted'),
  redaction: z
    .enum(['mask', 'hash', 'drop'])
    .default('mask')
    .describe(
      'how redacted values are replaced: a marker (`[REDACTED:class]`), a keyed hash (equal values correlate), or nothing',
    ),
  patterns: z.record(z.string().regex(CLASS_NAME), Pattern).optional().describe('custom detectors, by name'),
  classes: z
    .record(
      z.string().regex(CLASS_NAME),
      z.strictObject({ description: z.string().describe('what data of this class is') }),
    )
    .optional()
    .describe('custom data classes, besides the built-in ones'),
  rules: z
    .array(DataRule)
    .default([])
    .describe('what may flow into tools (arguments) and out of them (results)'),
  flows: z
    .array(Flow)
    .default([])
    .describe(
      'controls raised by what the session has seen: after a class, later calls need approval, confirmation or are denied',
    ),
  retrieval: Retrieval.optional().describe(
    'retrieval access control: who reads documents and resources by their labels (also `posture rls`)',
  ),
});

/** Anomaly alerts: per-agent rolling baselines, and when a deviation from them raises an alert. */
/** A rate alert whose `min`, when left out, is `minDefault` (the same as the whole section's default). */
const rateAlert = (minDefault: number) =>
  z.strictObject({
    factor: z
      .number()
      .min(1)
      .max(1000)
      .default(3)
      .describe("alert when a minute's count exceeds this multiple of the agent's usual per-minute count…"),
    min: z
      .number()
      .int()
      .min(1)
      .max(1_000_000)
      .default(minDefault)
      .describe("…and is at least this many (a quiet agent's one extra call is no anomaly)"),
  });
const RatioAlert = z.strictObject({
  ratio: z
    .number()
    .gt(0)
    .max(1)
    .default(0.5)
    .describe("alert when this share of the agent's last `window` calls failed (or were denied)"),
  window: z
    .number()
    .int()
    .min(1)
    .max(10_000)
    .default(20)
    .describe('how many of the latest calls are counted'),
});
export const Alerts = z.strictObject({
  warmup: z
    .number()
    .int()
    .min(0)
    .max(1_000_000)
    .default(50)
    .describe('calls an agent makes before baseline-relative alerts (rates, new tools, hours) may fire'),
  call_rate: z
    .union([z.literal(false), rateAlert(30)])
    .default({ factor: 3, min: 30 })
    .describe("calls per minute against the agent's usual rate (`anomaly.call_rate`); `false` turns it off"),
  write_rate: z
    .union([z.literal(false), rateAlert(10)])
    .default({ factor: 3, min: 10 })
    .describe('write and admin calls per minute against the usual rate; `false` turns it off'),
  failures: z
    .union([z.literal(false), RatioAlert])
    .default({ ratio: 0.5, window: 20 })
    .describe('the share of failed calls among the latest; `false` turns it off'),
  denials: z
    .union([z.literal(false), RatioAlert])
    .default({ ratio: 0.5, window: 20 })
    .describe('the share of denied calls among the latest; `false` turns it off'),
  new_tool: z
    .boolean()
    .default(true)
    .describe('alert on the first call of a tool by an agent past its warmup'),
  unusual_hours: z
    .union([
      z.literal(false),
      z.strictObject({
        min_share: z
          .number()
          .min(0)
          .max(1)
          .default(0.01)
          .describe("an hour of the day (UTC) holding less than this share of the agent's calls is unusual"),
      }),
    ])
    .default({ min_share: 0.01 })
    .describe('calls in an hour of the day the agent is rarely active in; `false` turns it off'),
  dedupe: Duration.default('10m').describe(
    'one alert per agent and kind within this window; repeats are counted, not sent',
  ),
  max_per_hour: z
    .number()
    .int()
    .min(1)
    .max(1_000_000)
    .default(60)
    .describe('at most this many alerts per hour across all agents; the rest are counted as suppressed'),
});
export type Alerts = z.infer<typeof Alerts>;

export const PolicyFile = z.strictObject({
  version: z
    .literal(1, { error: 'must be `1`, the only policy file version' })
    .describe('the policy file format version'),
  users: z
    .record(z.string().regex(USER_NAME, 'must be a user name'), User)
    .default({})
    .describe('the people agents act for, own agents and approve calls'),
  groups: z
    .record(z.string().regex(NAME), Group)
    .default({})
    .describe('named groups of users and other groups, for `run_by`, approvers and readers'),
  agents: z
    .record(z.string().regex(NAME), Agent)
    .default({})
    .describe('agent identities: an owner, who may run them, and their grants; unknown agents are denied'),
  servers: z
    .record(z.string().regex(NAME), Server)
    .default({})
    .describe('the upstream MCP servers and their tools: the tool catalog; unknown tools are denied'),
  tiers: z
    .strictObject({
      1: TierControls.optional().describe('controls for tier-1 (read-only) tools'),
      2: TierControls.optional().describe('controls for tier-2 (low-impact write) tools'),
      3: TierControls.optional().describe(
        'controls for tier-3 (high-impact write) tools; with none at all, tier-3 calls need confirmation',
      ),
    })
    .default({})
    .describe('controls per risk tier: approval (approvers, step-up, expiry) or confirmation'),
  limits: z
    .strictObject({
      default: Limits.optional().describe('limits for every agent, unless the agent overrides them'),
    })
    .default({})
    .describe('execution limits: rate, timeout, session budget, loop detection'),
  data: Data.default({ redact: [], redaction: 'mask', rules: [], flows: [] }).describe(
    'data posture: redaction, custom detectors and classes, data rules, flow rules, retrieval access',
  ),
  evidence: z
    .strictObject({
      fail_open_reads: z
        .boolean()
        .default(false)
        .describe(
          'let tier-1 reads run while the audit log cannot be written (counted); everything else fails closed',
        ),
    })
    .default({ fail_open_reads: false })
    .describe(
      'when the audit log cannot be written every call fails closed, unless `fail_open_reads` lets tier-1 reads run meanwhile (counted, and recorded as a gap event once the log is back)',
    ),
  egress: z
    .strictObject({
      private: z
        .enum(['deny', 'allow'])
        .default('deny')
        .describe(
          'URLs in arguments that point at loopback, private, link-local (cloud metadata) or other internal addresses, directly or through DNS: `deny` (`egress.private`) or `allow`',
        ),
      allow: z
        .array(z.string().min(1).max(253))
        .default([])
        .describe(
          'hosts (`wiki.corp.example`, `*.corp.example`), addresses and CIDR ranges reachable even so',
        ),
    })
    .default({ private: 'deny', allow: [] })
    .describe(
      'where URLs in tool arguments may point (SSRF); `file:`, `gopher:` and similar URLs are always refused (`egress.scheme`)',
    ),
  alerts: Alerts.optional().describe(
    'anomaly alerts: per-agent rolling baselines, and when a deviation from them raises an alert',
  ),
});
export type PolicyFile = z.infer<typeof PolicyFile>;

/** The JSON Schema of the policy file, for editors (`posture schema`). */
export function policyJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(PolicyFile, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
}
