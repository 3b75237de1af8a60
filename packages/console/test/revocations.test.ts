// Revoking an agent's tokens from the console: an admin with a second factor, after step-up,
// writes a revocation to the store the gateways read and an audit event; the inventory then shows
// the agent revoked. Everyone else, a missing step-up, an unknown agent and a console without the
// store are refused.
import { afterEach, describe, expect, it } from 'vitest';
import { createMemorySessionStore, type SessionStore } from '@posture/storage';
import { startHarness, type Client, type Harness } from './harness.js';

let h: Harness;
let store: SessionStore;

afterEach(async () => {
  await h?.close();
});

async function as(user: string): Promise<Client> {
  const client = h.client();
  expect((await client.login(user)).status).toBe(200);
  return client;
}

describe("revoking an agent's tokens", () => {
  it('takes an admin with step-up, reaches the gateways’ store, is audited and shown', async () => {
    store = createMemorySessionStore();
    h = await startHarness({ revocations: store });
    await h.addUser('ada', ['admin'], { totp: true });
    await h.addUser('bob', ['approver'], { totp: true });
    await h.addUser('nofactor', ['admin']);
    await h.inventory.recordAgent('support-bot', new Date(h.clock.now));

    const ada = await as('ada');
    const bare = await ada.post('/api/agents/support-bot/revoke', {});
    expect([bare.status, bare.body.error.code]).toEqual([409, 'step_up_required']);
    expect(
      (await ada.post('/api/agents/nobody/revoke', { stepUp: { method: 'totp', code: h.code('ada') } }))
        .status,
    ).toBe(404);
    expect((await (await as('bob')).post('/api/agents/support-bot/revoke', {})).status).toBe(403);
    expect((await (await as('nofactor')).post('/api/agents/support-bot/revoke', {})).body.error.code).toBe(
      'no_second_factor',
    );
    expect(await store.revocations(h.clock.now)).toEqual([]);

    const done = await ada.post('/api/agents/support-bot/revoke', {
      stepUp: { method: 'totp', code: h.code('ada') },
      reason: 'anomaly alert #42',
    });
    expect(done.status).toBe(200);
    expect(done.body.revocation).toMatchObject({ subject: 'agent', id: 'support-bot' });
    const [revocation] = await store.revocations(h.clock.now);
    expect(revocation).toMatchObject({ subject: 'agent', id: 'support-bot', at: h.clock.now });
    // In force until every token issued before it has expired, whatever `token_ttl` allows (a day).
    expect(revocation!.until - revocation!.at).toBeGreaterThan(24 * 60 * 60_000);
    const [event] = await h.audit.search({ kind: 'revocation' });
    expect(event).toMatchObject({
      actor: { user: 'ada', agent: 'support-bot' },
      detail: {
        subject: 'agent',
        id: 'support-bot',
        reason: 'anomaly alert #42',
        step_up: { method: 'totp' },
      },
    });
    const inventory = (await ada.get('/api/inventory')).body as {
      revoking: boolean;
      agents: Array<{ name: string; tokens_revoked?: { at: string } }>;
    };
    expect(inventory.revoking).toBe(true);
    expect(inventory.agents).toEqual([
      expect.objectContaining({
        name: 'support-bot',
        tokens_revoked: expect.objectContaining({ at: expect.any(String) }),
      }),
    ]);
  });

  it('is refused by a console that does not reach the revocations', async () => {
    h = await startHarness();
    await h.addUser('ada', ['admin'], { totp: true });
    const ada = await as('ada');
    const refused = await ada.post('/api/agents/support-bot/revoke', {
      stepUp: { method: 'totp', code: h.code('ada') },
    });
    expect([refused.status, refused.body.error.code]).toEqual([409, 'not_configured']);
    expect(((await ada.get('/api/inventory')).body as { revoking: boolean }).revoking).toBe(false);
  });
});
