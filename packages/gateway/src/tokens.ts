// Agent identities: short-lived EdDSA JWTs bound to this gateway's audience. `sub` is the agent,
// an RFC 8693-style `act` claim names the user it acts for, `jti` makes each token one session's.
// Tokens from an external OIDC issuer are accepted through its JWKS with a claim mapping.
import { randomUUID } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import {
  SignJWT,
  createLocalJWKSet,
  createRemoteJWKSet,
  errors,
  exportJWK,
  generateKeyPair,
  importJWK,
  jwtVerify,
  type JWK,
  type JWTPayload,
  type JWTVerifyGetKey,
} from 'jose';
import { DEFAULT_TOKEN_TTL_MS, type CompiledPolicy } from '@posture/core';
import type { TokenRevocation } from '@posture/storage';

const MAX_CACHED_TOKENS = 10_000;

export interface TokenClaims {
  agent: string;
  user: string;
  jti: string;
  /** Seconds since the epoch. */
  exp: number;
  /** When it was issued, seconds since the epoch. */
  iat: number;
  scope?: string[];
  issuer: string;
}

export type TokenCheck =
  | { ok: true; claims: TokenClaims }
  | { ok: false; error: 'invalid_token' | 'insufficient_scope'; description: string };

export interface SigningKey {
  privateJwk: JWK;
  publicJwk: JWK;
}

/** Reads the gateway's signing key from `path` (a private JWK), creating it (mode 0600) if absent. */
export async function loadOrCreateSigningKey(path: string): Promise<SigningKey> {
  if (existsSync(path)) {
    let privateJwk: JWK;
    try {
      privateJwk = JSON.parse(readFileSync(path, 'utf8')) as JWK;
    } catch (error) {
      throw new Error(`the token key \`${path}\` is not a JSON Web Key: ${(error as Error).message}`);
    }
    if (privateJwk.kty !== 'OKP' || privateJwk.crv !== 'Ed25519' || !privateJwk.d) {
      throw new Error(`the token key \`${path}\` is not an Ed25519 private key`);
    }
    const { d: _d, ...publicJwk } = privateJwk;
    return { privateJwk, publicJwk };
  }
  const { privateKey, publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  const privateJwk = { ...(await exportJWK(privateKey)), alg: 'EdDSA' };
  const publicJwk = { ...(await exportJWK(publicKey)), alg: 'EdDSA' };
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify(privateJwk)}\n`, { mode: 0o600, flag: 'wx' });
  chmodSync(path, 0o600);
  return { privateJwk, publicJwk };
}

export interface IssueOptions {
  agent: string;
  user: string;
  ttlMs: number;
  scope?: string[];
  /** Milliseconds since the epoch. */
  now?: number;
}

export interface TokenAuthorityOptions {
  key: SigningKey;
  /** This gateway's resource identifier (its `/mcp` URL): every token is bound to it. */
  audience: string;
  issuer?: string;
  /** Lifetime cap: the agent's `token_ttl`, an hour unless the policy allows more. */
  maxTtlMs?: number;
}

/** Issues and checks this gateway's own tokens. */
export class TokenAuthority {
  readonly audience: string;
  readonly issuer: string;
  readonly maxTtlMs: number;
  readonly #key: SigningKey;

  constructor(options: TokenAuthorityOptions) {
    this.#key = options.key;
    this.audience = options.audience;
    this.issuer = options.issuer ?? 'posture';
    this.maxTtlMs = options.maxTtlMs ?? DEFAULT_TOKEN_TTL_MS;
  }

  async issue(options: IssueOptions): Promise<string> {
    if (!(options.ttlMs > 0)) throw new RangeError('a token lifetime must be positive');
    if (options.ttlMs > this.maxTtlMs) {
      throw new RangeError(
        `a token may live at most ${this.maxTtlMs / 60000} minutes; asked for ${options.ttlMs / 60000}`,
      );
    }
    const now = Math.floor((options.now ?? Date.now()) / 1000);
    const key = await importJWK(this.#key.privateJwk, 'EdDSA');
    return new SignJWT({
      act: { sub: options.user },
      ...(options.scope ? { scope: options.scope.join(' ') } : {}),
    })
      .setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt' })
      .setIssuer(this.issuer)
      .setSubject(options.agent)
      .setAudience(this.audience)
      .setIssuedAt(now)
      .setNotBefore(now)
      .setExpirationTime(now + Math.floor(options.ttlMs / 1000))
      .setJti(randomUUID())
      .sign(key);
  }

  /** The verification key set, as the gateway would publish it. */
  get jwks(): { keys: JWK[] } {
    return { keys: [this.#key.publicJwk] };
  }
}

export interface OidcIssuer {
  issuer: string;
  /** The issuer's JWKS URL; `jwks` instead for keys given in-line. */
  jwksUri?: string;
  jwks?: { keys: JWK[] };
  /** The audience its tokens must name (default: the gateway's). */
  audience?: string;
  /** Which claims name the agent and the user (defaults: `azp` or `client_id`, and `sub`). */
  claims?: { agent?: string; user?: string };
}

export interface TokenVerifierOptions {
  /** This gateway's resource identifier; a function when it is known only once the server listens. */
  audience: string | (() => string);
  /** This gateway's own issuer and key set. */
  own?: { issuer: string; jwks: { keys: JWK[] } };
  oidc?: OidcIssuer[];
  /** Who the agents are and who may run them. */
  policy: CompiledPolicy;
  /** Tolerated clock skew, seconds (default 30). */
  clockToleranceSec?: number;
  now?: () => number;
}

/**
 * Checks bearer tokens: signature, issuer, audience, lifetime (with small skew), known agent, a
 * user who may run it, and not revoked. That a `jti` opens one session only is the session
 * store's part (`Gateway.openSession`), so that it holds across replicas and restarts.
 */
export class TokenVerifier {
  readonly #options: TokenVerifierOptions;
  readonly #keys = new Map<string, JWTVerifyGetKey>();
  readonly #oidc = new Map<string, OidcIssuer>();
  /** What the session store says is revoked, as last read (`setRevocations`). */
  #shared: { jtis: Set<string>; agents: Map<string, number> } = { jtis: new Set(), agents: new Map() };
  /** Tokens that verified, with their claims: a bounded cache, oldest forgotten first. */
  readonly #verified = new Map<string, TokenClaims>();

  constructor(options: TokenVerifierOptions) {
    this.#options = options;
    if (options.own) this.#keys.set(options.own.issuer, createLocalJWKSet(options.own.jwks));
    for (const issuer of options.oidc ?? []) {
      this.#oidc.set(issuer.issuer, issuer);
      this.#keys.set(
        issuer.issuer,
        issuer.jwks ? createLocalJWKSet(issuer.jwks) : createRemoteJWKSet(new URL(issuer.jwksUri!)),
      );
    }
  }

  #audience(): string {
    const audience = this.#options.audience;
    return typeof audience === 'function' ? audience() : audience;
  }

  /**
   * The revocations in force, as the session store holds them (`posture token revoke`): the
   * gateway reads them every few seconds, so they reach every replica. Replaces the last set.
   */
  setRevocations(revocations: readonly TokenRevocation[]): void {
    const shared = { jtis: new Set<string>(), agents: new Map<string, number>() };
    for (const revocation of revocations) {
      if (revocation.subject === 'jti') shared.jtis.add(revocation.id);
      else shared.agents.set(revocation.id, Math.max(revocation.at, shared.agents.get(revocation.id) ?? 0));
    }
    this.#shared = shared;
  }

  /** Why a token that verified is refused all the same, or undefined. */
  #revokedBecause(claims: Pick<TokenClaims, 'jti' | 'agent' | 'iat'>): string | undefined {
    if (this.#shared.jtis.has(claims.jti)) return 'the token is revoked';
    const at = this.#shared.agents.get(claims.agent);
    // Second resolution: a token issued in the second of the revocation is refused too.
    if (at !== undefined && claims.iat <= Math.floor(at / 1000)) {
      return `the tokens of agent \`${claims.agent}\` issued until ${new Date(at).toISOString()} are revoked`;
    }
    return undefined;
  }

  /**
   * Checks a token. A token that verified is remembered until it expires, so the signature is
   * checked once per token, not once per request; revocation and lifetime are still checked on
   * every use.
   */
  async verify(token: string): Promise<TokenCheck> {
    const cached = this.#verified.get(token);
    if (cached) {
      const nowSec = (this.#options.now?.() ?? Date.now()) / 1000;
      const revoked = this.#revokedBecause(cached);
      if (revoked) return { ok: false, error: 'invalid_token', description: revoked };
      if (cached.exp + (this.#options.clockToleranceSec ?? 30) > nowSec) return { ok: true, claims: cached };
      this.#verified.delete(token);
    }
    const checked = await this.#verifyFully(token);
    if (checked.ok) {
      if (this.#verified.size >= MAX_CACHED_TOKENS)
        this.#verified.delete(this.#verified.keys().next().value!);
      this.#verified.set(token, checked.claims);
    }
    return checked;
  }

  async #verifyFully(token: string): Promise<TokenCheck> {
    const fail = (description: string): TokenCheck => ({ ok: false, error: 'invalid_token', description });
    if (!/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(token) || token.length > 8192) {
      return fail('the token is not a compact JWT');
    }
    let payload: JWTPayload;
    let issuer: string;
    try {
      const unverified = JSON.parse(
        Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8'),
      ) as JWTPayload;
      issuer = String(unverified.iss ?? '');
      const keys = this.#keys.get(issuer);
      if (!keys) return fail(`tokens from issuer \`${issuer}\` are not accepted`);
      const oidc = this.#oidc.get(issuer);
      const verified = await jwtVerify(token, keys, {
        issuer,
        audience: oidc?.audience ?? this.#audience(),
        algorithms: oidc ? ['EdDSA', 'ES256', 'RS256', 'PS256'] : ['EdDSA'],
        requiredClaims: ['exp', 'iat', 'sub'],
        clockTolerance: this.#options.clockToleranceSec ?? 30,
        ...(this.#options.now ? { currentDate: new Date(this.#options.now()) } : {}),
      });
      payload = verified.payload;
    } catch (error) {
      return fail(describeJoseError(error));
    }

    const oidc = this.#oidc.get(issuer);
    const agent = oidc ? claim(payload, oidc.claims?.agent, ['azp', 'client_id']) : payload.sub;
    const user = oidc
      ? claim(payload, oidc.claims?.user, ['sub'])
      : (payload.act as { sub?: unknown } | undefined)?.sub;
    // In the core's order: the agent first, then the user it acts for.
    if (typeof agent !== 'string' || agent === '') return fail('the token names no agent');
    const declared = this.#options.policy.agents.get(agent);
    if (!declared) return fail(`agent \`${agent}\` is not declared in the policy`);
    if (typeof user !== 'string' || user === '') return fail('the token names no user the agent acts for');
    const exp = payload.exp!;
    const iat = payload.iat!;
    const revoked =
      typeof payload.jti === 'string' ? this.#revokedBecause({ jti: payload.jti, agent, iat }) : undefined;
    if (revoked) return fail(revoked);
    // The agent's own limit (`token_ttl`), for external issuers' tokens too.
    const maxTtlSec = declared.tokenTtlMs / 1000;
    if (exp - iat > maxTtlSec) {
      return fail(`the token lives longer than agent \`${agent}\`'s ${maxTtlSec / 60}-minute limit`);
    }
    const jti = typeof payload.jti === 'string' ? payload.jti : undefined;
    if (!jti) return fail('the token has no `jti`');

    if (!this.#options.policy.users.has(user)) return fail(`user \`${user}\` is not declared in the policy`);
    if (!declared.runBy.has(user)) {
      return fail(`user \`${user}\` may not run agent \`${agent}\``);
    }
    const scope = typeof payload.scope === 'string' ? payload.scope.split(' ').filter(Boolean) : undefined;
    return { ok: true, claims: { agent, user, jti, exp, iat, issuer, ...(scope ? { scope } : {}) } };
  }

  /**
   * Until when a token with these claims is accepted (its expiry plus the clock skew tolerated),
   * ms: its binding to the session it opened must last as long, or it could open another.
   */
  acceptedUntilMs(claims: TokenClaims): number {
    return (claims.exp + (this.#options.clockToleranceSec ?? 30)) * 1000;
  }
}

function claim(payload: JWTPayload, name: string | undefined, defaults: string[]): unknown {
  for (const key of name ? [name] : defaults) if (payload[key] !== undefined) return payload[key];
  return undefined;
}

function describeJoseError(error: unknown): string {
  if (error instanceof errors.JWTExpired) return 'the token has expired';
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === 'aud') return 'the token is for another audience';
    if (error.claim === 'nbf') return 'the token is not valid yet';
    if (error.claim === 'iss') return 'the token is from another issuer';
    return `the token's \`${error.claim}\` claim is invalid: ${error.reason}`;
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'the token signature does not verify';
  if (error instanceof errors.JOSEAlgNotAllowed)
    return 'the token is signed with an algorithm that is not accepted';
  if (error instanceof errors.JWKSNoMatchingKey) return 'no known key verifies the token';
  return `the token is invalid: ${error instanceof Error ? error.message : String(error)}`;
}
