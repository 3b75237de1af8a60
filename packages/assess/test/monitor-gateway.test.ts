// Monitoring on the gateway's path: the MCP SDK client → Posture's gateway → server-everything
// over stdio, with createMonitoring's observe handed to the gateway's enforcer.
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compile, loadPolicy } from '@posture/core';
import { startGateway, type TestGateway } from '../../../test/e2e/support/gateway.js';
import { createMonitoring, type Monitoring } from '../src/index.js';

const require = createRequire(import.meta.url);
const EVERYTHING = require.resolve('@modelcontextprotocol/server-everything/dist/index.js');

const POLICY = `
version: 1
users: { alice: { groups: [staff] } }
agents:
  helper:
    owner: alice
    run_by: [group:staff]
    grants:
      - tools: [everything/echo, everything/get-sum]
servers:
  everything:
    command: [node, ${JSON.stringify(EVERYTHING)}, stdio]
alerts:
  warmup: 3
`;

let t: TestGateway;
let monitoring: Monitoring;

beforeAll(async () => {
  monitoring = createMonitoring(compile(loadPolicy(POLICY, 'posture.yaml').policy!));
  t = await startGateway(POLICY, { observe: monitoring.observe });
  monitoring.attach({ note: (event) => t.gateway.enforcer.note(event) });
}, 30_000);

afterAll(async () => {
  await t?.close();
});

describe('monitoring the gateway', () => {
  it('counts every call and raises a first-use alert that lands in the audit log', async () => {
    const client = await t.connect(await t.token());
    for (let k = 0; k < 3; k++)
      await client.callTool({ name: 'everything__echo', arguments: { message: 'hi' } });
    await client.callTool({ name: 'everything__get-sum', arguments: { a: 1, b: 2 } });
    const denied = await client.callTool({ name: 'everything__get-tiny-image', arguments: {} });
    expect(denied.isError).toBe(true);
    await monitoring.alerts.flush();

    const { text } = await monitoring.metrics.text();
    expect(text).toContain(
      'posture_calls_total{tool="everything/echo",decision="allow",outcome="allowed"} 3',
    );
    expect(text).toContain(
      'posture_calls_total{tool="everything/get-sum",decision="allow",outcome="allowed"} 1',
    );
    expect(text).toContain(
      'posture_calls_total{tool="everything/get-tiny-image",decision="deny",outcome="denied"} 1',
    );
    const alerts = await t.audit.search({ kind: 'alert' });
    expect(alerts.map((e) => [e.tool, e.detail?.alert])).toContainEqual([
      'everything/get-sum',
      'anomaly.new_tool',
    ]);
  });
});
