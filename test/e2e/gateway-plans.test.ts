// Transactions through the gateway's `posture__plan` tool: one approval covers a declared plan,
// calls outside it are refused while it runs, and a failing step reports how to undo the rest.
import { createRequire } from 'node:module';
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
      - tools: [everything/echo, everything/get-sum, everything/trigger-long-running-operation]
      - tools: [everything/toggle-simulated-logging]
        access: write
servers:
  everything:
    command: [node, ${JSON.stringify(EVERYTHING)}, stdio]
    tools:
      toggle-simulated-logging: { tier: 3, access: write }
      trigger-long-running-operation: { tier: 1, access: read }
tiers:
  3: { approval: { approvers: [group:approvers], expires: 10m } }
limits:
  default: { timeout: 500ms }
`;

let t: TestGateway;

beforeAll(async () => {
  t = await startGateway(POLICY);
}, 30_000);

afterAll(async () => {
  await t?.close();
});

const text = (result: { content: unknown }) => JSON.stringify(result.content);

describe('plans', () => {
  it('are offered to every agent with tools', async () => {
    const client = await t.connect(await t.token());
    const names = (await client.listTools()).tools.map((tool) => tool.name);
    expect(names).toEqual(expect.arrayContaining(['posture__plan', 'posture__end_plan']));
  });

  it('one approval covers the plan; outside calls are refused while it runs', async () => {
    const client = await t.connect(await t.token());
    const plan = {
      goal: 'add up, then turn logging on',
      steps: [
        { tool: 'everything__get-sum', args: { a: 1, b: 2 } },
        { tool: 'everything__toggle-simulated-logging', args: {} },
      ],
    };
    const first = await client.callTool({ name: 'posture__plan', arguments: plan });
    expect(first.isError).toBe(true);
    expect(text(first)).toContain('the plan needs approval');
    const id = (first._meta as { posture: { approval_id: string } }).posture.approval_id;
    const request = await t.approvals.get(id, new Date());
    expect(request).toMatchObject({ tool: 'posture/plan', approvers: ['group:approvers'] });
    expect(request?.args).toMatchObject({ goal: plan.goal }); // the approver sees the steps themselves
    await t.approvals.decide(id, { approve: true, by: 'bob', byGroups: ['approvers'] }, new Date());

    const active = await client.callTool({ name: 'posture__plan', arguments: plan });
    expect(text(active)).toContain('the plan is active');

    const outside = await client.callTool({
      name: 'everything__echo',
      arguments: { message: 'not in the plan' },
    });
    expect(outside.isError).toBe(true);
    expect(text(outside)).toContain('plan.outside');
    const otherArgs = await client.callTool({ name: 'everything__get-sum', arguments: { a: 5, b: 5 } });
    expect(text(otherArgs)).toContain('plan.outside');

    expect(
      (await client.callTool({ name: 'everything__get-sum', arguments: { a: 1, b: 2 } })).isError,
    ).toBeFalsy();
    // The tier-3 step runs under the plan's approval: no second approval is asked for.
    const covered = await client.callTool({ name: 'everything__toggle-simulated-logging', arguments: {} });
    expect(covered.isError).toBeFalsy();
    const events = await t.audit.read(0, await t.audit.size());
    expect(events.at(-1)).toMatchObject({
      tool: 'everything/toggle-simulated-logging',
      outcome: 'allowed',
      approval_id: id,
    });

    // Every step done: the plan ended, calls are decided one by one again.
    expect(
      (await client.callTool({ name: 'everything__echo', arguments: { message: 'free again' } })).isError,
    ).toBeFalsy();
  });

  it('a step that fails ends the plan and reports the compensations, last first', async () => {
    const client = await t.connect(await t.token());
    const plan = {
      goal: 'echo twice, then wait too long',
      steps: [
        {
          tool: 'everything__echo',
          args: { message: 'one' },
          compensate: { tool: 'everything__echo', args: { message: 'undo one' } },
        },
        { tool: 'everything__echo', args: { message: 'two' } },
        { tool: 'everything__trigger-long-running-operation', args: { duration: 5, steps: 5 } },
      ],
    };
    expect(text(await client.callTool({ name: 'posture__plan', arguments: plan }))).toContain(
      'the plan is active',
    );
    await client.callTool({ name: 'everything__echo', arguments: { message: 'one' } });
    await client.callTool({ name: 'everything__echo', arguments: { message: 'two' } });
    const failed = await client.callTool({
      name: 'everything__trigger-long-running-operation',
      arguments: { duration: 5, steps: 5 },
    });
    expect(failed.isError).toBe(true);
    expect(text(failed)).toContain('did not complete; the plan has ended');
    const report = text(failed);
    expect(report.indexOf('step 2 (`everything/echo`) declared no compensation')).toBeLessThan(
      report.indexOf('undo step 1: call `everything__echo` with {\\"message\\":\\"undo one\\"}'),
    );
  });

  it('refuses a plan with a step that would be denied, or a tool the agent may not call', async () => {
    const client = await t.connect(await t.token());
    const denied = await client.callTool({
      name: 'posture__plan',
      arguments: { goal: 'x', steps: [{ tool: 'everything__get-env' }] },
    });
    expect(denied.isError).toBe(true);
    expect(text(denied)).toContain('is not a tool you may call');
  });
});
