// MCP's conformance suite (@modelcontextprotocol/conformance 0.1.13, the last that runs on
// Node 20) against the gateway, for the scenarios that apply to a gateway: initialisation, ping,
// tool listing and DNS-rebinding protection. The suite cannot send a bearer token, so a small
// harness in front adds one per session; everything else reaches the gateway as the suite sent it.
// Scenarios that need the suite's own fixture tools (`test_simple_text`…) or server logging do not
// apply: the gateway names tools `<server>__<tool>` and forwards no logging.
import { execFile } from 'node:child_process';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from './support/gateway.js';

const run = promisify(execFile);
const require = createRequire(import.meta.url);
const CONFORMANCE = require.resolve('@modelcontextprotocol/conformance/dist/index.js');
const EVERYTHING = require.resolve('@modelcontextprotocol/server-everything/dist/index.js');
const SCENARIOS = ['server-initialize', 'ping', 'tools-list', 'dns-rebinding-protection'];

const POLICY = `
version: 1
users:
  alice: { groups: [staff] }
agents:
  helper:
    owner: alice
    run_by: [group:staff]
    grants:
      - tools: [everything/echo]
servers:
  everything:
    command: [node, ${JSON.stringify(EVERYTHING)}, stdio]
`;

let t: TestGateway;
let harness: Server;
let harnessUrl: string;

beforeAll(async () => {
  t = await startGateway(POLICY);
  const target = new URL(t.running.url);
  const bySession = new Map<string, string>();
  harness = createServer((req, res) => {
    void (async () => {
      const session = req.headers['mcp-session-id'];
      const token = (typeof session === 'string' && bySession.get(session)) || (await t.token());
      const upstream = request(
        target,
        { method: req.method, headers: { ...req.headers, authorization: `Bearer ${token}` } },
        (answer) => {
          const opened = answer.headers['mcp-session-id'];
          if (typeof opened === 'string') bySession.set(opened, token);
          res.writeHead(answer.statusCode!, answer.headers);
          answer.pipe(res);
        },
      );
      upstream.on('error', () => res.destroy());
      req.pipe(upstream);
    })();
  });
  await new Promise<void>((resolve) => harness.listen(0, '127.0.0.1', resolve));
  harnessUrl = `http://127.0.0.1:${(harness.address() as AddressInfo).port}/mcp`;
}, 30_000);

afterAll(async () => {
  await new Promise((resolve) => harness?.close(resolve));
  await t?.close();
});

describe('MCP conformance suite', () => {
  it.each(SCENARIOS)('%s passes', async (scenario) => {
    const { stdout } = await run(
      'node',
      [CONFORMANCE, 'server', '--url', harnessUrl, '--scenario', scenario],
      {
        timeout: 60_000,
      },
    );
    const summary = /Passed: (\d+)\/(\d+), (\d+) failed/.exec(stdout);
    expect(summary, stdout).not.toBeNull();
    expect(summary![3], stdout).toBe('0');
    expect(summary![1]).toBe(summary![2]);
  });
});
