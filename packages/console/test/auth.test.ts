// Login, rate limiting, sessions, CSRF and Origin checks, and authorization on every route, over
// real HTTP against a console on real SQLite stores.
import { request as httpRequest } from 'node:http';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CONSOLE_ROUTES } from '../src/server.js';
import type { Role } from '../src/users.js';
import { PASSWORD, startHarness, type Client, type Harness } from './harness.js';

let h: Harness;

afterEach(async () => {
  await h.close();
});

async function loginEvents() {
  return (await h.audit.search({ kind: 'alert' })).filter((e) =>
    String(e.detail?.alert ?? '').startsWith('console.'),
  );
}

describe('login', () => {
  beforeEach(async () => {
    h = await startHarness({ loginLimits: { perUser: 3, perAddress: 6, windowMs: 60_000 } });
    await h.addUser('bob', ['approver'], { totp: true });
    await h.addUser('vic', ['viewer']);
  });

  it('logs in with the right password: an HttpOnly, SameSite=Strict cookie, a CSRF token, audited', async () => {
    const client = h.client();
    const reply = await client.login('bob');
    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({
      user: 'bob',
      roles: ['approver'],
      factors: { totp: true, webauthn: false },
    });
    expect(reply.body.csrf).toMatch(/^[A-Za-z0-9_-]{40,}$/);
    const cookie = reply.headers.get('set-cookie')!;
    expect(cookie).toMatch(/^posture_session=[A-Za-z0-9_-]{40,};/);
    expect(cookie).toContain('HttpOnly');
    expect(cookie).toContain('SameSite=Strict');
    expect(cookie).toContain('Path=/');
    // Plain http on loopback: a Secure cookie would never come back.
    expect(cookie).not.toContain('Secure');
    const session = await client.get('/api/session');
    expect(session.status).toBe(200);
    expect(session.body).toMatchObject({ user: 'bob', roles: ['approver'], csrf: reply.body.csrf });
    const [event] = await loginEvents();
    expect(event).toMatchObject({
      kind: 'alert',
      actor: { user: 'bob' },
      outcome: 'allowed',
      detail: { alert: 'console.login', remote: expect.any(String) },
    });
  });

  it('refuses a wrong password and an unknown user alike, and audits both', async () => {
    const client = h.client();
    const wrong = await client.login('bob', 'not the password');
    const unknown = await client.login('mallory', PASSWORD);
    for (const reply of [wrong, unknown]) {
      expect(reply.status).toBe(401);
      expect(reply.body.error.code).toBe('bad_credentials');
      expect(reply.headers.get('set-cookie')).toBeNull();
    }
    expect(wrong.body.error.message).toBe(unknown.body.error.message);
    const events = await loginEvents();
    expect(events.map((e) => [e.detail?.alert, e.actor.user, e.outcome])).toEqual([
      ['console.login_failed', 'bob', 'denied'],
      ['console.login_failed', 'mallory', 'denied'],
    ]);
    expect((await client.get('/api/session')).status).toBe(401);
  });

  it('rejects malformed login bodies with 400, never a crash', async () => {
    const client = h.client();
    expect((await client.post('/api/login', 'not json')).status).toBe(400);
    expect((await client.post('/api/login', [1, 2])).status).toBe(400);
    expect((await client.post('/api/login', { user: 'bob', password: 7 })).status).toBe(400);
    expect((await client.post('/api/login', { user: 'bob', password: 'x'.repeat(70_000) })).status).toBe(413);
    expect((await client.get('/api/health')).status).toBe(200);
  });

  it('rate-limits a user after repeated failures, even with the right password, then lets them in later', async () => {
    const client = h.client();
    for (let i = 0; i < 3; i++) expect((await client.login('bob', `guess ${i}`)).status).toBe(401);
    const limited = await client.login('bob');
    expect(limited.status).toBe(429);
    expect(limited.body.error.code).toBe('rate_limited');
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    // Another user from the same address is not locked out by bob's failures.
    expect((await h.client().login('vic')).status).toBe(200);
    const events = await loginEvents();
    expect(events.filter((e) => e.detail?.alert === 'console.login_failed')).toHaveLength(3);
    expect(events.filter((e) => e.detail?.alert === 'console.login_rate_limited')).toHaveLength(1);
    h.clock.advance(61_000);
    expect((await client.login('bob')).status).toBe(200);
  });

  it('rate-limits a client address that guesses across many user names', async () => {
    const client = h.client();
    for (let i = 0; i < 6; i++) expect((await client.login(`user${i}`, 'guess')).status).toBe(401);
    const limited = await client.login('vic');
    expect(limited.status).toBe(429);
    expect(limited.body.error.code).toBe('rate_limited');
  });

  it('gives a new session id at every login and forgets the old one', async () => {
    const client = h.client();
    await client.login('bob');
    const first = client.cookie!;
    await client.login('bob');
    const second = client.cookie!;
    expect(second).not.toBe(first);
    const stale = h.client();
    stale.cookie = first;
    const reply = await stale.get('/api/session');
    expect(reply.status).toBe(401);
    expect(reply.body.error.code).toBe('session_expired');
  });

  it('logs out: the cookie is cleared and the session is gone', async () => {
    const client = h.client();
    await client.login('bob');
    const cookie = client.cookie!;
    const reply = await client.post('/api/logout');
    expect(reply.status).toBe(200);
    expect(reply.headers.get('set-cookie')).toContain('Max-Age=0');
    const again = h.client();
    again.cookie = cookie;
    expect((await again.get('/api/session')).body.error.code).toBe('session_expired');
  });

  it('ends the session of a user who was removed', async () => {
    const client = h.client();
    await client.login('vic');
    await h.users.remove('vic');
    const reply = await client.get('/api/overview');
    expect(reply.status).toBe(401);
    expect(reply.body.error.code).toBe('session_expired');
  });
});

describe('session expiry', () => {
  beforeEach(async () => {
    h = await startHarness({ sessions: { idleMs: 60_000, absoluteMs: 150_000 } });
    await h.addUser('vic', ['viewer']);
  });

  it('expires an idle session', async () => {
    const client = h.client();
    await client.login('vic');
    h.clock.advance(59_000);
    expect((await client.get('/api/session')).status).toBe(200);
    h.clock.advance(61_000);
    const reply = await client.get('/api/session');
    expect(reply.status).toBe(401);
    expect(reply.body.error.code).toBe('session_expired');
  });

  it('expires a busy session at its absolute lifetime', async () => {
    const client = h.client();
    await client.login('vic');
    for (let i = 0; i < 3; i++) {
      h.clock.advance(45_000);
      expect((await client.get('/api/session')).status).toBe(200);
    }
    h.clock.advance(20_000);
    const reply = await client.get('/api/session');
    expect(reply.status).toBe(401);
    expect(reply.body.error.code).toBe('session_expired');
  });

  it('tells a request without a cookie to log in', async () => {
    const reply = await h.client().get('/api/overview');
    expect(reply.status).toBe(401);
    expect(reply.body.error.code).toBe('unauthenticated');
  });
});

describe('CSRF and Origin', () => {
  let client: Client;
  beforeEach(async () => {
    h = await startHarness();
    await h.addUser('vic', ['viewer']);
    client = h.client();
    await client.login('vic');
  });

  it('refuses a write without the CSRF token', async () => {
    const reply = await client.post('/api/audit/verify', {}, { 'x-csrf-token': '' });
    expect(reply.status).toBe(403);
    expect(reply.body.error.code).toBe('csrf');
    const bare = h.client();
    bare.cookie = client.cookie;
    const missing = await bare.post('/api/audit/verify');
    expect(missing.status).toBe(403);
    expect(missing.body.error.code).toBe('csrf');
  });

  it('refuses a forged CSRF token, and another session’s token', async () => {
    const forged = await client.post('/api/audit/verify', {}, { 'x-csrf-token': 'A'.repeat(43) });
    expect(forged.status).toBe(403);
    expect(forged.body.error.code).toBe('csrf');
    const other = h.client();
    await other.login('vic');
    const crossed = await client.post('/api/audit/verify', {}, { 'x-csrf-token': other.csrf! });
    expect(crossed.status).toBe(403);
    expect((await client.post('/api/audit/verify')).status).toBe(200);
  });

  it('refuses a write from a foreign Origin even with the right token', async () => {
    const reply = await client.post('/api/audit/verify', {}, { origin: 'https://evil.example' });
    expect(reply.status).toBe(403);
    expect(reply.body.error.code).toBe('csrf');
    const login = await h
      .client()
      .post('/api/login', { user: 'vic', password: PASSWORD }, { origin: 'https://evil.example' });
    expect(login.status).toBe(403);
    expect((await client.post('/api/audit/verify', {}, { origin: h.url })).status).toBe(200);
  });

  it('takes JSON bodies only, so an HTML form cannot post to the API', async () => {
    const form = await h
      .client()
      .send('POST', '/api/login', `user=vic&password=${encodeURIComponent(PASSWORD)}`, {
        'content-type': 'application/x-www-form-urlencoded',
      });
    expect(form.status).toBe(415);
    expect(form.body.error.code).toBe('unsupported_media_type');
    const plain = await client.send('POST', '/api/audit/verify', '{}', { 'content-type': 'text/plain' });
    expect(plain.status).toBe(415);
  });

  it('refuses a Host name that is not the console’s (DNS rebinding)', async () => {
    const { port } = new URL(h.url);
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(
        { host: '127.0.0.1', port, path: '/api/health', headers: { host: `rebound.example:${port}` } },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      req.end();
    });
    expect(status).toBe(421);
  });

  it('sends the security headers, serves the app shell, and never a file outside its folders', async () => {
    const reply = await client.get('/api/session');
    expect(reply.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect(reply.headers.get('x-frame-options')).toBe('DENY');
    expect(reply.headers.get('x-content-type-options')).toBe('nosniff');
    expect(reply.headers.get('referrer-policy')).toBe('no-referrer');
    expect(reply.headers.get('cache-control')).toBe('no-store');
    const page = await client.get('/approvals/123');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    expect(String(page.body)).toContain('/app/main.js');
    for (const path of [
      '/app/../../package.json',
      '/static/%2e%2e/%2e%2e/package.json',
      '/app/..%2f..%2fpackage.json',
    ]) {
      const file = await client.get(path);
      expect(String(file.body)).not.toContain('@posture/console');
    }
    expect((await client.get('/api/nothing-here')).status).toBe(404);
    expect((await client.send('DELETE', '/api/session')).status).toBe(405);
  });
});

describe('authorization on every route', () => {
  // Who may call what: every route of CONSOLE_ROUTES, for each role and for nobody.
  const ROLES: Role[] = ['viewer', 'approver', 'admin'];
  let clients: Record<Role, Client>;
  let id: string;

  beforeEach(async () => {
    h = await startHarness();
    clients = {} as Record<Role, Client>;
    for (const role of ROLES) {
      await h.addUser(`${role}-user`, [role]);
      clients[role] = h.client();
      expect((await clients[role].login(`${role}-user`)).status).toBe(200);
    }
    id = await h.request();
    await h.audit.append({
      time: new Date(h.clock.now).toISOString(),
      kind: 'call',
      actor: { user: 'alice' },
    });
  });

  const concrete = (path: string) => path.replace(':id', id).replace(':seq', '0');

  async function call(client: Client, route: (typeof CONSOLE_ROUTES)[number]) {
    if (route.path === '/api/stream') {
      const response = await fetch(client.base + route.path, {
        headers: client.cookie ? { cookie: client.cookie } : {},
      });
      const status = response.status;
      if (status !== 200) {
        const body = (await response.json()) as { error: { code: string } };
        return { status, code: body.error.code };
      }
      expect(response.headers.get('content-type')).toContain('text/event-stream');
      await response.body?.cancel();
      return { status, code: undefined };
    }
    // Login and logout change the client's session; use a copy.
    const copy = Object.assign(Object.create(Object.getPrototypeOf(client)), client) as Client;
    const reply = await copy.send(
      route.method,
      concrete(route.path),
      route.method === 'POST' ? {} : undefined,
    );
    return { status: reply.status, code: reply.body?.error?.code as string | undefined };
  }

  it('lists every route the console serves', () => {
    expect(CONSOLE_ROUTES.length).toBeGreaterThanOrEqual(22);
  });

  for (const route of CONSOLE_ROUTES) {
    it(`${route.method} ${route.path} (${route.access})`, async () => {
      const anonymous = await call(h.client(), route);
      if (route.access === 'public') {
        expect(anonymous.status).not.toBe(401);
      } else {
        expect(anonymous.status).toBe(401);
        expect(anonymous.code).toBe('unauthenticated');
      }
      for (const role of ROLES) {
        const result = await call(clients[role], route);
        const allowed = route.access === 'public' || route.access === 'session' || route.access === role;
        if (allowed) {
          expect(
            [401, 403].includes(result.status) &&
              ['forbidden', 'csrf', 'unauthenticated'].includes(result.code ?? ''),
            `${role}: ${result.status} ${result.code}`,
          ).toBe(false);
        } else {
          expect(result.status, role).toBe(403);
          expect(result.code).toBe('forbidden');
        }
      }
    });
  }
});

describe('second factor at login (secondFactorAtLogin)', () => {
  beforeEach(async () => {
    h = await startHarness({
      secondFactorAtLogin: true,
      loginLimits: { perUser: 3, perAddress: 50, windowMs: 60_000 },
    });
    await h.addUser('bob', ['approver'], { totp: true });
    await h.addUser('adam', ['admin'], { totp: true });
    await h.addUser('fresh', ['approver']);
    await h.addUser('vic', ['viewer'], { totp: true });
  });

  it('asks an approver or admin with a factor for it, and lets them in with a valid code', async () => {
    for (const name of ['bob', 'adam']) {
      const client = h.client();
      const first = await client.login(name);
      expect(first.status).toBe(401);
      expect(first.body.error).toMatchObject({
        code: 'second_factor_required',
        factors: { totp: true, webauthn: false },
      });
      expect(first.headers.get('set-cookie')).toBeNull();
      const second = await client.post('/api/login', {
        user: name,
        password: PASSWORD,
        stepUp: { method: 'totp', code: h.code(name) },
      });
      expect(second.status).toBe(200);
      expect(second.headers.get('set-cookie')).toContain('posture_session=');
    }
    const logins = (await loginEvents()).filter((e) => e.detail?.alert === 'console.login');
    expect(logins.map((e) => e.detail?.second_factor)).toEqual(['totp', 'totp']);
  });

  it('counts a wrong code as a failed login (audited, rate-limited), and never takes the code without the password', async () => {
    const client = h.client();
    const wrongCode = h.code('bob') === '000000' ? '111111' : '000000';
    for (let i = 0; i < 3; i++) {
      const reply = await client.post('/api/login', {
        user: 'bob',
        password: PASSWORD,
        stepUp: { method: 'totp', code: wrongCode },
      });
      expect(reply.status).toBe(401);
      expect(reply.body.error.code).toBe('second_factor_failed');
    }
    const limited = await client.post('/api/login', {
      user: 'bob',
      password: PASSWORD,
      stepUp: { method: 'totp', code: h.code('bob') },
    });
    expect(limited.status).toBe(429);
    const failures = (await loginEvents()).filter((e) => e.detail?.alert === 'console.login_failed');
    expect(failures).toHaveLength(3);
    expect(failures[0]!.detail).toMatchObject({ second_factor: 'totp' });
    h.clock.advance(61_000);
    const noPassword = await client.post('/api/login', {
      user: 'bob',
      password: 'wrong password',
      stepUp: { method: 'totp', code: h.code('bob') },
    });
    expect(noPassword.body.error.code).toBe('bad_credentials');
  });

  it('lets a viewer in with the password, and an approver without a factor (to enrol one)', async () => {
    expect((await h.client().login('vic')).status).toBe(200);
    const fresh = h.client();
    expect((await fresh.login('fresh')).status).toBe(200);
    expect((await fresh.get('/api/session')).body.factors).toEqual({ totp: false, webauthn: false });
  });
});
