// MCP over stdio for desktop clients: one session, its identity proved once by the token given
// at start (stdio carries no headers).
import { randomUUID } from 'node:crypto';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import type { Gateway } from './gateway.js';
import type { TokenVerifier } from './tokens.js';

export async function serveStdio(
  gateway: Gateway,
  tokens: TokenVerifier,
  token: string,
): Promise<() => Promise<void>> {
  const checked = await tokens.verify(token);
  if (!checked.ok) throw new Error(`the token is refused: ${checked.description}`);
  const session = randomUUID();
  const opened = await gateway.openSession({
    id: session,
    agent: checked.claims.agent,
    user: checked.claims.user,
    jti: checked.claims.jti,
    expiresAtMs: tokens.acceptedUntilMs(checked.claims),
    init: null,
  });
  if (!opened.ok) throw new Error('the token has already been used for a session');
  const server = gateway.serverFor({ agent: checked.claims.agent, user: checked.claims.user, session });
  const transport = new StdioServerTransport();
  await server.connect(transport);
  return () => server.close();
}
