// `posture gateway`: the MCP gateway in front of the policy's servers, on loopback over
// Streamable HTTP, or over stdio for a desktop client (`--stdio --token T`).
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { durationMs } from '@posture/core';
import type { Counters } from '@posture/storage';
import { CliError, type Register } from '../io.js';
import { readPolicy } from '../policy.js';
import { DEFAULT_PORT, DEFAULT_TOKEN_KEY, defaultAudience } from './token.js';

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
  alertLog?: boolean;
  alertWebhook?: string;
  alertSlack?: string;
}

type Credentials = Record<
  string,
  { identity?: string; headers?: Record<string, string>; env?: Record<string, string> }
>;

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
      const log = (text: string) => io.stderr(`${text}\n`); // stdout may be the MCP channel

      const storage = await import('@posture/storage');
      const { Gateway, TokenAuthority, TokenVerifier, loadOrCreateSigningKey, serveHttp, serveStdio } =
        await import('@posture/gateway');
      mkdirSync(dirname(options.db), { recursive: true });
      let audit;
      let approvals;
      let inventory;
      let exceptions;
      try {
        if (options.postgres) {
          // Several replicas share one verifiable log, one approvals queue and one inventory.
          const config = { connectionString: options.postgres };
          audit = await storage.openPostgresAuditLog({ config });
          approvals = await storage.openPostgresApprovalQueue({ config });
          inventory = await storage.openPostgresInventory({ config });
          exceptions = await storage.openPostgresExceptionStore({ config });
        } else {
          audit = await storage.openSqliteAuditLog({ path: options.db });
          approvals = storage.openSqliteApprovalQueue(options.db);
          inventory = storage.openSqliteInventory(options.db);
          exceptions = storage.openSqliteExceptionStore(options.db);
        }
      } catch (error) {
        const where = options.postgres ? 'PostgreSQL' : `\`${options.db}\``;
        throw new CliError(`cannot open ${where}: ${(error as Error).message}`);
      }
      let counters: Counters | undefined;
      if (options.redis) {
        try {
          counters = await storage.openRedisCounters({
            url: options.redis,
            ...(options.redisPrefix ? { prefix: options.redisPrefix } : {}),
          });
        } catch (error) {
          throw new CliError(`cannot use Redis at \`${options.redis}\`: ${(error as Error).message}`);
        }
      }
      // Anomaly baselines, alerts (audit events, and the sinks asked for) and metrics, fed by
      // every recorded call; thresholds come from the policy's `alerts` section.
      const assess = await import('@posture/assess');
      const sinks = [
        ...(options.alertLog ? [assess.logSink(process.stderr)] : []),
        ...(options.alertWebhook ? [assess.webhookSink(options.alertWebhook)] : []),
        ...(options.alertSlack ? [assess.slackSink(options.alertSlack)] : []),
      ];
      const monitoring = assess.createMonitoring(compiled, sinks);
      const gateway = new Gateway({
        observe: monitoring.observe,
        // An OpenTelemetry span per call: a no-op until an SDK is registered (e.g. with --import).
        decorate: (enforcer) => assess.withSpans(enforcer),
        policy,
        audit,
        approvals,
        inventory,
        exceptions,
        ...(counters ? { counters } : {}),
        approvalWaitMs,
        ...(options.failOpenReads ? { failOpenReads: true } : {}),
        ...(credentials ? { credentials } : {}),
        upstream: {
          onStatus: (name, status, detail) =>
            log(`upstream ${name}: ${status}${detail ? ` (${detail})` : ''}`),
        },
      });
      await gateway.start();
      monitoring.attach(gateway.enforcer);
      // The policy in force, as evidence: every start records its hash and where it came from.
      await gateway.enforcer.note({
        kind: 'policy_change',
        actor: {},
        detail: { source: options.policy, sha256: createHash('sha256').update(text).digest('hex') },
      });
      // With --port 0 the URL, and so the default audience, is known only once the server listens.
      let audience = options.audience ?? (port === 0 ? undefined : defaultAudience(options.host, port));
      const authority = new TokenAuthority({
        key: await loadOrCreateSigningKey(options.key),
        audience: audience ?? defaultAudience(options.host, DEFAULT_PORT),
      });
      const tokens = new TokenVerifier({
        audience: () => audience ?? '',
        own: { issuer: authority.issuer, jwks: authority.jwks },
        policy: compiled,
        ...(options.oidcIssuer ? { oidc: [oidcIssuer(options)] } : {}),
      });

      let stop: () => Promise<void>;
      if (options.stdio) {
        const token = options.token ?? process.env.POSTURE_TOKEN;
        if (!token) throw new CliError('`--stdio` needs `--token` (or POSTURE_TOKEN)');
        try {
          stop = await serveStdio(gateway, tokens, token);
        } catch (error) {
          await gateway.close();
          throw new CliError((error as Error).message);
        }
        log(
          `posture gateway: one session over stdio; evidence in ${options.postgres ? 'PostgreSQL' : options.db}`,
        );
      } else {
        const running = await serveHttp({
          gateway,
          tokens,
          host: options.host,
          port,
          ...(audience ? { resource: audience } : {}),
          ...(options.metrics ? { metrics: () => monitoring.metrics.text() } : {}),
          ...(options.allowOrigin ? { allowedOrigins: options.allowOrigin } : {}),
        });
        audience ??= running.url;
        stop = () => running.close();
        log(
          `posture gateway: ${running.url} (audience ${audience}); evidence in ${options.postgres ? 'PostgreSQL' : options.db}`,
        );
        log(`  a token: npx posture token issue --policy ${options.policy} --agent <agent> --user <user>`);
      }
      const shutdown = async () => {
        await stop().catch(() => {});
        await gateway.close();
        await audit.close();
        await approvals.close();
        await inventory.close();
        await exceptions.close();
        await counters?.close();
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

function readCredentials(path: string): Credentials {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Credentials;
  } catch (error) {
    throw new CliError(`cannot read credentials \`${path}\`: ${(error as Error).message}`);
  }
}
