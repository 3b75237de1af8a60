// @modelcontextprotocol/inspector-cli, a real MCP client from the npm registry, against the
// gateway over Streamable HTTP with a bearer token: it lists what the agent may call and calls it.
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from './support/gateway.js';

const run = promisify(execFile);
const require = createRequire(import.meta.url);
const INSPECTOR = require.resolve('@modelcontextprotocol/inspector-cli/build/index.js');
const EVERYTHING = require.resolve('@modelcontextprotocol/server-everything/dist/index.js');

const POLICY = `
version: 1
users:
  alice: { groups: [staff] }
agents:
  helper:
    owner: alice
    run_by: [group:staff]
    grants:
      - tools: [everything/echo, everything/get-sum]
servers:
  everything:
    command: [node, ${JSON.stringify(EVERYTHING)}, stdio]
`;

let t: TestGateway;

beforeAll(async () => {
  t = await startGateway(POLICY);
}, 30_000);

afterAll(async () => {
  await t?.close();
});

async function inspector(...args: string[]): Promise<unknown> {
  const token = await t.token();
  const { stdout } = await run(
    'node',
    [INSPECTOR, t.running.url, '--transport', 'http', '--header', `Authorization: Bearer ${token}`, ...args],
    // inspector-cli 1.0.3 finds its own package.json relative to the working directory.
    { cwd: dirname(INSPECTOR), timeout: 30_000 },
  );
  return JSON.parse(stdout);
}

describe('inspector-cli through the gateway', () => {
  it('lists only the granted tools', async () => {
    const listed = (await inspector('--method', 'tools/list')) as { tools: Array<{ name: string }> };
    expect(listed.tools.map((tool) => tool.name).sort()).toEqual([
      'everything__echo',
      'everything__get-sum',
      'posture__end_plan',
      'posture__plan',
    ]);
  });

  it('calls a tool, and the call is on record', async () => {
    const before = await t.audit.size();
    const result = (await inspector(
      '--method',
      'tools/call',
      '--tool-name',
      'everything__echo',
      '--tool-arg',
      'message=inspected',
    )) as {
      content: Array<{ text: string }>;
    };
    expect(result.content[0]!.text).toBe('Echo: inspected');
    expect((await t.audit.read(before, await t.audit.size())).map((e) => e.outcome)).toEqual(['allowed']);
  });
});
