// Two consoles over one PostgreSQL schema for everything (evidence, users, login sessions), as two
// replicas behind one address run: a user added through another store (the command line's) logs
// in on either; a login on one is accepted by the other with its CSRF token; a logout, an idle or
// absolute expiry, a removed user, or too many failed step-ups end the session on both; a passkey
// registered through one steps up through the other, each challenge answered once, and a clone
// replaying an old counter is refused; failed logins on both count against one limit, also when
// they arrive at once; and with the database gone, both answer 503 and recover.
// Needs the local PostgreSQL (POSTGRES_URL); without it, outside CI, the suite is skipped.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { Secret, TOTP } from 'otpauth';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  openPostgresApprovalQueue,
  openPostgresAuditLog,
  openPostgresExceptionStore,
  openPostgresInventory,
} from '@posture/storage';
import { POSTGRES_URL, postgres } from '../../storage/test/support/services.js';
import { openPostgresConsoleSessions } from '../src/postgres/sessions.js';
import { openPostgresConsoleUsers } from '../src/postgres/users.js';
import { serveConsole } from '../src/server.js';
import type { ConsoleUsers } from '../src/users.js';
import { SoftwareAuthenticator } from './authenticator.js';
import { Client, PASSWORD, POLICY, TEST_COST } from './harness.js';

const { problem, skip } = await postgres('console replicas');

const IDLE_MS = 60_000;
const ABSOLUTE_MS = 300_000;

/** A free port, so both consoles can be told the one origin a load balancer would give them. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe.skipIf(skip)('console replicas over PostgreSQL', () => {
  const schema = `posture_console_replicas_${randomBytes(6).toString('hex')}`;
  const applicationName = `posture-console-replicas-${randomBytes(4).toString('hex')}`;
  const config: pg.PoolConfig = {
    connectionString: POSTGRES_URL,
    options: `-c search_path=${schema}`,
    application_name: applicationName,
    max: 4,
  };
  const admin = new pg.Pool({ connectionString: POSTGRES_URL, max: 1 });
  const folder = mkdtempSync(join(tmpdir(), 'posture-console-replicas-'));
  const keyFile = join(folder, 'console.key');
  const closers: Array<() => Promise<unknown>> = [];
  const clock = { now: Date.now() };
  /** The one origin both consoles are reached at (as behind a load balancer), and each one's address. */
  let origin: string;
  const bases: string[] = [];
  /** The command line's store: users are added here, not through a console. */
  let cli: ConsoleUsers;
  let totpSecret: string;

  beforeAll(async () => {
    if (problem !== undefined) throw new Error(`cannot reach PostgreSQL at ${POSTGRES_URL}: ${problem}`);
    await admin.query(`CREATE SCHEMA ${schema}`);
    // One console key for every replica and the command line, as the deploy notes say.
    cli = await openPostgresConsoleUsers({ config, scryptCost: TEST_COST, keyFile });
    closers.push(() => cli.close());
    const ports = [await freePort(), await freePort()];
    origin = `http://localhost:${ports[0]}`;
    for (const port of ports) {
      const audit = await openPostgresAuditLog({
        config,
        keyFile: join(folder, 'audit.key'),
        retryForMs: 500,
      });
      const approvals = await openPostgresApprovalQueue({ config });
      const inventory = await openPostgresInventory({ config });
      const exceptions = await openPostgresExceptionStore({ config });
      const users = await openPostgresConsoleUsers({ config, scryptCost: TEST_COST, keyFile });
      const sessionStore = await openPostgresConsoleSessions({ config });
      const server = await serveConsole({
        port,
        origin,
        audit,
        approvals,
        inventory,
        exceptions,
        policy: { path: join(folder, 'posture.yaml'), text: POLICY },
        users,
        sessionStore,
        sessions: { idleMs: IDLE_MS, absoluteMs: ABSOLUTE_MS },
        now: () => new Date(clock.now),
        streamIntervalMs: 50,
      });
      bases.push(`http://127.0.0.1:${port}`);
      closers.push(
        () => server.close(),
        () => audit.close(),
        () => approvals.close(),
        () => inventory.close(),
        () => exceptions.close(),
        () => users.close(),
        () => sessionStore.close(),
      );
    }
    await cli.add({ name: 'carol', password: PASSWORD, roles: ['approver'] });
    totpSecret = (await cli.enrolTotp('carol', { confirmed: true })).secret;
    await cli.add({ name: 'erin', password: PASSWORD, roles: ['approver'] });
    await cli.add({ name: 'vic', password: PASSWORD, roles: ['viewer'] });
    await cli.add({ name: 'gus', password: PASSWORD, roles: ['viewer'] });
    await cli.add({ name: 'hank', password: PASSWORD, roles: ['viewer'] });
  });

  afterAll(async () => {
    await admin.query(`ALTER SCHEMA ${schema}_away RENAME TO ${schema}`).catch(() => {});
    // Consoles first (closers are in opening order per console; the command line's store last).
    for (const close of closers.slice(1)) await close().catch(() => {});
    await closers[0]?.().catch(() => {});
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
    await admin.end();
    rmSync(folder, { recursive: true, force: true });
  });

  beforeEach(() => {
    // Each test starts a TOTP step later, so no code is refused as already used.
    clock.now += 60_000;
  });

  /** A browser on console `i` (every request carries the shared origin, as through one address). */
  const browser = (i: number) => {
    const client = new Client(bases[i]!);
    const send = client.send.bind(client);
    client.send = (method, path, body, headers = {}) => send(method, path, body, { origin, ...headers });
    return client;
  };
  /** The same browser session moved to console `i` (the load balancer sent it elsewhere). */
  const moved = (from: Client, i: number) => {
    const client = browser(i);
    client.cookie = from.cookie;
    client.csrf = from.csrf;
    return client;
  };
  const code = () => new TOTP({ secret: Secret.fromBase32(totpSecret) }).generate({ timestamp: clock.now });

  it('a login on one console is accepted by the other, with its CSRF token', async () => {
    const a = browser(0);
    const login = await a.login('vic');
    expect(login.status).toBe(200);
    const b = moved(a, 1);
    const session = await b.get('/api/session');
    expect(session.status).toBe(200);
    expect(session.body).toMatchObject({ user: 'vic', roles: ['viewer'], csrf: login.body.csrf });
    expect((await b.post('/api/audit/verify')).status).toBe(200);
    const forged = await b.post('/api/audit/verify', {}, { 'x-csrf-token': 'A'.repeat(43) });
    expect(forged.body.error.code).toBe('csrf');
    // Both consoles wrote to one log: the login is there once.
    const events = await b.get('/api/audit?kind=alert');
    const logins = events.body.events.filter(
      (e: { detail?: { alert?: string }; actor: { user?: string } }) =>
        e.detail?.alert === 'console.login' && e.actor.user === 'vic',
    );
    expect(logins).toHaveLength(1);
  });

  it('keeps the session id hashed in the database', async () => {
    const a = browser(0);
    await a.login('vic');
    const id = a.cookie!.split('=')[1]!;
    const { rows } = await admin.query(`SELECT * FROM ${schema}.posture_console_sessions`);
    expect(JSON.stringify(rows)).not.toContain(id);
    expect(rows.length).toBeGreaterThan(0);
  });

  it('a logout on one console ends the session on the other, and a new login replaces the old one', async () => {
    const a = browser(0);
    await a.login('vic');
    const b = moved(a, 1);
    expect((await b.get('/api/session')).status).toBe(200);
    expect((await b.post('/api/logout')).status).toBe(200);
    const after = await moved(a, 0).get('/api/session');
    expect(after.status).toBe(401);
    expect(after.body.error.code).toBe('session_expired');

    const again = browser(0);
    await again.login('vic');
    const old = again.cookie;
    await again.login('vic');
    const stale = browser(1);
    stale.cookie = old;
    expect((await stale.get('/api/session')).body.error.code).toBe('session_expired');
    expect((await moved(again, 1).get('/api/session')).status).toBe(200);
  });

  it('the idle expiry holds across consoles: a request on either keeps it alive, silence ends it on both', async () => {
    const a = browser(0);
    await a.login('vic');
    const b = moved(a, 1);
    clock.now += IDLE_MS - 1_000;
    expect((await b.get('/api/session')).status).toBe(200);
    // B saw it last; A counts from there.
    clock.now += IDLE_MS - 1_000;
    expect((await a.get('/api/session')).status).toBe(200);
    clock.now += IDLE_MS + 1_000;
    const onB = await b.get('/api/session');
    expect(onB.status).toBe(401);
    expect(onB.body.error.code).toBe('session_expired');
    expect((await a.get('/api/session')).body.error.code).toBe('session_expired');
  });

  it('the absolute lifetime holds however busy the session is', async () => {
    const a = browser(0);
    await a.login('vic');
    const b = moved(a, 1);
    for (let i = 0; i < 5; i++) {
      clock.now += 55_000;
      expect((await (i % 2 ? a : b).get('/api/session')).status).toBe(200);
    }
    clock.now += 30_000;
    expect((await a.get('/api/session')).body.error.code).toBe('session_expired');
    expect((await b.get('/api/session')).body.error.code).toBe('session_expired');
  });

  it('a user removed through the command line loses their session on both consoles', async () => {
    await cli.add({ name: 'dave', password: PASSWORD, roles: ['viewer'] });
    const a = browser(0);
    expect((await a.login('dave')).status).toBe(200);
    expect(await cli.remove('dave')).toBe(true);
    expect((await moved(a, 1).get('/api/overview')).body.error.code).toBe('session_expired');
    expect((await a.get('/api/overview')).body.error.code).toBe('session_expired');
  });

  it('failed step-ups on both consoles add up: the fifth ends the session everywhere', async () => {
    const a = browser(0);
    await a.login('carol');
    const b = moved(a, 1);
    const wrong = () => {
      const right = code();
      return { method: 'totp', code: right === '000000' ? '111111' : '000000' };
    };
    for (const client of [a, b, a, b]) {
      const reply = await client.post('/api/totp/enrol', { stepUp: wrong() });
      expect(reply.body.error.code).toBe('step_up_failed');
    }
    const fifth = await a.post('/api/totp/enrol', { stepUp: wrong() });
    expect(fifth.status).toBe(401);
    expect(fifth.body.error.code).toBe('session_expired');
    expect((await b.get('/api/session')).body.error.code).toBe('session_expired');
    // A code used on one console is refused on the other.
    const c = browser(0);
    await c.login('carol');
    const used = code();
    expect((await c.post('/api/totp/enrol', { stepUp: { method: 'totp', code: used } })).status).toBe(200);
    const replay = await moved(c, 1).post('/api/totp/enrol', { stepUp: { method: 'totp', code: used } });
    expect(replay.body.error.code).toBe('step_up_failed');
  });

  it('a passkey registered through one console steps up through the other; a clone’s old counter is refused', async () => {
    const authenticator = new SoftwareAuthenticator();
    const a = browser(0);
    await a.login('erin');
    const b = moved(a, 1);
    // The registration's challenge, asked of A, is answered to B.
    const options = await a.post('/api/webauthn/register/options');
    expect(options.status).toBe(200);
    const verify = await b.post('/api/webauthn/register/verify', {
      response: authenticator.register(options.body, origin),
    });
    expect(verify.status, JSON.stringify(verify.body)).toBe(200);
    expect(verify.body.factors).toEqual({ totp: false, webauthn: true });
    const clone = authenticator.clone();

    const stepUp = (await b.post('/api/webauthn/stepup/options')).body as { challenge: string; rpId: string };
    const assertion = authenticator.assert(stepUp, origin);
    const enrol = await a.post('/api/totp/enrol', { stepUp: { method: 'webauthn', response: assertion } });
    expect(enrol.status, JSON.stringify(enrol.body)).toBe(200);
    // The same answer again, on the other console: its challenge is gone.
    const replay = await b.post('/api/totp/enrol', { stepUp: { method: 'webauthn', response: assertion } });
    expect(replay.body.error.code).toBe('step_up_failed');
    // The real authenticator moves on through A; the clone, at the old counter, tries B.
    const next = (await a.post('/api/webauthn/stepup/options')).body as { challenge: string; rpId: string };
    const real = await a.post('/api/totp/enrol', {
      stepUp: { method: 'webauthn', response: authenticator.assert(next, origin) },
    });
    expect(real.status).toBe(200);
    const forClone = (await b.post('/api/webauthn/stepup/options')).body as {
      challenge: string;
      rpId: string;
    };
    const cloned = await b.post('/api/totp/enrol', {
      stepUp: { method: 'webauthn', response: clone.assert(forClone, origin) },
    });
    expect(cloned.body.error.code).toBe('step_up_failed');
  });

  it('failed logins on both consoles count against one limit per user (5 by default)', async () => {
    for (const i of [0, 1, 0, 1, 0]) {
      const reply = await browser(i).login('gus', 'not the password');
      expect(reply.status).toBe(401);
      expect(reply.body.error.code).toBe('bad_credentials');
    }
    // The sixth attempt, with the right password, is refused on either console.
    for (const i of [1, 0]) {
      const limited = await browser(i).login('gus');
      expect(limited.status).toBe(429);
      expect(limited.body.error.code).toBe('rate_limited');
      expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    }
    // Once the window has passed, either console lets gus in.
    clock.now += 15 * 60_000;
    expect((await browser(1).login('gus')).status).toBe(200);
  });

  it('of failed logins arriving on both consoles at once, only the limit get a password check', async () => {
    const replies = await Promise.all(
      Array.from({ length: 12 }, (_, i) => browser(i % 2).login('hank', `guess ${i}`)),
    );
    const statuses = replies.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 401)).toHaveLength(5);
    expect(statuses.filter((s) => s === 429)).toHaveLength(7);
    // The right password now is refused too: the limit is the store's, not each console's.
    expect((await browser(0).login('hank')).status).toBe(429);
    clock.now += 15 * 60_000;
    expect((await browser(0).login('hank')).status).toBe(200);
  });

  it('answers 503 while the database is away, on both consoles, and recovers without a restart', async () => {
    const a = browser(0);
    await a.login('vic');
    const b = moved(a, 1);
    await admin.query(`ALTER SCHEMA ${schema} RENAME TO ${schema}_away`);
    try {
      await admin.query(
        'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1',
        [applicationName],
      );
      for (const client of [a, b]) {
        const session = await client.get('/api/session');
        expect(session.status).toBe(503);
        expect(session.body.error.code).toBe('store_unavailable');
      }
      const login = await browser(1).login('vic');
      expect(login.status).toBe(503);
      expect(login.body.error.code).toBe('store_unavailable');
      expect((await b.post('/api/logout')).status).toBe(503);
    } finally {
      await admin.query(`ALTER SCHEMA ${schema}_away RENAME TO ${schema}`);
    }
    let status = 0;
    for (let i = 0; i < 50 && status !== 200; i++) {
      status = (await b.get('/api/session')).status;
      if (status !== 200) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(status).toBe(200);
    expect((await a.get('/api/session')).status).toBe(200);
    expect((await browser(0).login('vic')).status).toBe(200);
  });
});
