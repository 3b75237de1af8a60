// A confirmation by URL-mode elicitation: with a client that can open URLs and an approval page
// configured, a call that needs confirmation sends the user to that page (the exact call, decided
// by an approver there), waits for the decision, runs once approved, and tells the client the
// elicitation is complete. A user who does not open the page runs nothing; a client that shows
// only forms still gets the form.
import { createRequire } from 'node:module';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  ElicitRequestSchema,
  ElicitationCompleteNotificationSchema,
  type ClientCapabilities,
} from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from './support/gateway.js';

const require = createRequire(import.meta.url);
const EVERYTHING = require.resolve('@modelcontextprotocol/server-everything/dist/index.js');

const POLICY = `
version: 1
users:
  alice: { groups: [staff] }
  bob: { groups: [approvers] }
agents:
  helper:
    owner: alice
    run_by: [group:staff]
    grants:
      - tools: [everything/get-tiny-image]
servers:
  everything:
    command: [node, ${JSON.stringify(EVERYTHING)}, stdio]
    tools:
      get-tiny-image: { tier: 1, access: read, irreversible: true }
tiers:
  3: { approval: { approvers: [group:approvers], expires: 10m } }
`;
const PAGE = 'https://console.example.test/approvals/{id}';

let t: TestGateway;

beforeAll(async () => {
  t = await startGateway(POLICY, { approvalUrl: PAGE, approvalWaitMs: 15_000, approvalPollMs: 50 });
}, 30_000);

afterAll(async () => {
  await t?.close();
});

async function connect(
  capabilities: ClientCapabilities,
  answer: (request: { mode?: string; url?: string; elicitationId?: string; message: string }) => Promise<{
    action: 'accept' | 'decline' | 'cancel';
    content?: Record<string, unknown>;
  }>,
) {
  const client = new Client({ name: 'confirming', version: '1' }, { capabilities });
  const completed: string[] = [];
  client.setRequestHandler(ElicitRequestSchema, (request) => answer(request.params as never));
  client.setNotificationHandler(ElicitationCompleteNotificationSchema, (notification) => {
    completed.push(notification.params.elicitationId);
  });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(t.running.url), {
      requestInit: { headers: { authorization: `Bearer ${await t.token()}` } },
    }),
  );
  return { client, completed };
}

const call = (client: Client) =>
  client.callTool({ name: 'everything__get-tiny-image', arguments: {} }, undefined, { timeout: 20_000 });

describe('confirmation by URL-mode elicitation', () => {
  it('sends the user to the approval page of the exact call, and runs it once approved there', async () => {
    const asked: Array<{ mode?: string; url?: string; elicitationId?: string }> = [];
    const { client, completed } = await connect({ elicitation: { url: {}, form: {} } }, async (request) => {
      asked.push(request);
      // The approver decides on the page the URL names, as in the console.
      const id = decodeURIComponent(request.url!.split('/').pop()!);
      const pending = await t.approvals.get(id, new Date());
      expect(pending).toMatchObject({ tool: 'everything/get-tiny-image', status: 'pending' });
      void t.approvals.decide(id, { approve: true, by: 'bob', byGroups: ['approvers'] }, new Date());
      return { action: 'accept' };
    });
    const result = await call(client);
    expect(asked).toHaveLength(1);
    expect(asked[0]).toMatchObject({
      mode: 'url',
      url: expect.stringMatching(/^https:\/\/console\.example\.test\/approvals\//),
    });
    expect(asked[0]!.elicitationId).toBe(decodeURIComponent(asked[0]!.url!.split('/').pop()!));
    expect(result.isError).toBeFalsy();
    expect(JSON.stringify(result.content)).toContain('image');
    await expect.poll(() => completed).toEqual([asked[0]!.elicitationId]);
    const approval = await t.approvals.get(asked[0]!.elicitationId!, new Date());
    expect(approval).toMatchObject({ status: 'consumed', decided_by: 'bob' });
  });

  it('runs nothing when the user does not open the page; the request stays for an approver', async () => {
    let id = '';
    const { client } = await connect({ elicitation: { url: {} } }, async (request) => {
      id = request.elicitationId!;
      return { action: 'decline' };
    });
    const result = await call(client);
    expect(result.isError).toBe(true);
    expect(JSON.stringify(result.content)).toContain('did not open the approval page');
    expect((await t.approvals.get(id, new Date()))?.status).toBe('pending');
  });

  it('asks a client that shows only forms with a form', async () => {
    const modes: Array<string | undefined> = [];
    const { client } = await connect({ elicitation: {} }, async (request) => {
      modes.push(request.mode);
      return { action: 'accept', content: { confirm: true } };
    });
    const result = await call(client);
    expect(modes).toEqual(['form']);
    expect(result.isError).toBeFalsy();
  });
});
