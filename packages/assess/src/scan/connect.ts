// `--connect`: start or reach each configured server with the MCP SDK client and list its tools.
// Read-only: `tools/list` only, never `tools/call`. A server that hangs or crashes becomes a
// problem (`connect.failed`) and the scan goes on with the next one.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport, getDefaultEnvironment } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { McpTool } from '@posture/core';
import { isGateway } from '../checks/helpers.js';
import type { ConfiguredServer, Discovery } from './model.js';

export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
const MAX_PAGES = 50;
/** A server listing more is broken or hostile; the rest is not read. */
export const MAX_TOOLS_PER_SERVER = 10_000;

function transportOf(server: ConfiguredServer, cwd: string): Transport {
  if (server.url !== undefined) {
    return new StreamableHTTPClientTransport(new URL(server.url), {
      requestInit: { headers: { ...server.headers } },
    });
  }
  return new StdioClientTransport({
    command: server.command!,
    args: server.args,
    env: { ...getDefaultEnvironment(), ...server.env },
    cwd,
    stderr: 'ignore',
  });
}

/** Lists one server's tools within `timeoutMs`, then closes it (which stops a launched process). */
export async function listServerTools(
  server: ConfiguredServer,
  cwd: string,
  timeoutMs = DEFAULT_CONNECT_TIMEOUT_MS,
): Promise<McpTool[]> {
  const client = new Client({ name: 'posture-scan', version: '0.1.0' });
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    const work = (async () => {
      await client.connect(transportOf(server, cwd), { timeout: timeoutMs });
      const tools: McpTool[] = [];
      let cursor: string | undefined;
      for (let page = 0; page < MAX_PAGES; page++) {
        const result = await client.listTools(cursor === undefined ? {} : { cursor }, { timeout: timeoutMs });
        tools.push(...(result.tools as McpTool[]));
        cursor = result.nextCursor;
        if (cursor === undefined || tools.length >= MAX_TOOLS_PER_SERVER) break;
      }
      return tools.slice(0, MAX_TOOLS_PER_SERVER);
    })();
    work.catch(() => {});
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
    await client.close().catch(() => {});
  }
}

/** Adds the tools of every server a client configures; failures become problems. */
export async function connectAll(
  discovery: Discovery,
  options: { timeoutMs?: number; cwd?: string } = {},
): Promise<void> {
  const seen = new Set<string>();
  // The gateway needs an agent token to start; its upstreams are the policy's servers, listed here.
  for (const server of discovery.servers.filter((s) => !isGateway(s))) {
    const key = `${server.name}\0${server.command ?? server.url}\0${server.args.join('\0')}`;
    if (seen.has(key)) continue;
    seen.add(key);
    try {
      const tools = await listServerTools(server, options.cwd ?? discovery.root, options.timeoutMs);
      for (const tool of tools)
        discovery.tools.push({ server: server.name, tool, source: 'connect', file: server.file });
    } catch (error) {
      const reason = (error instanceof Error ? error.message : String(error)).split('\n')[0];
      discovery.problems.push({
        file: server.file,
        code: 'connect.failed',
        message: `\`${server.name}\` (${server.client}) could not be listed: ${reason}`,
      });
    }
  }
}
