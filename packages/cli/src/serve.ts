// The gateway's composition, shared by `posture gateway` and `posture start`: open the evidence
// stores (SQLite or PostgreSQL) and the shared limits (Redis), wire anomaly detection, metrics and
// tracing, start the gateway, and serve it over Streamable HTTP or stdio.
import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { CompiledPolicy, PolicyFile } from '@posture/core';
import type { Gateway, TokenAuthority } from '@posture/gateway';
import type {
  ApprovalQueue,
  AuditLog,
  Counters,
  ExceptionStore,
  Inventory,
  MessageRelay,
  SessionStore,
} from '@posture/storage';
import { CliError } from './io.js';

/** How often a running gateway reads again which tool definitions are approved. */
const INVENTORY_REFRESH_MS = 3000;
/** Gateways read token revocations this often: the longest a revoked token is still served. */
export const REVOCATION_REFRESH_MS = 3000;

export const DEFAULT_TOKEN_KEY = join('.posture', 'token-key.json');
export const DEFAULT_PORT = 8700;
export const defaultAudience = (host: string, port: number) => `http://${host}:${port}/mcp`;

export interface EvidenceStores {
  audit: AuditLog;
  approvals: ApprovalQueue;
  inventory: Inventory;
  exceptions: ExceptionStore;
  /** Agent sessions, the tokens that opened them, and revocations (Redis, when given, takes the sessions). */
  sessions: SessionStore;
  /** The PostgreSQL URL the stores were opened on, when they were. */
  postgres?: string;
  /** Where the evidence lives, for messages: the SQLite file or `PostgreSQL`. */
  where: string;
  close(): Promise<void>;
}

/**
 * Opens the audit log, approvals queue, inventory, exceptions and sessions: PostgreSQL when given,
 * else SQLite.
 */
export async function openEvidence(options: { db: string; postgres?: string }): Promise<EvidenceStores> {
  const storage = await import('@posture/storage');
  try {
    mkdirSync(dirname(options.db), { recursive: true }); // the signer key lives beside it either way
    if (options.postgres) {
      // Several replicas share one verifiable log, one approvals queue and one inventory.
      const config = { connectionString: options.postgres };
      const audit = await storage.openPostgresAuditLog({ config });
      const approvals = await storage.openPostgresApprovalQueue({ config });
      const inventory = await storage.openPostgresInventory({ config });
      const exceptions = await storage.openPostgresExceptionStore({ config });
      const sessions = await storage.openPostgresSessionStore({ config });
      return withClose({
        audit,
        approvals,
        inventory,
        exceptions,
        sessions,
        postgres: options.postgres,
        where: 'PostgreSQL',
      });
    }
    const audit = await storage.openSqliteAuditLog({ path: options.db });
    const approvals = storage.openSqliteApprovalQueue(options.db);
    const inventory = storage.openSqliteInventory(options.db);
    const exceptions = storage.openSqliteExceptionStore(options.db);
    // In the same file: a restarted gateway takes up its clients' sessions, and a token stays spent.
    const sessions = await storage.openSqliteSessionStore(options.db);
    return withClose({ audit, approvals, inventory, exceptions, sessions, where: options.db });
  } catch (error) {
    const where = options.postgres ? 'PostgreSQL' : `\`${options.db}\``;
    throw new CliError(`cannot open ${where}: ${(error as Error).message}`);
  }
}

function withClose(stores: Omit<EvidenceStores, 'close'>): EvidenceStores {
  return {
    ...stores,
    close: async () => {
      await stores.audit.close();
      await stores.approvals.close();
      await stores.inventory.close();
      await stores.exceptions.close();
      await stores.sessions.close();
    },
  };
}

export type Credentials = Record<
  string,
  { identity?: string; headers?: Record<string, string>; env?: Record<string, string> }
>;

export interface OidcIssuerOptions {
  issuer: string;
  jwksUri: string;
  audience?: string;
  claims?: { agent?: string; user?: string };
}

export interface ServeGatewayOptions {
  policy: PolicyFile;
  compiled: CompiledPolicy;
  /** The policy file's text and where it came from, recorded as a `policy_change` event. */
  policyText: string;
  policySource: string;
  stores: EvidenceStores;
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** The token signing key file (created on first use). */
  key: string;
  audience?: string;
  approvalWaitMs: number;
  /** Where an approver decides, shown to the agent in pending results (`{id}` is replaced). */
  approvalUrl?: string;
  failOpenReads?: boolean;
  credentials?: Credentials;
  allowOrigin?: string[];
  redis?: string;
  redisPrefix?: string;
  oidc?: OidcIssuerOptions;
  metrics?: boolean;
  alertLog?: boolean;
  alertWebhook?: string;
  alertSlack?: string;
  /** Serve one session over stdio with this token instead of HTTP. */
  stdioToken?: string;
  /** Progress lines (standard error: standard output may be the MCP channel). */
  log: (line: string) => void;
}

export interface ServedGateway {
  gateway: Gateway;
  /** The /mcp URL over HTTP; undefined over stdio. */
  url: string | undefined;
  /** The resource URL tokens must name. */
  audience: string;
  /** Issues tokens for this gateway (the same signing key and audience as `posture token issue`). */
  authority: TokenAuthority;
  /** Stops serving, closes the gateway and its upstreams and Redis; the stores stay open. */
  close(): Promise<void>;
}

export async function serveGateway(options: ServeGatewayOptions): Promise<ServedGateway> {
  const { stores, log } = options;
  const { Gateway, TokenAuthority, TokenVerifier, loadOrCreateSigningKey, serveHttp, serveStdio } =
    await import('@posture/gateway');
  // What replicas share besides the evidence: limits, sessions and the elicitation relay in Redis
  // when given, else limits and the relay in PostgreSQL (sessions move between replicas, so their
  // loop windows and budgets must too); one gateway on SQLite keeps limits in memory.
  let counters: Counters | undefined;
  let redisSessions: SessionStore | undefined;
  let relay: MessageRelay | undefined;
  const closeShared = async () => {
    await counters?.close();
    await redisSessions?.close();
    await relay?.close();
  };
  if (options.redis || stores.postgres) {
    const storage = await import('@posture/storage');
    try {
      if (options.redis) {
        const redis = { url: options.redis, ...(options.redisPrefix ? { prefix: options.redisPrefix } : {}) };
        counters = await storage.openRedisCounters(redis);
        redisSessions = await storage.openRedisSessionStore(redis);
        relay = await storage.openRedisRelay(redis);
      } else {
        const config = { connectionString: stores.postgres! };
        counters = await storage.openPostgresCounters({ config });
        relay = await storage.openPostgresRelay({ config });
      }
    } catch (error) {
      await closeShared();
      const where = options.redis ? `Redis at \`${options.redis}\`` : 'PostgreSQL';
      throw new CliError(`cannot use ${where}: ${(error as Error).message}`);
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
  const monitoring = assess.createMonitoring(options.compiled, sinks);
  const gateway = new Gateway({
    observe: monitoring.observe,
    // An OpenTelemetry span per call: a no-op until an SDK is registered (e.g. with --import).
    decorate: (enforcer) => assess.withSpans(enforcer),
    policy: options.policy,
    audit: stores.audit,
    approvals: stores.approvals,
    inventory: stores.inventory,
    exceptions: stores.exceptions,
    ...(counters ? { counters } : {}),
    // Over stdio the one session lives as long as the process, and the desktop client that starts
    // it passes the same token each time: its binding is this process's only. Revocations still
    // reach it (below).
    ...(options.stdioToken === undefined ? { sessions: redisSessions ?? stores.sessions } : {}),
    approvalWaitMs: options.approvalWaitMs,
    ...(options.approvalUrl ? { approvalUrl: options.approvalUrl } : {}),
    ...(options.failOpenReads ? { failOpenReads: true } : {}),
    ...(options.credentials ? { credentials: options.credentials } : {}),
    upstream: {
      onStatus: (name, status, detail) => log(`upstream ${name}: ${status}${detail ? ` (${detail})` : ''}`),
    },
  });
  await gateway.start();
  monitoring.attach(gateway.enforcer);
  // A definition approved elsewhere (the console, another replica's admin) re-enables its tool
  // here within a few seconds.
  const refresh = setInterval(() => void gateway.refreshInventory().catch(() => {}), INVENTORY_REFRESH_MS);
  refresh.unref();
  // The policy in force, as evidence: every start records its hash and where it came from.
  await gateway.enforcer.note({
    kind: 'policy_change',
    actor: {},
    detail: {
      source: options.policySource,
      sha256: createHash('sha256').update(options.policyText).digest('hex'),
    },
  });
  // With --port 0 the URL, and so the default audience, is known only once the server listens.
  let audience =
    options.audience ?? (options.port === 0 ? undefined : defaultAudience(options.host, options.port));
  const key = await loadOrCreateSigningKey(options.key);
  const tokens = new TokenVerifier({
    audience: () => audience ?? '',
    // The gateway's own issuer: its JWKS does not depend on the audience, known only once listening.
    own: { issuer: new TokenAuthority({ key, audience: '' }).issuer, jwks: { keys: [key.publicJwk] } },
    policy: options.compiled,
    ...(options.oidc ? { oidc: [options.oidc] } : {}),
  });
  // Revocations (`posture token revoke`, the console) reach every replica within a few seconds.
  // They are security records, kept with the evidence (SQLite or PostgreSQL), never in Redis
  // alone, which may keep nothing across its restart. If they cannot be read, the last set read
  // stays in force.
  const readRevocations = async () => tokens.setRevocations(await stores.sessions.revocations(Date.now()));
  const revocations = setInterval(() => void readRevocations().catch(() => {}), REVOCATION_REFRESH_MS);
  revocations.unref();
  const closeRest = async () => {
    clearInterval(refresh);
    clearInterval(revocations);
    await gateway.close();
    await closeShared();
  };
  try {
    await readRevocations();
  } catch (error) {
    await closeRest();
    throw new CliError(`cannot read token revocations: ${(error as Error).message}`);
  }

  if (options.stdioToken !== undefined) {
    let stop: () => Promise<void>;
    try {
      stop = await serveStdio(gateway, tokens, options.stdioToken);
    } catch (error) {
      await closeRest();
      throw new CliError((error as Error).message);
    }
    audience ??= defaultAudience(options.host, DEFAULT_PORT);
    return {
      gateway,
      url: undefined,
      audience,
      authority: new TokenAuthority({ key, audience }),
      close: async () => {
        await stop().catch(() => {});
        await closeRest();
      },
    };
  }
  let running;
  try {
    running = await serveHttp({
      gateway,
      tokens,
      host: options.host,
      port: options.port,
      ...(audience ? { resource: audience } : {}),
      ...(options.metrics ? { metrics: () => monitoring.metrics.text() } : {}),
      ...(options.allowOrigin ? { allowedOrigins: options.allowOrigin } : {}),
      ...(relay ? { relay } : {}),
    });
  } catch (error) {
    await closeRest();
    throw listenError(error, options.host, options.port, '--port');
  }
  audience ??= running.url;
  return {
    gateway,
    url: running.url,
    audience,
    authority: new TokenAuthority({ key, audience }),
    close: async () => {
      await running.close().catch(() => {});
      await closeRest();
    },
  };
}

/** A clean error for a port that cannot be listened on (in use, not permitted). */
export function listenError(error: unknown, host: string, port: number, flag: string): Error {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'EADDRINUSE')
    return new CliError(`${host}:${port} is in use: pass another \`${flag}\` (0 picks a free one)`);
  if (code === 'EACCES') return new CliError(`may not listen on ${host}:${port}: pass another \`${flag}\``);
  return error instanceof Error ? error : new Error(String(error));
}
