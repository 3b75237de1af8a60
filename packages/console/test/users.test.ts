// Console users in memory and in SQLite: the ConsoleUsers contract (users.conformance.ts; the
// PostgreSQL run is users.postgres.test.ts), scrypt hashes with their parameters, and the SQLite
// file's own promises: users kept across opens, a missing file refused when asked not to create.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import {
  checkPassword,
  countSqliteConsoleUsers,
  createMemoryConsoleUsers,
  hashPassword,
  openSqliteConsoleUsers,
} from '../src/users.js';
import { dumpSqlite } from './dumps.js';
import { TEST_COST } from './harness.js';
import { defineConsoleUsersContract } from './users.conformance.js';

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

describe('memory console users', () => {
  defineConsoleUsersContract({
    shared: false,
    fresh: async () => ({ open: async () => createMemoryConsoleUsers({ scryptCost: TEST_COST }) }),
  });
});

describe('sqlite console users', () => {
  defineConsoleUsersContract({
    shared: true,
    fresh: async () => {
      const path = join(folder, `users-${Math.random()}.db`);
      const keyFile = `${path}.key`;
      const raw = <T>(run: (db: Database.Database) => T): T => {
        const db = new Database(path);
        try {
          return run(db);
        } finally {
          db.close();
        }
      };
      return {
        open: async (options = {}) =>
          openSqliteConsoleUsers(path, { scryptCost: TEST_COST, keyFile, ...options }),
        dump: async () => dumpSqlite(path),
        keyFile,
        raw: {
          get: async (name, column) =>
            raw(
              (db) =>
                (
                  db.prepare(`SELECT ${column} AS v FROM posture_console_users WHERE name = ?`).get(name) as {
                    v: string | null;
                  }
                ).v,
            ),
          set: async (name, column, value) =>
            void raw((db) =>
              db.prepare(`UPDATE posture_console_users SET ${column} = ? WHERE name = ?`).run(value, name),
            ),
        },
      };
    },
  });
});

describe('the SQLite store', () => {
  it('keeps its console key beside the file by default, made when the first secret is sealed', async () => {
    const sub = join(folder, 'beside');
    const users = openSqliteConsoleUsers(join(sub, 'posture.db'), { scryptCost: TEST_COST });
    await users.add({ name: 'kim', password: 'long enough', roles: ['approver'] });
    // Not at open: a store without TOTP secrets needs no key.
    expect(existsSync(join(sub, 'console.key'))).toBe(false);
    await users.enrolTotp('kim', { confirmed: true });
    expect(existsSync(join(sub, 'console.key'))).toBe(true);
    await users.close();
  });

  it('keeps users in the evidence file across opens', async () => {
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

describe('countSqliteConsoleUsers', () => {
  it('counts the users of a file read-only: no key made, no secret sealed, no file created', async () => {
    const path = join(folder, 'count.db');
    expect(countSqliteConsoleUsers(path)).toBe(0);
    expect(existsSync(path)).toBe(false);
    const keyFile = join(folder, 'count.key');
    const users = openSqliteConsoleUsers(path, { scryptCost: TEST_COST, keyFile });
    await users.add({ name: 'dana', password: 'a long password', roles: ['approver'] });
    await users.add({ name: 'sam', password: 'another password', roles: ['viewer'] });
    await users.close();
    const before = await dumpSqlite(path);
    expect(countSqliteConsoleUsers(path)).toBe(2);
    expect(await dumpSqlite(path)).toEqual(before);
    expect(existsSync(join(folder, 'console.key'))).toBe(false);
    const other = join(folder, 'other.db');
    new Database(other).close(); // a database without console users
    expect(countSqliteConsoleUsers(other)).toBe(0);
  });
});
