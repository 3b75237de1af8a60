// Console users, in memory and in SQLite alike: scrypt hashes with their parameters, bad input
// refused, TOTP enrolment and one use per time step, passkeys removed with their user.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Secret, TOTP } from 'otpauth';
import { afterAll, describe, expect, it } from 'vitest';
import {
  checkPassword,
  createMemoryConsoleUsers,
  hashPassword,
  openSqliteConsoleUsers,
} from '../src/users.js';
import { TEST_COST } from './harness.js';

const folder = mkdtempSync(join(tmpdir(), 'posture-console-users-'));
afterAll(() => rmSync(folder, { recursive: true, force: true }));

describe('password hashes', () => {
  it('are scrypt with a random salt and the parameters, and check only the right password', async () => {
    const one = await hashPassword('s3cret password', TEST_COST);
    const two = await hashPassword('s3cret password', TEST_COST);
    expect(one).toMatch(/^scrypt\$N=1024,r=8,p=1\$[A-Za-z0-9+/=]{24}\$[A-Za-z0-9+/=]{44}$/);
    expect(one).not.toBe(two);
    expect(await checkPassword('s3cret password', one)).toBe(true);
    expect(await checkPassword('s3cret passwore', one)).toBe(false);
    expect(await checkPassword('s3cret password', 'plain text')).toBe(false);
  });
});

const stores = {
  memory: () => createMemoryConsoleUsers({ scryptCost: TEST_COST }),
  sqlite: () => openSqliteConsoleUsers(join(folder, `users-${Math.random()}.db`), { scryptCost: TEST_COST }),
};

for (const [kind, open] of Object.entries(stores)) {
  describe(`${kind} console users`, () => {
    it('adds, verifies, lists and removes users; refuses bad input', async () => {
      const users = open();
      const bob = await users.add({ name: 'bob', password: 'long enough', roles: ['approver', 'approver'] });
      expect(bob).toMatchObject({ name: 'bob', roles: ['approver'], totp: false, webauthn: 0 });
      await expect(users.add({ name: 'bob', password: 'long enough', roles: ['viewer'] })).rejects.toThrow(
        'already exists',
      );
      await expect(users.add({ name: 'eve', password: 'short', roles: ['viewer'] })).rejects.toThrow(
        '8 characters',
      );
      await expect(users.add({ name: 'eve', password: 'long enough', roles: [] })).rejects.toThrow('role');
      await expect(
        users.add({ name: 'eve', password: 'long enough', roles: ['root' as 'viewer'] }),
      ).rejects.toThrow('not a role');
      await expect(
        users.add({ name: 'bad name', password: 'long enough', roles: ['viewer'] }),
      ).rejects.toThrow('not a user name');
      expect(await users.verifyPassword('bob', 'long enough')).toMatchObject({ name: 'bob' });
      expect(await users.verifyPassword('bob', 'wrong one')).toBeUndefined();
      expect(await users.verifyPassword('nobody', 'long enough')).toBeUndefined();
      await users.setPassword('bob', 'another long one');
      expect(await users.verifyPassword('bob', 'long enough')).toBeUndefined();
      expect(await users.verifyPassword('bob', 'another long one')).toBeDefined();
      await users.addCredential({
        id: 'cred-1',
        user: 'bob',
        public_key: 'AAAA',
        counter: 0,
        transports: ['usb'],
        created_at: new Date().toISOString(),
      });
      await users.updateCounter('cred-1', 7);
      expect(await users.credentials('bob')).toEqual([expect.objectContaining({ id: 'cred-1', counter: 7 })]);
      expect((await users.get('bob'))!.webauthn).toBe(1);
      expect((await users.list()).map((u) => u.name)).toEqual(['bob']);
      expect(await users.remove('bob')).toBe(true);
      expect(await users.remove('bob')).toBe(false);
      expect(await users.credentials('bob')).toEqual([]);
      await users.close();
    });

    it('enrols TOTP pending until confirmed, and accepts each time step once', async () => {
      const users = open();
      await users.add({ name: 'carol', password: 'long enough', roles: ['approver'] });
      const { secret, uri } = await users.enrolTotp('carol');
      expect(uri).toContain(`secret=${secret}`);
      const totp = new TOTP({ secret: Secret.fromBase32(secret) });
      const at = new Date('2026-12-01T12:00:00Z');
      // Pending: not yet a factor.
      expect(await users.verifyTotp('carol', totp.generate({ timestamp: at.getTime() }), at)).toBe(false);
      expect(await users.confirmTotp('carol', '000000', at)).toBe(
        totp.generate({ timestamp: at.getTime() }) === '000000',
      );
      expect(await users.confirmTotp('carol', totp.generate({ timestamp: at.getTime() }), at)).toBe(true);
      expect((await users.get('carol'))!.totp).toBe(true);
      // The step that confirmed it is used; the next one works once.
      const later = new Date(at.getTime() + 30_000);
      const code = totp.generate({ timestamp: later.getTime() });
      expect(await users.verifyTotp('carol', code, later)).toBe(true);
      expect(await users.verifyTotp('carol', code, later)).toBe(false);
      // One step of drift either way, no more.
      const drift = new Date(at.getTime() + 90_000);
      expect(
        await users.verifyTotp('carol', totp.generate({ timestamp: drift.getTime() + 30_000 }), drift),
      ).toBe(true);
      expect(
        await users.verifyTotp('carol', totp.generate({ timestamp: drift.getTime() + 300_000 }), drift),
      ).toBe(false);
      expect(await users.verifyTotp('carol', 'abcdef', drift)).toBe(false);
      await users.close();
    });
  });
}

describe('the SQLite store', () => {
  it('keeps users in the evidence file, and never a password in clear', async () => {
    const path = join(folder, 'evidence.db');
    const users = openSqliteConsoleUsers(path, { scryptCost: TEST_COST });
    await users.add({ name: 'dana', password: 'dana password', roles: ['viewer'] });
    await users.close();
    const again = openSqliteConsoleUsers(path, { scryptCost: TEST_COST });
    expect(await again.verifyPassword('dana', 'dana password')).toBeDefined();
    await again.close();
    const raw = new Database(path, { readonly: true });
    const dump = JSON.stringify(raw.prepare('SELECT * FROM posture_console_users').all());
    raw.close();
    expect(dump).not.toContain('dana password');
    expect(() => openSqliteConsoleUsers(join(folder, 'missing.db'), { create: false })).toThrow(
      'no console users store',
    );
  });
});
