// `posture token issue`: a short-lived agent token for this gateway (EdDSA JWT, `sub` the agent,
// `act` the user it acts for, bound to the gateway's audience).
import { join } from 'node:path';
import { durationMs } from '@posture/core';
import { CliError, type Register } from '../io.js';
import { readPolicy } from '../policy.js';

export const DEFAULT_TOKEN_KEY = join('.posture', 'token-key.json');
export const DEFAULT_PORT = 8700;
export const defaultAudience = (host: string, port: number) => `http://${host}:${port}/mcp`;

interface IssueOptions {
  agent: string;
  user: string;
  ttl: string;
  scope?: string;
  policy: string;
  key: string;
  audience?: string;
  json?: boolean;
}

export const registerToken: Register = (program, io) => {
  const token = program.command('token').description('agent tokens for the gateway');
  token
    .command('issue')
    .description('print a token with which agent A, acting for user U, may call the gateway')
    .requiredOption('--agent <name>', 'the agent (must be declared in the policy)')
    .requiredOption('--user <name>', 'the user it acts for (must be allowed to run it)')
    .option('--ttl <duration>', 'lifetime, at most 1h', '15m')
    .option('--scope <list>', 'comma-separated scopes to record in the token')
    .option('--policy <file>', 'policy file', 'posture.yaml')
    .option('--key <file>', 'the gateway signing key (created on first use)', DEFAULT_TOKEN_KEY)
    .option(
      '--audience <url>',
      `the gateway's resource URL (default ${defaultAudience('127.0.0.1', DEFAULT_PORT)})`,
    )
    .option('--json', 'print {"token","expires_at","audience"}')
    .action(async (options: IssueOptions) => {
      const { compiled } = await readPolicy(io, options.policy);
      const agent = compiled.agents.get(options.agent);
      if (!agent) throw new CliError(`agent \`${options.agent}\` is not declared in \`${options.policy}\``);
      if (!agent.runBy.has(options.user)) {
        throw new CliError(
          `user \`${options.user}\` may not run agent \`${options.agent}\` (see its \`run_by\`)`,
        );
      }
      let ttlMs: number;
      try {
        ttlMs = durationMs(options.ttl);
      } catch {
        throw new CliError(`\`--ttl ${options.ttl}\` is not a duration such as 15m or 1h`);
      }
      const { TokenAuthority, loadOrCreateSigningKey } = await import('@posture/gateway');
      const authority = new TokenAuthority({
        key: await loadOrCreateSigningKey(options.key),
        audience: options.audience ?? defaultAudience('127.0.0.1', DEFAULT_PORT),
      });
      const now = Date.now();
      let jwt: string;
      try {
        jwt = await authority.issue({
          agent: options.agent,
          user: options.user,
          ttlMs,
          now,
          ...(options.scope
            ? {
                scope: options.scope
                  .split(',')
                  .map((s) => s.trim())
                  .filter(Boolean),
              }
            : {}),
        });
      } catch (error) {
        throw new CliError((error as Error).message);
      }
      const expires = new Date(now + ttlMs).toISOString();
      io.stdout(
        options.json
          ? `${JSON.stringify({ token: jwt, expires_at: expires, audience: authority.audience })}\n`
          : `${jwt}\n`,
      );
    });
};
