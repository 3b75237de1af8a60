// WebAuthn end to end on the server: a software authenticator (a P-256 key from node:crypto, a
// `none` attestation in hand-written CBOR) registers a passkey and signs the step-up assertion
// that lets an approver approve; @simplewebauthn/server verifies both for real.
import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PASSWORD, startHarness, type Client, type Harness } from './harness.js';

type Cbor = number | string | Uint8Array | Map<number | string, Cbor> | { [key: string]: Cbor };

function head(major: number, n: number): Buffer {
  if (n < 24) return Buffer.from([(major << 5) | n]);
  if (n < 256) return Buffer.from([(major << 5) | 24, n]);
  if (n < 65536) return Buffer.from([(major << 5) | 25, n >> 8, n & 255]);
  const b = Buffer.alloc(5);
  b[0] = (major << 5) | 26;
  b.writeUInt32BE(n, 1);
  return b;
}

function cbor(value: Cbor): Buffer {
  if (typeof value === 'number') return value >= 0 ? head(0, value) : head(1, -1 - value);
  if (typeof value === 'string') {
    const bytes = Buffer.from(value, 'utf8');
    return Buffer.concat([head(3, bytes.length), bytes]);
  }
  if (value instanceof Uint8Array) return Buffer.concat([head(2, value.length), Buffer.from(value)]);
  const entries = value instanceof Map ? [...value.entries()] : Object.entries(value);
  return Buffer.concat([head(5, entries.length), ...entries.flatMap(([k, v]) => [cbor(k), cbor(v)])]);
}

const b64url = (bytes: Uint8Array | string) => Buffer.from(bytes).toString('base64url');
const sha256 = (data: Uint8Array | string) => createHash('sha256').update(data).digest();

/** A platform authenticator in a few lines: one credential, a signature counter. */
class SoftwareAuthenticator {
  readonly id = randomBytes(16);
  private readonly keys: { publicKey: KeyObject; privateKey: KeyObject };
  private counter = 0;
  constructor() {
    this.keys = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  }

  register(options: { challenge: string; rp: { id?: string } }, origin: string) {
    const jwk = this.keys.publicKey.export({ format: 'jwk' });
    const cose = cbor(
      new Map<number, Cbor>([
        [1, 2], // kty: EC2
        [3, -7], // alg: ES256
        [-1, 1], // crv: P-256
        [-2, Buffer.from(jwk.x!, 'base64url')],
        [-3, Buffer.from(jwk.y!, 'base64url')],
      ]),
    );
    const length = Buffer.alloc(2);
    length.writeUInt16BE(this.id.length);
    const authData = Buffer.concat([
      sha256(options.rp.id!),
      Buffer.from([0x45]), // user present, user verified, attested credential data
      Buffer.alloc(4), // counter 0
      Buffer.alloc(16), // AAGUID
      length,
      this.id,
      cose,
    ]);
    const clientDataJSON = JSON.stringify({
      type: 'webauthn.create',
      challenge: options.challenge,
      origin,
      crossOrigin: false,
    });
    return {
      id: b64url(this.id),
      rawId: b64url(this.id),
      type: 'public-key',
      response: {
        clientDataJSON: b64url(clientDataJSON),
        attestationObject: b64url(cbor({ fmt: 'none', attStmt: {}, authData })),
        transports: ['internal'],
      },
      clientExtensionResults: {},
      authenticatorAttachment: 'platform',
    };
  }

  assert(options: { challenge: string; rpId?: string }, origin: string, key = this.keys.privateKey) {
    this.counter++;
    const count = Buffer.alloc(4);
    count.writeUInt32BE(this.counter);
    const authData = Buffer.concat([sha256(options.rpId!), Buffer.from([0x05]), count]);
    const clientDataJSON = JSON.stringify({
      type: 'webauthn.get',
      challenge: options.challenge,
      origin,
      crossOrigin: false,
    });
    const signature = sign('sha256', Buffer.concat([authData, sha256(clientDataJSON)]), key);
    return {
      id: b64url(this.id),
      rawId: b64url(this.id),
      type: 'public-key',
      response: {
        clientDataJSON: b64url(clientDataJSON),
        authenticatorData: b64url(authData),
        signature: b64url(signature),
      },
      clientExtensionResults: {},
    };
  }
}

let h: Harness;
let erin: Client;
let origin: string;
let authenticator: SoftwareAuthenticator;

beforeEach(async () => {
  h = await startHarness();
  await h.addUser('erin', ['approver']);
  // Passkeys need a host name: an IP address is no relying-party id, so the browser uses localhost.
  origin = `http://localhost:${new URL(h.url).port}`;
  erin = h.client();
  await erin.login('erin');
  authenticator = new SoftwareAuthenticator();
});

afterEach(async () => {
  await h.close();
});

async function registerPasskey() {
  const options = await erin.post('/api/webauthn/register/options', {}, { origin });
  expect(options.status).toBe(200);
  expect(options.body.rp.id).toBe('localhost');
  const verify = await erin.post(
    '/api/webauthn/register/verify',
    { response: authenticator.register(options.body, origin) },
    { origin },
  );
  expect(verify.status, JSON.stringify(verify.body)).toBe(200);
  expect(verify.body.factors).toEqual({ totp: false, webauthn: true });
}

async function stepUpOptions() {
  const reply = await erin.post('/api/webauthn/stepup/options', {}, { origin });
  expect(reply.status).toBe(200);
  return reply.body as { challenge: string; rpId: string };
}

describe('WebAuthn', () => {
  it('registers a passkey, then approves with a passkey step-up the server verified', async () => {
    const before = await erin.post('/api/webauthn/stepup/options', {}, { origin });
    expect(before.body.error.code).toBe('no_second_factor');
    await registerPasskey();
    const id = await h.request();
    const options = await stepUpOptions();
    const reply = await erin.post(
      `/api/approvals/${id}/decide`,
      { approve: true, stepUp: { method: 'webauthn', response: authenticator.assert(options, origin) } },
      { origin },
    );
    expect(reply.status, JSON.stringify(reply.body)).toBe(200);
    expect(reply.body.approval).toMatchObject({ status: 'approved', step_up_proof: { method: 'webauthn' } });
    const [event] = await h.audit.search({ kind: 'approval' });
    expect(event!.detail).toMatchObject({ step_up: { method: 'webauthn' } });
  });

  it('refuses a replayed assertion, one signed by another key, and one for another origin', async () => {
    await registerPasskey();
    const first = await h.request({ session: 'one' });
    const options = await stepUpOptions();
    const assertion = authenticator.assert(options, origin);
    expect(
      (
        await erin.post(
          `/api/approvals/${first}/decide`,
          { approve: true, stepUp: { method: 'webauthn', response: assertion } },
          { origin },
        )
      ).status,
    ).toBe(200);
    const second = await h.request({ session: 'two' });
    const replay = await erin.post(
      `/api/approvals/${second}/decide`,
      { approve: true, stepUp: { method: 'webauthn', response: assertion } },
      { origin },
    );
    expect(replay.body.error.code).toBe('step_up_failed');
    const otherKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const forged = await erin.post(
      `/api/approvals/${second}/decide`,
      {
        approve: true,
        stepUp: {
          method: 'webauthn',
          response: authenticator.assert(await stepUpOptions(), origin, otherKey),
        },
      },
      { origin },
    );
    expect(forged.body.error.code).toBe('step_up_failed');
    const phished = await erin.post(
      `/api/approvals/${second}/decide`,
      {
        approve: true,
        stepUp: {
          method: 'webauthn',
          response: authenticator.assert(await stepUpOptions(), 'http://localhost:1'),
        },
      },
      { origin },
    );
    expect(phished.body.error.code).toBe('step_up_failed');
    expect((await h.approvals.get(second, new Date(h.clock.now)))!.status).toBe('pending');
  });

  it('needs the current passkey to enrol another factor', async () => {
    await registerPasskey();
    const bare = await erin.post('/api/webauthn/register/options', {}, { origin });
    expect(bare.body.error.code).toBe('step_up_required');
    const totp = await erin.post('/api/totp/enrol', {}, { origin });
    expect(totp.body.error.code).toBe('step_up_required');
    const withProof = await erin.post(
      '/api/totp/enrol',
      { stepUp: { method: 'webauthn', response: authenticator.assert(await stepUpOptions(), origin) } },
      { origin },
    );
    expect(withProof.status).toBe(200);
    expect(withProof.body.uri).toMatch(/^otpauth:/);
  });
});

describe('WebAuthn at login (secondFactorAtLogin)', () => {
  it('asks for the passkey after the password and lets the approver in with an assertion', async () => {
    await h.close();
    h = await startHarness({ secondFactorAtLogin: true });
    await h.addUser('erin', ['approver']);
    origin = `http://localhost:${new URL(h.url).port}`;
    erin = h.client();
    expect((await erin.login('erin')).status).toBe(200); // no factor yet: in, to enrol one
    await registerPasskey();
    const client = h.client();
    const first = await client.post('/api/login', { user: 'erin', password: PASSWORD }, { origin });
    expect(first.status).toBe(401);
    expect(first.body.error.code).toBe('second_factor_required');
    const options = first.body.error.webauthn;
    expect(options.rpId).toBe('localhost');
    const assertion = authenticator.assert(options, origin);
    const second = await client.post(
      '/api/login',
      { user: 'erin', password: PASSWORD, stepUp: { method: 'webauthn', response: assertion } },
      { origin },
    );
    expect(second.status, JSON.stringify(second.body)).toBe(200);
    // The challenge was used: the same assertion does not log in twice.
    const replay = await h
      .client()
      .post(
        '/api/login',
        { user: 'erin', password: PASSWORD, stepUp: { method: 'webauthn', response: assertion } },
        { origin },
      );
    expect(replay.body.error.code).toBe('second_factor_failed');
  });
});
