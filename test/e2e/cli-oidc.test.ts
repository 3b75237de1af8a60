// `posture gateway --oidc-*` as a user runs it: tokens from an external OIDC issuer, verified
// against its JWKS (served here on loopback), with the agent and user taken from mapped claims.
import { spawnSync, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, ECHO_POLICY, startGatewayProcess, stopProcess } from './support/gateway-process.js';

const ISSUER = 'https://idp.example.test';
const AUDIENCE = 'posture-gateway';

let dir: string;
let gateway: ChildProcess;
let url: string;
let jwks: Server;
let jwksUri: string;
let key: CryptoKey;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'posture-cli-oidc-'));
  writeFileSync(join(dir, 'posture.yaml'), ECHO_POLICY);
  const pair = await generateKeyPair('RS256');
  key = pair.privateKey;
  const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'idp-1', alg: 'RS256', use: 'sig' };
  jwks = createServer((_, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((done) => jwks.listen(0, '127.0.0.1', done));
  jwksUri = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks`;
  ({ child: gateway, url } = await startGatewayProcess(
    [
      '--port',
      '0',
      '--oidc-issuer',
      ISSUER,
      '--oidc-jwks',
      jwksUri,
      '--oidc-audience',
      AUDIENCE,
      '--oidc-agent-claim',
      'client_id',
      '--oidc-user-claim',
      'preferred_username',
    ],
    dir,
  ));
}, 30_000);

afterAll(async () => {
  await stopProcess(gateway);
  await new Promise((done) => jwks?.close(done));
  rmSync(dir, { recursive: true, force: true });
});

function idpToken(claims: Record<string, unknown>, audience = AUDIENCE) {
  return new SignJWT({ client_id: 'helper', preferred_username: 'alice', ...claims })
    .setProtectedHeader({ alg: 'RS256', kid: 'idp-1' })
    .setIssuer(ISSUER)
    .setSubject('user-7f3a')
    .setAudience(audience)
    .setIssuedAt()
    .setExpirationTime('10m')
    .setJti(crypto.randomUUID())
    .sign(key);
}

describe('posture gateway --oidc-issuer', () => {
  it("accepts the issuer's token, with the agent and user from the mapped claims", async () => {
    const token = await idpToken({});
    const client = new Client({ name: 'oidc-test', version: '1' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(url), {
        requestInit: { headers: { authorization: `Bearer ${token}` } },
      }),
    );
    const result = await client.callTool({ name: 'everything__echo', arguments: { message: 'via the IdP' } });
    expect(JSON.stringify(result.content)).toContain('via the IdP');
    await client.close();
  });

  it('refuses a token for another audience, or naming a user the agent may not act for', async () => {
    for (const token of [
      await idpToken({}, 'someone-else'),
      await idpToken({ preferred_username: 'mallory' }),
    ]) {
      const response = await fetch(url, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
        },
        body: JSON.stringify({
          jsonrpc: '2.0',
          id: 1,
          method: 'initialize',
          params: {
            protocolVersion: '2025-06-18',
            capabilities: {},
            clientInfo: { name: 'x', version: '1' },
          },
        }),
      });
      expect(response.status).toBe(401);
      expect(response.headers.get('www-authenticate')).toContain('Bearer');
    }
  });

  it('says what is missing when --oidc-jwks is not given', () => {
    const run = spawnSync('node', [BIN, 'gateway', '--port', '0', '--oidc-issuer', ISSUER], {
      cwd: dir,
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('--oidc-jwks');
  });
});
