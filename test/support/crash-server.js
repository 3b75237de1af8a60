// An MCP server (stdio) that misbehaves on request: `crash` exits the process in the middle of a
// call, `echo` answers. For the gateway's supervision tests.
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { CallToolRequestSchema, ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js';

const server = new Server({ name: 'crashy', version: '1.0.0' }, { capabilities: { tools: {} } });
server.setRequestHandler(ListToolsRequestSchema, () => ({
  tools: [
    {
      name: 'echo',
      inputSchema: { type: 'object', properties: { text: { type: 'string' } }, required: ['text'] },
    },
    { name: 'crash', inputSchema: { type: 'object' } },
  ],
}));
server.setRequestHandler(CallToolRequestSchema, async (request) => {
  if (request.params.name === 'crash') {
    setTimeout(() => process.exit(3), 20);
    await new Promise(() => {}); // never answers
  }
  return { content: [{ type: 'text', text: String(request.params.arguments?.text ?? '') }] };
});
await server.connect(new StdioServerTransport());
