// The gateway in front of servers from the npm registry as users run them: server-memory (a
// knowledge graph) and server-filesystem (one allowed folder). Read-only by default: reads pass,
// writes need an explicit grant, destructive tools need approval, and nothing outside the
// allowed folder comes back.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from './support/gateway.js';

const require = createRequire(import.meta.url);
const MEMORY = require.resolve('@modelcontextprotocol/server-memory/dist/index.js');
const FILESYSTEM = require.resolve('@modelcontextprotocol/server-filesystem/dist/index.js');

const data = mkdtempSync(join(tmpdir(), 'posture-npm-servers-'));
const allowed = join(data, 'allowed');
mkdirSync(allowed);
writeFileSync(join(allowed, 'notes.txt'), 'meeting at ten');
writeFileSync(join(data, 'secret.txt'), 'outside the allowed folder');
symlinkSync(join(data, 'secret.txt'), join(allowed, 'shortcut.txt'));

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
      - tools: [memory/*, files/*]                # read-only: what reads
      - tools: [memory/create_entities, memory/add_observations]
        access: write
      - tools: [memory/delete_entities]
        access: write
servers:
  memory:
    command: [node, ${JSON.stringify(MEMORY)}]
    env: { MEMORY_FILE_PATH: ${JSON.stringify(join(data, 'memory.jsonl'))} }
  files:
    command: [node, ${JSON.stringify(FILESYSTEM)}, ${JSON.stringify(allowed)}]
    tools:
      # Posture checks the path itself, before the server does: canonicalised, symlinks followed.
      read_text_file: { paths: { args: [path], roots: [${JSON.stringify(allowed)}] } }
tiers:
  3: { approval: { approvers: [group:approvers] } }
`;

let t: TestGateway;

beforeAll(async () => {
  t = await startGateway(POLICY);
}, 30_000);

afterAll(async () => {
  await t?.close();
  rmSync(data, { recursive: true, force: true });
});

describe('server-memory behind the gateway', () => {
  it('writes with an explicit write grant, reads back, and needs approval to delete', async () => {
    const client = await t.connect(await t.token());
    const names = (await client.listTools()).tools.map((tool) => tool.name);
    expect(names).toEqual(expect.arrayContaining(['memory__read_graph', 'memory__create_entities']));
    // No grant at write level covers relations: read-only by default, so it is not even listed.
    expect(names).not.toContain('memory__create_relations');

    const created = await client.callTool({
      name: 'memory__create_entities',
      arguments: { entities: [{ name: 'Ada', entityType: 'person', observations: ['likes tea'] }] },
    });
    expect(created.isError).toBeFalsy();
    const graph = await client.callTool({ name: 'memory__read_graph', arguments: {} });
    expect(JSON.stringify(graph.content)).toContain('likes tea');

    // delete_entities is destructive (annotations): classified tier 3, so it waits for approval.
    const deleting = await client.callTool({
      name: 'memory__delete_entities',
      arguments: { entityNames: ['Ada'] },
    });
    expect(deleting.isError).toBe(true);
    expect(JSON.stringify(deleting.content)).toContain('approval required');
    expect(readFileSync(join(data, 'memory.jsonl'), 'utf8')).toContain('Ada');
  });
});

describe('server-filesystem behind the gateway', () => {
  it('reads inside the allowed folder; writes are not granted', async () => {
    const client = await t.connect(await t.token());
    const read = await client.callTool({
      name: 'files__read_text_file',
      arguments: { path: join(allowed, 'notes.txt') },
    });
    expect(JSON.stringify(read.content)).toContain('meeting at ten');
    const names = (await client.listTools()).tools.map((tool) => tool.name);
    expect(names).not.toContain('files__write_file');
    await expect(
      client.callTool({
        name: 'files__write_file',
        arguments: { path: join(allowed, 'x.txt'), content: 'x' },
      }),
    ).resolves.toMatchObject({ isError: true });
  });

  it('returns nothing from outside the allowed folder, with traversal or an absolute path', async () => {
    const client = await t.connect(await t.token());
    for (const path of [join(allowed, '..', 'secret.txt'), join(data, 'secret.txt'), '/etc/passwd']) {
      const result = await client.callTool({ name: 'files__read_text_file', arguments: { path } });
      expect(result.isError).toBe(true);
      expect(JSON.stringify(result.content)).not.toContain('outside the allowed folder');
    }
  });

  it('refuses traversal, encoded traversal and symlinks out of the folder at the gateway, before the server sees them', async () => {
    const client = await t.connect(await t.token());
    const cases = [
      join(allowed, '..', 'secret.txt'),
      `${allowed}/%2e%2e/secret.txt`,
      '/etc/passwd',
      join(allowed, 'shortcut.txt'),
    ];
    for (const path of cases) {
      const result = await client.callTool({ name: 'files__read_text_file', arguments: { path } });
      expect(result.isError, path).toBe(true);
      const text = JSON.stringify(result.content);
      expect(text, path).toContain('args.path');
      expect(text, path).not.toContain('outside the allowed folder');
    }
    const events = await t.audit.search({ tool: 'files/read_text_file', decision: 'deny' });
    expect(
      events.filter((e) => e.reasons?.some((r) => r.code === 'args.path')).length,
    ).toBeGreaterThanOrEqual(4);
  });
});
