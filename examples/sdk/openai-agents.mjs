// OpenAI Agents SDK: a tool() guarded with guardAgentsTool, run by a Runner. The model is a small
// implementation of the SDK's Model interface that asks for a refund: no model is called.
import { Agent, Runner, tool, Usage } from '@openai/agents-core';
import { z } from 'zod';
import { guardAgentsTool } from '@posture/sdk/openai-agents';
import { IDENTITY, setup } from './setup.mjs';

const { enforcer, approveFrom, printEvidence } = setup();

const refund = guardAgentsTool(
  enforcer,
  { tool: 'payments/refund', identity: (runContext) => runContext.context },
  tool({
    name: 'refund',
    description: 'Refund a payment',
    parameters: z.object({ payment: z.string(), amount: z.number() }),
    execute: async ({ amount }) => {
      console.log(`refunding ${amount}`);
      return `refunded ${amount}`;
    },
  }),
);

/** Asks for a refund of `amount`, then says what the tool answered. */
const modelAsking = (amount) => ({
  async getResponse({ input }) {
    const answer = Array.isArray(input) ? input.find((item) => item.type === 'function_call_result') : undefined;
    if (!answer) {
      const args = JSON.stringify({ payment: 'P-7', amount });
      return {
        usage: new Usage(),
        output: [{ type: 'function_call', callId: 'call-1', name: 'refund', arguments: args, status: 'completed' }],
      };
    }
    const said = typeof answer.output === 'string' ? answer.output : answer.output.text;
    const content = [{ type: 'output_text', text: `the tool said: ${said}` }];
    return { usage: new Usage(), output: [{ type: 'message', role: 'assistant', status: 'completed', content }] };
  },
  getStreamedResponse() {
    throw new Error('this example does not stream');
  },
});

const runner = new Runner({ tracingDisabled: true });
async function ask(amount) {
  const agent = new Agent({ name: 'support', instructions: 'help', model: modelAsking(amount), tools: [refund] });
  const { finalOutput } = await runner.run(agent, `refund ${amount} for payment P-7`, { context: IDENTITY });
  console.log(finalOutput);
  return finalOutput;
}

await ask(9000); // denied: the model reads the reason as the tool's output
const pending = await ask(120); // waits for an approver
await approveFrom(pending);
await ask(120); // runs
await printEvidence();
