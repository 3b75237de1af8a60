import type { McpTool, PolicyFile, Problem } from '@posture/core';
import type { InventoryAgent, InventoryTool, VerifyResult } from '@posture/storage';

/** The agent clients whose configuration files `discover` reads. */
export type ClientKind =
  'claude-desktop' | 'claude-code' | 'cursor' | 'vscode' | 'windsurf' | 'continue' | 'posture';

/** One MCP server as a client configures it. Values are as written; reports redact them. */
export interface ConfiguredServer {
  name: string;
  client: ClientKind;
  file: string;
  command?: string;
  args: string[];
  env: Record<string, string>;
  url?: string;
  headers: Record<string, string>;
}

/** A tool known from a policy, the gateway's inventory or `--connect`. */
export interface KnownTool {
  server: string;
  tool: McpTool;
  source: 'policy' | 'inventory' | 'connect';
  file: string;
}

/** A file that could not be read as what its name says; reported, never fatal. */
export interface ScanProblem {
  file: string;
  code:
    | 'file.unreadable'
    | 'file.too_large'
    | 'file.malformed'
    | 'file.symlink_loop'
    | 'walk.depth'
    | 'walk.limit'
    | 'check.failed'
    | 'connect.failed';
  message: string;
}

export interface PolicySource {
  file: string;
  policy?: PolicyFile;
  problems: Problem[];
}

export interface GatewayDatabase {
  file: string;
  tools: InventoryTool[];
  agents: InventoryAgent[];
  /** Absent when the file holds no audit log. */
  audit?: VerifyResult & {
    verifierKey: boolean;
    /**
     * Values of each detector family found in stored events (arguments, details, reason
     * messages) as they are, i.e. not redacted: written by something other than Posture's logs.
     */
    unredacted: { secrets: number; pii: number; events: number };
  };
}

export interface Discovery {
  root: string;
  /** Every configuration file read, relative to nothing: as found. */
  files: string[];
  servers: ConfiguredServer[];
  policies: PolicySource[];
  databases: GatewayDatabase[];
  tools: KnownTool[];
  problems: ScanProblem[];
  /** Unix permission bits of files that configure servers, for the file-mode check. */
  modes: Record<string, number>;
}
