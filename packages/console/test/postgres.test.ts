// Two consoles over one PostgreSQL (as two replicas would run): two approvers on different
// consoles deciding one request at once, exactly one wins and one audit event is written; and the
// database dropping every connection under the open consoles: 503 while it is away, then back.
// Needs the local PostgreSQL (POSTGRES_URL); without it, outside CI, the suite is skipped.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { Secret, TOTP } from 'otpauth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  openPostgresApprovalQueue,
  openPostgresAuditLog,
  openPostgresExceptionStore,
  openPostgresInventory,
  type ApprovalQueue,
} from '@posture/storage';
import { POSTGRES_URL, postgres } from '../../storage/test/support/services.js';
import { serveConsole, type ConsoleServer } from '../src/server.js';
import { openSqliteConsoleUsers, type ConsoleUsers } from '../src/users.js';
import { Client, PASSWORD, POLICY, TEST_COST } from './harness.js';

const { problem, skip } = await postgres('console');

describe.skipIf(skip)('consoles over PostgreSQL', () => {
  const schema = `posture_console_test_${randomBytes(6).toString('hex')}`;
  const applicationName = `posture-console-test-${randomBytes(4).toString('hex')}`;
  const config: pg.PoolConfig = {
    connectionString: POSTGRES_URL,
    options: `-c search_path=${schema}`,
    application_name: applicationName,
  };
  const admin = new pg.Pool({ connectionString: POSTGRES_URL, max: 1 });
  const folder = mkdtempSync(join(tmpdir(), 'posture-console-pg-'));
  const closers: Array<() => Promise<unknown>> = [];
  const consoles: ConsoleServer[] = [];
  const secrets = new Map<string, string>();
  let queue: ApprovalQueue;
  let users: ConsoleUsers;

  beforeAll(async () => {
    if (problem !== undefined) throw new Error(`cannot reach PostgreSQL at ${POSTGRES_URL}: ${problem}`);
    await admin.query(`CREATE SCHEMA ${schema}`);
    users = openSqliteConsoleUsers(join(folder, 'users.db'), { scryptCost: TEST_COST });
    closers.push(() => users.close());
    for (const name of ['carol', 'erin']) {
      await users.add({ name, password: PASSWORD, roles: ['approver'] });
      secrets.set(name, (await users.enrolTotp(name, { confirmed: true })).secret);
    }
    for (let i = 0; i < 2; i++) {
      const audit = await openPostgresAuditLog({
        config,
        keyFile: join(folder, 'audit.key'),
        retryForMs: 500,
      });
      const approvals = await openPostgresApprovalQueue({ config });
      const inventory = await openPostgresInventory({ config });
      const exceptions = await openPostgresExceptionStore({ config });
      closers.push(
        () => audit.close(),
        () => approvals.close(),
        () => inventory.close(),
        () => exceptions.close(),
      );
      if (i === 0) queue = approvals;
      consoles.push(
        await serveConsole({
          port: 0,
          audit,
          approvals,
          inventory,
          exceptions,
          policy: { path: join(folder, 'posture.yaml'), text: POLICY },
          users,
          streamIntervalMs: 50,
        }),
      );
    }
  });

  afterAll(async () => {
    await admin.query(`ALTER SCHEMA ${schema}_away RENAME TO ${schema}`).catch(() => {});
    for (const server of consoles) await server.close();
    for (const close of closers.reverse()) await close().catch(() => {});
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
    await admin.end();
    rmSync(folder, { recursive: true, force: true });
  });

  const code = (user: string) => new TOTP({ secret: Secret.fromBase32(secrets.get(user)!) }).generate();

  async function newRequest(session: string) {
    const request = await queue.request(
      {
        agent: 'support-bot',
        user: 'alice',
        tool: 'payments/refund',
        args_hash: 'b'.repeat(64),
        session,
        args: { amount: 90 },
        target: 'http://127.0.0.1:9000/mcp',
        approvers: ['group:approvers'],
        step_up: true,
        reasons: [],
        rules: [],
        expires_at: new Date(Date.now() + 15 * 60_000).toISOString(),
      },
      new Date(),
    );
    return request.id;
  }

  it('two approvers on two consoles: exactly one decision wins, one audit event', async () => {
    const carol = new Client(consoles[0]!.url);
    const erin = new Client(consoles[1]!.url);
    expect((await carol.login('carol')).status).toBe(200);
    expect((await erin.login('erin')).status).toBe(200);
    const id = await newRequest(`race-${randomBytes(4).toString('hex')}`);
    const replies = await Promise.all([
      carol.post(`/api/approvals/${id}/decide`, {
        approve: true,
        stepUp: { method: 'totp', code: code('carol') },
      }),
      erin.post(`/api/approvals/${id}/decide`, { approve: false }),
    ]);
    expect(replies.map((r) => r.status).sort()).toEqual([200, 409]);
    expect(replies.find((r) => r.status === 409)!.body.error.code).toBe('not_pending');
    const events = await erin.get(`/api/audit?kind=approval`);
    expect(events.body.events.filter((e: { approval_id: string }) => e.approval_id === id)).toHaveLength(1);
  });

  it('answers 503 while PostgreSQL drops the connections, and recovers without a restart', async () => {
    const viewer = new Client(consoles[1]!.url);
    expect((await viewer.login('erin')).status).toBe(200);
    // The console's tables vanish and its connections are cut: for it, the database is gone.
    // (Only this run's schema and connections: other suites share the server.)
    await admin.query(`ALTER SCHEMA ${schema} RENAME TO ${schema}_away`);
    try {
      await admin.query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1`,
        [applicationName],
      );
      for (const path of ['/api/approvals', '/api/overview', '/api/audit']) {
        const reply = await viewer.get(path);
        expect(reply.status, path).toBe(503);
        expect(reply.body.error.code).toBe('store_unavailable');
      }
      expect((await viewer.get('/api/health')).status).toBe(503);
      expect((await viewer.get('/api/session')).status).toBe(200);
    } finally {
      await admin.query(`ALTER SCHEMA ${schema}_away RENAME TO ${schema}`);
    }
    let health = 0;
    for (let i = 0; i < 50 && health !== 200; i++) {
      health = (await viewer.get('/api/health')).status;
      if (health !== 200) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(health).toBe(200);
    expect((await viewer.get('/api/approvals')).status).toBe(200);
  });
});
