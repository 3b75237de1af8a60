// Tool-definition pinning through the gateway: a definition is pinned when first seen, a changed
// one (a rug pull) disables the tool until re-approved and raises an alert, and descriptions that
// hide characters or instructions raise alerts.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSqliteInventory, type Inventory } from '@posture/storage';
import { startGateway, type TestGateway } from './support/gateway.js';

const RUGPULL = fileURLToPath(new URL('../support/rugpull-server.js', import.meta.url));

const POLICY = `
version: 1
users:
  alice: { groups: [staff] }
agents:
  helper:
    owner: alice
    run_by: [group:staff]
    grants:
      - tools: [rugpull/*]
servers:
  rugpull:
    command: [node, ${JSON.stringify(RUGPULL)}]
    tools:
      weather: { tier: 1, access: read }
      add: { tier: 1, access: read }
`;

let t: TestGateway;
let inventory: Inventory;
const dir = mkdtempSync(join(tmpdir(), 'posture-inventory-'));

beforeAll(async () => {
  inventory = openSqliteInventory(join(dir, 'inventory.db'));
  t = await startGateway(POLICY, { inventory });
}, 30_000);

afterAll(async () => {
  await t?.close();
  await inventory?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function alerts() {
  return (await t.audit.read(0, await t.audit.size())).filter((e) => e.kind === 'alert');
}

describe('tool pinning', () => {
  it('pins definitions when first seen and flags a description with hidden instructions', async () => {
    const tools = await inventory.tools({ server: 'rugpull' });
    expect(tools.map((tool) => [tool.name, tool.status])).toEqual([
      ['add', 'approved'],
      ['weather', 'approved'],
    ]);
    const flagged = (await alerts()).find((e) => e.tool === 'rugpull/add');
    expect(flagged?.detail).toMatchObject({ alert: 'tool.suspicious_description' });
    const codes = (flagged?.detail?.flags as Array<{ code: string }>).map((f) => f.code);
    expect(codes).toEqual(
      expect.arrayContaining(['invisible_characters', 'ignore_instructions', 'sensitive_path']),
    );
  });

  it('disables a tool whose definition changes after approval, alerts, and serves it again once re-approved', async () => {
    const client = await t.connect(await t.token());
    const first = await client.callTool({ name: 'rugpull__weather', arguments: { city: 'Leeds' } });
    expect(first.isError).toBeFalsy();

    // The server now changes its description and says so; the gateway lists it again.
    const upstreamTools = async () =>
      (await client.listTools()).tools
        .map((tool) => tool.name)
        .filter((name) => name.startsWith('rugpull__'));
    let listed = await upstreamTools();
    for (let i = 0; i < 50 && listed.includes('rugpull__weather'); i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      listed = await upstreamTools();
    }
    expect(listed).toEqual(['rugpull__add']);
    const refused = await client.callTool({ name: 'rugpull__weather', arguments: { city: 'Leeds' } });
    expect(refused.isError).toBe(true);
    expect(JSON.stringify(refused.content)).toContain('tool.definition_changed');

    const changed = (await alerts()).find((e) => e.detail?.alert === 'tool.definition_changed');
    expect(changed).toMatchObject({ tool: 'rugpull/weather' });
    const tool = await inventory.tool('rugpull', 'weather');
    expect(tool?.status).toBe('changed');
    expect(changed?.detail).toMatchObject({ hash: tool!.hash, approved_hash: tool!.approved_hash });

    // A human looks at the new definition and approves it; the next listing serves it again.
    expect((await inventory.approve('rugpull', 'weather', tool!.hash, 'alice', new Date())).ok).toBe(true);
    await t.gateway.refreshInventory();
    expect((await client.listTools()).tools.map((t) => t.name)).toContain('rugpull__weather');
  });
});
