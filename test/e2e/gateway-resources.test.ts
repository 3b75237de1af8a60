// Resources and prompts through the gateway, from server-everything: only from servers the agent
// may use, and resources filtered by labels for the acting user (data.retrieval).
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from './support/gateway.js';

const require = createRequire(import.meta.url);
const EVERYTHING = require.resolve('@modelcontextprotocol/server-everything/dist/index.js');

const POLICY = `
version: 1
users:
  alice: { groups: [staff, analysts] }
  carol: { groups: [staff] }
agents:
  helper:
    owner: alice
    run_by: [group:staff]
    grants:
      - tools: [everything/echo]
  other:
    owner: alice
    run_by: [group:staff]
    grants:
      - tools: [memory/*]
servers:
  everything:
    command: [node, ${JSON.stringify(EVERYTHING)}, stdio]
  memory:
    tools:
      read_graph: { tier: 1, access: read }
data:
  retrieval:
    classifications:
      internal: { readers: [group:analysts] }
    default: internal   # the demo's resources carry no labels: they count as internal
`;

let t: TestGateway;

beforeAll(async () => {
  t = await startGateway(POLICY);
}, 30_000);

afterAll(async () => {
  await t?.close();
});

describe('resources and prompts', () => {
  it('lists and reads the upstream resources for a user who may read them', async () => {
    const client = await t.connect(await t.token('helper', 'alice'));
    const { resources } = await client.listResources();
    expect(resources.length).toBeGreaterThan(0);
    const uri = resources[0]!.uri;
    const read = await client.readResource({ uri });
    expect(read.contents[0]!.uri).toBe(uri);
  });

  it('withholds resources the acting user may not read, in the list and on read', async () => {
    const client = await t.connect(await t.token('helper', 'carol'));
    expect((await client.listResources()).resources).toEqual([]);
    await expect(
      client.readResource({ uri: 'demo://resource/static/document/architecture.md' }),
    ).rejects.toThrow(/-32002.*not found/);
  });

  it('passes prompts through under the server prefix', async () => {
    const client = await t.connect(await t.token('helper', 'alice'));
    const { prompts } = await client.listPrompts();
    expect(prompts.map((p) => p.name)).toContain('everything__simple-prompt');
    const prompt = await client.getPrompt({ name: 'everything__simple-prompt' });
    expect(prompt.messages.length).toBeGreaterThan(0);
  });

  it('shows nothing of a server the agent may not use', async () => {
    const client = await t.connect(await t.token('other', 'alice'));
    expect((await client.listResources()).resources).toEqual([]);
    expect((await client.listPrompts()).prompts).toEqual([]);
    await expect(client.getPrompt({ name: 'everything__simple-prompt' })).rejects.toThrow(/unknown prompt/);
  });
});
