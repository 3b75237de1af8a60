import { describe, expect, it } from 'vitest';
import { compile, loadPolicy } from '@posture/core';
import { createMemoryApprovalQueue, createMemoryAuditLog } from '@posture/storage';
import { createEnforcer } from '../src/index.js';

const POLICY = `
version: 1
users:
  alice: { groups: [staff, finance] }
  dana: { groups: [staff] }
agents:
  finder:
    owner: alice
    run_by: [group:staff]
    grants:
      - tools: [docs/search]
servers:
  docs:
    tools:
      search: { tier: 1, access: read, retrieval: true }
data:
  retrieval:
    classifications:
      public: { readers: ['*'] }
      confidential: { readers: [group:finance] }
`;

const DOCUMENTS = {
  query: 'budget',
  documents: [
    { id: 1, title: 'Cafeteria menu', labels: { classification: 'public' } },
    { id: 2, title: 'Budget 2027', labels: { classification: 'confidential' } },
    { id: 3, title: 'Unlabelled note' },
  ],
};

function enforcer() {
  const loaded = loadPolicy(POLICY, 'posture.yaml');
  const audit = createMemoryAuditLog();
  return {
    audit,
    enforcer: createEnforcer({
      policy: compile(loaded.policy!),
      audit,
      approvals: createMemoryApprovalQueue(),
    }),
  };
}

const search = (user: string) => ({
  agent: 'finder',
  user,
  session: user,
  tool: 'docs/search',
  args: { q: 'budget' },
});

describe('retrieval tools', () => {
  it('drop the documents the acting user may not read, and say how many', async () => {
    const { enforcer: e, audit } = enforcer();
    const forDana = await e.call(search('dana'), async () => DOCUMENTS);
    expect(forDana.status === 'ok' && forDana.result).toEqual({
      query: 'budget',
      documents: [{ id: 1, title: 'Cafeteria menu', labels: { classification: 'public' } }],
    });
    const forAlice = await e.call(search('alice'), async () => DOCUMENTS);
    expect(
      forAlice.status === 'ok' && (forAlice.result as typeof DOCUMENTS).documents.map((d) => d.id),
    ).toEqual([1, 2]);
    const events = await audit.read(0, 2);
    expect(events.map((event) => event.detail?.withheld_documents)).toEqual([2, 1]);
  });

  it('filter the text and the structured content of an MCP tool result alike', async () => {
    const { enforcer: e } = enforcer();
    const result = await e.call(search('dana'), async () => ({
      content: [{ type: 'text', text: JSON.stringify(DOCUMENTS) }],
      structuredContent: DOCUMENTS,
    }));
    expect(result.status).toBe('ok');
    const value = (result.status === 'ok' ? result.result : undefined) as {
      content: Array<{ text: string }>;
      structuredContent: typeof DOCUMENTS;
    };
    expect(value.structuredContent.documents.map((d) => d.id)).toEqual([1]);
    expect(JSON.parse(value.content[0]!.text).documents.map((d: { id: number }) => d.id)).toEqual([1]);
  });

  it('withhold a result that is not a list of documents, whole', async () => {
    const { enforcer: e } = enforcer();
    const result = await e.call(search('alice'), async () => ({
      content: [{ type: 'text', text: 'Budget 2027: …' }],
    }));
    expect(result.status).toBe('denied');
    expect(result.status === 'denied' && result.decision.reasons[0]!.code).toBe('retrieval.not_json');
    expect(JSON.stringify(result)).not.toContain('Budget 2027');
  });
});
