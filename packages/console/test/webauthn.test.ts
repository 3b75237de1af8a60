// WebAuthn end to end on the server: a software authenticator (a P-256 key from node:crypto, a
// `none` attestation in hand-written CBOR) registers a passkey and signs the step-up assertion
// that lets an approver approve; @simplewebauthn/server verifies both for real.
import { generateKeyPairSync } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SoftwareAuthenticator } from './authenticator.js';
import { PASSWORD, startHarness, type Client, type Harness } from './harness.js';

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

  it('asks for user verification and refuses a step-up assertion without it (a touch is not enough)', async () => {
    await registerPasskey();
    const id = await h.request();
    const options = await stepUpOptions();
    expect((options as { userVerification?: string }).userVerification).toBe('required');
    // Signed by the registered key over the right challenge and origin: only the UV flag is missing.
    const presenceOnly = authenticator.assert(options, origin, undefined, { userVerified: false });
    const refused = await erin.post(
      `/api/approvals/${id}/decide`,
      { approve: true, stepUp: { method: 'webauthn', response: presenceOnly } },
      { origin },
    );
    expect(refused.status).toBe(403);
    expect(refused.body.error.code).toBe('step_up_failed');
    expect((await h.approvals.get(id, new Date(h.clock.now)))!.status).toBe('pending');
    const failed = await h.audit.search({ kind: 'alert' });
    expect(failed.some((e) => e.detail?.alert === 'console.step_up_failed')).toBe(true);
    // The same key with the user verified is accepted: the refusal was the flag, nothing else.
    const verified = await erin.post(
      `/api/approvals/${id}/decide`,
      {
        approve: true,
        stepUp: { method: 'webauthn', response: authenticator.assert(await stepUpOptions(), origin) },
      },
      { origin },
    );
    expect(verified.status, JSON.stringify(verified.body)).toBe(200);
    expect(verified.body.approval.status).toBe('approved');
  });

  it('refuses to register a passkey that did not verify its user', async () => {
    const options = await erin.post('/api/webauthn/register/options', {}, { origin });
    expect(options.body.authenticatorSelection.userVerification).toBe('required');
    const reply = await erin.post(
      '/api/webauthn/register/verify',
      { response: authenticator.register(options.body, origin, { userVerified: false }) },
      { origin },
    );
    expect(reply.status).toBe(400);
    expect(reply.body.error.code).toBe('bad_registration');
    expect((await h.users.get('erin'))!.webauthn).toBe(0);
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
    expect(options.userVerification).toBe('required');
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
