import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT, exportJWK, generateKeyPair, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compile, loadPolicy } from '@posture/core';
import { TokenAuthority, TokenVerifier, loadOrCreateSigningKey } from '../src/index.js';

const POLICY = compile(
  loadPolicy(
    `
version: 1
users:
  alice: { groups: [staff] }
  mallory: {}
agents:
  helper: { owner: alice, run_by: [group:staff] }
  batch: { owner: alice, run_by: [group:staff], token_ttl: 8h }
  brief: { owner: alice, run_by: [group:staff], token_ttl: 10m }
`,
    'posture.yaml',
  ).policy!,
);
const AUDIENCE = 'http://127.0.0.1:8700/mcp';
const ISSUER = 'https://idp.example.test';

const dir = mkdtempSync(join(tmpdir(), 'posture-tokens-'));
let idpKey: CryptoKey;
let idpJwk: JWK;
let jwksServer: Server;
let jwksUri: string;

beforeAll(async () => {
  const pair = await generateKeyPair('RS256', { extractable: true });
  idpKey = pair.privateKey;
  idpJwk = { ...(await exportJWK(pair.publicKey)), kid: 'idp-1', alg: 'RS256' };
  jwksServer = createServer((_, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: [idpJwk] }));
  });
  await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
  jwksUri = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/jwks`;
});

afterAll(async () => {
  await new Promise((resolve) => jwksServer.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

/** A token as an external identity provider issues it: the agent as `azp`, the user as `sub`. */
function idpToken(claims: Record<string, unknown> = {}, audience = AUDIENCE, ttlSec = 600) {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ azp: 'helper', ...claims })
    .setProtectedHeader({ alg: 'RS256', kid: 'idp-1' })
    .setIssuer(ISSUER)
    .setSubject(String(claims.sub ?? 'alice'))
    .setAudience(audience)
    .setIssuedAt(now)
    .setExpirationTime(now + ttlSec)
    .setJti(crypto.randomUUID())
    .sign(idpKey);
}

describe('the gateway signing key', () => {
  it('is created once with mode 0600 and read back the same', async () => {
    const path = join(dir, 'key.json');
    const first = await loadOrCreateSigningKey(path);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const again = await loadOrCreateSigningKey(path);
    expect(again.publicJwk).toEqual(first.publicJwk);
    expect(first.publicJwk).not.toHaveProperty('d');
  });
});

describe('own tokens', () => {
  it('carry sub = agent and act.sub = user, and can be revoked', async () => {
    const key = await loadOrCreateSigningKey(join(dir, 'own.json'));
    const authority = new TokenAuthority({ key, audience: AUDIENCE });
    const verifier = new TokenVerifier({
      audience: AUDIENCE,
      own: { issuer: authority.issuer, jwks: authority.jwks },
      policy: POLICY,
    });
    const token = await authority.issue({ agent: 'helper', user: 'alice', ttlMs: 60_000 });
    const payload = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString());
    expect(payload).toMatchObject({ sub: 'helper', act: { sub: 'alice' }, aud: AUDIENCE, iss: 'posture' });
    const checked = await verifier.verify(token);
    expect(checked.ok).toBe(true);
    if (!checked.ok) return;
    const now = Date.now();
    verifier.setRevocations([
      { subject: 'jti', id: checked.claims.jti, at: now, until: checked.claims.exp * 1000 },
    ]);
    expect(await verifier.verify(token)).toMatchObject({ ok: false, description: 'the token is revoked' });
  });

  it('live as long as their agent’s `token_ttl` allows (an hour by default), and no longer', async () => {
    const key = await loadOrCreateSigningKey(join(dir, 'own.json'));
    const verifier = new TokenVerifier({
      audience: AUDIENCE,
      own: { issuer: 'posture', jwks: { keys: [key.publicJwk] } },
      policy: POLICY,
    });
    const hour = 3_600_000;
    // The issuing side refuses what the policy does not allow (the CLI passes the agent's limit).
    await expect(
      new TokenAuthority({ key, audience: AUDIENCE }).issue({
        agent: 'helper',
        user: 'alice',
        ttlMs: 2 * hour,
      }),
    ).rejects.toThrow(/at most 60 minutes/);
    // A signer that allows more (an older one, a misconfigured one) still gets no more than the policy.
    const lax = new TokenAuthority({ key, audience: AUDIENCE, maxTtlMs: 24 * hour });
    const long = (agent: string, ttlMs: number) => lax.issue({ agent, user: 'alice', ttlMs });
    expect((await verifier.verify(await long('batch', 8 * hour))).ok).toBe(true);
    expect(await verifier.verify(await long('batch', 9 * hour))).toMatchObject({
      ok: false,
      description: "the token lives longer than agent `batch`'s 480-minute limit",
    });
    expect(await verifier.verify(await long('helper', 2 * hour))).toMatchObject({
      ok: false,
      description: "the token lives longer than agent `helper`'s 60-minute limit",
    });
    expect((await verifier.verify(await long('brief', 10 * 60_000))).ok).toBe(true);
    expect(await verifier.verify(await long('brief', 15 * 60_000))).toMatchObject({
      ok: false,
      description: "the token lives longer than agent `brief`'s 10-minute limit",
    });
  });

  it('are refused by the revocations the session store holds: one token, or an agent’s until a time', async () => {
    const key = await loadOrCreateSigningKey(join(dir, 'own.json'));
    const authority = new TokenAuthority({ key, audience: AUDIENCE });
    const verifier = new TokenVerifier({
      audience: AUDIENCE,
      own: { issuer: authority.issuer, jwks: authority.jwks },
      policy: POLICY,
    });
    const now = Date.now();
    const early = await authority.issue({ agent: 'helper', user: 'alice', ttlMs: 60_000, now: now - 10_000 });
    const other = await authority.issue({ agent: 'helper', user: 'alice', ttlMs: 60_000, now: now - 10_000 });
    const late = await authority.issue({ agent: 'helper', user: 'alice', ttlMs: 60_000, now: now + 2000 });
    // Verified (and cached) before any revocation: the cache must not let them through after.
    for (const token of [early, other, late]) expect((await verifier.verify(token)).ok).toBe(true);
    const jti = (token: string) => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).jti;

    verifier.setRevocations([{ subject: 'jti', id: jti(early), at: now, until: now + 60_000 }]);
    expect(await verifier.verify(early)).toMatchObject({ ok: false, description: 'the token is revoked' });
    expect((await verifier.verify(other)).ok).toBe(true);

    verifier.setRevocations([{ subject: 'agent', id: 'helper', at: now, until: now + 3_600_000 }]);
    // The set replaces the last one: the jti revocation was lifted (its store forgot it).
    expect((await verifier.verify(early)).ok).toBe(false);
    expect(await verifier.verify(other)).toMatchObject({
      ok: false,
      description: expect.stringContaining('the tokens of agent `helper` issued until'),
    });
    // Issued after the revocation: a new token for the agent works.
    expect((await verifier.verify(late)).ok).toBe(true);
    verifier.setRevocations([]);
    expect((await verifier.verify(other)).ok).toBe(true);
  });
});

describe('tokens of an external OIDC issuer', () => {
  const verifier = (claims?: { agent?: string; user?: string }) =>
    new TokenVerifier({
      audience: AUDIENCE,
      oidc: [{ issuer: ISSUER, jwksUri, ...(claims ? { claims } : {}) }],
      policy: POLICY,
    });

  it('are accepted through the issuer’s JWKS, agent from `azp` and user from `sub`', async () => {
    const checked = await verifier().verify(await idpToken());
    expect(checked).toMatchObject({ ok: true, claims: { agent: 'helper', user: 'alice', issuer: ISSUER } });
  });

  it('map other claims when configured', async () => {
    const token = await idpToken({ client: 'helper', email: 'alice', azp: 'someone-else' });
    const checked = await verifier({ agent: 'client', user: 'email' }).verify(token);
    expect(checked).toMatchObject({ ok: true, claims: { agent: 'helper', user: 'alice' } });
  });

  it('are refused for another audience, a user who may not run the agent, or a lifetime over an hour', async () => {
    expect(await verifier().verify(await idpToken({}, 'urn:other'))).toMatchObject({
      ok: false,
      description: 'the token is for another audience',
    });
    expect(await verifier().verify(await idpToken({ sub: 'mallory' }))).toMatchObject({
      ok: false,
      description: 'user `mallory` may not run agent `helper`',
    });
    expect(await verifier().verify(await idpToken({}, AUDIENCE, 3 * 3600))).toMatchObject({
      ok: false,
      description: "the token lives longer than agent `helper`'s 60-minute limit",
    });
  });

  it('are refused from an issuer that is not configured, or signed by another key', async () => {
    const other = await generateKeyPair('RS256');
    const now = Math.floor(Date.now() / 1000);
    const forged = await new SignJWT({ azp: 'helper' })
      .setProtectedHeader({ alg: 'RS256', kid: 'idp-1' })
      .setIssuer(ISSUER)
      .setSubject('alice')
      .setAudience(AUDIENCE)
      .setIssuedAt(now)
      .setExpirationTime(now + 600)
      .setJti('x')
      .sign(other.privateKey);
    expect((await verifier().verify(forged)).ok).toBe(false);
    const stranger = new TokenVerifier({ audience: AUDIENCE, policy: POLICY });
    expect(await stranger.verify(await idpToken())).toMatchObject({
      ok: false,
      description: `tokens from issuer \`${ISSUER}\` are not accepted`,
    });
  });
});
