// An MCP server (stdio) that serves whatever tools it is told to, from the POSTURE_TOOLS
// environment variable (a JSON list of MCP tool definitions), and answers every call with `ok`.
// The corpus runs through the gateway against it, so every declared tool has a real upstream.
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { CallToolRequestSchema, ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js';

const tools = JSON.parse(process.env.POSTURE_TOOLS ?? '[]');
const server = new Server({ name: 'catalog', version: '1.0.0' }, { capabilities: { tools: {} } });
server.setRequestHandler(ListToolsRequestSchema, () => ({ tools }));
server.setRequestHandler(CallToolRequestSchema, (request) => ({
  content: [{ type: 'text', text: `ok: ${request.params.name}` }],
}));
await server.connect(new StdioServerTransport());
