// `posture console` and `posture console user …`: users in a real SQLite file in a temporary
// folder, then the console served from it and logged in to over HTTP.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../src/main.js';
import { fakeIo } from './fake-io.js';

const POLICY = `version: 1
users:
  bob: { groups: [approvers] }
agents:
  bot:
    owner: bob
    run_by: [bob]
    grants:
      - tools: [tickets/get_ticket]
        access: read
servers:
  tickets:
    url: http://127.0.0.1:9000/mcp
    tools:
      get_ticket: { access: read }
`;

const folder = mkdtempSync(join(tmpdir(), 'posture-cli-console-'));
const db = join(folder, 'posture.db');
const policy = join(folder, 'posture.yaml');
writeFileSync(policy, POLICY);

afterAll(() => rmSync(folder, { recursive: true, force: true }));

async function run(argv: string[], stdin = '') {
  const io = fakeIo(stdin);
  const code = await main(argv, io);
  return { code, out: io.out, err: io.err };
}

describe('posture console user', () => {
  it('adds a user with a password from stdin and a TOTP enrolment, lists and removes users', async () => {
    const added = await run(
      [
        'console',
        'user',
        'add',
        'bob',
        '--role',
        'approver,viewer',
        '--password-stdin',
        '--totp',
        '--db',
        db,
      ],
      'a long enough password\n',
    );
    expect(added.err).toBe('');
    expect(added.code).toBe(0);
    expect(added.out).toContain('added console user `bob` (approver, viewer)');
    expect(added.out).toMatch(/otpauth:\/\/totp\/Posture:bob\?.*secret=[A-Z2-7]+/);
    expect(added.out).not.toContain('password:');

    const generated = await run(['console', '--db', db, 'user', 'add', 'vic', '--role', 'viewer']);
    expect(generated.code).toBe(0);
    expect(generated.out).toMatch(/password: [A-Za-z0-9_-]{20}/);

    const again = await run(['console', 'user', 'add', 'bob', '--role', 'viewer', '--db', db]);
    expect(again.code).toBe(2);
    expect(again.err).toContain('already exists');
    const badRole = await run(['console', 'user', 'add', 'eve', '--role', 'root', '--db', db]);
    expect(badRole.code).toBe(2);
    expect(badRole.err).toContain('`root` is not a role');
    const noRole = await run(['console', 'user', 'add', 'eve', '--db', db]);
    expect(noRole.code).toBe(2);

    const list = await run(['console', 'user', 'list', '--json', '--db', db]);
    expect(JSON.parse(list.out)).toEqual([
      expect.objectContaining({ name: 'bob', roles: ['approver', 'viewer'], totp: true, webauthn: 0 }),
      expect.objectContaining({ name: 'vic', roles: ['viewer'], totp: false }),
    ]);
    const text = await run(['console', 'user', 'list', '--db', db]);
    expect(text.out).toMatch(/^bob {2}approver,viewer {2}totp/m);

    const passwd = await run(
      ['console', 'user', 'passwd', 'vic', '--password-stdin', '--db', db],
      'vic new password\n',
    );
    expect(passwd.code, passwd.err).toBe(0);
    const totp = await run(['console', 'user', 'totp', 'vic', '--db', db]);
    expect(totp.out).toMatch(/otpauth:\/\/totp\/Posture:vic\?/);
    const listed = JSON.parse((await run(['console', 'user', 'list', '--json', '--db', db])).out) as Array<{
      name: string;
      totp: boolean;
    }>;
    expect(listed.find((u) => u.name === 'vic')!.totp).toBe(true);
    expect((await run(['console', 'user', 'totp', 'nobody', '--db', db])).code).toBe(1);
    expect(
      (await run(['console', 'user', 'passwd', 'vic', '--password-stdin', '--db', db], 'short\n')).code,
    ).toBe(1);
    expect((await run(['console', 'user', 'remove', 'vic', '--db', db])).code).toBe(0);
    const missing = await run(['console', 'user', 'remove', 'vic', '--db', db]);
    expect(missing.code).toBe(1);
    expect(missing.err).toContain('no console user `vic`');
    const nowhere = await run(['console', 'user', 'list', '--db', join(folder, 'nope.db')]);
    expect(nowhere.code).toBe(2);
  });
});

describe('posture console', () => {
  it('serves the console over the store; a user added from the command line logs in', async () => {
    const io = fakeIo();
    const running = main(['console', '--db', db, '--policy', policy, '--port', '0'], io);
    let url: string | undefined;
    for (let i = 0; i < 200 && url === undefined; i++) {
      url = /posture console: (http:\/\/\S+)/.exec(io.err)?.[1];
      if (url === undefined) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(url, io.err).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const health = await fetch(`${url}/api/health`);
    expect(health.status).toBe(200);
    const login = await fetch(`${url}/api/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ user: 'bob', password: 'a long enough password' }),
    });
    expect(login.status).toBe(200);
    const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
    const policyReply = await fetch(`${url}/api/policy`, { headers: { cookie } });
    expect(((await policyReply.json()) as { path: string }).path).toBe(policy);
    const wrong = await fetch(`${url}/api/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ user: 'bob', password: 'wrong password' }),
    });
    expect(wrong.status).toBe(401);
    process.emit('SIGTERM');
    expect(await running).toBe(0);
  });

  it('refuses a bad port and a missing policy with a clear error', async () => {
    const port = await run(['console', '--db', db, '--policy', policy, '--port', 'x']);
    expect(port.code).toBe(2);
    expect(port.err).toContain('`--port x` is not a port');
    const missing = await run(['console', '--db', db, '--policy', join(folder, 'none.yaml'), '--port', '0']);
    expect(missing.code).toBe(2);
    expect(missing.err).toContain('cannot read policy');
  });
});
