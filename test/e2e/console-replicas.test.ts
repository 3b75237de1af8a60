// Two `posture console` processes over one store, as two replicas behind one address: with
// `--postgres`, a user added by `posture console user add --postgres` logs in on either, a login on
// one process is accepted by the other, and a logout or a `user remove` ends it on both; with only
// `--db`, two consoles over one SQLite file share their logins the same way. Needs the build
// (packages/cli/dist) and, for the first part, PostgreSQL (POSTGRES_URL): skipped outside CI without it.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { POSTGRES_URL, postgres } from '../../packages/storage/test/support/services.js';
import { BIN } from './support/posture-start.js';

const pgService = await postgres('console replicas (processes)');

const POLICY = `version: 1
users:
  carol: { groups: [approvers] }
agents:
  bot:
    owner: carol
    run_by: [carol]
    grants:
      - tools: [tickets/get_ticket]
        access: read
servers:
  tickets:
    url: http://127.0.0.1:9000/mcp
    tools:
      get_ticket: { access: read }
`;
const PASSWORD = 'a long enough password';

/** Runs `posture …` to its end in `cwd`; its exit code and output. */
function posture(cwd: string, args: string[], stdin = '') {
  return new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
    const child = spawn('node', [BIN, ...args], { cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.stdin.end(stdin);
    child.once('close', (code) => resolve({ code, out, err }));
  });
}

/** Starts `posture console …` in `cwd`; resolves with its URL once it listens. */
async function startConsole(cwd: string, args: string[], running: ChildProcess[]): Promise<string> {
  const child = spawn('node', [BIN, 'console', '--port', '0', ...args], {
    cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.push(child);
  let err = '';
  return new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`posture console did not start: ${err}`)), 20_000);
    child.stderr!.on('data', (chunk: Buffer) => {
      err += chunk.toString();
      const url = /posture console: (http:\/\/\S+)/.exec(err)?.[1];
      if (url) {
        clearTimeout(timer);
        resolve(url);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`posture console exited ${code}: ${err}`));
    });
  });
}

async function stopAll(running: ChildProcess[]) {
  await Promise.all(
    running.map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once('close', () => resolve());
          child.kill('SIGTERM');
        }),
    ),
  );
}

async function login(url: string, user: string) {
  const reply = await fetch(`${url}/api/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ user, password: PASSWORD }),
  });
  expect(reply.status).toBe(200);
  const { csrf } = (await reply.json()) as { csrf: string };
  return { cookie: reply.headers.get('set-cookie')!.split(';')[0]!, csrf };
}

const session = async (url: string, cookie: string) =>
  (await fetch(`${url}/api/session`, { headers: { cookie } })).status;

const logout = async (url: string, auth: { cookie: string; csrf: string }) =>
  (
    await fetch(`${url}/api/logout`, {
      method: 'POST',
      headers: { cookie: auth.cookie, 'x-csrf-token': auth.csrf },
    })
  ).status;

describe.skipIf(pgService.skip)('two posture console processes over PostgreSQL', () => {
  const schema = `posture_console_processes_${randomBytes(5).toString('hex')}`;
  const url = new URL(POSTGRES_URL);
  url.searchParams.set('options', `-c search_path=${schema}`);
  const database = url.toString();
  const dir = mkdtempSync(join(tmpdir(), 'posture-console-replicas-'));
  const running: ChildProcess[] = [];
  const consoles: string[] = [];
  let admin: pg.Client;

  beforeAll(async () => {
    if (pgService.problem) throw new Error(`cannot reach ${POSTGRES_URL}: ${pgService.problem}`);
    admin = new pg.Client({ connectionString: POSTGRES_URL });
    await admin.connect();
    await admin.query(`CREATE SCHEMA ${schema}`);
    writeFileSync(join(dir, 'posture.yaml'), POLICY);
    const added = await posture(
      dir,
      ['console', 'user', 'add', 'carol', '--role', 'viewer', '--password-stdin', '--postgres', database],
      `${PASSWORD}\n`,
    );
    expect(added.err).toBe('');
    expect(added.out).toContain('added console user `carol` (viewer) in PostgreSQL');
    // One after the other: the first creates the audit signer key both read (.posture/audit.key).
    for (let i = 0; i < 2; i++) consoles.push(await startConsole(dir, ['--postgres', database], running));
  }, 60_000);

  afterAll(async () => {
    await stopAll(running);
    await admin?.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
    await admin?.end();
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps the users in PostgreSQL, not in the SQLite file', async () => {
    const listed = await posture(dir, ['console', 'user', 'list', '--postgres', database]);
    expect(listed.out).toContain('carol  viewer');
    const { rows } = await admin.query(`SELECT name FROM ${schema}.posture_console_users`);
    expect(rows).toEqual([{ name: 'carol' }]);
    expect(existsSync(join(dir, '.posture', 'posture.db'))).toBe(false);
  });

  it('a login on one process is accepted by the other; a logout on the other ends it on both', async () => {
    const [a, b] = consoles as [string, string];
    const auth = await login(a, 'carol');
    expect(await session(b, auth.cookie)).toBe(200);
    expect(await session(a, auth.cookie)).toBe(200);
    expect(await logout(b, auth)).toBe(200);
    expect(await session(a, auth.cookie)).toBe(401);
    expect(await session(b, auth.cookie)).toBe(401);
  });

  it('`posture console user remove --postgres` ends the user’s session on both processes', async () => {
    const [a, b] = consoles as [string, string];
    const added = await posture(
      dir,
      ['console', 'user', 'add', 'dave', '--role', 'viewer', '--password-stdin', '--postgres', database],
      `${PASSWORD}\n`,
    );
    expect(added.code).toBe(0);
    const auth = await login(b, 'dave');
    expect(await session(a, auth.cookie)).toBe(200);
    expect((await posture(dir, ['console', 'user', 'remove', 'dave', '--postgres', database])).code).toBe(0);
    expect(await session(a, auth.cookie)).toBe(401);
    expect(await session(b, auth.cookie)).toBe(401);
  });

  it('says so when the database cannot be reached', async () => {
    const refused = await posture(dir, [
      'console',
      'user',
      'list',
      '--postgres',
      'postgres://postgres@127.0.0.1:1/none',
    ]);
    expect(refused.code).toBe(2);
    expect(refused.err).toContain('cannot open the console users store on postgresql');
  });
});

describe('two posture console processes over one SQLite file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'posture-console-sqlite-replicas-'));
  const running: ChildProcess[] = [];
  const consoles: string[] = [];

  beforeAll(async () => {
    writeFileSync(join(dir, 'posture.yaml'), POLICY);
    const added = await posture(
      dir,
      ['console', 'user', 'add', 'carol', '--role', 'viewer', '--password-stdin'],
      `${PASSWORD}\n`,
    );
    expect(added.out).toContain('added console user `carol` (viewer) in .posture/posture.db');
    for (let i = 0; i < 2; i++) consoles.push(await startConsole(dir, [], running));
  }, 60_000);

  afterAll(async () => {
    await stopAll(running);
    rmSync(dir, { recursive: true, force: true });
  });

  it('shares logins through the file: a login on one is accepted by the other, a logout ends it on both', async () => {
    const [a, b] = consoles as [string, string];
    const auth = await login(a, 'carol');
    expect(await session(b, auth.cookie)).toBe(200);
    expect(await logout(b, auth)).toBe(200);
    expect(await session(a, auth.cookie)).toBe(401);
  });
});
