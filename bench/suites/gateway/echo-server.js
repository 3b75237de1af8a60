// The benchmark's upstream: one `echo` tool on the MCP SDK's server, over stdio (`stdio`) or
// Streamable HTTP (`http PORT`, stateful sessions, JSON responses), as a typical tool server.
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { z } from 'zod';

function echoServer() {
  const server = new McpServer({ name: 'echo', version: '1.0.0' });
  server.registerTool(
    'echo',
    {
      description: 'Echoes the message back',
      inputSchema: { message: z.string() },
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    async ({ message }) => ({ content: [{ type: 'text', text: message }] }),
  );
  return server;
}

const [mode, port] = process.argv.slice(2);
if (mode === 'stdio') {
  await echoServer().connect(new StdioServerTransport());
} else if (mode === 'http') {
  const sessions = new Map();
  const http = createServer(async (req, res) => {
    const id = req.headers['mcp-session-id'];
    let transport = typeof id === 'string' ? sessions.get(id) : undefined;
    if (!transport) {
      transport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        enableJsonResponse: true,
        onsessioninitialized: (sid) => sessions.set(sid, transport),
      });
      await echoServer().connect(transport);
    }
    await transport.handleRequest(req, res);
  });
  http.listen(Number(port), '127.0.0.1', () => process.stdout.write(`listening ${http.address().port}\n`));
} else {
  process.stderr.write('usage: echo-server.js stdio | http PORT\n');
  process.exit(2);
}
