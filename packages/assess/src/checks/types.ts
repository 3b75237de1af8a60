import type { CompiledPolicy, Detector, PolicyFile } from '@posture/core';
import type { ConfiguredServer, Discovery, KnownTool } from '../scan/model.js';

export const SEVERITIES = ['info', 'low', 'medium', 'high', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];

export const PILLARS = ['identity', 'permission', 'tool-chain', 'data', 'execution', 'monitoring'] as const;
export type Pillar = (typeof PILLARS)[number];

/** One place a check found a problem. `message` never holds a secret value (reports redact again). */
export interface Evidence {
  file: string;
  /** Where in the file: `mcpServers.github.env.GITHUB_TOKEN`, `agents.bot.grants[0]`. */
  path?: string;
  message: string;
}

/** A policy that loaded, with its compiled form when it also compiled. */
export interface LoadedPolicy {
  file: string;
  policy: PolicyFile;
  compiled?: CompiledPolicy;
}

export interface CheckContext {
  discovery: Discovery;
  detector: Detector;
  policies: readonly LoadedPolicy[];
  /** Servers a client (not Posture) launches or reaches. */
  clientServers: readonly ConfiguredServer[];
  tools: readonly KnownTool[];
  /** Milliseconds since the epoch, for token lifetimes without an issue time. */
  now: number;
}

export interface Check {
  id: string;
  title: string;
  severity: Severity;
  pillar: Pillar;
  owasp: readonly string[];
  asi: readonly string[];
  atlas: readonly string[];
  remediation: string;
  run(context: CheckContext): Evidence[];
}
