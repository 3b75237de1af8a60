// @posture/sdk: the enforcer pipeline and wrappers that run an agent's in-process tools through it.
export {
  createEnforcer,
  type CallOptions,
  type CallResult,
  type ConfirmAnswer,
  type Enforcer,
  type EnforcerOptions,
  type Execute,
  type ExecuteContext,
  type ToolCall,
} from './enforcer.js';
export { argsHash } from './args-hash.js';
// Plain async functions need no framework. The framework adapters are subpath exports
// (`@posture/sdk/ai`, `@posture/sdk/openai-agents`, `@posture/sdk/langchain`), so importing the
// SDK never loads a framework the agent does not use.
export {
  guard,
  PostureRefused,
  refusalText,
  type GuardedContext,
  type GuardOptions,
  type Identity,
  type IdentitySource,
  type Refusal,
} from './frameworks/functions/index.js';
export { defaultApprovers } from './approvers.js';
export { ContextRules } from './evidence.js';
export {
  ArgumentGuards,
  systemRealPath,
  systemResolveHost,
  type ArgumentGuardOptions,
  type GuardRefusal,
  type RealPath,
  type ResolveHost,
} from './guards.js';
