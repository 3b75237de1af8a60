// The AI SDK runs the guarded tools itself: `generateText` with the SDK's own mock language model
// (`ai/test`), which asks for a tool call on its first step and, on its second, reads back what
// the SDK sent it as the tool's result.
import { generateText, simulateReadableStream, stepCountIs, streamText, tool, type ModelMessage } from 'ai';
import { MockLanguageModelV3 } from 'ai/test';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { guardAiTool, PostureRefused } from '../../src/frameworks/ai/index.js';
import { approvalIdIn, AWS_KEY, IDENTITY, REDACTED, setup } from './fixture.js';

/** A model that calls `toolName` with `input`, then answers with the tool's result as it saw it. */
function scriptedModel(toolName: string, input: unknown) {
  const usage = {
    inputTokens: { total: 1, noCache: 1, cacheRead: 0, cacheWrite: 0 },
    outputTokens: { total: 1, text: 1, reasoning: 0 },
  };
  const prompts: ModelMessage[][] = [];
  const model = new MockLanguageModelV3({
    doGenerate: async ({ prompt }) => {
      prompts.push(prompt as ModelMessage[]);
      const last = prompt[prompt.length - 1];
      if (last?.role !== 'tool') {
        return {
          content: [
            {
              type: 'tool-call',
              toolCallId: `call-${prompts.length}`,
              toolName,
              input: JSON.stringify(input),
            },
          ],
          finishReason: { unified: 'tool-calls', raw: undefined },
          usage,
          warnings: [],
        };
      }
      const part = last.content[0];
      const seen = part?.type === 'tool-result' ? JSON.stringify(part.output) : 'nothing';
      return {
        content: [{ type: 'text', text: seen }],
        finishReason: { unified: 'stop', raw: undefined },
        usage,
        warnings: [],
      };
    },
  });
  return { model, prompts };
}

function tools(enforcer: ReturnType<typeof setup>['enforcer'], ran: unknown[]) {
  return {
    get_customer: guardAiTool(
      enforcer,
      {
        tool: 'crm/get_customer',
        identity: ({ experimental_context }) => experimental_context as typeof IDENTITY,
      },
      tool({
        description: 'Look a customer up by id',
        inputSchema: z.object({ id: z.string() }),
        execute: async ({ id }) => {
          ran.push(id);
          return { id, name: 'Ada' };
        },
      }),
    ),
    refund: guardAiTool(
      enforcer,
      { tool: 'payments/refund', identity: IDENTITY },
      tool({
        description: 'Refund a payment',
        inputSchema: z.object({ payment: z.string(), amount: z.number() }),
        execute: async ({ payment, amount }) => {
          ran.push(payment);
          return { refunded: amount };
        },
      }),
    ),
  };
}

async function run(
  enforcer: ReturnType<typeof setup>['enforcer'],
  ran: unknown[],
  name: string,
  input: unknown,
) {
  const { model } = scriptedModel(name, input);
  return generateText({
    model,
    tools: tools(enforcer, ran),
    prompt: 'help the customer',
    stopWhen: stepCountIs(2),
    experimental_context: IDENTITY,
  });
}

describe('guardAiTool (Vercel AI SDK)', () => {
  it('keeps the tool as the SDK sees it: description, schema', () => {
    const { enforcer } = setup();
    const original = tool({
      description: 'Refund a payment',
      inputSchema: z.object({ amount: z.number() }),
      execute: async () => 1,
    });
    const guarded = guardAiTool(enforcer, { tool: 'payments/refund', identity: IDENTITY }, original);
    expect(guarded.description).toBe(original.description);
    expect(guarded.inputSchema).toBe(original.inputSchema);
    expect(guarded.execute).not.toBe(original.execute);
  });

  it('runs an allowed call inside generateText; the model gets the tool’s value', async () => {
    const { enforcer, events } = setup();
    const ran: unknown[] = [];
    const result = await run(enforcer, ran, 'get_customer', { id: 'C-1' });
    expect(ran).toEqual(['C-1']);
    expect(result.steps[0]!.toolResults.map((r) => r.output)).toEqual([{ id: 'C-1', name: 'Ada' }]);
    expect(JSON.parse(result.text)).toEqual({ type: 'json', value: { id: 'C-1', name: 'Ada' } });
    expect(await events()).toEqual([['crm/get_customer', 'allow', 'allowed']]);
  });

  it('does not run a denied call; the model reads the reason as the tool’s error', async () => {
    const { enforcer, events } = setup();
    const ran: unknown[] = [];
    const result = await run(enforcer, ran, 'refund', { payment: 'P-1', amount: 9000 });
    expect(ran).toEqual([]);
    const [error] = result.steps[0]!.content.filter((part) => part.type === 'tool-error');
    expect(error?.error).toBeInstanceOf(PostureRefused);
    expect((error?.error as PostureRefused).result.status).toBe('denied');
    const seen = JSON.parse(result.text) as { type: string; value: string };
    expect(seen.type).toBe('error-text');
    expect(seen.value).toMatch(/^posture denied the call to `payments\/refund`: .*\[constraint\.failed\]/);
    expect(await events()).toEqual([['payments/refund', 'deny', 'denied']]);
  });

  it('answers pending with the approval id, and the same call runs once approved', async () => {
    const { enforcer, events, approve } = setup();
    const ran: unknown[] = [];
    const first = await run(enforcer, ran, 'refund', { payment: 'P-2', amount: 120 });
    const seen = JSON.parse(first.text) as { type: string; value: string };
    expect(seen.type).toBe('error-text');
    const id = approvalIdIn(seen.value);
    const [error] = first.steps[0]!.content.filter((part) => part.type === 'tool-error');
    expect((error?.error as PostureRefused).result).toMatchObject({ status: 'pending', approval: { id } });
    expect(ran).toEqual([]);
    await approve(id);
    const second = await run(enforcer, ran, 'refund', { payment: 'P-2', amount: 120 });
    expect(ran).toEqual(['P-2']);
    expect(second.steps[0]!.toolResults.map((r) => r.output)).toEqual([{ refunded: 120 }]);
    expect(await events()).toEqual([
      ['payments/refund', 'approve', 'pending'],
      ['payments/refund', 'allow', 'allowed'],
    ]);
  });

  it('leaves a failing tool to the SDK’s own error handling, recorded as failed', async () => {
    const { enforcer, events } = setup();
    const flaky = guardAiTool(
      enforcer,
      { tool: 'crm/flaky_lookup', identity: IDENTITY },
      tool({
        inputSchema: z.object({}),
        execute: async (): Promise<string> => {
          throw new Error('crm is down');
        },
      }),
    );
    const { model } = scriptedModel('flaky', {});
    const result = await generateText({ model, tools: { flaky }, prompt: 'look', stopWhen: stepCountIs(2) });
    const [error] = result.steps[0]!.content.filter((part) => part.type === 'tool-error');
    expect((error?.error as Error).message).toBe('crm is down');
    expect(await events()).toEqual([['crm/flaky_lookup', 'allow', 'failed']]);
  });

  it('refuses to wrap a tool with no execute', () => {
    const { enforcer } = setup();
    const clientSide = tool({ inputSchema: z.object({}), outputSchema: z.string() });
    expect(() => guardAiTool(enforcer, { tool: 'crm/get_customer', identity: IDENTITY }, clientSide)).toThrow(
      'the tool for `crm/get_customer` has no `execute`: nothing to guard',
    );
  });

  it('hands execute the redacted arguments, and its abort signal fires on the policy’s timeout', async () => {
    const { enforcer, events } = setup();
    const received: string[] = [];
    let aborted = false;
    const comment = guardAiTool(
      enforcer,
      { tool: 'tickets/add_comment', identity: IDENTITY },
      tool({
        inputSchema: z.object({ text: z.string() }),
        execute: async ({ text }) => {
          received.push(text);
          return 'posted';
        },
      }),
    );
    const slow = guardAiTool(
      enforcer,
      { tool: 'crm/slow_lookup', identity: IDENTITY },
      tool({
        inputSchema: z.object({}),
        execute: (_input, { abortSignal }) =>
          new Promise<string>((resolve) =>
            abortSignal?.addEventListener('abort', () => {
              aborted = true;
              resolve('too late');
            }),
          ),
      }),
    );
    await generateText({
      model: scriptedModel('comment', { text: `key ${AWS_KEY}` }).model,
      tools: { comment },
      prompt: 'comment',
      stopWhen: stepCountIs(2),
    });
    expect(received).toEqual([REDACTED]);
    const timedOut = await generateText({
      model: scriptedModel('slow', {}).model,
      tools: { slow },
      prompt: 'look',
      stopWhen: stepCountIs(2),
    });
    expect(aborted).toBe(true);
    expect(JSON.parse(timedOut.text)).toEqual({
      type: 'error-text',
      value: 'the call to `crm/slow_lookup` timed out and was cancelled',
    });
    expect(await events()).toEqual([
      ['tickets/add_comment', 'allow', 'allowed'],
      ['crm/slow_lookup', 'allow', 'timed_out'],
    ]);
  });

  it('works the same in streamText: the refusal is a tool-error part and the model reads it', async () => {
    const { enforcer, events } = setup();
    const ran: unknown[] = [];
    const usage = {
      inputTokens: { total: 1, noCache: 1, cacheRead: 0, cacheWrite: 0 },
      outputTokens: { total: 1, text: 1, reasoning: 0 },
    };
    // The model's stream parts, as a provider would send them.
    const finish = (unified: 'stop' | 'tool-calls') => ({
      type: 'finish' as const,
      finishReason: { unified, raw: undefined },
      usage,
    });
    const answer = (text: string) => [
      { type: 'text-start' as const, id: 't' },
      { type: 'text-delta' as const, id: 't', delta: text },
      { type: 'text-end' as const, id: 't' },
      finish('stop'),
    ];
    const toolCall = {
      type: 'tool-call' as const,
      toolCallId: 'call-1',
      toolName: 'refund',
      input: JSON.stringify({ payment: 'P-1', amount: 9000 }),
    };
    type Part = ReturnType<typeof answer>[number] | typeof toolCall;
    const model = new MockLanguageModelV3({
      doStream: async ({ prompt }) => {
        const last = prompt[prompt.length - 1];
        const seen =
          last?.role === 'tool' && last.content[0]?.type === 'tool-result'
            ? last.content[0].output
            : undefined;
        const chunks: Part[] = seen ? answer(JSON.stringify(seen)) : [toolCall, finish('tool-calls')];
        return { stream: simulateReadableStream({ chunks }) };
      },
    });
    const result = streamText({
      model,
      tools: tools(enforcer, ran),
      prompt: 'refund',
      stopWhen: stepCountIs(2),
      experimental_context: IDENTITY,
    });
    const errors: unknown[] = [];
    for await (const part of result.fullStream) if (part.type === 'tool-error') errors.push(part.error);
    expect(errors).toHaveLength(1);
    expect((errors[0] as PostureRefused).result.status).toBe('denied');
    const seen = JSON.parse(await result.text) as { type: string; value: string };
    expect(seen).toMatchObject({ type: 'error-text', value: expect.stringMatching(/^posture denied/) });
    expect(ran).toEqual([]);
    expect(await events()).toEqual([['payments/refund', 'deny', 'denied']]);
  });
});
