// A console over real SQLite stores (evidence, users, login sessions) in a temporary folder, a controllable clock, and a small
// browser-like client (cookie jar, CSRF header) speaking real HTTP to it.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Secret, TOTP } from 'otpauth';
import {
  openSqliteApprovalQueue,
  openSqliteAuditLog,
  openSqliteExceptionStore,
  openSqliteInventory,
  type ApprovalQueue,
  type AuditLog,
  type ExceptionStore,
  type Inventory,
  type NewApproval,
} from '@posture/storage';
import { serveConsole, type ConsoleOptions, type ConsoleServer } from '../src/server.js';
import { openSqliteConsoleSessions, type ConsoleSessions } from '../src/sessions.js';
import { openSqliteConsoleUsers, type ConsoleUsers, type Role } from '../src/users.js';

export const POLICY = `version: 1
users:
  alice: { groups: [support] }
  bob: { groups: [approvers] }
  carol: { groups: [approvers] }
  erin: { groups: [approvers] }
  dave: { groups: [] }
  adam: { groups: [] }
  vic: { groups: [] }
agents:
  support-bot:
    owner: alice
    run_by: ['group:support']
    grants:
      - tools: [payments/refund]
        access: write
servers:
  payments:
    url: http://127.0.0.1:9000/mcp
    tools:
      refund: { tier: 3, access: write, input_schema: { type: object, properties: { amount: {} } } }
tiers:
  3: { approval: { approvers: ['group:approvers'], step_up: true, expires: 15m } }
`;

export const PASSWORD = 'correct horse battery';
/** Cheap scrypt for tests; the default cost is OWASP's. */
export const TEST_COST = { N: 2 ** 10, r: 8, p: 1 };

/** A store whose backing object can be swapped: a test closes the real one and opens another. */
export function switchable<T extends object>(initial: T): { store: T; use(next: T): void; current(): T } {
  let target = initial;
  const store = new Proxy(initial, {
    get(_unused, key) {
      const value: unknown = Reflect.get(target, key);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { store, use: (next) => (target = next), current: () => target };
}

export interface Harness {
  folder: string;
  db: string;
  console: ConsoleServer;
  url: string;
  clock: { now: number; advance(ms: number): void };
  audit: AuditLog;
  approvals: ApprovalQueue;
  inventory: Inventory;
  exceptions: ExceptionStore;
  users: ConsoleUsers;
  sessions: ConsoleSessions;
  /** The switchable wrappers the console holds. */
  auditSwitch: { use(next: AuditLog): void; current(): AuditLog };
  approvalsSwitch: { use(next: ApprovalQueue): void; current(): ApprovalQueue };
  totpSecrets: Map<string, string>;
  /** A TOTP code for the user, at the clock's time (advance 30 s between uses: each step is accepted once). */
  code(user: string): string;
  addUser(name: string, roles: Role[], options?: { totp?: boolean }): Promise<void>;
  request(overrides?: Partial<NewApproval>): Promise<string>;
  client(): Client;
  close(): Promise<void>;
}

export async function startHarness(options: Partial<ConsoleOptions> = {}): Promise<Harness> {
  const folder = mkdtempSync(join(tmpdir(), 'posture-console-'));
  const db = join(folder, 'posture.db');
  const clock = {
    now: Date.parse('2026-12-01T12:00:00.000Z'),
    advance(ms: number) {
      clock.now += ms;
    },
  };
  const audit = switchable<AuditLog>(await openSqliteAuditLog({ path: db }));
  const approvals = switchable<ApprovalQueue>(openSqliteApprovalQueue(db));
  const inventory = openSqliteInventory(db);
  const exceptions = openSqliteExceptionStore(db);
  const users = openSqliteConsoleUsers(db, { scryptCost: TEST_COST });
  // As `posture console --db` does: the sessions beside the users.
  const sessions = openSqliteConsoleSessions(db);
  const totpSecrets = new Map<string, string>();
  const server = await serveConsole({
    port: 0,
    audit: audit.store,
    approvals: approvals.store,
    inventory,
    exceptions,
    policy: { path: join(folder, 'posture.yaml'), text: POLICY },
    users,
    sessionStore: sessions,
    now: () => new Date(clock.now),
    streamIntervalMs: 50,
    ...options,
  });
  const harness: Harness = {
    folder,
    db,
    console: server,
    url: server.url,
    clock,
    audit: audit.store,
    approvals: approvals.store,
    inventory,
    exceptions,
    users,
    sessions,
    auditSwitch: audit,
    approvalsSwitch: approvals,
    totpSecrets,
    code(user) {
      const secret = totpSecrets.get(user);
      if (!secret) throw new Error(`no TOTP for ${user}`);
      return new TOTP({ secret: Secret.fromBase32(secret) }).generate({ timestamp: clock.now });
    },
    async addUser(name, roles, userOptions = {}) {
      await users.add({ name, password: PASSWORD, roles }, new Date(clock.now));
      if (userOptions.totp) totpSecrets.set(name, (await users.enrolTotp(name, { confirmed: true })).secret);
    },
    async request(overrides = {}) {
      const request = await harness.approvals.request(
        {
          agent: 'support-bot',
          user: 'alice',
          tool: 'payments/refund',
          args_hash: 'a'.repeat(64),
          session: `s-${Math.random()}`,
          args: { amount: 250, currency: 'EUR' },
          target: 'http://127.0.0.1:9000/mcp',
          approvers: ['group:approvers'],
          step_up: true,
          reasons: [{ code: 'tier.approval', message: 'tier 3 needs approval' }],
          rules: ['tiers.3'],
          expires_at: new Date(clock.now + 15 * 60_000).toISOString(),
          ...overrides,
        },
        new Date(clock.now),
      );
      return request.id;
    },
    client: () => new Client(server.url),
    async close() {
      await server.close();
      await Promise.allSettled([
        harness.audit.close(),
        harness.approvals.close(),
        inventory.close(),
        exceptions.close(),
        users.close(),
        sessions.close(),
      ]);
      rmSync(folder, { recursive: true, force: true });
    },
  };
  return harness;
}

export interface Reply {
  status: number;
  headers: Headers;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- test assertions read any shape
  body: any;
}

/** What a browser would do: keep the session cookie, send the CSRF token on writes. */
export class Client {
  cookie: string | undefined;
  csrf: string | undefined;
  constructor(readonly base: string) {}

  async send(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<Reply> {
    const response = await fetch(this.base + path, {
      method,
      headers: {
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...(this.cookie ? { cookie: this.cookie } : {}),
        ...(method !== 'GET' && this.csrf ? { 'x-csrf-token': this.csrf } : {}),
        ...headers,
      },
      ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
    });
    const setCookie = response.headers.get('set-cookie');
    if (setCookie) {
      const value = setCookie.split(';')[0]!;
      this.cookie = value.endsWith('=') ? undefined : value;
    }
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // Not JSON (HTML, files).
    }
    return { status: response.status, headers: response.headers, body: parsed };
  }

  get(path: string, headers?: Record<string, string>) {
    return this.send('GET', path, undefined, headers);
  }

  post(path: string, body: unknown = {}, headers?: Record<string, string>) {
    return this.send('POST', path, body, headers);
  }

  async login(user: string, password = PASSWORD): Promise<Reply> {
    const reply = await this.post('/api/login', { user, password });
    if (reply.status === 200) this.csrf = reply.body.csrf;
    return reply;
  }
}
