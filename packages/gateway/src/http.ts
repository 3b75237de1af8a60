// MCP over Streamable HTTP at /mcp on loopback. Every request is authenticated (a session is never
// proof of identity): the bearer token must verify and be the one that opened the session. Origin
// is checked against DNS rebinding; RFC 9728 protected-resource metadata tells clients where
// tokens come from.
import { randomUUID } from 'node:crypto';
import {
  createServer,
  type IncomingMessage,
  type Server as HttpServer,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import type { MessageRelay } from '@posture/storage';
import type { Gateway } from './gateway.js';
import { readMessage } from './body.js';
import { SessionTransport } from './session-transport.js';
import type { TokenClaims, TokenVerifier } from './tokens.js';

export interface HttpOptions {
  gateway: Gateway;
  tokens: TokenVerifier;
  host?: string;
  port?: number;
  /** Origins allowed besides the gateway's own (browsers send `Origin`; other clients do not). */
  allowedOrigins?: string[];
  /** Largest request body, bytes (default 1 MiB). */
  maxBodyBytes?: number;
  /** Where clients get tokens (RFC 9728 `authorization_servers`). */
  authorizationServers?: string[];
  /** Sessions idle longer than this are closed (default 30 minutes). */
  idleSessionMs?: number;
  /** The resource identifier tokens are issued for (their audience); default this server's /mcp URL. */
  resource?: string;
  /**
   * Serves Prometheus metrics at GET /metrics, without authentication (scrapers carry no token):
   * the text must hold tool names and verdicts only, never arguments or identities.
   */
  metrics?: () => Promise<{ contentType: string; text: string }>;
  /**
   * Carries a client's answer to an elicitation from the replica it was posted to to the one
   * that asked (Redis or PostgreSQL), so that replicas need no session affinity for it either.
   */
  relay?: MessageRelay;
}

interface Session {
  transport: SessionTransport;
  claims: TokenClaims;
  lastSeen: number;
}

export interface RunningGateway {
  /** `http://127.0.0.1:<port>/mcp` */
  url: string;
  sessions(): number;
  close(): Promise<void>;
}

const METADATA_PATH = '/.well-known/oauth-protected-resource';
/** Refused authentications recorded per client address and minute; beyond it they are counted. */
const REFUSALS_PER_MINUTE = 10;
const LOOPBACK_NAMES = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

/** `localhost:8700`, `127.0.0.1`, `[::1]:8700`: a Host header that names this machine. */
function isLoopbackHost(host: string | undefined): boolean {
  if (!host) return false;
  const name = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.split(':')[0]!;
  return LOOPBACK_NAMES.has(name.toLowerCase());
}

function isLoopbackOrigin(origin: string): boolean {
  try {
    const url = new URL(origin);
    return (
      (url.protocol === 'http:' || url.protocol === 'https:') &&
      LOOPBACK_NAMES.has(url.hostname.toLowerCase())
    );
  } catch {
    return false;
  }
}

export async function serveHttp(options: HttpOptions): Promise<RunningGateway> {
  const host = options.host ?? '127.0.0.1';
  const loopback = LOOPBACK_NAMES.has(host) || host.startsWith('127.');
  const sessions = new Map<string, Session>();
  const maxBody = options.maxBodyBytes ?? 1024 * 1024;
  const idleMs = options.idleSessionMs ?? 30 * 60 * 1000;
  let base = '';

  const metadata = () => ({
    resource: options.resource ?? `${base}/mcp`,
    bearer_methods_supported: ['header'],
    ...(options.authorizationServers ? { authorization_servers: options.authorizationServers } : {}),
    resource_name: 'Posture gateway',
  });

  // Refused authentications are evidence (stolen or replayed tokens, guessing), at most a few a
  // minute per client address so that nobody can flood the log by knocking; the rest are counted.
  const refusals = new Map<string, { windowStart: number; recorded: number; suppressed: number }>();
  const recordRefusal = (req: IncomingMessage, description: string) => {
    const remote = req.socket.remoteAddress ?? 'unknown';
    const now = Date.now();
    let entry = refusals.get(remote);
    if (!entry || now - entry.windowStart >= 60_000) {
      if (refusals.size >= 10_000) refusals.clear();
      entry = { windowStart: now, recorded: 0, suppressed: entry?.suppressed ?? 0 };
      refusals.set(remote, entry);
    }
    if (entry.recorded >= REFUSALS_PER_MINUTE) {
      entry.suppressed++;
      return;
    }
    entry.recorded++;
    const suppressed = entry.suppressed;
    entry.suppressed = 0;
    void options.gateway.enforcer.note({
      kind: 'alert',
      actor: {},
      outcome: 'denied',
      detail: {
        alert: 'auth.refused',
        description,
        remote,
        ...(suppressed > 0 ? { suppressed_before: suppressed } : {}),
      },
    });
  };
  const unauthorized = (
    res: ServerResponse,
    description: string,
    error = 'invalid_token',
    req?: IncomingMessage,
  ) => {
    if (req) recordRefusal(req, description);
    const quoted = description.replace(/["\\]/g, "'");
    res.writeHead(401, {
      'content-type': 'application/json',
      'www-authenticate': `Bearer resource_metadata="${base}${METADATA_PATH}", error="${error}", error_description="${quoted}"`,
    });
    res.end(JSON.stringify({ error, error_description: description }));
  };
  const plain = (res: ServerResponse, status: number, message: string, code = -32600) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code, message } }));
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', base);
    if (url.pathname === METADATA_PATH || url.pathname === `${METADATA_PATH}/mcp`) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(metadata()));
      return;
    }
    if (url.pathname === '/metrics' && options.metrics) {
      if (loopback && !isLoopbackHost(req.headers.host)) {
        return plain(res, 403, `host \`${req.headers.host ?? ''}\` is not allowed`);
      }
      if (req.method !== 'GET') return plain(res, 405, 'use GET');
      const { contentType, text } = await options.metrics();
      res.writeHead(200, { 'content-type': contentType });
      res.end(text);
      return;
    }
    if (url.pathname !== '/mcp') return plain(res, 404, 'not found');

    // DNS rebinding: on loopback, only loopback names may reach us (Host), and a browser page
    // only from a loopback origin or one allowed by name (Origin).
    if (loopback && !isLoopbackHost(req.headers.host)) {
      return plain(res, 403, `host \`${req.headers.host ?? ''}\` is not allowed`);
    }
    const origin = req.headers.origin;
    if (
      origin !== undefined &&
      !(options.allowedOrigins ?? []).includes(origin) &&
      !(loopback && isLoopbackOrigin(origin))
    ) {
      return plain(res, 403, `origin \`${origin}\` is not allowed`);
    }
    const auth = req.headers.authorization;
    if (!auth?.startsWith('Bearer '))
      return unauthorized(res, 'a bearer token is required', 'invalid_token', req);
    const checked = await options.tokens.verify(auth.slice(7).trim());
    if (!checked.ok) return unauthorized(res, checked.description, checked.error, req);
    const claims = checked.claims;

    let parsed: unknown;
    if (req.method === 'POST') {
      const body = await readMessage(req, maxBody);
      if (!body.ok) return plain(res, body.status, body.message, body.code);
      parsed = body.message;
    }

    const sessionId = req.headers['mcp-session-id'];
    if (typeof sessionId === 'string') {
      let session = sessions.get(sessionId);
      if (!session) {
        // Opened by another replica, or by this gateway before a restart: take it up from the store.
        const resumed = await resume(sessionId, claims).catch((error: unknown) => error as Error);
        if (resumed instanceof Error) return storeUnavailable(res, resumed);
        if (resumed === 'unknown') return plain(res, 404, 'unknown or expired session', -32001);
        if (resumed === 'not_yours') {
          return unauthorized(res, 'the token did not open this session', 'invalid_token', req);
        }
        session = resumed;
      }
      // The token must be the one that opened this session: no riding another's session id.
      if (session.claims.jti !== claims.jti) {
        return unauthorized(res, 'the token did not open this session', 'invalid_token', req);
      }
      session.lastSeen = Date.now();
      // A session ended (or expired) in the store ends here too, even if this replica still holds
      // it: tools/call finds out from its plan read, every other request and stream asks the store.
      if (req.method === 'GET' || (req.method === 'POST' && needsLiveSession(parsed))) {
        const live = await options.gateway.findSession(sessionId).catch((error: unknown) => error as Error);
        if (live instanceof Error) return storeUnavailable(res, live);
        if (!live) {
          sessions.delete(sessionId);
          await session.transport.close();
          return plain(res, 404, 'unknown or expired session', -32001);
        }
      }
      if (req.method === 'POST') return session.transport.post(req, res, parsed as JSONRPCMessage);
      if (req.method === 'GET') return session.transport.listen(res);
      if (req.method === 'DELETE') {
        sessions.delete(sessionId);
        await session.transport.close();
        // Ended for every replica: tools/call there finds no session record.
        const ended = await options.gateway.endSession(sessionId).catch((error: unknown) => error as Error);
        if (ended instanceof Error) return storeUnavailable(res, ended);
        res.writeHead(200).end();
        return;
      }
      return plain(res, 405, `method \`${req.method}\` is not allowed`);
    }

    if (req.method !== 'POST' || (parsed as { method?: unknown }).method !== 'initialize') {
      return plain(
        res,
        400,
        'a session starts with an initialize request (POST) and carries its Mcp-Session-Id after',
      );
    }
    // A new session: the token opens at most one, across every replica sharing the session store
    // (a second initialize with it is a replay).
    const id = randomUUID();
    const opened = await options.gateway
      .openSession({
        id,
        agent: claims.agent,
        user: claims.user,
        jti: claims.jti,
        expiresAtMs: options.tokens.acceptedUntilMs(claims),
        init: parsed,
      })
      .catch((error: unknown) => error as Error);
    if (opened instanceof Error) return storeUnavailable(res, opened);
    if (!opened.ok)
      return unauthorized(res, 'the token has already been used for a session', 'invalid_token', req);
    const transport = newTransport(id);
    register(id, transport, claims);
    const server = options.gateway.serverFor({ agent: claims.agent, user: claims.user, session: id });
    await server.connect(transport);
    transport.post(req, res, parsed as JSONRPCMessage);
  };

  /** A session's transport; answers to another replica's requests go to the relay. */
  const newTransport = (id: string) => {
    const transport = new SessionTransport(id);
    const relay = options.relay;
    if (relay) transport.onforeign = (message) => void relay.publish(id, message).catch(() => {});
    return transport;
  };
  /** Serves the session here until its transport closes. */
  const register = (id: string, transport: SessionTransport, claims: TokenClaims): Session => {
    const session: Session = { transport, claims, lastSeen: Date.now() };
    sessions.set(id, session);
    transport.onclose = () => sessions.delete(id);
    return session;
  };
  await options.relay?.subscribe((session, message) => {
    sessions.get(session)?.transport.deliver(message as JSONRPCMessage);
  });

  /** Sessions being taken up from the store, so that concurrent requests share one. */
  const resuming = new Map<string, Promise<Session | 'unknown' | 'not_yours'>>();
  const resume = (id: string, claims: TokenClaims): Promise<Session | 'unknown' | 'not_yours'> => {
    let pending = resuming.get(id);
    if (!pending) {
      pending = (async () => {
        const record = await options.gateway.findSession(id);
        if (!record) return 'unknown' as const;
        if (record.jti !== claims.jti) return 'not_yours' as const;
        const transport = newTransport(id);
        const server = options.gateway.serverFor({ agent: record.agent, user: record.user, session: id });
        await server.connect(transport);
        await transport.resume(record.init as JSONRPCMessage);
        // Only once initialized: until then, requests for the session wait on `resuming`.
        return register(id, transport, claims);
      })().finally(() => resuming.delete(id));
      resuming.set(id, pending);
    }
    return pending;
  };
  const storeUnavailable = (res: ServerResponse, error: Error) =>
    plain(res, 503, `the session store is unavailable: ${error.message}`, -32603);

  const http: HttpServer = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent)
        plain(res, 500, `internal error: ${error instanceof Error ? error.message : String(error)}`, -32603);
      else res.end();
    });
  });
  http.headersTimeout = 10_000;
  http.requestTimeout = 0; // SSE responses stay open while a call waits for approval

  const sweep = setInterval(
    () => {
      const cutoff = Date.now() - idleMs;
      for (const [id, session] of sessions) {
        if (session.lastSeen < cutoff) {
          sessions.delete(id);
          void session.transport.close();
        }
      }
    },
    Math.min(idleMs, 60_000),
  );
  sweep.unref();

  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(options.port ?? 0, host, () => resolve());
  });
  const address = http.address() as AddressInfo;
  base = `http://${host.includes(':') ? `[${host}]` : host}:${address.port}`;

  return {
    url: `${base}/mcp`,
    sessions: () => sessions.size,
    async close() {
      clearInterval(sweep);
      await Promise.all([...sessions.values()].map((s) => s.transport.close().catch(() => {})));
      sessions.clear();
      await new Promise<void>((resolve) => {
        http.close(() => resolve());
        http.closeAllConnections();
      });
    },
  };
}

/** A request other than tools/call (which reads the session's plan anyway). */
function needsLiveSession(message: unknown): boolean {
  const { method, id } = message as { method?: unknown; id?: unknown };
  return typeof method === 'string' && id !== undefined && method !== 'tools/call';
}
