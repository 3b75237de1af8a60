// Vercel AI SDK tools (`ai`, `tool()`): the same tool object (description, input schema, every
// other field) with an `execute` that runs through the enforcer. A call that does not run throws
// `PostureRefused` inside `execute`: the SDK turns that into a `tool-error` part, and the model
// reads the refusal text as the tool's error result (`error-text`) on its next step.
import type { Tool, ToolExecutionOptions } from 'ai';
import type { Enforcer } from '../../enforcer.js';
import { callThrough, PostureRefused, type GuardOptions } from '../refusal.js';

export function guardAiTool<INPUT, OUTPUT>(
  enforcer: Enforcer,
  options: GuardOptions<ToolExecutionOptions>,
  aiTool: Tool<INPUT, OUTPUT>,
): Tool<INPUT, OUTPUT> {
  const execute = aiTool.execute;
  if (typeof execute !== 'function') {
    throw new TypeError(`the tool for \`${options.tool}\` has no \`execute\`: nothing to guard`);
  }
  const guarded = async (input: INPUT, execution: ToolExecutionOptions): Promise<OUTPUT> => {
    const boxed = !isObject(input);
    const call = boxed ? { input } : (input as Record<string, unknown>);
    const outcome = await callThrough(enforcer, options, execution, call, ({ signal, args }) => {
      const cancel = execution.abortSignal ? AbortSignal.any([signal, execution.abortSignal]) : signal;
      const sent = (boxed ? args.input : args) as INPUT;
      return finalValue(execute(sent, { ...execution, abortSignal: cancel }));
    });
    if (!outcome.ok) throw new PostureRefused(options.tool, outcome.refusal);
    return outcome.value as OUTPUT;
  };
  return { ...aiTool, execute: guarded } as Tool<INPUT, OUTPUT>;
}

/** A tool's input is a JSON object; anything else reaches the policy as `{ input }`. */
function isObject(input: unknown): boolean {
  return typeof input === 'object' && input !== null && !Array.isArray(input);
}

/** An `execute` may stream preliminary results; the last one is the tool's result. */
async function finalValue<T>(produced: AsyncIterable<T> | PromiseLike<T> | T): Promise<T | undefined> {
  if (typeof produced === 'object' && produced !== null && Symbol.asyncIterator in produced) {
    let last: T | undefined;
    for await (const value of produced) last = value;
    return last;
  }
  return produced;
}

export { PostureRefused, refusalText } from '../refusal.js';
export type { GuardOptions, Identity, IdentitySource, Refusal } from '../refusal.js';
