// LangChain.js tools (`@langchain/core/tools`: `tool()`, `DynamicStructuredTool`, any
// `StructuredTool`): a tool with the same name, description, schema and response format whose
// function runs the original through the enforcer. A call that does not run answers with the
// refusal text: invoked with a tool call (as agents and `ToolNode` do), as a `ToolMessage` with
// `status: 'error'` and the enforcer's answer as its artifact; invoked with plain arguments, as
// the text (the content of a `content_and_artifact` tool).
import { ToolMessage } from '@langchain/core/messages';
import { DynamicStructuredTool, type StructuredTool, type ToolRunnableConfig } from '@langchain/core/tools';
import type { Enforcer } from '../../enforcer.js';
import { callThrough, refusalText, type GuardOptions } from '../refusal.js';

export function guardLangChainTool(
  enforcer: Enforcer,
  options: GuardOptions<ToolRunnableConfig>,
  original: StructuredTool,
): DynamicStructuredTool {
  const artifacts = original.responseFormat === 'content_and_artifact';
  return new DynamicStructuredTool({
    name: original.name,
    description: original.description,
    schema: original.schema,
    ...(original.responseFormat ? { responseFormat: original.responseFormat } : {}),
    returnDirect: original.returnDirect,
    ...(original.metadata ? { metadata: original.metadata } : {}),
    ...(original.tags ? { tags: original.tags } : {}),
    func: async (input: unknown, runManager, parentConfig) => {
      const config: ToolRunnableConfig = parentConfig ?? {};
      // A string tool's input reaches the policy as `{ input }`, the shape LangChain gives it too.
      const boxed = typeof input !== 'object' || input === null;
      const args = boxed ? { input } : (input as Record<string, unknown>);
      const outcome = await callThrough(enforcer, options, config, args, async ({ signal, args: sent }) => {
        const { toolCall: _call, ...inner } = config;
        const cancel = config.signal ? AbortSignal.any([signal, config.signal]) : signal;
        const child = { ...inner, signal: cancel, callbacks: runManager?.getChild() };
        if (!artifacts) return original.invoke(boxed ? sent.input : sent, child);
        // A content-and-artifact tool keeps its artifact only when invoked with a tool call.
        const message: unknown = await original.invoke(
          { type: 'tool_call', id: config.toolCall?.id ?? 'posture', name: original.name, args: sent },
          child,
        );
        return message instanceof ToolMessage ? [message.content, message.artifact] : [message, undefined];
      });
      if (outcome.ok) return outcome.value;
      const text = refusalText(options.tool, outcome.refusal);
      if (config.toolCall?.id) {
        return new ToolMessage({
          status: 'error',
          content: text,
          artifact: outcome.refusal,
          tool_call_id: config.toolCall.id,
          name: original.name,
        });
      }
      return artifacts ? [text, outcome.refusal] : text;
    },
  });
}

export { PostureRefused, refusalText } from '../refusal.js';
export type { GuardOptions, Identity, IdentitySource, Refusal } from '../refusal.js';
