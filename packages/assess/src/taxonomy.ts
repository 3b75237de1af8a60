// The taxonomies findings and attack scenarios map to, as data with year-qualified ids. Copied
// from ../shared/reference/security.md §1 (OWASP GenAI-LLM-Top10 2025, OWASP Agentic Top 10
// 2026, MITRE ATLAS dist/ATLAS.yaml v5.6.0), with the source of each list kept beside it.

export interface TaxonomyEntry {
  id: string;
  name: string;
  /** What a posture control does about it. */
  control: string;
}

export interface AtlasTechnique extends TaxonomyEntry {
  tactics: readonly string[];
  /** Former names, for reports that still use them. */
  aliases?: readonly string[];
}

export const SOURCES = {
  owaspLlm2025: 'GenAI-Security-Project/GenAI-LLM-Top10 2025/ (verified)',
  owaspAgentic2026:
    'OWASP Top 10 for Agentic Applications 2026, ASI01–ASI10 (names cross-checked; final PDF not read)',
  atlas: 'mitre-atlas/atlas-data dist/ATLAS.yaml, data v5.6.0 (release v5.6.1, 2026-05-05)',
} as const;

export const OWASP_LLM_2025: readonly TaxonomyEntry[] = [
  {
    id: 'LLM01:2025',
    name: 'Prompt Injection',
    control:
      'Tool descriptions/results are untrusted data; taint the session after untrusted content, then high-risk tools need approval; flag invisible Unicode.',
  },
  {
    id: 'LLM02:2025',
    name: 'Sensitive Information Disclosure',
    control: 'Redact secrets/PII in args, results, audit (keyed HMAC); per-tool egress allowlists.',
  },
  {
    id: 'LLM03:2025',
    name: 'Supply Chain',
    control: 'Allowlist servers; pin tools by hash of name+description+schema; re-approve on change.',
  },
  {
    id: 'LLM04:2025',
    name: 'Data and Model Poisoning',
    control: 'For agents: gate memory/RAG write tools, log provenance of written content.',
  },
  {
    id: 'LLM05:2025',
    name: 'Improper Output Handling',
    control: "Validate args against the tool's JSON Schema before forwarding; validate structured results.",
  },
  {
    id: 'LLM06:2025',
    name: 'Excessive Agency',
    control:
      'Deny by default; least-privilege risk-tiered grants; approval/step-up for irreversible actions; short-lived scoped tokens.',
  },
  {
    id: 'LLM07:2025',
    name: 'System Prompt Leakage',
    control: 'Keep credentials out of prompts and agent configs; detect secrets in outputs.',
  },
  {
    id: 'LLM08:2025',
    name: 'Vector and Embedding Weaknesses',
    control: 'Tenant isolation on retrieval tools; tag results with source/trust level.',
  },
  {
    id: 'LLM09:2025',
    name: 'Misinformation',
    control: 'Mostly out of scope; record result provenance in audit.',
  },
  {
    id: 'LLM10:2025',
    name: 'Unbounded Consumption',
    control: 'Rate limits, per-call timeouts, budgets, loop detection, max message/result size.',
  },
];

export const OWASP_AGENTIC_2026: readonly TaxonomyEntry[] = [
  {
    id: 'ASI01',
    name: 'Agent Goal Hijack',
    control:
      'Bind sessions to a declared task/tool profile that untrusted content cannot widen; taint + approval.',
  },
  {
    id: 'ASI02',
    name: 'Tool Misuse and Exploitation',
    control:
      'Per-tool allow/deny with argument constraints, risk tiers, rate limits, approval for destructive calls.',
  },
  {
    id: 'ASI03',
    name: 'Identity & Privilege Abuse',
    control:
      'Per-agent identity; no token passthrough; audience-bound, short-lived, exchanged tokens with `act` chain.',
  },
  {
    id: 'ASI04',
    name: 'Agentic Supply Chain Vulnerabilities',
    control: 'Server/tool pinning by hash, signed allowlist, rug-pull detection, tool-name collision checks.',
  },
  {
    id: 'ASI05',
    name: 'Unexpected Code Execution (RCE)',
    control: 'Exec/shell/eval tools top tier: blocked by default, sandbox or human approval.',
  },
  {
    id: 'ASI06',
    name: 'Memory & Context Poisoning',
    control: 'Gate memory-write tools; provenance; scan stored content.',
  },
  {
    id: 'ASI07',
    name: 'Insecure Inter-Agent Communication',
    control: 'Authenticate and sign agent-to-agent calls through the gateway.',
  },
  {
    id: 'ASI08',
    name: 'Cascading Failures',
    control: 'Timeouts, circuit breakers, fan-out and depth limits, loop detection, kill switch.',
  },
  {
    id: 'ASI09',
    name: 'Human-Agent Trust Exploitation',
    control:
      "Approval prompts show the real action, args, target (not the model's summary); limit prompt rate (fatigue).",
  },
  {
    id: 'ASI10',
    name: 'Rogue Agents',
    control: 'Behavioural baselines and anomaly alerts; quarantine/revoke identity; tamper-evident audit.',
  },
];

export const MITRE_ATLAS: readonly AtlasTechnique[] = [
  {
    id: 'AML.T0051',
    name: 'LLM Prompt Injection',
    tactics: ['AML.TA0005'],
    control: 'Taint session after untrusted content; high-risk calls then need approval.',
  },
  {
    id: 'AML.T0051.000',
    name: 'LLM Prompt Injection: Direct',
    tactics: ['AML.TA0005'],
    control: 'Log prompt source; same gating.',
  },
  {
    id: 'AML.T0051.001',
    name: 'LLM Prompt Injection: Indirect',
    tactics: ['AML.TA0005'],
    control: 'Treat tool results as data; scan and label them.',
  },
  {
    id: 'AML.T0051.002',
    name: 'LLM Prompt Injection: Triggered',
    tactics: ['AML.TA0005'],
    control: 'Keep taint for the whole session, not one turn.',
  },
  {
    id: 'AML.T0053',
    name: 'AI Agent Tool Invocation',
    tactics: ['AML.TA0005', 'AML.TA0012'],
    control: 'Deny by default; least-privilege grants; per-call authz with risk tiers.',
    aliases: ['LLM Plugin Compromise'],
  },
  {
    id: 'AML.T0054',
    name: 'LLM Jailbreak',
    tactics: ['AML.TA0012', 'AML.TA0007'],
    control: 'Enforce outside the model; never rely on refusals.',
  },
  {
    id: 'AML.T0055',
    name: 'Unsecured Credentials',
    tactics: ['AML.TA0013'],
    control: 'Secrets held by the gateway, never in agent config.',
  },
  {
    id: 'AML.T0056',
    name: 'Extract LLM System Prompt',
    tactics: ['AML.TA0010'],
    control: 'No secrets in prompts; secret scanning on outputs.',
  },
  {
    id: 'AML.T0057',
    name: 'LLM Data Leakage',
    tactics: ['AML.TA0010'],
    control: 'Redaction and egress policy on results.',
  },
  {
    id: 'AML.T0061',
    name: 'LLM Prompt Self-Replication',
    tactics: ['AML.TA0006'],
    control: 'Detect the same injected text recurring across calls.',
  },
  {
    id: 'AML.T0067',
    name: 'LLM Trusted Output Components Manipulation',
    tactics: ['AML.TA0007'],
    control: 'Approval UI built from raw args, not model text.',
  },
  {
    id: 'AML.T0068',
    name: 'LLM Prompt Obfuscation',
    tactics: ['AML.TA0007'],
    control: 'Unicode normalisation; invisible-char and encoding detection.',
  },
  {
    id: 'AML.T0077',
    name: 'LLM Response Rendering',
    tactics: ['AML.TA0010'],
    control: 'Flag URLs/markdown images that carry data.',
  },
  {
    id: 'AML.T0080',
    name: 'AI Agent Context Poisoning',
    tactics: ['AML.TA0006'],
    control: 'Gate memory/context writes; record provenance.',
  },
  {
    id: 'AML.T0080.000',
    name: 'AI Agent Context Poisoning: Memory',
    tactics: ['AML.TA0006'],
    control: 'As parent.',
  },
  {
    id: 'AML.T0080.001',
    name: 'AI Agent Context Poisoning: Thread',
    tactics: ['AML.TA0006'],
    control: 'As parent.',
  },
  {
    id: 'AML.T0081',
    name: 'Modify AI Agent Configuration',
    tactics: ['AML.TA0006', 'AML.TA0007'],
    control: 'Hash/sign agent config; alert on change.',
  },
  {
    id: 'AML.T0083',
    name: 'Credentials from AI Agent Configuration',
    tactics: ['AML.TA0013'],
    control: 'No static credentials in agent configs.',
  },
  {
    id: 'AML.T0084',
    name: 'Discover AI Agent Configuration',
    tactics: ['AML.TA0008'],
    control: 'Alert on enumeration patterns.',
  },
  {
    id: 'AML.T0084.001',
    name: 'Discover AI Agent Configuration: Tool Definitions',
    tactics: ['AML.TA0008'],
    control: 'Expose per-agent filtered tool lists only.',
  },
  {
    id: 'AML.T0084.003',
    name: 'Discover AI Agent Configuration: Call Chains',
    tactics: ['AML.TA0008'],
    control: 'As parent.',
  },
  {
    id: 'AML.T0085.001',
    name: 'Data from AI Services: AI Agent Tools',
    tactics: ['AML.TA0009'],
    control: 'Read-scope limits; volume anomaly alerts.',
  },
  {
    id: 'AML.T0086',
    name: 'Exfiltration via AI Agent Tool Invocation',
    tactics: ['AML.TA0010'],
    control: 'Egress allowlists on send/write tools; approval for new recipients.',
  },
  {
    id: 'AML.T0091.000',
    name: 'Use Alternate Authentication Material: Application Access Token',
    tactics: ['AML.TA0015'],
    control: 'Audience-bound short-lived tokens; no passthrough.',
  },
  {
    id: 'AML.T0093',
    name: 'Prompt Infiltration via Public-Facing Application',
    tactics: ['AML.TA0004', 'AML.TA0006'],
    control: 'Taint content from public sources.',
  },
  {
    id: 'AML.T0094',
    name: 'Delay Execution of LLM Instructions',
    tactics: ['AML.TA0007'],
    control: "Session-long taint; don't reset per turn.",
  },
  {
    id: 'AML.T0098',
    name: 'AI Agent Tool Credential Harvesting',
    tactics: ['AML.TA0013'],
    control: 'Secret detection and redaction on results.',
  },
  {
    id: 'AML.T0099',
    name: 'AI Agent Tool Data Poisoning',
    tactics: ['AML.TA0006'],
    control: 'Scan and label retrieved content.',
  },
  {
    id: 'AML.T0100',
    name: 'AI Agent Clickbait',
    tactics: ['AML.TA0005'],
    control: 'Approval for navigation/exec driven by web content.',
  },
  {
    id: 'AML.T0101',
    name: 'Data Destruction via AI Agent Tool Invocation',
    tactics: ['AML.TA0011'],
    control: 'Irreversible tier: approval plus step-up.',
  },
  {
    id: 'AML.T0103',
    name: 'Deploy AI Agent',
    tactics: ['AML.TA0005'],
    control: 'Agent registry; unknown agent identities denied.',
  },
  {
    id: 'AML.T0104',
    name: 'Publish Poisoned AI Agent Tool',
    tactics: ['AML.TA0003'],
    control: 'Server allowlist; provenance checks.',
  },
  {
    id: 'AML.T0108',
    name: 'AI Agent',
    tactics: ['AML.TA0014'],
    control: 'Anomaly alerts on beacon-like call patterns.',
  },
  {
    id: 'AML.T0109',
    name: 'AI Supply Chain Rug Pull',
    tactics: ['AML.TA0007'],
    control: 'Hash-pin tool definitions; re-approve on change.',
  },
  {
    id: 'AML.T0110',
    name: 'AI Agent Tool Poisoning',
    tactics: ['AML.TA0006'],
    control: 'Scan descriptions; pin definitions.',
  },
  {
    id: 'AML.T0010.005',
    name: 'AI Supply Chain Compromise: AI Agent Tool',
    tactics: ['AML.TA0004'],
    control: 'As T0104/T0109.',
  },
  {
    id: 'AML.T0011.002',
    name: 'User Execution: Poisoned AI Agent Tool',
    tactics: ['AML.TA0005'],
    control: 'As T0110.',
  },
  {
    id: 'AML.T0034.002',
    name: 'Cost Harvesting: Agentic Resource Consumption',
    tactics: ['AML.TA0011'],
    control: 'Budgets, fan-out limits, loop detection.',
  },
  {
    id: 'AML.T0112.000',
    name: 'Machine Compromise: Local AI Agent',
    tactics: ['AML.TA0011'],
    control: 'Local exec tools top tier; sandbox.',
  },
];

/** Every id any list here holds, to check that findings and scenarios name real entries. */
export const KNOWN_IDS: ReadonlySet<string> = new Set(
  [...OWASP_LLM_2025, ...OWASP_AGENTIC_2026, ...MITRE_ATLAS].map((entry) => entry.id),
);
