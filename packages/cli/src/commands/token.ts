// `posture token issue`: a short-lived agent token for this gateway (EdDSA JWT, `sub` the agent,
// `act` the user it acts for, bound to the gateway's audience). `posture token revoke`: refuse a
// token, or every token of an agent, before they expire — on every gateway sharing the store.
import { join } from 'node:path';
import { durationMs, LONGEST_REVOCATION_MS, REVOCATION_MARGIN_MS } from '@posture/core';
import { CliError, type Register } from '../io.js';
import { readPolicy } from '../policy.js';
import { escapeText } from './approvals.js';
import {
  DEFAULT_PORT,
  DEFAULT_TOKEN_KEY,
  REVOCATION_REFRESH_MS,
  defaultAudience,
  openEvidence,
} from '../serve.js';

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

interface RevokeOptions {
  token?: string;
  jti?: string;
  agent?: string;
  as: string;
  reason?: string;
  db: string;
  postgres?: string;
}

export const registerToken: Register = (program, io) => {
  const token = program.command('token').description('agent tokens for the gateway');
  token
    .command('issue')
    .description('print a token with which agent A, acting for user U, may call the gateway')
    .requiredOption('--agent <name>', 'the agent (must be declared in the policy)')
    .requiredOption('--user <name>', 'the user it acts for (must be allowed to run it)')
    .option('--ttl <duration>', "lifetime, at most the agent's token_ttl (default 1h)", '15m')
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
        maxTtlMs: agent.tokenTtlMs,
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
      const { jti } = JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString()) as { jti: string };
      io.stdout(
        options.json
          ? `${JSON.stringify({ token: jwt, jti, expires_at: expires, audience: authority.audience })}\n`
          : `${jwt}\n`,
      );
    });

  token
    .command('revoke')
    .description(
      'refuse a token (--token or --jti), or every token of an agent issued until now (--agent), before they expire: ' +
        `every gateway sharing the store refuses them within ${REVOCATION_REFRESH_MS / 1000} s, and the revocation is audited`,
    )
    .option('--token <jwt>', 'the token itself (its jti and expiry are read from it)')
    .option('--jti <id>', 'the jti of the token (from `posture token issue --json`, or the audit log)')
    .option('--agent <name>', 'every token of this agent issued until now (a compromised agent)')
    .requiredOption('--as <user>', 'who revokes (recorded in the audit log)')
    .option('--reason <text>', 'why (recorded in the audit log)')
    .option('--db <file>', 'the SQLite file the gateway uses', join('.posture', 'posture.db'))
    .option('--postgres <url>', 'the PostgreSQL the gateways share')
    .action(async (options: RevokeOptions) => {
      const given = [options.token, options.jti, options.agent].filter((v) => v !== undefined);
      if (given.length !== 1) throw new CliError('give one of --token, --jti or --agent');
      const now = Date.now();
      let revocation: { subject: 'jti' | 'agent'; id: string; at: number; until: number };
      if (options.token !== undefined) {
        const claims = readClaims(options.token);
        revocation = {
          subject: 'jti',
          id: claims.jti,
          at: now,
          until: claims.exp * 1000 + REVOCATION_MARGIN_MS,
        };
        if (revocation.until <= now) throw new CliError('the token has expired already: nothing to revoke');
      } else if (options.jti !== undefined) {
        if (options.jti.trim() === '') throw new CliError('`--jti` is empty');
        revocation = {
          subject: 'jti',
          id: options.jti,
          at: now,
          until: now + LONGEST_REVOCATION_MS,
        };
      } else {
        if (options.agent!.trim() === '') throw new CliError('`--agent` is empty');
        revocation = {
          subject: 'agent',
          id: options.agent!,
          at: now,
          until: now + LONGEST_REVOCATION_MS,
        };
      }
      const stores = await openEvidence({
        db: options.db,
        ...(options.postgres ? { postgres: options.postgres } : {}),
      });
      try {
        await stores.sessions.revoke(revocation, now);
        const what =
          revocation.subject === 'jti'
            ? `token \`${escapeText(revocation.id)}\``
            : `every token of agent \`${escapeText(revocation.id)}\` issued until ${new Date(now).toISOString()}`;
        try {
          await stores.audit.append({
            time: new Date(now).toISOString(),
            kind: 'revocation',
            actor: { user: options.as, ...(revocation.subject === 'agent' ? { agent: revocation.id } : {}) },
            outcome: 'denied',
            detail: {
              subject: revocation.subject,
              id: revocation.id,
              until: new Date(revocation.until).toISOString(),
              ...(options.reason ? { reason: options.reason } : {}),
            },
          });
        } catch (error) {
          throw new CliError(
            `revoked ${what}, but the audit event could not be written: ${(error as Error).message}`,
          );
        }
        io.stdout(`revoked ${what}; gateways refuse it within ${REVOCATION_REFRESH_MS / 1000} s\n`);
      } finally {
        await stores.close();
      }
    });

  token
    .command('revocations')
    .description('list the revocations in force, as every gateway sharing the store reads them')
    .option('--db <file>', 'the SQLite file the gateway uses', join('.posture', 'posture.db'))
    .option('--postgres <url>', 'the PostgreSQL the gateways share')
    .option('--json', 'as JSON')
    .action(async (options: RevokeOptions & { json?: boolean }) => {
      const sessions = await openSessionStoreFor(options);
      try {
        const revocations = (await sessions.revocations(Date.now())).map((r) => ({
          subject: r.subject,
          id: r.id,
          revoked_at: new Date(r.at).toISOString(),
          until: new Date(r.until).toISOString(),
        }));
        if (options.json) {
          io.stdout(`${JSON.stringify(revocations, null, 2)}\n`);
          return;
        }
        if (revocations.length === 0) {
          io.stdout('no revocations in force\n');
          return;
        }
        for (const r of revocations) {
          const what =
            r.subject === 'jti'
              ? `token ${escapeText(r.id)}`
              : `agent ${escapeText(r.id)}: tokens issued until ${r.revoked_at}`;
          io.stdout(`${what}  (revoked ${r.revoked_at}, until ${r.until})\n`);
        }
      } finally {
        await sessions.close();
      }
    });
};

/**
 * The store the gateways read revocations from, alone: PostgreSQL when given, else the SQLite file
 * (never Redis: revocations are kept with the evidence).
 */
async function openSessionStoreFor(options: Pick<RevokeOptions, 'db' | 'postgres'>) {
  const storage = await import('@posture/storage');
  try {
    if (options.postgres) {
      return await storage.openPostgresSessionStore({ config: { connectionString: options.postgres } });
    }
    return await storage.openSqliteSessionStore(options.db, { create: false });
  } catch (error) {
    throw new CliError((error as Error).message);
  }
}

/** The jti and expiry of a token, read without verifying it: revoking any token is harmless. */
function readClaims(token: string): { jti: string; exp: number } {
  try {
    const payload = JSON.parse(Buffer.from(token.trim().split('.')[1] ?? '', 'base64url').toString()) as {
      jti?: unknown;
      exp?: unknown;
    };
    if (typeof payload.jti === 'string' && payload.jti !== '' && typeof payload.exp === 'number') {
      return { jti: payload.jti, exp: payload.exp };
    }
  } catch {
    // reported below
  }
  throw new CliError('`--token` is not a token with a `jti` and an `exp`');
}
