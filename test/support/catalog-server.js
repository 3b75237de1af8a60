// An MCP server (stdio) that serves whatever it is told to: tools from POSTURE_TOOLS (a JSON list
// of MCP tool definitions, every call answered with `ok`), prompts from POSTURE_PROMPTS
// (`[{name, text}]`) and resources from POSTURE_RESOURCES (`[{uri, text}]`). The corpus and the
// data-rule tests run through the gateway against it, so everything declared has a real upstream.
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import {
  CallToolRequestSchema,
  GetPromptRequestSchema,
  ListPromptsRequestSchema,
  ListResourcesRequestSchema,
  ListToolsRequestSchema,
  ReadResourceRequestSchema,
} from '@modelcontextprotocol/sdk/types.js';

const tools = JSON.parse(process.env.POSTURE_TOOLS ?? '[]');
const prompts = JSON.parse(process.env.POSTURE_PROMPTS ?? '[]');
const resources = JSON.parse(process.env.POSTURE_RESOURCES ?? '[]');
const server = new Server(
  { name: 'catalog', version: '1.0.0' },
  {
    capabilities: {
      tools: {},
      ...(prompts.length ? { prompts: {} } : {}),
      ...(resources.length ? { resources: {} } : {}),
    },
  },
);
server.setRequestHandler(ListToolsRequestSchema, () => ({ tools }));
server.setRequestHandler(CallToolRequestSchema, (request) => ({
  content: [{ type: 'text', text: `ok: ${request.params.name}` }],
}));
if (prompts.length) {
  server.setRequestHandler(ListPromptsRequestSchema, () => ({
    prompts: prompts.map(({ name }) => ({ name })),
  }));
  server.setRequestHandler(GetPromptRequestSchema, (request) => {
    const prompt = prompts.find((p) => p.name === request.params.name);
    if (!prompt) throw new Error(`no prompt ${request.params.name}`);
    return { messages: [{ role: 'user', content: { type: 'text', text: prompt.text } }] };
  });
}
if (resources.length) {
  server.setRequestHandler(ListResourcesRequestSchema, () => ({
    resources: resources.map(({ uri }) => ({ uri, name: uri })),
  }));
  server.setRequestHandler(ReadResourceRequestSchema, (request) => {
    const resource = resources.find((r) => r.uri === request.params.uri);
    if (!resource) throw new Error(`no resource ${request.params.uri}`);
    return { contents: [{ uri: resource.uri, text: resource.text }] };
  });
}
await server.connect(new StdioServerTransport());
