// The OpenAI Agents SDK runs the guarded tools itself: a `Runner` whose model (an implementation of
// the SDK's `Model` interface, no network) asks for a function call on its first turn and, on its
// second, answers with the function output the SDK sent back to it.
import {
  Agent,
  Runner,
  RunContext,
  tool,
  Usage,
  type Model,
  type ModelRequest,
  type ModelResponse,
} from '@openai/agents-core';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { guardAgentsTool } from '../../src/frameworks/openai-agents/index.js';
import { approvalIdIn, AWS_KEY, IDENTITY, REDACTED, setup } from './fixture.js';

type Identity = typeof IDENTITY;

/** Calls `name` with `args` (a JSON text), then says what the tool answered. */
class ScriptedModel implements Model {
  constructor(
    private readonly name: string,
    private readonly args: string,
  ) {}
  async getResponse(request: ModelRequest): Promise<ModelResponse> {
    const items = Array.isArray(request.input) ? request.input : [];
    const answered = items.find((item) => item.type === 'function_call_result');
    if (!answered) {
      return {
        usage: new Usage(),
        output: [
          {
            type: 'function_call',
            callId: 'call-1',
            name: this.name,
            arguments: this.args,
            status: 'completed',
          },
        ],
      };
    }
    const output = answered.type === 'function_call_result' ? answered.output : undefined;
    const text =
      typeof output === 'string' ? output : output && 'text' in output ? output.text : JSON.stringify(output);
    return {
      usage: new Usage(),
      output: [
        {
          type: 'message',
          role: 'assistant',
          status: 'completed',
          content: [{ type: 'output_text', text: String(text) }],
        },
      ],
    };
  }
  // eslint-disable-next-line require-yield
  async *getStreamedResponse(): AsyncIterable<never> {
    throw new Error('not streamed in these tests');
  }
}

function agentWith(
  enforcer: ReturnType<typeof setup>['enforcer'],
  ran: unknown[],
  name: string,
  args: unknown,
) {
  const identity = (runContext: { context: Identity }) => runContext.context;
  const getCustomer = guardAgentsTool(
    enforcer,
    { tool: 'crm/get_customer', identity },
    tool({
      name: 'get_customer',
      description: 'Look a customer up by id',
      parameters: z.object({ id: z.string() }),
      execute: async ({ id }) => {
        ran.push(id);
        return JSON.stringify({ id, name: 'Ada' });
      },
    }),
  );
  const refund = guardAgentsTool(
    enforcer,
    { tool: 'payments/refund', identity },
    tool({
      name: 'refund',
      description: 'Refund a payment',
      parameters: z.object({ payment: z.string(), amount: z.number() }),
      execute: async ({ payment, amount }) => {
        ran.push(payment);
        return `refunded ${amount}`;
      },
    }),
  );
  const flaky = guardAgentsTool(
    enforcer,
    { tool: 'crm/flaky_lookup', identity },
    tool({
      name: 'flaky',
      description: 'Fails',
      parameters: z.object({}),
      execute: async () => {
        throw new Error('crm is down');
      },
    }),
  );
  const comment = guardAgentsTool(
    enforcer,
    { tool: 'tickets/add_comment', identity },
    tool({
      name: 'comment',
      description: 'Comment on a ticket',
      parameters: z.object({ text: z.string() }),
      execute: async ({ text }) => {
        ran.push(text);
        return 'posted';
      },
    }),
  );
  const slow = guardAgentsTool(
    enforcer,
    { tool: 'crm/slow_lookup', identity },
    tool({
      name: 'slow',
      description: 'Outlasts the timeout',
      parameters: z.object({}),
      execute: (_input, _context, details) =>
        new Promise<string>((resolve) =>
          details?.signal?.addEventListener('abort', () => {
            ran.push('aborted');
            resolve('too late');
          }),
        ),
    }),
  );
  const model = new ScriptedModel(name, typeof args === 'string' ? args : JSON.stringify(args));
  return new Agent<Identity>({
    name: 'support',
    instructions: 'help',
    model,
    tools: [getCustomer, refund, flaky, comment, slow],
  });
}

async function run(
  enforcer: ReturnType<typeof setup>['enforcer'],
  ran: unknown[],
  name: string,
  args: unknown,
) {
  const runner = new Runner({ tracingDisabled: true });
  const result = await runner.run(agentWith(enforcer, ran, name, args), 'help the customer', {
    context: IDENTITY,
  });
  return String(result.finalOutput);
}

describe('guardAgentsTool (OpenAI Agents SDK)', () => {
  it('keeps the function tool as the SDK sees it: name, description, JSON schema', () => {
    const { enforcer } = setup();
    const original = tool({
      name: 'refund',
      description: 'Refund',
      parameters: z.object({ amount: z.number() }),
      execute: async () => 'ok',
    });
    const guarded = guardAgentsTool(enforcer, { tool: 'payments/refund', identity: IDENTITY }, original);
    expect({ ...guarded, invoke: undefined }).toEqual({ ...original, invoke: undefined });
    expect(guarded.invoke).not.toBe(original.invoke);
  });

  it('runs an allowed call in a run; the model gets the tool’s output', async () => {
    const { enforcer, events } = setup();
    const ran: unknown[] = [];
    expect(JSON.parse(await run(enforcer, ran, 'get_customer', { id: 'C-1' }))).toEqual({
      id: 'C-1',
      name: 'Ada',
    });
    expect(ran).toEqual(['C-1']);
    expect(await events()).toEqual([['crm/get_customer', 'allow', 'allowed']]);
  });

  it('does not run a denied call; the model reads the reason as the tool’s output', async () => {
    const { enforcer, events } = setup();
    const ran: unknown[] = [];
    const text = await run(enforcer, ran, 'refund', { payment: 'P-1', amount: 9000 });
    expect(text).toMatch(/^posture denied the call to `payments\/refund`: .*\[constraint\.failed\]/);
    expect(ran).toEqual([]);
    expect(await events()).toEqual([['payments/refund', 'deny', 'denied']]);
  });

  it('answers pending with the approval id, and the same call runs once approved', async () => {
    const { enforcer, events, approve } = setup();
    const ran: unknown[] = [];
    const id = approvalIdIn(await run(enforcer, ran, 'refund', { payment: 'P-2', amount: 120 }));
    expect(ran).toEqual([]);
    await approve(id);
    expect(await run(enforcer, ran, 'refund', { payment: 'P-2', amount: 120 })).toBe('refunded 120');
    expect(ran).toEqual(['P-2']);
    expect(await events()).toEqual([
      ['payments/refund', 'approve', 'pending'],
      ['payments/refund', 'allow', 'allowed'],
    ]);
  });

  it('leaves a failing tool to the SDK’s own error handling (its error text reaches the model)', async () => {
    const { enforcer, events } = setup();
    const text = await run(enforcer, [], 'flaky', {});
    expect(text).toContain('crm is down');
    // The SDK's tool() turns the throw into its error text, so the tool answered: allowed.
    expect(await events()).toEqual([['crm/flaky_lookup', 'allow', 'allowed']]);
  });

  it('refuses arguments that are not a JSON object, on record', async () => {
    const { enforcer, events } = setup();
    const ran: unknown[] = [];
    const text = await run(enforcer, ran, 'get_customer', '[1, 2]');
    const refusal =
      'posture denied the call to `crm/get_customer`: the arguments are not a JSON object [args.invalid]';
    expect(text).toBe(refusal);
    // Text that is not JSON at all the runner answers itself; invoked directly, the tool refuses it.
    const guarded = agentWith(enforcer, ran, 'get_customer', {}).tools[0]!;
    expect(guarded.type === 'function' && (await guarded.invoke(new RunContext(IDENTITY), '{"id": '))).toBe(
      refusal,
    );
    expect(ran).toEqual([]);
    expect(await events()).toEqual([
      ['crm/get_customer', 'deny', 'denied'],
      ['crm/get_customer', 'deny', 'denied'],
    ]);
  });

  it('hands the tool the redacted arguments, and its signal fires on the policy’s timeout', async () => {
    const { enforcer, events } = setup();
    const ran: unknown[] = [];
    expect(await run(enforcer, ran, 'comment', { text: `key ${AWS_KEY}` })).toBe('posted');
    expect(await run(enforcer, ran, 'slow', {})).toBe(
      'the call to `crm/slow_lookup` timed out and was cancelled',
    );
    expect(ran).toEqual([REDACTED, 'aborted']);
    expect(await events()).toEqual([
      ['tickets/add_comment', 'allow', 'allowed'],
      ['crm/slow_lookup', 'allow', 'timed_out'],
    ]);
  });
});
