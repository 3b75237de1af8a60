// LangChain.js: a tool() guarded with guardLangChainTool, invoked with a tool call the way an agent
// (or ToolNode) invokes it; the answer is a ToolMessage. No model is called.
import { tool } from '@langchain/core/tools';
import { z } from 'zod';
import { guardLangChainTool } from '@posture/sdk/langchain';
import { IDENTITY, setup } from './setup.mjs';

const { enforcer, approveFrom, printEvidence } = setup();

const refund = guardLangChainTool(
  enforcer,
  { tool: 'payments/refund', identity: (config) => config.configurable.posture },
  tool(
    async ({ amount }) => {
      console.log(`refunding ${amount}`);
      return `refunded ${amount}`;
    },
    { name: 'refund', description: 'Refund a payment', schema: z.object({ payment: z.string(), amount: z.number() }) },
  ),
);

async function ask(amount) {
  const toolCall = { type: 'tool_call', id: `call-${amount}`, name: 'refund', args: { payment: 'P-7', amount } };
  const message = await refund.invoke(toolCall, { configurable: { posture: IDENTITY } });
  console.log(`${message.status}: ${message.content}`);
  return message.content;
}

await ask(9000); // denied: an error ToolMessage the model reads
const pending = await ask(120); // waits for an approver
await approveFrom(pending);
await ask(120); // runs
await printEvidence();
