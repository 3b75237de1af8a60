// The upstream MCP servers of the catalog: one client each, over stdio (a command the gateway
// starts) or Streamable HTTP (a URL). Supervised: a server that exits or drops is reconnected with
// exponential backoff, and while it is down calls to it fail at once with a clear error.
import type { ChildProcess } from 'node:child_process';
import type { Writable } from 'node:stream';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport, getDefaultEnvironment } from '@modelcontextprotocol/sdk/client/stdio.js';
import { serializeMessage } from '@modelcontextprotocol/sdk/shared/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import {
  ToolListChangedNotificationSchema,
  type CallToolResult,
  type JSONRPCMessage,
  type Tool,
} from '@modelcontextprotocol/sdk/types.js';
import type { McpTool } from '@posture/core';

export interface UpstreamConfig {
  name: string;
  command?: readonly string[];
  url?: string;
  env?: Record<string, string>;
  /** Headers sent to an HTTP upstream: the gateway's own credential for it, never the agent's token. */
  headers?: Record<string, string>;
  cwd?: string;
}

export interface UpstreamOptions {
  /** First reconnect delay; doubles per failed attempt up to `maxBackoffMs`. */
  backoffMs?: number;
  maxBackoffMs?: number;
  /** How long connecting and listing tools may take. */
  connectTimeoutMs?: number;
  /** Called when an upstream goes down or comes back, for logs and alerts. */
  onStatus?: (name: string, status: UpstreamStatus, detail?: string) => void;
  /** Called after an upstream (re)connects with the tools it lists. */
  onTools?: (name: string, tools: McpTool[]) => void;
}

export type UpstreamStatus = 'connecting' | 'up' | 'down' | 'closed';

/** An upstream call that could not be made: the server is down, or the call failed in transit. */
export class UpstreamUnavailable extends Error {
  constructor(
    readonly server: string,
    message: string,
  ) {
    super(message);
    this.name = 'UpstreamUnavailable';
  }
}

export class Upstream {
  readonly name: string;
  readonly target: string;
  readonly #config: UpstreamConfig;
  readonly #options: Required<Omit<UpstreamOptions, 'onStatus' | 'onTools'>> &
    Pick<UpstreamOptions, 'onStatus' | 'onTools'>;
  #client: Client | undefined;
  #status: UpstreamStatus = 'connecting';
  #lastError = '';
  #tools: McpTool[] = [];
  #attempt = 0;
  #retry: NodeJS.Timeout | undefined;
  #connecting: Promise<void> | undefined;
  #closed = false;

  constructor(config: UpstreamConfig, options: UpstreamOptions = {}) {
    if (!config.command && !config.url)
      throw new Error(`server \`${config.name}\` has neither a command nor a url`);
    this.name = config.name;
    this.target = config.url ?? config.command!.join(' ');
    this.#config = config;
    this.#options = {
      backoffMs: options.backoffMs ?? 250,
      maxBackoffMs: options.maxBackoffMs ?? 30_000,
      connectTimeoutMs: options.connectTimeoutMs ?? 15_000,
      onStatus: options.onStatus,
      onTools: options.onTools,
    };
  }

  get status(): UpstreamStatus {
    return this.#status;
  }

  get tools(): readonly McpTool[] {
    return this.#tools;
  }

  /** Connects once; on failure schedules reconnects and resolves anyway (the status says down). */
  start(): Promise<void> {
    this.#connecting ??= this.#connect().finally(() => (this.#connecting = undefined));
    return this.#connecting;
  }

  async #connect(): Promise<void> {
    if (this.#closed) return;
    this.#setStatus('connecting');
    const client = new Client({ name: 'posture-gateway', version: '0.1.0' }, { capabilities: {} });
    const transport = this.#transport();
    let settled = false;
    // A server may change its tools while connected (and a rug pull does): list them again.
    client.setNotificationHandler(ToolListChangedNotificationSchema, async () => {
      if (this.#client !== client) return;
      try {
        this.#tools = await listAll(client, this.#options.connectTimeoutMs);
        this.#options.onTools?.(this.name, this.#tools);
      } catch (error) {
        this.#options.onStatus?.(this.name, this.#status, `listing tools again failed: ${String(error)}`);
      }
    });
    client.onclose = () => {
      if (!settled || this.#client !== client) return;
      this.#client = undefined;
      this.#down('the server closed the connection');
    };
    try {
      await client.connect(transport, { timeout: this.#options.connectTimeoutMs });
      const tools = await listAll(client, this.#options.connectTimeoutMs);
      if (this.#closed) {
        await client.close();
        return;
      }
      settled = true;
      this.#client = client;
      this.#tools = tools;
      this.#attempt = 0;
      this.#setStatus('up');
      this.#options.onTools?.(this.name, tools);
    } catch (error) {
      await client.close().catch(() => {});
      this.#down(error instanceof Error ? error.message : String(error));
    }
  }

  #transport(): Transport {
    const config = this.#config;
    if (config.url) {
      return new StreamableHTTPClientTransport(new URL(config.url), {
        requestInit: { headers: { ...config.headers } },
      });
    }
    const [command, ...args] = config.command!;
    const transport = new CoalescingStdioTransport({
      command: command!,
      args,
      // The child gets a minimal environment plus what the policy gives it, not the gateway's secrets.
      env: { ...getDefaultEnvironment(), ...config.env },
      stderr: 'pipe',
      ...(config.cwd ? { cwd: config.cwd } : {}),
    });
    // Piped, not inherited: the gateway's own stdout/stderr may be an MCP stdio channel. Drained so
    // a chatty server never blocks on a full pipe.
    transport.stderr?.on('data', () => {});
    return transport;
  }

  #down(reason: string): void {
    if (this.#closed) return;
    this.#lastError = reason;
    this.#setStatus('down', reason);
    const delay = Math.min(this.#options.maxBackoffMs, this.#options.backoffMs * 2 ** this.#attempt++);
    clearTimeout(this.#retry);
    this.#retry = setTimeout(() => void this.start(), delay);
    this.#retry.unref();
  }

  #setStatus(status: UpstreamStatus, detail?: string): void {
    this.#status = status;
    this.#options.onStatus?.(this.name, status, detail);
  }

  /**
   * Calls a tool. Fails fast with UpstreamUnavailable while the server is down; `signal` cancels
   * the call (the client sends `notifications/cancelled` upstream).
   */
  async callTool(
    name: string,
    args: Record<string, unknown>,
    options: { signal?: AbortSignal; timeoutMs?: number } = {},
  ): Promise<CallToolResult> {
    const client = this.#client;
    if (!client || this.#status !== 'up') {
      throw new UpstreamUnavailable(
        this.name,
        `upstream \`${this.name}\` is unavailable${this.#lastError ? `: ${this.#lastError}` : ''}`,
      );
    }
    return (await client.callTool({ name, arguments: args }, undefined, {
      ...(options.signal ? { signal: options.signal } : {}),
      // The enforcer's timeout governs; this only keeps the SDK's own default (60 s) out of the way.
      timeout: options.timeoutMs ?? 24 * 60 * 60 * 1000,
    })) as CallToolResult;
  }

  /** The upstream's client, for resources and prompts passthrough. */
  get client(): Client | undefined {
    return this.#status === 'up' ? this.#client : undefined;
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#status = 'closed';
    clearTimeout(this.#retry);
    const client = this.#client;
    this.#client = undefined;
    await client?.close().catch(() => {});
    this.#options.onStatus?.(this.name, 'closed');
  }
}

async function listAll(client: Client, timeout: number): Promise<McpTool[]> {
  const tools: McpTool[] = [];
  let cursor: string | undefined;
  do {
    const page = await client.listTools(cursor ? { cursor } : {}, { timeout });
    tools.push(...page.tools.map(toMcpTool));
    cursor = page.nextCursor;
  } while (cursor && tools.length < 10_000);
  return tools;
}

function toMcpTool(tool: Tool): McpTool {
  return {
    name: tool.name,
    ...(tool.title ? { title: tool.title } : {}),
    ...(tool.description !== undefined ? { description: tool.description } : {}),
    ...(tool.inputSchema ? { inputSchema: tool.inputSchema as Record<string, unknown> } : {}),
    ...(tool.outputSchema ? { outputSchema: tool.outputSchema as Record<string, unknown> } : {}),
    ...(tool.annotations ? { annotations: tool.annotations } : {}),
  };
}

/**
 * The SDK's stdio transport, except that the messages sent in one turn of the event loop leave
 * in one write: with many calls in flight, one system call carries several requests instead of
 * one each (on a virtual machine a pipe write costs tens of microseconds).
 */
class CoalescingStdioTransport extends StdioClientTransport {
  #batch: string[] = [];
  #waiting: Array<{ resolve: () => void; reject: (error: Error) => void }> = [];

  override send(message: JSONRPCMessage): Promise<void> {
    const stdin = (this as unknown as { _process?: ChildProcess })._process?.stdin;
    if (!stdin) return Promise.reject(new Error('Not connected'));
    if (this.#batch.length === 0) setImmediate(() => this.#flush(stdin));
    this.#batch.push(serializeMessage(message));
    return new Promise((resolve, reject) => this.#waiting.push({ resolve, reject }));
  }

  #flush(stdin: Writable): void {
    const text = this.#batch.length === 1 ? this.#batch[0]! : this.#batch.join('');
    const waiting = this.#waiting;
    this.#batch = [];
    this.#waiting = [];
    const release = () => {
      for (const { resolve } of waiting) resolve();
    };
    try {
      if (stdin.write(text)) release();
      else stdin.once('drain', release);
    } catch (error) {
      for (const { reject } of waiting) reject(error as Error);
    }
  }
}
