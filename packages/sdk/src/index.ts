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
