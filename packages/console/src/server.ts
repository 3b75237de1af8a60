// The console's HTTP server: the JSON API of API.md, the event stream, and the browser files.
// Every /api route names who may call it; the dispatcher checks the session, the CSRF token, the
// Origin and the role before any handler runs, so no handler can forget to. A store that throws
// answers 503 `store_unavailable`; an audit event the log could not take waits in an outbox and
// is written once the store is back, so nothing the console decided goes unrecorded.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { groupMembership, LONGEST_REVOCATION_MS } from '@posture/core';
import {
  EVENT_KINDS,
  OUTCOMES,
  approvalEvent,
  deciderRefusal,
  type ApprovalRequest,
  type SessionStore,
  type ApprovalQueue,
  type ApprovalStatus,
  type AuditEvent,
  type AuditFilter,
  type AuditLog,
  type EventKind,
  type ExceptionStore,
  type Inventory,
  type Outcome,
  type StoredEvent,
} from '@posture/storage';
import {
  generateAuthenticationOptions,
  generateRegistrationOptions,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
  type AuthenticationResponseJSON,
  type RegistrationResponseJSON,
} from '@simplewebauthn/server';
import { isoBase64URL } from '@simplewebauthn/server/helpers';
import { ConsoleKeyError } from './secrets.js';
import { createMemoryConsoleSessions, type ConsoleSession, type ConsoleSessions } from './sessions.js';
import type { ConsoleUser, ConsoleUsers, Role } from './users.js';
import {
  decisionsOverTime,
  findingsOf,
  loadConsolePolicy,
  RecentCalls,
  scoresView,
  verifyAudit,
} from './views.js';

export interface ConsoleOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 7400; 0 picks a free port. */
  port?: number;
  audit: AuditLog;
  approvals: ApprovalQueue;
  inventory: Inventory;
  exceptions: ExceptionStore;
  policy: { path: string; text: string };
  users: ConsoleUsers;
  now?: () => Date;
  log?: (line: string) => void;
  /**
   * The origin browsers reach the console at, when it is not `http://<host>:<port>` (behind a TLS
   * proxy: `https://posture.example.com`). Requests must come from it; WebAuthn binds to its host.
   */
  origin?: string;
  sessions?: { idleMs?: number; absoluteMs?: number };
  /**
   * Where login sessions live (default: this process's memory). Consoles sharing one store share
   * their logins: a cookie one made is accepted by the others, a logout on one ends it on all.
   */
  sessionStore?: ConsoleSessions;
  /**
   * Where agent token revocations are kept: the store every gateway reads them from (the
   * evidence's, SQLite or PostgreSQL). Without it, the inventory shows none and offers no revoking.
   */
  revocations?: Pick<SessionStore, 'revoke' | 'revocations'>;
  loginLimits?: { perUser?: number; perAddress?: number; windowMs?: number };
  /** How often the stores are polled for the event stream (default 1000 ms). */
  streamIntervalMs?: number;
  /** Default: Secure unless the console is plain http on a loopback address. */
  secureCookies?: boolean;
  /**
   * Approvers and admins who have a second factor must present it at login too, not only at
   * step-up (default false: the browser UI asks for it only when this is on).
   */
  secondFactorAtLogin?: boolean;
}

export interface ConsoleServer {
  url: string;
  close(): Promise<void>;
}

/** Who may call a route: anyone, any logged-in user, or a user with the role. */
export type RouteAccess = 'public' | 'session' | Role;

export const SESSION_COOKIE = 'posture_session';
const DEFAULT_PORT = 7400;
const MAX_BODY = 64 * 1024;
const CHALLENGE_MS = 5 * 60_000;
const STEP_UP_FAILURES = 5;
/** A session seen again this soon is not written again (a page load makes several requests). */
const TOUCH_MS = 1000;
const SWEEP_MS = 60_000;
const MAX_OUTBOX = 10_000;
const APPROVAL_STATUSES: readonly ApprovalStatus[] = ['pending', 'approved', 'denied', 'expired', 'consumed'];
const KINDS: readonly EventKind[] = EVENT_KINDS;
const DECISIONS = ['allow', 'deny', 'approve', 'confirm'] as const;
const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};
const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'self'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'; object-src 'none'",
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
};

/** A refusal with its HTTP status and stable code; everything else a handler throws is a store failure. */
class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
    /** More for the client beside `code` and `message` (the factors a login needs, say). */
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

/** A request's session: the cookie value, and what the store held when the request came. */
interface Session extends ConsoleSession {
  id: string;
}

interface Context {
  req: IncomingMessage;
  res: ServerResponse;
  now: Date;
  remote: string;
  params: Record<string, string>;
  query: URLSearchParams;
  session: Session;
  user: ConsoleUser;
  body(): Promise<Record<string, unknown>>;
}

interface Route {
  method: 'GET' | 'POST';
  path: string;
  access: RouteAccess;
  /** Returns the JSON body of a 200, or undefined when it wrote the response itself. */
  handle(context: Context): Promise<unknown>;
}

interface Stream {
  res: ServerResponse;
  session: Session;
  /** The last event sent, so that each stream hears of a change once. */
  last?: string;
}

type StepUpProof = { method: 'totp' | 'webauthn'; at: string };

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/;

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

function bad(message: string): HttpError {
  return new HttpError(400, 'bad_request', message);
}

function optionalString(body: Record<string, unknown>, key: string, max = 2000): string | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || value.length > max)
    throw bad(`\`${key}\` must be a string of at most ${max} characters`);
  return value;
}

function requiredString(body: Record<string, unknown>, key: string, max = 2000): string {
  const value = optionalString(body, key, max);
  if (value === undefined || value === '') throw bad(`\`${key}\` is required`);
  return value;
}

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function cookies(req: IncomingMessage): Map<string, string> {
  const jar = new Map<string, string>();
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const at = part.indexOf('=');
    if (at > 0) jar.set(part.slice(0, at).trim(), part.slice(at + 1).trim());
  }
  return jar;
}

function routeMatcher(path: string): (candidate: string) => Record<string, string> | undefined {
  const parts = path.split('/');
  return (candidate) => {
    const given = candidate.split('/');
    if (given.length !== parts.length) return undefined;
    const params: Record<string, string> = {};
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i]!;
      if (part.startsWith(':')) {
        if (given[i] === '') return undefined;
        try {
          params[part.slice(1)] = decodeURIComponent(given[i]!);
        } catch {
          return undefined;
        }
      } else if (part !== given[i]) return undefined;
    }
    return params;
  };
}

export async function serveConsole(options: ConsoleOptions): Promise<ConsoleServer> {
  const host = options.host ?? '127.0.0.1';
  const now = options.now ?? (() => new Date());
  const log = options.log ?? (() => {});
  const idleMs = options.sessions?.idleMs ?? 30 * 60_000;
  const absoluteMs = options.sessions?.absoluteMs ?? 12 * 3_600_000;
  const perUser = options.loginLimits?.perUser ?? 5;
  const perAddress = options.loginLimits?.perAddress ?? 20;
  const windowMs = options.loginLimits?.windowMs ?? 15 * 60_000;
  const policy = loadConsolePolicy(options.policy.path, options.policy.text);
  const membership = policy.policy ? groupMembership(policy.policy) : new Map<string, Set<string>>();
  const { audit, approvals, inventory, users } = options;

  const recentCalls = new RecentCalls(audit);
  const sessions = options.sessionStore ?? createMemoryConsoleSessions();
  // Per process: how often a refused login was audited (at most once a minute per user and address).
  const limitedNoted = new Map<string, number>();
  const outbox: AuditEvent[] = [];
  const streams = new Set<Stream>();

  // Known once the server listens.
  let origins: string[] = [];
  let hosts = new Set<string>();
  let secure = false;

  /**
   * Appends in order after anything still waiting. The event waits in the outbox until the log
   * has it, so one the log refuses now is written by a later append or by the stream's poll.
   */
  const record = async (event: AuditEvent): Promise<void> => {
    if (outbox.length >= MAX_OUTBOX) {
      log(`console: the audit outbox is full; an event was dropped: ${JSON.stringify(outbox.shift())}`);
    }
    outbox.push(event);
    await flushOutbox();
  };
  // One flush at a time: two concurrent ones would write the head of the outbox twice.
  let flushing: Promise<void> | undefined;
  const flushOutbox = (): Promise<void> => {
    if (outbox.length === 0) return Promise.resolve();
    flushing ??= (async () => {
      try {
        while (outbox.length > 0) {
          await audit.append(outbox[0]!);
          outbox.shift();
        }
      } finally {
        flushing = undefined;
      }
    })();
    return flushing;
  };

  const loginEvent = (
    alert: string,
    user: string,
    remote: string,
    outcome: Outcome,
    extra: Record<string, unknown> = {},
  ): AuditEvent => ({
    time: now().toISOString(),
    kind: 'alert',
    actor: { user },
    outcome,
    detail: { alert, remote, ...extra },
  });

  // Password checks cost memory and time by design (scrypt); a few at once, a bounded queue, and
  // beyond it `429`, so that a flood of logins cannot exhaust the machine.
  let hashing = 0;
  const waiting: Array<() => void> = [];
  const checkingPasswords = async <T>(check: () => Promise<T>): Promise<T> => {
    if (hashing >= 2) {
      if (waiting.length >= 32)
        throw new HttpError(429, 'rate_limited', 'too many logins at once; try again', {
          'retry-after': '1',
        });
      await new Promise<void>((resolveTurn) => waiting.push(resolveTurn));
    } else hashing++;
    try {
      return await check();
    } finally {
      const next = waiting.shift();
      if (next) next();
      else hashing--;
    }
  };

  // Findings verify the whole log: computed at most every 30 s, shared by the overview and findings.
  let findingsCache: { at: number; value: Promise<Awaited<ReturnType<typeof findingsOf>>> } | undefined;
  const currentFindings = (at: Date) => {
    if (!findingsCache || at.getTime() - findingsCache.at >= 30_000 || at.getTime() < findingsCache.at) {
      const value = findingsOf(policy, { audit, inventory }, at);
      findingsCache = { at: at.getTime(), value };
      // A failure is not kept: the next request tries again.
      value.catch(() => {
        if (findingsCache?.value === value) findingsCache = undefined;
      });
    }
    return findingsCache.value;
  };

  // Sessions ---------------------------------------------------------------------------------
  const newSession = async (user: string): Promise<Session> => {
    const at = now().getTime();
    const session: Session = {
      id: randomBytes(32).toString('base64url'),
      user,
      csrf: randomBytes(32).toString('base64url'),
      created: at,
      lastSeen: at,
      stepUpFailures: 0,
    };
    const { id, ...stored } = session;
    await sessions.create(id, stored);
    return session;
  };
  const expired = (session: ConsoleSession, at: number) =>
    at - session.lastSeen >= idleMs || at - session.created >= absoluteMs;
  const sessionCookie = (value: string, maxAgeSeconds?: number) =>
    [
      `${SESSION_COOKIE}=${value}`,
      'HttpOnly',
      'SameSite=Strict',
      'Path=/',
      ...(secure ? ['Secure'] : []),
      ...(maxAgeSeconds !== undefined ? [`Max-Age=${maxAgeSeconds}`] : []),
    ].join('; ');
  const clearCookie = sessionCookie('', 0);

  const factorsOf = (user: ConsoleUser) => ({ totp: user.totp, webauthn: user.webauthn > 0 });
  const hasFactor = (user: ConsoleUser) => user.totp || user.webauthn > 0;
  /**
   * A request as an approver sees it: with `refusal` when they could not decide it (their own
   * request, an agent identity, not among its approvers), so the desk says so before anyone clicks.
   */
  /**
   * Why a user decides no request, being an agent identity in the policy (the store knows only
   * each request's own agent), or undefined.
   */
  const agentIdentity = (name: string) =>
    policy.policy && Object.hasOwn(policy.policy.agents, name)
      ? `\`${name}\` is an agent identity and cannot decide requests`
      : undefined;
  const forViewer = (request: ApprovalRequest, user: ConsoleUser) => {
    if (!user.roles.includes('approver')) return request;
    const asAgent = agentIdentity(user.name);
    const refused = asAgent
      ? { code: 'self_approval' as const, message: asAgent }
      : deciderRefusal(request, user.name, [...(membership.get(user.name) ?? [])]);
    return refused ? { ...request, refusal: { code: refused.code, message: refused.message } } : request;
  };

  /** The origin this request came through: its Origin when it is one of ours, else the first. */
  const originOf = (req: IncomingMessage) => {
    const given = req.headers.origin;
    return given !== undefined && origins.includes(given) ? given : origins[0]!;
  };
  const rpIds = () => [...new Set(origins.map((o) => new URL(o).hostname))];

  // Step-up ----------------------------------------------------------------------------------
  /**
   * Whether `proof` is a valid second factor of `user` now: a TOTP code not used before, or a
   * WebAuthn assertion over `challenge` (which the caller has already taken: single use).
   */
  const checkFactor = async (
    user: ConsoleUser,
    proof: unknown,
    at: Date,
    challenge: { challenge: string; at: number } | undefined,
  ): Promise<{ method: 'totp' | 'webauthn'; verified: boolean }> => {
    if (!isObject(proof) || (proof.method !== 'totp' && proof.method !== 'webauthn')) {
      throw bad("`stepUp` must be {method:'totp', code} or {method:'webauthn', response}");
    }
    if (proof.method === 'totp') {
      if (!user.totp)
        throw new HttpError(403, 'no_second_factor', 'no authenticator app is enrolled for this user');
      if (typeof proof.code !== 'string') throw bad('`stepUp.code` must be a string');
      return { method: 'totp', verified: await users.verifyTotp(user.name, proof.code.trim(), at) };
    }
    const credentials = await users.credentials(user.name);
    if (credentials.length === 0)
      throw new HttpError(403, 'no_second_factor', 'no passkey is registered for this user');
    const response = proof.response as AuthenticationResponseJSON | undefined;
    const credential = isObject(response) ? credentials.find((c) => c.id === response.id) : undefined;
    if (!challenge || at.getTime() - challenge.at >= CHALLENGE_MS || !credential || !response) {
      return { method: 'webauthn', verified: false };
    }
    let newCounter: number;
    try {
      const result = await verifyAuthenticationResponse({
        response,
        expectedChallenge: challenge.challenge,
        expectedOrigin: origins,
        expectedRPID: rpIds(),
        credential: {
          id: credential.id,
          publicKey: isoBase64URL.toBuffer(credential.public_key),
          counter: credential.counter,
          transports: credential.transports as never,
        },
        // A step-up proves who is there, not only that the key is: the PIN or biometric must have
        // been checked (the UV flag), or an unattended or stolen key would approve tier-3 calls.
        requireUserVerification: true,
      });
      if (!result.verified) return { method: 'webauthn', verified: false };
      newCounter = result.authenticationInfo.newCounter;
    } catch {
      return { method: 'webauthn', verified: false };
    }
    // Only forward: an old counter (a clone, a replay) is refused even if another console saw
    // the newer one a moment ago. A store failure here is a 503, not a failed factor.
    return { method: 'webauthn', verified: await users.updateCounter(credential.id, newCounter) };
  };

  const verifyStepUp = async (context: Context, proof: unknown): Promise<StepUpProof> => {
    const { session, user } = context;
    const at = context.now;
    // Single use: whatever happens below, this challenge cannot be answered twice, on any console.
    const challenge = await sessions.takeChallenge({ session: session.id, kind: 'stepUp' });
    const { method, verified } = await checkFactor(user, proof, at, challenge);
    if (!verified) {
      // Counted in the store: failures spread over several consoles add up.
      const failures = await sessions.addStepUpFailure(session.id);
      await record(
        loginEvent('console.step_up_failed', user.name, context.remote, 'denied', { method }),
      ).catch(() => {});
      if (failures >= STEP_UP_FAILURES) {
        // Guessing codes ends the session: the next request needs the password again.
        await sessions.remove(session.id);
        throw new HttpError(401, 'session_expired', 'too many failed step-up attempts; log in again', {
          'set-cookie': clearCookie,
        });
      }
      throw new HttpError(403, 'step_up_failed', 'the second factor did not verify');
    }
    await sessions.clearStepUpFailures(session.id);
    return { method, at: at.toISOString() };
  };

  /** Replacing a factor when one exists needs the current one, so a stolen session cannot. */
  const guardEnrolment = async (context: Context) => {
    if (!hasFactor(context.user)) return;
    const body = await context.body();
    if (body.stepUp === undefined) {
      throw new HttpError(
        403,
        'step_up_required',
        'changing a second factor needs step-up with the current one',
      );
    }
    await verifyStepUp(context, body.stepUp);
  };

  // Audit paging -----------------------------------------------------------------------------
  /** The newest `limit` events matching `filter` with seq below `before`, newest first. */
  const latest = async (
    filter: AuditFilter,
    limit: number,
    before?: number,
    match?: (e: StoredEvent) => boolean,
    cap = 1_000_000,
  ) => {
    let hi = Math.min(before ?? Number.MAX_SAFE_INTEGER, await audit.size());
    const found: StoredEvent[] = [];
    let scanned = 0;
    let left = false;
    // Windows double as they come back short: a rare kind is found in a few queries.
    let window = 2000;
    while (hi > 0 && found.length < limit && scanned < cap) {
      const lo = Math.max(0, hi - window);
      window = Math.min(window * 2, 128_000);
      const page = await audit.search({ ...filter, ...(lo > 0 ? { after: lo - 1 } : {}), limit: hi - lo });
      scanned += hi - lo;
      const inWindow = page.filter((e) => e.seq < hi && (!match || match(e)));
      let i = inWindow.length - 1;
      for (; i >= 0 && found.length < limit; i--) found.push(inWindow[i]!);
      left = i >= 0;
      hi = lo;
    }
    // `next` is the `before` of the following page: the last event returned, or where the scan stopped.
    const last = found[found.length - 1];
    const next = left || (hi > 0 && found.length === limit) ? last!.seq : hi > 0 ? hi : undefined;
    return { events: found, ...(next !== undefined ? { next } : {}) };
  };

  const auditFilter = (query: URLSearchParams): AuditFilter => {
    const filter: AuditFilter = {};
    for (const key of ['agent', 'user', 'tool'] as const) {
      const value = query.get(key);
      if (value) filter[key] = value;
    }
    const oneOf = <T extends string>(key: string, allowed: readonly T[]): T | undefined => {
      const value = query.get(key);
      if (!value) return undefined;
      if (!(allowed as readonly string[]).includes(value))
        throw bad(`\`${key}\` must be one of ${allowed.join(', ')}`);
      return value as T;
    };
    const decision = oneOf('decision', DECISIONS);
    if (decision) filter.decision = decision;
    const outcome = oneOf('outcome', OUTCOMES);
    if (outcome) filter.outcome = outcome;
    const kind = oneOf('kind', KINDS);
    if (kind) filter.kind = kind;
    for (const key of ['since', 'until'] as const) {
      const value = query.get(key);
      if (!value) continue;
      if (Number.isNaN(Date.parse(value))) throw bad(`\`${key}\` must be an ISO 8601 time`);
      filter[key] = new Date(value).toISOString();
    }
    return filter;
  };
  const intParam = (query: URLSearchParams, key: string, min: number, max: number): number | undefined => {
    const value = query.get(key);
    if (value === null || value === '') return undefined;
    if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
      throw bad(`\`${key}\` must be a whole number from ${min} to ${max}`);
    }
    return Number(value);
  };

  const pendingCount = async () => (await approvals.list({ status: 'pending', limit: 1000 }, now())).length;

  // Routes -----------------------------------------------------------------------------------
  const routes: Route[] = [
    {
      method: 'GET',
      path: '/api/health',
      access: 'public',
      async handle() {
        await audit.size();
        await approvals.list({ limit: 1 }, now());
        return { ok: true };
      },
    },
    {
      method: 'POST',
      path: '/api/login',
      access: 'public',
      async handle(context) {
        const body = await context.body();
        const name = requiredString(body, 'user', 200);
        const password = requiredString(body, 'password', 1024);
        const at = context.now.getTime();
        const { remote } = context;
        const userKey = `user:${name.toLowerCase()}`;
        const addressKey = `address:${remote}`;
        // Counted as a failure in the shared store before the password is checked, and forgiven
        // below when it was right: consoles sharing a store enforce one limit, also for attempts
        // that arrive on several of them at once.
        const attempt = randomBytes(16).toString('base64url');
        const count = await sessions.countLoginFailure(
          attempt,
          [
            { key: userKey, limit: perUser },
            { key: addressKey, limit: perAddress },
          ],
          at,
          at - windowMs + 1,
        );
        if (!count.counted) {
          const wait = Math.max(0, count.oldest + windowMs - at);
          // Noted at most once a minute per user and address, so knocking cannot flood the log.
          const noteKey = `${userKey}\n${remote}`;
          if (at - (limitedNoted.get(noteKey) ?? -Infinity) >= 60_000) {
            if (limitedNoted.size >= 10_000) limitedNoted.clear();
            limitedNoted.set(noteKey, at);
            await record(loginEvent('console.login_rate_limited', name, remote, 'denied'));
          }
          throw new HttpError(429, 'rate_limited', 'too many failed logins; try again later', {
            'retry-after': String(Math.max(1, Math.ceil(wait / 1000))),
          });
        }
        // Whether the attempt stays counted: only a wrong password or second factor. Anything
        // else (a right password, a full queue, a store failure) takes it back.
        let failed = false;
        try {
          return await finishLogin();
        } finally {
          if (!failed) await sessions.forgiveLoginFailure(attempt, [userKey, addressKey]).catch(() => {});
        }

        async function finishLogin() {
          const user = await checkingPasswords(() => users.verifyPassword(name, password));
          if (!user) {
            failed = true;
            await record(loginEvent('console.login_failed', name, remote, 'denied'));
            throw new HttpError(401, 'bad_credentials', 'wrong user name or password');
          }
          let secondFactor: string | undefined;
          if (
            options.secondFactorAtLogin &&
            hasFactor(user) &&
            (user.roles.includes('approver') || user.roles.includes('admin'))
          ) {
            if (body.stepUp === undefined) {
              // The password was right: say what else is needed, with a passkey challenge if they have one.
              let webauthn: unknown;
              if (user.webauthn > 0) {
                const credentials = await users.credentials(user.name);
                const optionsJson = await generateAuthenticationOptions({
                  rpID: new URL(originOf(context.req)).hostname,
                  allowCredentials: credentials.map((c) => ({ id: c.id, transports: c.transports })),
                  userVerification: 'required',
                });
                // In the store: the answer may reach another console than the one that asked.
                await sessions.setChallenge({ login: user.name }, { challenge: optionsJson.challenge, at });
                webauthn = optionsJson;
              }
              throw new HttpError(
                401,
                'second_factor_required',
                'this user also needs their second factor',
                {},
                {
                  factors: factorsOf(user),
                  ...(webauthn ? { webauthn } : {}),
                },
              );
            }
            const challenge = await sessions.takeChallenge({ login: user.name });
            const { method, verified } = await checkFactor(user, body.stepUp, context.now, challenge);
            if (!verified) {
              failed = true;
              await record(
                loginEvent('console.login_failed', name, remote, 'denied', { second_factor: method }),
              );
              throw new HttpError(401, 'second_factor_failed', 'the second factor did not verify');
            }
            secondFactor = method;
          }
          await sessions.clearLoginFailures(userKey);
          // Fail closed: a login the log cannot record does not happen.
          await flushOutbox();
          await audit.append(
            loginEvent('console.login', user.name, remote, 'allowed', {
              roles: user.roles,
              ...(secondFactor ? { second_factor: secondFactor } : {}),
            }),
          );
          // A new id at every login (never the one the browser came with: no session fixation).
          const previous = cookies(context.req).get(SESSION_COOKIE);
          if (previous) await sessions.remove(previous);
          const session = await newSession(user.name);
          context.res.setHeader('set-cookie', sessionCookie(session.id));
          return { user: user.name, roles: user.roles, csrf: session.csrf, factors: factorsOf(user) };
        }
      },
    },
    {
      method: 'POST',
      path: '/api/logout',
      access: 'session',
      async handle(context) {
        await sessions.remove(context.session.id);
        context.res.setHeader('set-cookie', clearCookie);
        return { ok: true };
      },
    },
    {
      method: 'GET',
      path: '/api/session',
      access: 'session',
      async handle({ session, user }) {
        return { user: user.name, roles: user.roles, csrf: session.csrf, factors: factorsOf(user) };
      },
    },
    {
      method: 'POST',
      path: '/api/totp/enrol',
      access: 'session',
      async handle(context) {
        await guardEnrolment(context);
        return users.enrolTotp(context.user.name);
      },
    },
    {
      method: 'POST',
      path: '/api/totp/confirm',
      access: 'session',
      async handle(context) {
        const code = requiredString(await context.body(), 'code', 20).trim();
        if (!(await users.confirmTotp(context.user.name, code, context.now))) {
          throw new HttpError(400, 'bad_code', 'the code does not match the new authenticator');
        }
        const user = (await users.get(context.user.name))!;
        return { factors: factorsOf(user) };
      },
    },
    {
      method: 'POST',
      path: '/api/webauthn/register/options',
      access: 'session',
      async handle(context) {
        await guardEnrolment(context);
        const existing = await users.credentials(context.user.name);
        const optionsJson = await generateRegistrationOptions({
          rpName: 'Posture console',
          rpID: new URL(originOf(context.req)).hostname,
          userName: context.user.name,
          userID: createHash('sha256').update(`posture-console:${context.user.name}`).digest(),
          attestationType: 'none',
          excludeCredentials: existing.map((c) => ({ id: c.id, transports: c.transports })),
          authenticatorSelection: { residentKey: 'discouraged', userVerification: 'required' },
        });
        await sessions.setChallenge(
          { session: context.session.id, kind: 'register' },
          { challenge: optionsJson.challenge, at: context.now.getTime() },
        );
        return optionsJson;
      },
    },
    {
      method: 'POST',
      path: '/api/webauthn/register/verify',
      access: 'session',
      async handle(context) {
        const body = await context.body();
        const challenge = await sessions.takeChallenge({ session: context.session.id, kind: 'register' });
        if (!challenge || context.now.getTime() - challenge.at >= CHALLENGE_MS) {
          throw new HttpError(400, 'bad_registration', 'no registration in progress; ask for options again');
        }
        if (!isObject(body.response)) throw bad('`response` must be the registration response');
        let result;
        try {
          result = await verifyRegistrationResponse({
            response: body.response as unknown as RegistrationResponseJSON,
            expectedChallenge: challenge.challenge,
            expectedOrigin: origins,
            expectedRPID: rpIds(),
            // A passkey that cannot verify its user could never step up: refused at registration.
            requireUserVerification: true,
          });
        } catch (error) {
          throw new HttpError(
            400,
            'bad_registration',
            `the passkey did not verify: ${(error as Error).message}`,
          );
        }
        if (!result.verified) throw new HttpError(400, 'bad_registration', 'the passkey did not verify');
        const { credential } = result.registrationInfo;
        await users.addCredential({
          id: credential.id,
          user: context.user.name,
          public_key: isoBase64URL.fromBuffer(credential.publicKey),
          counter: credential.counter,
          transports: credential.transports ?? [],
          created_at: context.now.toISOString(),
        });
        return { factors: factorsOf((await users.get(context.user.name))!) };
      },
    },
    {
      method: 'POST',
      path: '/api/webauthn/stepup/options',
      access: 'session',
      async handle(context) {
        const credentials = await users.credentials(context.user.name);
        if (credentials.length === 0)
          throw new HttpError(403, 'no_second_factor', 'no passkey is registered for this user');
        const optionsJson = await generateAuthenticationOptions({
          rpID: new URL(originOf(context.req)).hostname,
          allowCredentials: credentials.map((c) => ({ id: c.id, transports: c.transports })),
          userVerification: 'required',
        });
        await sessions.setChallenge(
          { session: context.session.id, kind: 'stepUp' },
          { challenge: optionsJson.challenge, at: context.now.getTime() },
        );
        return optionsJson;
      },
    },
    {
      method: 'GET',
      path: '/api/overview',
      access: 'session',
      async handle({ now: at }) {
        const calls = await recentCalls.get(at);
        const { scores } = await currentFindings(at);
        const alerts = await latest({ kind: 'alert' }, 20, undefined, notLogin);
        return {
          scores: scoresView(scores),
          ...decisionsOverTime(calls, at),
          alerts: alerts.events,
          pending_approvals: await pendingCount(),
          audit_size: await audit.size(),
        };
      },
    },
    {
      method: 'GET',
      path: '/api/inventory',
      access: 'session',
      async handle(context) {
        const catalog = policy.compiled?.catalog;
        const tools = [];
        for (const tool of await inventory.tools()) {
          const known = catalog?.get(`${tool.server}/${tool.name}`);
          // A changed definition is shown beside the approved one, so the admin sees what changed.
          const approved =
            tool.status === 'changed' && tool.approved_hash !== undefined
              ? (await inventory.history(tool.server, tool.name)).find((v) => v.hash === tool.approved_hash)
              : undefined;
          tools.push({
            ...tool,
            in_policy: known !== undefined,
            ...(known ? { tier: known.tier, access: known.access } : {}),
            ...(approved ? { approved_definition: approved.definition } : {}),
          });
        }
        // An agent's tokens revoked until a time: shown beside it, so a revoked agent stands out.
        const revoked = new Map(
          ((await options.revocations?.revocations(context.now.getTime())) ?? [])
            .filter((r) => r.subject === 'agent')
            .map((r) => [r.id, r]),
        );
        return {
          agents: (await inventory.agents()).map((agent) => {
            const revocation = revoked.get(agent.name);
            return revocation
              ? {
                  ...agent,
                  tokens_revoked: {
                    at: new Date(revocation.at).toISOString(),
                    until: new Date(revocation.until).toISOString(),
                  },
                }
              : agent;
          }),
          servers: await inventory.servers(),
          tools,
          exceptions: await options.exceptions.list(),
          revoking: options.revocations !== undefined,
        };
      },
    },
    {
      method: 'POST',
      path: '/api/agents/:name/revoke',
      access: 'admin',
      async handle(context) {
        const agent = context.params.name!;
        const body = await context.body();
        const reason = optionalString(body, 'reason');
        if (!options.revocations) {
          throw new HttpError(409, 'not_configured', "this console does not reach the gateways' revocations");
        }
        if (!hasFactor(context.user)) {
          throw new HttpError(
            403,
            'no_second_factor',
            "enrol a second factor before revoking an agent's tokens",
          );
        }
        const known =
          (policy.policy && Object.hasOwn(policy.policy.agents, agent)) ||
          (await inventory.agents()).some((seen) => seen.name === agent);
        if (!known)
          throw new HttpError(404, 'not_found', `no agent \`${agent}\` in the policy or the inventory`);
        if (body.stepUp === undefined) {
          throw new HttpError(409, 'step_up_required', "revoking an agent's tokens needs step-up");
        }
        const stepUp = await verifyStepUp(context, body.stepUp);
        await audit.size(); // the log is reachable before anything changes
        const at = context.now.getTime();
        const revocation = { subject: 'agent' as const, id: agent, at, until: at + LONGEST_REVOCATION_MS };
        await options.revocations.revoke(revocation, at);
        await record({
          time: context.now.toISOString(),
          kind: 'revocation',
          actor: { user: context.user.name, agent },
          outcome: 'denied',
          detail: {
            subject: 'agent',
            id: agent,
            until: new Date(revocation.until).toISOString(),
            step_up: stepUp,
            ...(reason !== undefined ? { reason } : {}),
          },
        }).catch(() => {
          throw new HttpError(
            503,
            'store_unavailable',
            'the revocation is in force; its audit event will be written when the log is back',
          );
        });
        return {
          revocation: {
            subject: 'agent',
            id: agent,
            at: context.now.toISOString(),
            until: new Date(revocation.until).toISOString(),
          },
        };
      },
    },
    {
      method: 'POST',
      path: '/api/inventory/approve',
      access: 'admin',
      async handle(context) {
        const body = await context.body();
        const server = requiredString(body, 'server', 500);
        const name = requiredString(body, 'name', 500);
        const hash = requiredString(body, 'hash', 200);
        if (!hasFactor(context.user)) {
          throw new HttpError(
            403,
            'no_second_factor',
            'enrol a second factor before approving tool definitions',
          );
        }
        if (body.stepUp === undefined) {
          throw new HttpError(409, 'step_up_required', 'approving a tool definition needs step-up');
        }
        const stepUp = await verifyStepUp(context, body.stepUp);
        await audit.size(); // the log is reachable before anything changes
        const result = await inventory.approve(server, name, hash, context.user.name, context.now);
        if (!result.ok) throw new HttpError(409, result.code, result.message);
        await record({
          time: context.now.toISOString(),
          kind: 'policy_change',
          actor: { user: context.user.name },
          tool: `${server}/${name}`,
          outcome: 'approved',
          detail: { change: 'tool_definition_approved', server, name, hash, step_up: stepUp },
        }).catch(() => {
          throw new HttpError(
            503,
            'store_unavailable',
            'the approval is stored; its audit event will be written when the log is back',
          );
        });
        return { tool: result.tool };
      },
    },
    {
      method: 'GET',
      path: '/api/approvals',
      access: 'session',
      async handle({ query, now: at, user }) {
        const status = query.get('status') || undefined;
        if (status !== undefined && !APPROVAL_STATUSES.includes(status as ApprovalStatus)) {
          throw bad(`\`status\` must be one of ${APPROVAL_STATUSES.join(', ')}`);
        }
        const limit = intParam(query, 'limit', 1, 1000) ?? 100;
        const listed = await approvals.list(
          { ...(status ? { status: status as ApprovalStatus } : {}), limit },
          at,
        );
        return { approvals: listed.map((request) => forViewer(request, user)) };
      },
    },
    {
      method: 'GET',
      path: '/api/approvals/:id',
      access: 'session',
      async handle({ params, now: at, user }) {
        const approval = await approvals.get(params.id!, at);
        if (!approval) throw new HttpError(404, 'not_found', `no approval request \`${params.id}\``);
        return { approval: forViewer(approval, user) };
      },
    },
    {
      method: 'POST',
      path: '/api/approvals/:id/decide',
      access: 'approver',
      async handle(context) {
        const { user, params, now: at } = context;
        const body = await context.body();
        if (typeof body.approve !== 'boolean') throw bad('`approve` must be true or false');
        const comment = optionalString(body, 'comment');
        if (!hasFactor(user)) {
          throw new HttpError(
            403,
            'no_second_factor',
            'enrol a second factor (authenticator app or passkey) before deciding',
          );
        }
        if (!policy.policy)
          throw new HttpError(
            409,
            'policy_invalid',
            'the policy does not load; approvers and groups are unknown',
          );
        const asAgent = agentIdentity(user.name);
        if (asAgent) throw new HttpError(409, 'self_approval', asAgent);
        const request = await approvals.get(params.id!, at);
        if (!request) throw new HttpError(409, 'not_found', `no approval request \`${params.id}\``);
        let stepUp: StepUpProof | undefined;
        if (body.stepUp !== undefined) stepUp = await verifyStepUp(context, body.stepUp);
        else if (body.approve && request.step_up) {
          throw new HttpError(409, 'step_up_required', 'approving this request needs step-up');
        }
        await audit.size(); // the log is reachable before the decision is taken
        const result = await approvals.decide(
          request.id,
          {
            approve: body.approve,
            by: user.name,
            byGroups: [...(membership.get(user.name) ?? [])],
            ...(stepUp ? { stepUp } : {}),
            ...(comment !== undefined ? { comment } : {}),
          },
          at,
        );
        if (!result.ok) throw new HttpError(409, result.code, result.message);
        await record(approvalEvent(result.request, at)).catch(() => {
          throw new HttpError(
            503,
            'store_unavailable',
            'the decision is stored; its audit event will be written when the log is back',
          );
        });
        return { approval: result.request };
      },
    },
    {
      method: 'GET',
      path: '/api/audit',
      access: 'session',
      async handle({ query }) {
        const filter = auditFilter(query);
        const limit = intParam(query, 'limit', 1, 500) ?? 100;
        const q = query.get('q')?.toLowerCase() || undefined;
        const match = q ? (e: StoredEvent) => JSON.stringify(e).toLowerCase().includes(q) : undefined;
        if (query.get('order') === 'desc') {
          // A text search reads every event it scans: it stops sooner, and `next` says where.
          const before = intParam(query, 'before', 0, Number.MAX_SAFE_INTEGER);
          return latest(filter, limit, before, match, match ? 50_000 : undefined);
        }
        let after = intParam(query, 'after', 0, Number.MAX_SAFE_INTEGER);
        const events: StoredEvent[] = [];
        // Without `q` one page; with it, pages until enough match (at most 20 pages read).
        for (let page = 0; page < (match ? 20 : 1); page++) {
          const batch = await audit.search({
            ...filter,
            ...(after !== undefined ? { after } : {}),
            limit: match ? 500 : limit,
          });
          for (const event of batch)
            if (events.length < limit && (!match || match(event))) events.push(event);
          const last = batch[batch.length - 1];
          if (last) after = last.seq;
          if (batch.length < (match ? 500 : limit) || events.length >= limit) {
            const more = batch.length === (match ? 500 : limit);
            return {
              events,
              ...(more && last
                ? { next: events.length >= limit ? events[events.length - 1]!.seq : last.seq }
                : {}),
            };
          }
        }
        return { events, ...(after !== undefined ? { next: after } : {}) };
      },
    },
    {
      method: 'GET',
      path: '/api/audit/:seq',
      access: 'session',
      async handle({ params }) {
        const seq = params.seq!;
        if (!/^\d+$/.test(seq)) throw bad('`seq` must be a whole number');
        const [event] = await audit.read(Number(seq), Number(seq) + 1);
        if (!event) throw new HttpError(404, 'not_found', `no audit event \`${seq}\``);
        return { event };
      },
    },
    {
      method: 'POST',
      path: '/api/audit/verify',
      access: 'session',
      async handle() {
        return verifyAudit(audit);
      },
    },
    {
      method: 'GET',
      path: '/api/alerts',
      access: 'session',
      async handle() {
        return { alerts: (await latest({ kind: 'alert' }, 200, undefined, notLogin)).events };
      },
    },
    {
      method: 'GET',
      path: '/api/findings',
      access: 'session',
      async handle({ now: at }) {
        const { findings, scores } = await currentFindings(at);
        return { findings, scores: scoresView(scores) };
      },
    },
    {
      method: 'GET',
      path: '/api/policy',
      access: 'session',
      async handle() {
        return {
          path: policy.path,
          text: policy.text,
          problems: policy.problems.map((p) => ({
            code: p.code,
            message: p.message,
            line: p.line,
            column: p.column,
            severity: p.severity,
            ...(p.hint ? { hint: p.hint } : {}),
          })),
        };
      },
    },
    {
      method: 'GET',
      path: '/api/stream',
      access: 'session',
      async handle({ res, session }) {
        res.writeHead(200, {
          ...SECURITY_HEADERS,
          'content-type': 'text/event-stream; charset=utf-8',
          'cache-control': 'no-store',
          connection: 'keep-alive',
        });
        res.write('retry: 2000\n\n');
        const stream: Stream = { res, session };
        streams.add(stream);
        res.on('close', () => streams.delete(stream));
        res.on('error', () => streams.delete(stream));
        await publishCurrent([stream]);
        return undefined;
      },
    },
  ];
  const listed = (r: { method: string; path: string; access: string }) => `${r.method} ${r.path} ${r.access}`;
  if (routes.map(listed).join('\n') !== CONSOLE_ROUTES.map(listed).join('\n')) {
    throw new Error('CONSOLE_ROUTES does not list the routes the console serves');
  }
  const matchers = routes.map((route) => ({ route, match: routeMatcher(route.path) }));

  // The event stream: one poll of the stores for every open stream; each stream is sent what
  // changed since what it was last sent.
  const publish = (stream: Stream, event: 'change' | 'unavailable', data: unknown) => {
    const text = JSON.stringify(data);
    const key = `${event} ${text}`;
    if (stream.last === key) return;
    stream.last = key;
    stream.res.write(`event: ${event}\ndata: ${text}\n\n`);
  };
  const current = async () => ({ audit_size: await audit.size(), pending_approvals: await pendingCount() });
  const publishCurrent = async (targets: Iterable<Stream>) => {
    try {
      await flushOutbox();
      const next = await current();
      if (unavailable) log('console: the store is back');
      unavailable = false;
      for (const stream of targets) publish(stream, 'change', next);
    } catch (error) {
      if (!unavailable) log(`console: the store is unavailable: ${(error as Error).message}`);
      unavailable = true;
      for (const stream of targets) publish(stream, 'unavailable', { code: 'store_unavailable' });
    }
  };
  let unavailable = false;
  let polling = false;
  let swept = -Infinity;
  /** Whether the stream's session still lives; undefined when the store cannot say now. */
  const streamAlive = async (stream: Stream, at: number): Promise<boolean | undefined> => {
    try {
      const session = await sessions.get(stream.session.id);
      return session !== undefined && !expired(session, at);
    } catch {
      return undefined;
    }
  };
  const poll = async () => {
    if (polling) return;
    polling = true;
    try {
      const at = now().getTime();
      if (Math.abs(at - swept) >= SWEEP_MS) {
        swept = at;
        await sessions
          .sweep({
            lastSeen: at - idleMs,
            created: at - absoluteMs,
            challenge: at - CHALLENGE_MS,
            loginFailure: at - windowMs,
          })
          .catch(() => {});
      }
      // A logout or an expiry on any console ends this console's streams of that session.
      const targets = [...streams];
      const alive = await Promise.all(targets.map((stream) => streamAlive(stream, at)));
      targets.forEach((stream, i) => {
        if (alive[i] === false) {
          stream.res.end(`event: expired\ndata: ${JSON.stringify({ code: 'session_expired' })}\n\n`);
          streams.delete(stream);
        }
      });
      await publishCurrent(streams);
    } catch (error) {
      log(`console: the event stream poll failed: ${(error as Error).message}`);
    } finally {
      polling = false;
    }
  };
  const poller = setInterval(() => void poll(), options.streamIntervalMs ?? 1000);
  poller.unref();
  const heartbeat = setInterval(() => {
    for (const stream of streams) stream.res.write(': keep-alive\n\n');
  }, 15_000);
  heartbeat.unref();

  // Dispatch ---------------------------------------------------------------------------------
  const sendJson = (
    res: ServerResponse,
    status: number,
    body: unknown,
    headers: Record<string, string> = {},
  ) => {
    if (res.headersSent) {
      res.end();
      return;
    }
    res.writeHead(status, {
      ...SECURITY_HEADERS,
      'content-type': 'application/json; charset=utf-8',
      'cache-control': 'no-store',
      ...headers,
    });
    res.end(JSON.stringify(body));
  };
  const sendError = (res: ServerResponse, error: HttpError) =>
    sendJson(
      res,
      error.status,
      { error: { code: error.code, message: error.message, ...error.extra } },
      error.headers,
    );

  const readBody = async (req: IncomingMessage): Promise<Record<string, unknown>> => {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > MAX_BODY)
        throw new HttpError(413, 'payload_too_large', `the body is larger than ${MAX_BODY} bytes`);
      chunks.push(chunk as Buffer);
    }
    const text = Buffer.concat(chunks).toString('utf8');
    if (text.trim() === '') return {};
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw bad('the body is not JSON');
    }
    if (!isObject(parsed)) throw bad('the body must be a JSON object');
    return parsed;
  };

  // Read from the store at every request: a logout or expiry on another console holds here at once.
  const authenticate = async (req: IncomingMessage, at: number): Promise<Session> => {
    const id = cookies(req).get(SESSION_COOKIE);
    if (!id) throw new HttpError(401, 'unauthenticated', 'log in first');
    const session = await sessions.get(id);
    if (!session || expired(session, at)) {
      if (session) await sessions.remove(id);
      throw new HttpError(401, 'session_expired', 'the session has expired; log in again', {
        'set-cookie': clearCookie,
      });
    }
    return { ...session, id };
  };

  const handleApi = async (req: IncomingMessage, res: ServerResponse, url: URL) => {
    const candidates = matchers.filter(({ match }) => match(url.pathname));
    if (candidates.length === 0) throw new HttpError(404, 'not_found', `no API \`${url.pathname}\``);
    const found = candidates.find(({ route }) => route.method === req.method);
    if (!found) {
      throw new HttpError(
        405,
        'method_not_allowed',
        `\`${req.method}\` is not allowed on \`${url.pathname}\``,
        {
          allow: candidates.map(({ route }) => route.method).join(', '),
        },
      );
    }
    const { route } = found;
    const params = found.match(url.pathname)!;
    const unsafe = req.method !== 'GET';
    if (unsafe) {
      // JSON only: an HTML form (the classic cross-site request) cannot send it.
      const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
      const hasBody =
        req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
      if (hasBody && type !== 'application/json') {
        throw new HttpError(415, 'unsupported_media_type', 'send the body as application/json');
      }
      const origin = req.headers.origin;
      if (origin !== undefined && !origins.includes(origin)) {
        throw new HttpError(403, 'csrf', `requests from \`${origin}\` are not accepted`);
      }
      if (req.headers['sec-fetch-site'] === 'cross-site')
        throw new HttpError(403, 'csrf', 'cross-site request');
    }
    const at = now();
    let bodyRead: Promise<Record<string, unknown>> | undefined;
    const partial = {
      req,
      res,
      now: at,
      remote: req.socket.remoteAddress ?? 'unknown',
      params,
      query: url.searchParams,
      body: () => (bodyRead ??= readBody(req)),
    };
    let session: Session | undefined;
    let user: ConsoleUser | undefined;
    if (route.access !== 'public') {
      session = await authenticate(req, at.getTime());
      if (unsafe) {
        const token = req.headers['x-csrf-token'];
        if (typeof token !== 'string' || !sameText(token, session.csrf)) {
          throw new HttpError(403, 'csrf', 'missing or wrong CSRF token');
        }
      }
      user = await users.get(session.user);
      if (!user) {
        await sessions.remove(session.id);
        throw new HttpError(401, 'session_expired', 'this user no longer exists', {
          'set-cookie': clearCookie,
        });
      }
      if (route.access !== 'session' && !user.roles.includes(route.access)) {
        throw new HttpError(403, 'forbidden', `this needs the \`${route.access}\` role`);
      }
      if (at.getTime() - session.lastSeen >= TOUCH_MS) await sessions.touch(session.id, at.getTime());
    }
    const result = await route.handle({ ...partial, session: session!, user: user! });
    if (result !== undefined) sendJson(res, 200, result);
  };

  const staticDir = fileURLToPath(new URL('../client/static/', import.meta.url));
  const clientDir = fileURLToPath(new URL('../dist/client/', import.meta.url));
  const serveFile = async (res: ServerResponse, root: string, relative: string) => {
    const file = resolve(root, `.${relative}`);
    if (!file.startsWith(root.endsWith(sep) ? root : root + sep)) return false;
    try {
      if (!(await stat(file)).isFile()) return false;
      const content = await readFile(file);
      res.writeHead(200, {
        ...SECURITY_HEADERS,
        'content-type': CONTENT_TYPES[extname(file)] ?? 'application/octet-stream',
        'cache-control': 'no-cache',
      });
      res.end(content);
      return true;
    } catch {
      return false;
    }
  };
  const handleStatic = async (req: IncomingMessage, res: ServerResponse, url: URL) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return sendError(res, new HttpError(405, 'method_not_allowed', 'only GET'));
    }
    let path: string;
    try {
      path = decodeURIComponent(url.pathname);
    } catch {
      return sendError(res, bad('bad path'));
    }
    if (path.includes('\0')) return sendError(res, bad('bad path'));
    if (path.startsWith('/app/')) {
      if (await serveFile(res, clientDir, path.slice('/app'.length))) return;
      return sendError(res, new HttpError(404, 'not_found', 'no such file'));
    }
    if (path.startsWith('/static/')) {
      if (await serveFile(res, staticDir, path.slice('/static'.length))) return;
      return sendError(res, new HttpError(404, 'not_found', 'no such file'));
    }
    if (await serveFile(res, staticDir, '/index.html')) return;
    sendError(res, new HttpError(503, 'ui_not_built', 'the console UI is not built (npm run build)'));
  };

  const server = createServer((req, res) => {
    const respond = async () => {
      // A name that rebinds to loopback must not reach a loopback console (DNS rebinding).
      if (hosts.size > 0 && !hosts.has((req.headers.host ?? '').toLowerCase())) {
        throw new HttpError(421, 'bad_host', 'this console is not served under that host name');
      }
      let url: URL;
      try {
        url = new URL(req.url ?? '/', 'http://console.invalid');
      } catch {
        throw bad('bad request target');
      }
      if (url.pathname === '/api' || url.pathname.startsWith('/api/')) await handleApi(req, res, url);
      else await handleStatic(req, res, url);
    };
    respond().catch((error: unknown) => {
      if (error instanceof HttpError) return sendError(res, error);
      if (error instanceof ConsoleKeyError) {
        // Not an outage to retry: the key file is wrong or gone (or a row was tampered with). The
        // log names the file; the factor counts as neither right nor wrong.
        log(`console: ${req.method} ${req.url}: ${error.message}`);
        return sendError(
          res,
          new HttpError(
            500,
            'console_key',
            "the console cannot read this user's second factor: an administrator must check the console key (see the console's log)",
          ),
        );
      }
      log(`console: ${req.method} ${req.url}: ${(error as Error)?.message ?? String(error)}`);
      sendError(
        res,
        new HttpError(503, 'store_unavailable', 'the evidence store is unavailable; nothing was changed'),
      );
    });
  });
  server.on('clientError', (_error, socket) => socket.destroy());
  // A client that sends its request slowly holds a socket, not the console (slowloris).
  server.headersTimeout = 20_000;
  server.requestTimeout = 30_000;

  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? DEFAULT_PORT, host, () => {
      server.off('error', reject);
      resolveListen();
    });
  });
  const { port } = server.address() as AddressInfo;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  const url = `http://${urlHost}:${port}`;
  const loopback = LOOPBACK.test(host);
  origins = options.origin !== undefined ? [new URL(options.origin).origin] : [url];
  if (loopback && options.origin === undefined) {
    // The same console under its loopback names (passkeys need `localhost`: an IP is no RP ID).
    origins = [
      ...new Set([url, `http://localhost:${port}`, `http://127.0.0.1:${port}`, `http://[::1]:${port}`]),
    ];
    hosts = new Set(origins.map((o) => new URL(o).host));
  }
  secure = options.secureCookies ?? !(loopback && origins[0]!.startsWith('http:'));
  void poll();

  return {
    url: options.origin !== undefined ? origins[0]! : url,
    async close() {
      clearInterval(poller);
      clearInterval(heartbeat);
      for (const stream of streams) stream.res.end();
      streams.clear();
      await new Promise<void>((done) => {
        server.close(() => done());
        server.closeAllConnections();
      });
      await flushOutbox().catch(() => log(`console: ${outbox.length} audit event(s) could not be written`));
    },
  };

  function notLogin(event: StoredEvent) {
    return event.detail?.alert !== 'console.login';
  }
}

/** Every API route and who may call it (for tests and API.md). */
export const CONSOLE_ROUTES: ReadonlyArray<{ method: 'GET' | 'POST'; path: string; access: RouteAccess }> = [
  { method: 'GET', path: '/api/health', access: 'public' },
  { method: 'POST', path: '/api/login', access: 'public' },
  { method: 'POST', path: '/api/logout', access: 'session' },
  { method: 'GET', path: '/api/session', access: 'session' },
  { method: 'POST', path: '/api/totp/enrol', access: 'session' },
  { method: 'POST', path: '/api/totp/confirm', access: 'session' },
  { method: 'POST', path: '/api/webauthn/register/options', access: 'session' },
  { method: 'POST', path: '/api/webauthn/register/verify', access: 'session' },
  { method: 'POST', path: '/api/webauthn/stepup/options', access: 'session' },
  { method: 'GET', path: '/api/overview', access: 'session' },
  { method: 'GET', path: '/api/inventory', access: 'session' },
  { method: 'POST', path: '/api/agents/:name/revoke', access: 'admin' },
  { method: 'POST', path: '/api/inventory/approve', access: 'admin' },
  { method: 'GET', path: '/api/approvals', access: 'session' },
  { method: 'GET', path: '/api/approvals/:id', access: 'session' },
  { method: 'POST', path: '/api/approvals/:id/decide', access: 'approver' },
  { method: 'GET', path: '/api/audit', access: 'session' },
  { method: 'GET', path: '/api/audit/:seq', access: 'session' },
  { method: 'POST', path: '/api/audit/verify', access: 'session' },
  { method: 'GET', path: '/api/alerts', access: 'session' },
  { method: 'GET', path: '/api/findings', access: 'session' },
  { method: 'GET', path: '/api/policy', access: 'session' },
  { method: 'GET', path: '/api/stream', access: 'session' },
];
