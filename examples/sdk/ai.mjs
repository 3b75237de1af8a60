// Vercel AI SDK: a tool() guarded with guardAiTool, run by generateText. The language model is the
// SDK's own MockLanguageModelV3 playing a model that asks for a refund: no model is called.
import { generateText, stepCountIs, tool } from 'ai';
import { MockLanguageModelV3 } from 'ai/test';
import { z } from 'zod';
import { guardAiTool } from '@posture/sdk/ai';
import { IDENTITY, setup } from './setup.mjs';

const { enforcer, approveFrom, printEvidence } = setup();

const refund = guardAiTool(
  enforcer,
  { tool: 'payments/refund', identity: ({ experimental_context }) => experimental_context },
  tool({
    description: 'Refund a payment',
    inputSchema: z.object({ payment: z.string(), amount: z.number() }),
    execute: async ({ amount }) => {
      console.log(`refunding ${amount}`);
      return { refunded: amount };
    },
  }),
);

const usage = {
  inputTokens: { total: 1, noCache: 1, cacheRead: 0, cacheWrite: 0 },
  outputTokens: { total: 1, text: 1, reasoning: 0 },
};
/** Asks for a refund of `amount`, then says what the tool answered. */
const modelAsking = (amount) =>
  new MockLanguageModelV3({
    doGenerate: async ({ prompt }) => {
      const last = prompt.at(-1);
      if (last.role !== 'tool') {
        const input = JSON.stringify({ payment: 'P-7', amount });
        return {
          content: [{ type: 'tool-call', toolCallId: 'call-1', toolName: 'refund', input }],
          finishReason: { unified: 'tool-calls', raw: undefined },
          usage,
          warnings: [],
        };
      }
      const text = `the tool said: ${JSON.stringify(last.content[0].output)}`;
      return { content: [{ type: 'text', text }], finishReason: { unified: 'stop', raw: undefined }, usage, warnings: [] };
    },
  });

async function ask(amount) {
  const { text } = await generateText({
    model: modelAsking(amount),
    tools: { refund },
    prompt: `refund ${amount} for payment P-7`,
    stopWhen: stepCountIs(2),
    experimental_context: IDENTITY,
  });
  console.log(text);
  return text;
}

await ask(9000); // denied: the model reads the reason as the tool's error
const pending = await ask(120); // waits for an approver
await approveFrom(pending);
await ask(120); // runs
await printEvidence();
