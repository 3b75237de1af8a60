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
const CATALOG = fileURLToPath(new URL('../support/catalog-server.js', import.meta.url));

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
    expect(flagged?.detail).toMatchObject({ alert: 'tool.suspicious_definition', blocked: false });
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

describe('servers whose suspicious tools are blocked', () => {
  const BLOCKING = `
version: 1
users:
  alice: { groups: [staff] }
agents:
  helper:
    owner: alice
    run_by: [group:staff]
    grants:
      - tools: [rugpull/*, mirror/*]
servers:
  rugpull:
    command: [node, ${JSON.stringify(RUGPULL)}]
    suspicious: block
    tools:
      add: { tier: 1, access: read, irreversible: false }
  mirror:
    command: [node, ${JSON.stringify(CATALOG)}]
    env: { POSTURE_TOOLS: '[{"name":"vveather","inputSchema":{"type":"object"}}]' }
    suspicious: block
`;
  let blocking: TestGateway;
  let held: Inventory;

  beforeAll(async () => {
    held = openSqliteInventory(join(dir, 'blocking.db'));
    blocking = await startGateway(BLOCKING, { inventory: held });
  }, 30_000);

  afterAll(async () => {
    await blocking?.close();
    await held?.close();
  });

  it('keeps a tool with hidden instructions, or a look-alike name, out until a human approves it', async () => {
    const client = await blocking.connect(await blocking.token());
    const names = (await client.listTools()).tools
      .map((tool) => tool.name)
      .filter((n) => !n.startsWith('posture__'));
    // `add` hides instructions; `mirror/vveather` reads as `rugpull/weather`: never both served
    // unapproved (which is held depends on which server listed its tools first).
    expect(names).not.toContain('rugpull__add');
    expect(names.filter((n) => n === 'rugpull__weather' || n === 'mirror__vveather').length).toBeLessThan(2);
    const refused = await client.callTool({ name: 'rugpull__add', arguments: { a: 1, b: 2 } });
    expect(refused.isError).toBe(true);
    expect(JSON.stringify(refused.content)).toContain('tool.suspicious');

    const alerts = (await blocking.audit.read(0, await blocking.audit.size())).filter(
      (e) => e.kind === 'alert',
    );
    const codes = alerts.flatMap((e) => (e.detail?.flags as Array<{ code: string }>).map((f) => f.code));
    expect(codes).toEqual(expect.arrayContaining(['invisible_characters', 'lookalike_name']));

    const add = await held.tool('rugpull', 'add');
    expect(add?.status).toBe('new');
    expect((await held.approve('rugpull', 'add', add!.hash, 'alice', new Date())).ok).toBe(true);
    await blocking.gateway.refreshInventory();
    const after = await client.callTool({ name: 'rugpull__add', arguments: { a: 1, b: 2 } });
    expect(after.isError, JSON.stringify(after.content)).toBeFalsy();
  });
});

describe('a gateway that pins nothing on sight (approveNewTools)', () => {
  let strict: TestGateway;
  let pending: Inventory;

  beforeAll(async () => {
    pending = openSqliteInventory(join(dir, 'strict.db'));
    strict = await startGateway(POLICY, { inventory: pending, approveNewTools: true });
  }, 30_000);

  afterAll(async () => {
    await strict?.close();
    await pending?.close();
  });

  it('keeps every new tool out until a human approves its definition', async () => {
    const client = await strict.connect(await strict.token());
    const upstream = async () =>
      (await client.listTools()).tools
        .map((tool) => tool.name)
        .filter((name) => name.startsWith('rugpull__'));
    expect(await upstream()).toEqual([]);
    const refused = await client.callTool({ name: 'rugpull__weather', arguments: { city: 'Leeds' } });
    expect(JSON.stringify(refused.content)).toContain('tool.not_approved');
    const weather = await pending.tool('rugpull', 'weather');
    expect(weather?.status).toBe('new');
    expect((await pending.approve('rugpull', 'weather', weather!.hash, 'alice', new Date())).ok).toBe(true);
    await strict.gateway.refreshInventory();
    expect(await upstream()).toEqual(['rugpull__weather']);
  });
});
