// LangChain tools are invoked with `tool.invoke(...)`: by agents and `ToolNode` with the model's tool
// call (the answer is a ToolMessage), by code with plain arguments (the answer is the content).
import { ToolMessage } from '@langchain/core/messages';
import { tool } from '@langchain/core/tools';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { guardLangChainTool } from '../../src/frameworks/langchain/index.js';
import { approvalIdIn, AWS_KEY, IDENTITY, REDACTED, setup } from './fixture.js';

const identity = (config: { configurable?: Record<string, unknown> }) =>
  config.configurable?.posture as typeof IDENTITY;
const CONFIG = { configurable: { posture: IDENTITY } };

function tools(enforcer: ReturnType<typeof setup>['enforcer'], ran: unknown[]) {
  const getCustomer = guardLangChainTool(
    enforcer,
    { tool: 'crm/get_customer', identity },
    tool(
      async ({ id }) => {
        ran.push(id);
        return JSON.stringify({ id, name: 'Ada' });
      },
      { name: 'get_customer', description: 'Look a customer up by id', schema: z.object({ id: z.string() }) },
    ),
  );
  const refund = guardLangChainTool(
    enforcer,
    { tool: 'payments/refund', identity },
    tool(
      async ({ payment, amount }) => {
        ran.push(payment);
        return `refunded ${amount}`;
      },
      {
        name: 'refund',
        description: 'Refund a payment',
        schema: z.object({ payment: z.string(), amount: z.number() }),
      },
    ),
  );
  return { getCustomer, refund };
}

const call = (name: string, args: Record<string, unknown>, id = 'call-1') => ({
  type: 'tool_call' as const,
  id,
  name,
  args,
});

describe('guardLangChainTool (LangChain.js)', () => {
  it('keeps the tool as LangChain sees it: name, description, schema', () => {
    const { enforcer } = setup();
    const schema = z.object({ amount: z.number() });
    const original = tool(async () => 'ok', { name: 'refund', description: 'Refund a payment', schema });
    const guarded = guardLangChainTool(enforcer, { tool: 'payments/refund', identity: IDENTITY }, original);
    expect([guarded.name, guarded.description, guarded.schema]).toEqual([
      'refund',
      'Refund a payment',
      schema,
    ]);
  });

  it('runs an allowed call: a ToolMessage for a tool call, the content for plain arguments', async () => {
    const { enforcer, events } = setup();
    const ran: unknown[] = [];
    const { getCustomer } = tools(enforcer, ran);
    const message = await getCustomer.invoke(call('get_customer', { id: 'C-1' }), CONFIG);
    expect(message).toBeInstanceOf(ToolMessage);
    expect(message).toMatchObject({
      status: 'success',
      tool_call_id: 'call-1',
      content: '{"id":"C-1","name":"Ada"}',
    });
    expect(await getCustomer.invoke({ id: 'C-2' }, CONFIG)).toBe('{"id":"C-2","name":"Ada"}');
    expect(ran).toEqual(['C-1', 'C-2']);
    expect(await events()).toEqual([
      ['crm/get_customer', 'allow', 'allowed'],
      ['crm/get_customer', 'allow', 'allowed'],
    ]);
  });

  it('does not run a denied call: an error ToolMessage the model reads, the refusal as its artifact', async () => {
    const { enforcer, events } = setup();
    const ran: unknown[] = [];
    const { refund } = tools(enforcer, ran);
    const message = (await refund.invoke(
      call('refund', { payment: 'P-1', amount: 9000 }),
      CONFIG,
    )) as ToolMessage;
    expect(message).toBeInstanceOf(ToolMessage);
    expect(message.status).toBe('error');
    expect(message.tool_call_id).toBe('call-1');
    expect(message.content).toMatch(
      /^posture denied the call to `payments\/refund`: .*\[constraint\.failed\]/,
    );
    expect(message.artifact).toMatchObject({ status: 'denied', decision: { decision: 'deny' } });
    expect(await refund.invoke({ payment: 'P-1', amount: 9000 }, CONFIG)).toMatch(/^posture denied/);
    expect(ran).toEqual([]);
    expect(await events()).toEqual([
      ['payments/refund', 'deny', 'denied'],
      ['payments/refund', 'deny', 'denied'],
    ]);
  });

  it('answers pending with the approval id, and the same call runs once approved', async () => {
    const { enforcer, events, approve } = setup();
    const ran: unknown[] = [];
    const { refund } = tools(enforcer, ran);
    const args = { payment: 'P-2', amount: 120 };
    const pending = (await refund.invoke(call('refund', args), CONFIG)) as ToolMessage;
    expect(pending.status).toBe('error');
    const id = approvalIdIn(String(pending.content));
    expect(pending.artifact).toMatchObject({ status: 'pending', approval: { id } });
    expect(ran).toEqual([]);
    await approve(id);
    const done = (await refund.invoke(call('refund', args, 'call-2'), CONFIG)) as ToolMessage;
    expect(done).toMatchObject({ status: 'success', content: 'refunded 120', tool_call_id: 'call-2' });
    expect(ran).toEqual(['P-2']);
    expect(await events()).toEqual([
      ['payments/refund', 'approve', 'pending'],
      ['payments/refund', 'allow', 'allowed'],
    ]);
  });

  it('rethrows a failing tool’s error (for ToolNode’s error handling), recorded as failed', async () => {
    const { enforcer, events } = setup();
    const flaky = guardLangChainTool(
      enforcer,
      { tool: 'crm/flaky_lookup', identity },
      tool(
        async () => {
          throw new Error('crm is down');
        },
        { name: 'flaky', description: 'Fails', schema: z.object({}) },
      ),
    );
    await expect(flaky.invoke(call('flaky', {}), CONFIG)).rejects.toThrow('crm is down');
    expect(await events()).toEqual([['crm/flaky_lookup', 'allow', 'failed']]);
  });

  it('keeps a content-and-artifact tool’s artifact', async () => {
    const { enforcer, events } = setup();
    const lookup = guardLangChainTool(
      enforcer,
      { tool: 'crm/get_customer', identity },
      tool(async ({ id }) => [`customer ${id}`, { id, rows: 1 }], {
        name: 'get_customer',
        description: 'Look a customer up',
        schema: z.object({ id: z.string() }),
        responseFormat: 'content_and_artifact',
      }),
    );
    const message = (await lookup.invoke(call('get_customer', { id: 'C-3' }), CONFIG)) as ToolMessage;
    expect(message).toMatchObject({
      status: 'success',
      content: 'customer C-3',
      artifact: { id: 'C-3', rows: 1 },
    });
    expect(await events()).toEqual([['crm/get_customer', 'allow', 'allowed']]);
  });

  it('hands the tool the redacted arguments, and its signal fires on the policy’s timeout', async () => {
    const { enforcer, events } = setup();
    const ran: unknown[] = [];
    const comment = guardLangChainTool(
      enforcer,
      { tool: 'tickets/add_comment', identity },
      tool(
        async ({ text }) => {
          ran.push(text);
          return 'posted';
        },
        { name: 'comment', description: 'Comment on a ticket', schema: z.object({ text: z.string() }) },
      ),
    );
    const slow = guardLangChainTool(
      enforcer,
      { tool: 'crm/slow_lookup', identity },
      tool(
        (_input, config) =>
          new Promise<string>((resolve) =>
            config?.signal?.addEventListener('abort', () => {
              ran.push('aborted');
              resolve('too late');
            }),
          ),
        { name: 'slow', description: 'Outlasts the timeout', schema: z.object({}) },
      ),
    );
    expect(await comment.invoke({ text: `key ${AWS_KEY}` }, CONFIG)).toBe('posted');
    const message = (await slow.invoke(call('slow', {}), CONFIG)) as ToolMessage;
    expect(message).toMatchObject({
      status: 'error',
      content: 'the call to `crm/slow_lookup` timed out and was cancelled',
    });
    expect(ran).toEqual([REDACTED, 'aborted']);
    expect(await events()).toEqual([
      ['tickets/add_comment', 'allow', 'allowed'],
      ['crm/slow_lookup', 'allow', 'timed_out'],
    ]);
  });

  it('guards a string tool: the policy sees `{ input }`, the tool its string', async () => {
    const { enforcer, events } = setup();
    const received: unknown[] = [];
    const lookup = guardLangChainTool(
      enforcer,
      { tool: 'crm/get_customer', identity },
      tool(
        async (query: string) => {
          received.push(query);
          return `found ${query}`;
        },
        { name: 'get_customer', description: 'Look a customer up', schema: z.string() },
      ),
    );
    const message = (await lookup.invoke(call('get_customer', { input: 'C-4' }), CONFIG)) as ToolMessage;
    expect(message).toMatchObject({ status: 'success', content: 'found C-4' });
    expect(received).toEqual(['C-4']);
    expect(await events()).toEqual([['crm/get_customer', 'allow', 'allowed']]);
  });
});
