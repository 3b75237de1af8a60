// TOTP secrets at rest through the console: the harness's SQLite file holds only sealed secrets,
// the key sits beside it (mode 0600), and a sealed secret moved into another user's row makes that
// user's step-up fail loudly (500 `console_key`, the key file named in the console's log) instead
// of passing or looking like a wrong code.
import { statSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, expect, it } from 'vitest';
import { startHarness, type Harness } from './harness.js';

let h: Harness;

afterEach(async () => {
  await h.close();
});

it('keeps sealed secrets in the file, and refuses one copied to another user, naming the key file', async () => {
  const lines: string[] = [];
  h = await startHarness({ log: (line) => lines.push(line) });
  await h.addUser('bob', ['approver'], { totp: true });
  await h.addUser('carol', ['approver'], { totp: true });
  const keyFile = join(h.folder, 'console.key');
  expect(statSync(keyFile).mode & 0o777).toBe(0o600);
  const db = new Database(h.db);
  try {
    const rows = db
      .prepare('SELECT name, totp_secret FROM posture_console_users ORDER BY name')
      .all() as Array<{
      name: string;
      totp_secret: string;
    }>;
    expect(rows.map((r) => r.totp_secret.startsWith('sealed:v1:'))).toEqual([true, true]);
    expect(JSON.stringify(rows)).not.toContain(h.totpSecrets.get('bob'));
    // Someone with write access to the table gives carol bob's (sealed) secret.
    db.prepare('UPDATE posture_console_users SET totp_secret = ? WHERE name = ?').run(
      rows[0]!.totp_secret,
      'carol',
    );
  } finally {
    db.close();
  }

  const carol = h.client();
  await carol.login('carol');
  const id = await h.request();
  const reply = await carol.post(`/api/approvals/${id}/decide`, {
    approve: true,
    stepUp: { method: 'totp', code: h.code('bob') },
  });
  expect(reply.status).toBe(500);
  expect(reply.body.error.code).toBe('console_key');
  expect(lines.some((line) => line.includes(keyFile) && line.includes('`carol`'))).toBe(true);
  expect((await h.approvals.get(id, new Date(h.clock.now)))!.status).toBe('pending');

  // bob's own row still opens: the key is right, only the moved secret is refused.
  const bob = h.client();
  await bob.login('bob');
  const other = await h.request({ session: 'other' });
  const approved = await bob.post(`/api/approvals/${other}/decide`, {
    approve: true,
    stepUp: { method: 'totp', code: h.code('bob') },
  });
  expect(approved.status, JSON.stringify(approved.body)).toBe(200);
});
