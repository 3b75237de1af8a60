// The contract every ConsoleUsers backend must pass (memory, SQLite, PostgreSQL): users added,
// verified, listed in code-point order and removed with their passkeys; bad input refused; TOTP
// pending until confirmed and each time step accepted once; WebAuthn counters only forward; and,
// for stores several consoles share, what one store does is what the others see: a user added
// through one verifies through another, a TOTP step or a counter used on one is refused on the
// other, and of several adding one name at once exactly one wins. Persistent stores keep TOTP
// secrets sealed under the console key, bound to their user: a secret kept in clear by an older
// store is sealed at the next open and keeps working; a sealed secret copied to another user's
// row, a wrong key file or a missing one are errors naming the file, never a silent pass.
import { chmodSync, existsSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Secret, TOTP } from 'otpauth';
import { describe, expect, it } from 'vitest';
import { ConsoleKeyError } from '../src/secrets.js';
import type { ConsoleUsers, SecretColumn, WebAuthnCredential } from '../src/users.js';

export interface UsersLocation {
  /**
   * A store over this location; two opens share it when the backend is shared. Persistent ones
   * use `keyFile` (default: the location's own key file) for the console key.
   */
  open(options?: { keyFile?: string }): Promise<ConsoleUsers>;
  /** Everything the backend keeps, as text, to look for secrets in clear (persistent backends). */
  dump?(): Promise<string>;
  /** The stored value of a user's TOTP column, read and written past the store (persistent backends). */
  raw?: {
    get(name: string, column: SecretColumn): Promise<string | null>;
    set(name: string, column: SecretColumn, value: string | null): Promise<void>;
  };
  /** The key file `open()` uses by default (persistent backends). */
  keyFile?: string;
}

export interface UsersBackend {
  /** Whether several stores over one location share their users (SQLite, PostgreSQL). */
  shared: boolean;
  fresh(): Promise<UsersLocation>;
}

const credential = (id: string, user: string, counter = 0): WebAuthnCredential => ({
  id,
  user,
  public_key: 'AAAA',
  counter,
  transports: ['usb'],
  created_at: new Date().toISOString(),
});

const totpOf = (secret: string) => new TOTP({ secret: Secret.fromBase32(secret) });

export function defineConsoleUsersContract(backend: UsersBackend): void {
  const withStore = async (body: (users: ConsoleUsers, location: UsersLocation) => Promise<void>) => {
    const location = await backend.fresh();
    const users = await location.open();
    try {
      await body(users, location);
    } finally {
      await users.close();
    }
  };

  it('adds, verifies, lists and removes users; refuses bad input', () =>
    withStore(async (users) => {
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
      expect(await users.get('eve')).toBeUndefined();
      expect(await users.verifyPassword('bob', 'long enough')).toMatchObject({ name: 'bob' });
      expect(await users.verifyPassword('bob', 'wrong one')).toBeUndefined();
      expect(await users.verifyPassword('nobody', 'long enough')).toBeUndefined();
      await users.setPassword('bob', 'another long one');
      expect(await users.verifyPassword('bob', 'long enough')).toBeUndefined();
      expect(await users.verifyPassword('bob', 'another long one')).toBeDefined();
      await expect(users.setPassword('bob', 'short')).rejects.toThrow('8 characters');
      await expect(users.setPassword('nobody', 'long enough')).rejects.toThrow('no console user `nobody`');
      await users.addCredential(credential('cred-1', 'bob'));
      await users.updateCounter('cred-1', 7);
      expect(await users.credentials('bob')).toEqual([expect.objectContaining({ id: 'cred-1', counter: 7 })]);
      expect((await users.get('bob'))!.webauthn).toBe(1);
      expect((await users.list()).map((u) => u.name)).toEqual(['bob']);
      expect(await users.remove('bob')).toBe(true);
      expect(await users.remove('bob')).toBe(false);
      expect(await users.credentials('bob')).toEqual([]);
    }));

  it('keeps what it was given: roles, creation time, passkeys and their transports', () =>
    withStore(async (users) => {
      const at = new Date('2026-12-01T12:00:00.000Z');
      await users.add({ name: 'carol', password: 'long enough', roles: ['viewer', 'admin'] }, at);
      expect(await users.get('carol')).toEqual({
        name: 'carol',
        roles: ['viewer', 'admin'],
        created_at: at.toISOString(),
        totp: false,
        webauthn: 0,
      });
      const one = {
        ...credential('c-1', 'carol', 3),
        transports: ['usb', 'nfc'],
        created_at: at.toISOString(),
      };
      const two = {
        ...credential('c-2', 'carol'),
        transports: [],
        created_at: new Date(at.getTime() + 1).toISOString(),
      };
      await users.addCredential(one);
      await users.addCredential(two);
      expect(await users.credentials('carol')).toEqual([one, two]);
      expect((await users.get('carol'))!.webauthn).toBe(2);
      await expect(users.addCredential(one)).rejects.toThrow('already registered');
      await expect(users.addCredential(credential('c-3', 'nobody'))).rejects.toThrow('no console user');
    }));

  it('lists users in code-point order', () =>
    withStore(async (users) => {
      for (const name of ['bob', 'Zed', 'alice', 'Bob', 'a.b', 'a-b'])
        await users.add({ name, password: 'long enough', roles: ['viewer'] });
      expect((await users.list()).map((u) => u.name)).toEqual(['Bob', 'Zed', 'a-b', 'a.b', 'alice', 'bob']);
    }));

  it('enrols TOTP pending until confirmed, and accepts each time step once', () =>
    withStore(async (users) => {
      await users.add({ name: 'carol', password: 'long enough', roles: ['approver'] });
      const { secret, uri } = await users.enrolTotp('carol');
      expect(uri).toContain(`secret=${secret}`);
      const totp = totpOf(secret);
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
      expect(await users.verifyTotp('nobody', '123456', drift)).toBe(false);
      await expect(users.enrolTotp('nobody')).rejects.toThrow('no console user `nobody`');
    }));

  it('keeps the confirmed secret while a new one is pending; a confirmed enrolment replaces it', () =>
    withStore(async (users) => {
      await users.add({ name: 'dana', password: 'long enough', roles: ['approver'] });
      const first = await users.enrolTotp('dana', { confirmed: true });
      expect((await users.get('dana'))!.totp).toBe(true);
      const at = new Date('2026-12-01T12:00:00Z');
      const pending = await users.enrolTotp('dana');
      // The old one still works until the new one is confirmed.
      expect(
        await users.verifyTotp('dana', totpOf(first.secret).generate({ timestamp: at.getTime() }), at),
      ).toBe(true);
      // A second pending secret replaces the first: a code of the first no longer confirms.
      const second = await users.enrolTotp('dana');
      const later = new Date(at.getTime() + 60_000);
      expect(
        await users.confirmTotp(
          'dana',
          totpOf(pending.secret).generate({ timestamp: later.getTime() }),
          later,
        ),
      ).toBe(
        totpOf(pending.secret).generate({ timestamp: later.getTime() }) ===
          totpOf(second.secret).generate({ timestamp: later.getTime() }),
      );
      expect(
        await users.confirmTotp(
          'dana',
          totpOf(second.secret).generate({ timestamp: later.getTime() }),
          later,
        ),
      ).toBe(true);
      const after = new Date(later.getTime() + 30_000);
      expect(
        await users.verifyTotp('dana', totpOf(first.secret).generate({ timestamp: after.getTime() }), after),
      ).toBe(false);
      expect(
        await users.verifyTotp('dana', totpOf(second.secret).generate({ timestamp: after.getTime() }), after),
      ).toBe(true);
    }));

  it('moves a WebAuthn counter only forward', () =>
    withStore(async (users) => {
      await users.add({ name: 'erin', password: 'long enough', roles: ['approver'] });
      await users.addCredential(credential('counted', 'erin', 5));
      await users.addCredential(credential('uncounted', 'erin', 0));
      expect(await users.updateCounter('counted', 6)).toBe(true);
      // Replayed, or a clone behind the real authenticator: refused, the stored counter kept.
      expect(await users.updateCounter('counted', 6)).toBe(false);
      expect(await users.updateCounter('counted', 4)).toBe(false);
      expect(await users.updateCounter('counted', 0)).toBe(false);
      expect(await users.updateCounter('counted', -1)).toBe(false);
      expect(await users.updateCounter('counted', 6.5)).toBe(false);
      expect(await users.updateCounter('counted', 2 ** 32 - 1)).toBe(true);
      // An authenticator without a counter stays at 0 and is accepted while it does.
      expect(await users.updateCounter('uncounted', 0)).toBe(true);
      expect(await users.updateCounter('uncounted', 0)).toBe(true);
      expect(await users.updateCounter('missing', 1)).toBe(false);
      const counters = Object.fromEntries((await users.credentials('erin')).map((c) => [c.id, c.counter]));
      expect(counters).toEqual({ counted: 2 ** 32 - 1, uncounted: 0 });
    }));

  it('refuses calls once closed', async () => {
    const location = await backend.fresh();
    const users = await location.open();
    await users.close();
    await expect(users.get('bob')).rejects.toThrow();
    await expect(users.add({ name: 'bob', password: 'long enough', roles: ['viewer'] })).rejects.toThrow();
  });

  it('never keeps a password or a TOTP secret in clear', async () => {
    const location = await backend.fresh();
    if (!location.dump) return;
    const users = await location.open();
    await users.add({ name: 'dana', password: 'dana password', roles: ['viewer'] });
    const confirmed = await users.enrolTotp('dana', { confirmed: true });
    const pending = await users.enrolTotp('dana');
    await users.close();
    const dump = await location.dump();
    expect(dump).toContain('dana');
    expect(dump).not.toContain('dana password');
    expect(dump).not.toContain(confirmed.secret);
    expect(dump).not.toContain(pending.secret);
    expect(dump).toContain('sealed:v1:');
  });

  // Only backends whose stores share state have these to pass (memory stores do not share).
  if (backend.shared) {
    describe('TOTP secrets sealed under the console key', () => {
      const at = new Date('2026-12-01T12:00:00Z');
      const codeAt = (secret: string, time: Date) => totpOf(secret).generate({ timestamp: time.getTime() });
      /** A location with one confirmed secret for `ivy` and one for `jon`. */
      const withSecrets = async () => {
        const location = await backend.fresh();
        const users = await location.open();
        await users.add({ name: 'ivy', password: 'long enough', roles: ['approver'] });
        await users.add({ name: 'jon', password: 'long enough', roles: ['approver'] });
        const ivy = (await users.enrolTotp('ivy', { confirmed: true })).secret;
        const jon = (await users.enrolTotp('jon', { confirmed: true })).secret;
        await users.close();
        return { location, ivy, jon };
      };
      const otherFile = (name: string) => join(mkdtempSync(join(tmpdir(), 'posture-console-key-')), name);

      it('creates the key file on first use with mode 0600', async () => {
        const { location } = await withSecrets();
        expect(existsSync(location.keyFile!)).toBe(true);
        if (process.platform !== 'win32') expect(statSync(location.keyFile!).mode & 0o777).toBe(0o600);
      });

      it('reads a secret an older store kept in clear, and seals it at the next open', async () => {
        const { location } = await withSecrets();
        const clear = 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP';
        await location.raw!.set('ivy', 'totp_secret', clear);
        await location.raw!.set('jon', 'totp_pending', clear);
        const users = await location.open();
        try {
          // Sealed on open: nothing is left in clear, and the code of the old secret still works.
          expect(await location.raw!.get('ivy', 'totp_secret')).toMatch(/^sealed:v1:/);
          expect(await location.raw!.get('jon', 'totp_pending')).toMatch(/^sealed:v1:/);
          expect(await location.dump!()).not.toContain(clear);
          expect(await users.verifyTotp('ivy', codeAt(clear, at), at)).toBe(true);
          expect(await users.confirmTotp('jon', codeAt(clear, at), at)).toBe(true);
          // Written back in clear by a store opened before (an older console still running): still read.
          await location.raw!.set('ivy', 'totp_secret', clear);
          const later = new Date(at.getTime() + 30_000);
          expect(await users.verifyTotp('ivy', codeAt(clear, later), later)).toBe(true);
        } finally {
          await users.close();
        }
      });

      it('refuses a sealed secret copied into another user’s row, naming the key file', async () => {
        const { location, ivy } = await withSecrets();
        const ivySealed = (await location.raw!.get('ivy', 'totp_secret'))!;
        await location.raw!.set('jon', 'totp_secret', ivySealed);
        const users = await location.open();
        try {
          // ivy's code against jon's row: the user name is authenticated data, so it does not open.
          await expect(users.verifyTotp('jon', codeAt(ivy, at), at)).rejects.toThrow(ConsoleKeyError);
          await expect(users.verifyTotp('jon', codeAt(ivy, at), at)).rejects.toThrow(location.keyFile!);
          expect(await users.verifyTotp('ivy', codeAt(ivy, at), at)).toBe(true);
        } finally {
          await users.close();
        }
      });

      it('refuses to open with another key file, or without the key file, naming the file', async () => {
        const { location } = await withSecrets();
        const wrong = otherFile('wrong.key');
        writeFileSync(wrong, `${'ab'.repeat(32)}\n`, { mode: 0o600 });
        await expect(location.open({ keyFile: wrong })).rejects.toThrow(
          `the console key \`${wrong}\` opens none of the TOTP secrets`,
        );
        const missing = otherFile('missing.key');
        await expect(location.open({ keyFile: missing })).rejects.toThrow(
          `the console key \`${missing}\` is missing`,
        );
        // No new key was made in its place: it would open nothing, and seal new secrets apart.
        expect(existsSync(missing)).toBe(false);
        if (process.platform !== 'win32') {
          const loose = otherFile('loose.key');
          writeFileSync(loose, `${'ab'.repeat(32)}\n`);
          chmodSync(loose, 0o644);
          await expect(location.open({ keyFile: loose })).rejects.toThrow('readable by other users');
        }
        const notAKey = otherFile('bad.key');
        writeFileSync(notAKey, 'not a key\n', { mode: 0o600 });
        await expect(location.open({ keyFile: notAKey })).rejects.toThrow(
          `console key file \`${notAKey}\` holds no valid key`,
        );
      });
    });
  }

  // Only backends whose stores share state have these to pass (memory stores do not share).
  if (backend.shared) {
    describe('shared by several stores', () => {
      const withTwo = async (body: (a: ConsoleUsers, b: ConsoleUsers) => Promise<void>) => {
        const location = await backend.fresh();
        const a = await location.open();
        const b = await location.open();
        try {
          await body(a, b);
        } finally {
          await a.close();
          await b.close();
        }
      };

      it('a user added through one store verifies through another; changes and removals show', () =>
        withTwo(async (a, b) => {
          await a.add({ name: 'frank', password: 'frank password', roles: ['viewer'] });
          expect(await b.verifyPassword('frank', 'frank password')).toMatchObject({
            name: 'frank',
            roles: ['viewer'],
          });
          await expect(
            b.add({ name: 'frank', password: 'other password', roles: ['admin'] }),
          ).rejects.toThrow('already exists');
          await b.setPassword('frank', 'new frank password');
          expect(await a.verifyPassword('frank', 'frank password')).toBeUndefined();
          expect(await a.verifyPassword('frank', 'new frank password')).toBeDefined();
          await a.addCredential(credential('frank-key', 'frank'));
          expect((await b.get('frank'))!.webauthn).toBe(1);
          expect(await b.remove('frank')).toBe(true);
          expect(await a.get('frank')).toBeUndefined();
          expect(await a.credentials('frank')).toEqual([]);
        }));

      it('a TOTP step or a counter used through one store is refused through another', () =>
        withTwo(async (a, b) => {
          await a.add({ name: 'gina', password: 'long enough', roles: ['approver'] });
          const { secret } = await a.enrolTotp('gina', { confirmed: true });
          const at = new Date('2026-12-01T12:00:00Z');
          const code = totpOf(secret).generate({ timestamp: at.getTime() });
          expect(await a.verifyTotp('gina', code, at)).toBe(true);
          expect(await b.verifyTotp('gina', code, at)).toBe(false);
          await a.addCredential(credential('gina-key', 'gina', 10));
          expect(await a.updateCounter('gina-key', 11)).toBe(true);
          // A clone presenting 11 (or less) to the other console is refused there.
          expect(await b.updateCounter('gina-key', 11)).toBe(false);
          expect(await b.updateCounter('gina-key', 12)).toBe(true);
        }));

      it('of several adding one name at once, exactly one wins', () =>
        withTwo(async (a, b) => {
          for (let round = 0; round < 5; round++) {
            const name = `racer${round}`;
            const results = await Promise.allSettled(
              [a, b, a, b].map((users, i) =>
                users.add({ name, password: `password number ${i}`, roles: ['viewer'] }),
              ),
            );
            const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
            expect(won).toHaveLength(1);
            for (const r of results)
              if (r.status === 'rejected') expect(String(r.reason)).toContain('already exists');
            expect(await b.verifyPassword(name, `password number ${won[0]}`)).toBeDefined();
          }
        }));

      it('of several answering one TOTP code at once, exactly one is accepted', () =>
        withTwo(async (a, b) => {
          await a.add({ name: 'hal', password: 'long enough', roles: ['approver'] });
          const { secret } = await a.enrolTotp('hal', { confirmed: true });
          const at = new Date('2026-12-01T12:00:00Z');
          const code = totpOf(secret).generate({ timestamp: at.getTime() });
          const results = await Promise.all([a, b, a, b].map((users) => users.verifyTotp('hal', code, at)));
          expect(results.filter(Boolean)).toHaveLength(1);
          await a.addCredential(credential('hal-key', 'hal', 1));
          const moved = await Promise.all([a, b, a, b].map((users) => users.updateCounter('hal-key', 2)));
          expect(moved.filter(Boolean)).toHaveLength(1);
        }));
    });
  }
}
