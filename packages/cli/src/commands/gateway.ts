// `posture gateway`: the MCP gateway in front of the policy's servers, on loopback over
// Streamable HTTP, or over stdio for a desktop client (`--stdio --token T`).
import { readFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { join } from 'node:path';
import { durationMs } from '@posture/core';
import { CliError, type Register } from '../io.js';
import { readPolicy } from '../policy.js';
import { DEFAULT_PORT, DEFAULT_TOKEN_KEY, openEvidence, serveGateway, type Credentials } from '../serve.js';

interface GatewayCommandOptions {
  policy: string;
  host: string;
  port: string;
  db: string;
  key: string;
  audience?: string;
  stdio?: boolean;
  token?: string;
  approvalWait: string;
  failOpenReads?: boolean;
  credentials?: string;
  allowOrigin?: string[];
  redis?: string;
  postgres?: string;
  redisPrefix?: string;
  oidcIssuer?: string;
  oidcJwks?: string;
  oidcAudience?: string;
  oidcAgentClaim?: string;
  oidcUserClaim?: string;
  metrics?: boolean;
  heapGrowth: string;
  alertLog?: boolean;
  alertWebhook?: string;
  alertSlack?: string;
}

export const registerGateway: Register = (program, io) => {
  program
    .command('gateway')
    .description(
      'serve the MCP gateway: agents connect here, every tool call is decided, executed and recorded',
    )
    .option('--policy <file>', 'policy file', 'posture.yaml')
    .option('--host <address>', 'address to listen on (loopback unless you put TLS in front)', '127.0.0.1')
    .option('--port <number>', 'port', String(DEFAULT_PORT))
    .option('--db <file>', 'SQLite file for the audit log and approvals', join('.posture', 'posture.db'))
    .option('--key <file>', 'token signing key (created on first use)', DEFAULT_TOKEN_KEY)
    .option('--audience <url>', "the resource URL tokens must name (default: this gateway's /mcp URL)")
    .option('--stdio', 'serve one session over stdio instead of HTTP (needs --token)')
    .option('--token <jwt>', 'with --stdio: the agent token (or POSTURE_TOKEN)')
    .option('--approval-wait <duration>', 'how long a call that needs approval waits for it', '60s')
    .option('--fail-open-reads', 'let tier-1 reads run while the audit log cannot be written (counted)')
    .option(
      '--credentials <file>',
      'JSON: per server, the identity, headers or env the gateway uses upstream',
    )
    .option('--allow-origin <origin...>', 'browser origins allowed besides the gateway itself')
    .option(
      '--metrics',
      'serve Prometheus metrics at /metrics (loopback host names only; tool names and verdicts, never arguments)',
    )
    .option('--alert-log', 'write anomaly alerts as JSON lines to standard error')
    .option('--alert-webhook <url>', 'POST anomaly alerts as JSON to this URL')
    .option('--alert-slack <url>', 'post anomaly alerts to a Slack-compatible incoming webhook')
    .option('--redis-prefix <prefix>', 'key prefix in Redis (default posture:)')
    .option('--oidc-issuer <url>', 'also accept tokens from this OIDC issuer (its `iss`)')
    .option('--oidc-jwks <url>', "with --oidc-issuer: the issuer's JWKS URL")
    .option(
      '--oidc-audience <aud>',
      "with --oidc-issuer: the audience its tokens must name (default: this gateway's)",
    )
    .option(
      '--oidc-agent-claim <claim>',
      'with --oidc-issuer: the claim naming the agent (default azp, then client_id)',
    )
    .option(
      '--oidc-user-claim <claim>',
      'with --oidc-issuer: the claim naming the user the agent acts for (default sub)',
    )
    .option(
      '--heap-growth <percent>',
      'how far the JavaScript heap may grow past what is live before a full collection (0: V8 default); a proxy keeps little live, so a small margin keeps its memory low',
      '10',
    )
    .option(
      '--postgres <url>',
      'keep evidence, approvals, exceptions and the inventory in PostgreSQL, shared by replicas',
    )
    .option(
      '--redis <url>',
      'share rate limits, budgets, loops and session labels with other replicas (redis://…)',
    )
    .action(async (options: GatewayCommandOptions) => {
      const { policy, compiled, text } = await readPolicy(io, options.policy);
      const port = Number(options.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535)
        throw new CliError(`\`--port ${options.port}\` is not a port`);
      let approvalWaitMs: number;
      try {
        approvalWaitMs = durationMs(options.approvalWait);
      } catch {
        throw new CliError(`\`--approval-wait ${options.approvalWait}\` is not a duration such as 30s`);
      }
      const credentials = options.credentials ? readCredentials(options.credentials) : undefined;
      limitHeapGrowth(options.heapGrowth);
      const log = (text: string) => io.stderr(`${text}\n`); // stdout may be the MCP channel
      let stdioToken: string | undefined;
      if (options.stdio) {
        stdioToken = options.token ?? process.env.POSTURE_TOKEN;
        if (!stdioToken) throw new CliError('`--stdio` needs `--token` (or POSTURE_TOKEN)');
      }
      const oidc = options.oidcIssuer ? oidcIssuer(options) : undefined;

      const stores = await openEvidence({
        db: options.db,
        ...(options.postgres ? { postgres: options.postgres } : {}),
      });
      let served;
      try {
        served = await serveGateway({
          policy,
          compiled,
          policyText: text,
          policySource: options.policy,
          stores,
          host: options.host,
          port,
          key: options.key,
          approvalWaitMs,
          log,
          ...(options.audience ? { audience: options.audience } : {}),
          ...(options.failOpenReads ? { failOpenReads: true } : {}),
          ...(credentials ? { credentials } : {}),
          ...(options.allowOrigin ? { allowOrigin: options.allowOrigin } : {}),
          ...(options.redis ? { redis: options.redis } : {}),
          ...(options.redisPrefix ? { redisPrefix: options.redisPrefix } : {}),
          ...(oidc ? { oidc } : {}),
          ...(options.metrics ? { metrics: true } : {}),
          ...(options.alertLog ? { alertLog: true } : {}),
          ...(options.alertWebhook ? { alertWebhook: options.alertWebhook } : {}),
          ...(options.alertSlack ? { alertSlack: options.alertSlack } : {}),
          ...(stdioToken !== undefined ? { stdioToken } : {}),
        });
      } catch (error) {
        await stores.close();
        throw error;
      }
      if (served.url === undefined) {
        log(`posture gateway: one session over stdio; evidence in ${stores.where}`);
      } else {
        log(`posture gateway: ${served.url} (audience ${served.audience}); evidence in ${stores.where}`);
        log(`  a token: npx posture token issue --policy ${options.policy} --agent <agent> --user <user>`);
      }
      const shutdown = async () => {
        await served.close();
        await stores.close();
      };
      await new Promise<void>((resolve) => {
        const done = () => void shutdown().then(resolve);
        process.once('SIGINT', done);
        process.once('SIGTERM', done);
        if (options.stdio) process.stdin.once('end', done);
      });
    });
};

function oidcIssuer(options: GatewayCommandOptions) {
  if (!options.oidcJwks) throw new CliError('`--oidc-issuer` needs `--oidc-jwks` (the issuer’s JWKS URL)');
  const claims = {
    ...(options.oidcAgentClaim ? { agent: options.oidcAgentClaim } : {}),
    ...(options.oidcUserClaim ? { user: options.oidcUserClaim } : {}),
  };
  return {
    issuer: options.oidcIssuer!,
    jwksUri: options.oidcJwks,
    ...(options.oidcAudience ? { audience: options.oidcAudience } : {}),
    ...(Object.keys(claims).length > 0 ? { claims } : {}),
  };
}

/**
 * V8 lets the old generation grow to several times what is live before a full collection; under
 * load a gateway's per-call garbage then sits in committed memory (about 80 MB where 30 MB are
 * live). A growth margin of 10% keeps the heap near live size for a few more, short, collections.
 */
function limitHeapGrowth(percent: string): void {
  const value = Number(percent);
  if (!Number.isInteger(value) || value < 0 || value > 1000)
    throw new CliError(`\`--heap-growth ${percent}\` is not a percentage between 0 and 1000`);
  if (value > 0) setFlagsFromString(`--heap-growing-percent=${value}`);
}

function readCredentials(path: string): Credentials {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Credentials;
  } catch (error) {
    throw new CliError(`cannot read credentials \`${path}\`: ${(error as Error).message}`);
  }
}
