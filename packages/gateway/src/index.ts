// @posture/gateway: the MCP gateway over the enforcer.
export { Gateway, NAME_SEPARATOR, toToolResult, type GatewayOptions } from './gateway.js';
export type { Identity } from './identity.js';
export { serveHttp, type HttpOptions, type RunningGateway } from './http.js';
export { serveStdio } from './stdio.js';
export {
  TokenAuthority,
  TokenVerifier,
  loadOrCreateSigningKey,
  type IssueOptions,
  type OidcIssuer,
  type SigningKey,
  type TokenCheck,
  type TokenClaims,
  type TokenVerifierOptions,
} from './tokens.js';
export {
  Upstream,
  UpstreamUnavailable,
  type UpstreamConfig,
  type UpstreamOptions,
  type UpstreamStatus,
} from './upstreams.js';
