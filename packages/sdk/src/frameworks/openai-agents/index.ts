// OpenAI Agents SDK function tools (`@openai/agents-core`, or `@openai/agents` which re-exports it):
// the same `FunctionTool` (name, description, JSON schema, strictness, approval and guardrail
// settings) with an `invoke` that runs through the enforcer. A call that does not run returns the
// refusal text as the tool's output, which is how the SDK itself reports a failing tool to the
// model (the Responses API has no error flag for function output).
import type { FunctionTool, RunContext, ToolInputParameters } from '@openai/agents-core';
import type { Enforcer } from '../../enforcer.js';
import { callThrough, refusalText, refuseThrough, type GuardOptions } from '../refusal.js';

export function guardAgentsTool<Context, TParameters extends ToolInputParameters, Result>(
  enforcer: Enforcer,
  options: GuardOptions<RunContext<Context>>,
  functionTool: FunctionTool<Context, TParameters, Result>,
): FunctionTool<Context, TParameters, Result> {
  const invoke: FunctionTool<Context, TParameters, Result>['invoke'] = async (runContext, input, details) => {
    const args = parseArgs(input);
    if (!args) {
      // The SDK hands over the model's raw JSON: arguments that are not an object are refused (and
      // recorded) here, since the policy decides on named arguments.
      const refused = await refuseThrough(enforcer, options, runContext, {
        code: 'args.invalid',
        message: 'the arguments are not a JSON object',
      });
      return refusalText(options.tool, refused);
    }
    const outcome = await callThrough(enforcer, options, runContext, args, ({ signal, args: sent }) => {
      const cancel = details?.signal ? AbortSignal.any([signal, details.signal]) : signal;
      return functionTool.invoke(runContext, JSON.stringify(sent), { ...details, signal: cancel });
    });
    if (!outcome.ok) return refusalText(options.tool, outcome.refusal);
    return outcome.value as Result;
  };
  return { ...functionTool, invoke };
}

function parseArgs(input: string): Record<string, unknown> | undefined {
  try {
    const parsed: unknown = JSON.parse(input === '' ? '{}' : input);
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)
      ? (parsed as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

export { PostureRefused, refusalText } from '../refusal.js';
export type { GuardOptions, Identity, IdentitySource, Refusal } from '../refusal.js';
