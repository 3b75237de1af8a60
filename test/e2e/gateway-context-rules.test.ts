// data.rules for what reaches the model besides tool results: prompts and resources an upstream
// serves are withheld or redacted as the rules for that server say.
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from './support/gateway.js';

const CATALOG = fileURLToPath(new URL('../support/catalog-server.js', import.meta.url));
const AWS_KEY = 'AKIAZ7Q3MEXR4NXW2BTA';
const env = (value: unknown) => JSON.stringify(JSON.stringify(value));

const POLICY = `
version: 1
users:
  alice: { groups: [staff] }
agents:
  helper:
    owner: alice
    run_by: [group:staff]
    grants:
      - tools: [notes/*, wiki/*]
servers:
  notes:
    command: [node, ${JSON.stringify(CATALOG)}]
    env:
      POSTURE_TOOLS: ${env([{ name: 'list', inputSchema: { type: 'object' } }])}
      POSTURE_PROMPTS: ${env([
        { name: 'deploy', text: `deploy with key ${AWS_KEY}` },
        { name: 'greet', text: 'say hello to ada@example.org' },
      ])}
    tools:
      list: { tier: 1, access: read }
  wiki:
    command: [node, ${JSON.stringify(CATALOG)}]
    env:
      POSTURE_TOOLS: ${env([{ name: 'search', inputSchema: { type: 'object' } }])}
      POSTURE_RESOURCES: ${env([{ uri: 'wiki://onboarding', text: `contact ada@example.org, key ${AWS_KEY}` }])}
    tools:
      search: { tier: 1, access: read }
data:
  rules:
    - tools: [notes/*]
      direction: out
      block: [secrets]
    - tools: [notes/*, wiki/*]
      direction: out
      block: [pii, secrets]
      action: redact
`;

let t: TestGateway;

beforeAll(async () => {
  t = await startGateway(POLICY);
}, 30_000);

afterAll(async () => {
  await t?.close();
});

describe('data rules on prompts and resources', () => {
  it('withhold a prompt carrying a secret the rules block', async () => {
    const client = await t.connect(await t.token());
    await expect(client.getPrompt({ name: 'notes__deploy' })).rejects.toThrow(
      /withheld by data\.rules\[0\].*aws_access_key/,
    );
  });

  it('redact what a rule redacts', async () => {
    const client = await t.connect(await t.token());
    const greet = await client.getPrompt({ name: 'notes__greet' });
    expect(JSON.stringify(greet.messages)).toContain('[REDACTED:email]');
    const page = await client.readResource({ uri: 'wiki://onboarding' });
    const text = JSON.stringify(page.contents);
    expect(text).not.toContain(AWS_KEY);
    expect(text).not.toContain('ada@example.org');
    expect(text).toContain('[REDACTED:aws_access_key]');
  });
});
