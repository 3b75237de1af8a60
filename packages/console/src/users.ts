// Console users: local accounts with scrypt password hashes (parameters stored with each hash),
// roles, and second factors (a TOTP secret, sealed under the console key: secrets.ts; WebAuthn
// credentials). One store in memory for tests, one in the SQLite file the gateway writes its
// evidence to, and one in PostgreSQL (postgres/users.ts) for consoles that run as several replicas.
import Database from 'better-sqlite3';
import { randomBytes, scrypt as scryptCallback, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Secret, TOTP } from 'otpauth';
import { fileKeyring, isSealed, memoryKeyring, SecretBox } from './secrets.js';

export type Role = 'viewer' | 'approver' | 'admin';
export const ROLES: readonly Role[] = ['viewer', 'approver', 'admin'];

export interface ConsoleUser {
  name: string;
  roles: Role[];
  created_at: string;
  /** A confirmed TOTP secret. */
  totp: boolean;
  /** How many WebAuthn credentials (passkeys) are registered. */
  webauthn: number;
}

export interface WebAuthnCredential {
  /** base64url credential id */
  id: string;
  user: string;
  /** base64url COSE public key */
  public_key: string;
  counter: number;
  transports: string[];
  created_at: string;
}

/** scrypt cost: N (a power of two), r, p. Stored with each hash, so it can be raised later. */
export interface ScryptCost {
  N: number;
  r: number;
  p: number;
}

/** OWASP's recommended minimum for scrypt (128 MiB per hash). */
export const DEFAULT_SCRYPT_COST: ScryptCost = { N: 2 ** 17, r: 8, p: 1 };

export interface ConsoleUsersOptions {
  scryptCost?: ScryptCost;
  /** The TOTP issuer in enrolment URIs. */
  issuer?: string;
  /**
   * The console key file that seals TOTP secrets (created on first use, mode 0600). Default:
   * `console.key` beside the SQLite file, `.posture/console.key` for PostgreSQL; a memory store
   * keeps its key in memory. Consoles sharing a store need the same file.
   */
  keyFile?: string;
}

/** Where a PostgreSQL store's console key is by default (relative to the working folder). */
export const DEFAULT_CONSOLE_KEY = join('.posture', 'console.key');

export interface ConsoleUsers {
  /** Throws on a bad name, an empty password, no or unknown roles, or a name already taken. */
  add(input: { name: string; password: string; roles: readonly Role[] }, now?: Date): Promise<ConsoleUser>;
  get(name: string): Promise<ConsoleUser | undefined>;
  list(): Promise<ConsoleUser[]>;
  /** False when there was no such user. Removes the user's factors too. */
  remove(name: string): Promise<boolean>;
  setPassword(name: string, password: string): Promise<void>;
  /** The user when the password is theirs; takes as long for an unknown user as for a known one. */
  verifyPassword(name: string, password: string): Promise<ConsoleUser | undefined>;
  /**
   * A new TOTP secret for the user. Pending until `confirmTotp` with a code from it, unless
   * `confirmed` (an administrator enrolling from the command line). Replaces any pending one.
   */
  enrolTotp(name: string, options?: { confirmed?: boolean }): Promise<{ secret: string; uri: string }>;
  /** Activates the pending secret when `code` is valid for it at `now`. */
  confirmTotp(name: string, code: string, now: Date): Promise<boolean>;
  /** Whether `code` is valid for the confirmed secret at `now`; each time step is accepted once. */
  verifyTotp(name: string, code: string, now: Date): Promise<boolean>;
  addCredential(credential: WebAuthnCredential): Promise<void>;
  credentials(name: string): Promise<WebAuthnCredential[]>;
  /**
   * Records the authenticator's signature counter after a verified assertion, only forward: false
   * when the stored counter is already at or past `counter` (a replayed assertion or a cloned
   * authenticator, possibly seen first by another console), or there is no such credential.
   * Authenticators that keep no counter (always 0) are accepted while it stays 0.
   */
  updateCounter(id: string, counter: number): Promise<boolean>;
  close(): Promise<void>;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$/;
const KEY_LENGTH = 32;
const TOTP_PERIOD = 30;

function scrypt(password: string, salt: Buffer, cost: ScryptCost): Promise<Buffer> {
  const options: ScryptOptions = {
    N: cost.N,
    r: cost.r,
    p: cost.p,
    maxmem: 256 * cost.N * cost.r + 1024 * 1024,
  };
  return new Promise((resolve, reject) =>
    scryptCallback(password.normalize('NFC'), salt, KEY_LENGTH, options, (error, key) =>
      error ? reject(error) : resolve(key),
    ),
  );
}

/** `scrypt$N=…,r=…,p=…$<base64 salt>$<base64 key>` */
export async function hashPassword(
  password: string,
  cost: ScryptCost = DEFAULT_SCRYPT_COST,
): Promise<string> {
  const salt = randomBytes(16);
  const key = await scrypt(password, salt, cost);
  return `scrypt$N=${cost.N},r=${cost.r},p=${cost.p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

export async function checkPassword(password: string, stored: string): Promise<boolean> {
  const match = /^scrypt\$N=(\d+),r=(\d+),p=(\d+)\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$/.exec(stored);
  if (!match) return false;
  const cost = { N: Number(match[1]), r: Number(match[2]), p: Number(match[3]) };
  const expected = Buffer.from(match[5]!, 'base64');
  const key = await scrypt(password, Buffer.from(match[4]!, 'base64'), cost);
  return key.length === expected.length && timingSafeEqual(key, expected);
}

function checkInput(input: { name: string; password: string; roles: readonly Role[] }): void {
  if (!NAME.test(input.name)) {
    throw new Error(`\`${input.name}\` is not a user name (letters, digits, . _ @ -; at most 128)`);
  }
  if (input.password.length < 8) throw new Error('a password needs at least 8 characters');
  if (input.roles.length === 0) throw new Error('a user needs at least one role');
  for (const role of input.roles) {
    if (!ROLES.includes(role)) throw new Error(`\`${role}\` is not a role (${ROLES.join(', ')})`);
  }
}

function totpFor(name: string, secret: string, issuer: string): TOTP {
  return new TOTP({
    issuer,
    label: name,
    algorithm: 'SHA1',
    digits: 6,
    period: TOTP_PERIOD,
    secret: Secret.fromBase32(secret),
  });
}

/** The time step `code` is valid at (±1 step of drift), or undefined. */
function totpStep(totp: TOTP, code: string, now: Date): number | undefined {
  if (!/^\d{6}$/.test(code)) return undefined;
  const delta = totp.validate({ token: code, timestamp: now.getTime(), window: 1 });
  if (delta === null) return undefined;
  return Math.floor(now.getTime() / 1000 / TOTP_PERIOD) + delta;
}

export interface UserRow {
  name: string;
  password_hash: string;
  roles: string;
  created_at: string;
  totp_secret: string | null;
  totp_pending: string | null;
  totp_last_step: number | null;
}

/** A user row with how many WebAuthn credentials the user has. */
export type CountedRow = UserRow & { credential_count: number };

type Maybe<T> = T | Promise<T>;

export type SecretColumn = 'totp_secret' | 'totp_pending';

/** Every TOTP secret the rows hold, confirmed or pending, with where it is. */
export function storedSecrets(
  rows: readonly UserRow[],
): Array<{ user: string; column: SecretColumn; value: string }> {
  return rows.flatMap((row) =>
    (['totp_secret', 'totp_pending'] as const).flatMap((column) =>
      row[column] === null ? [] : [{ user: row.name, column, value: row[column] }],
    ),
  );
}

/** Whether any row holds a sealed secret. */
export const anySealed = (rows: readonly UserRow[]): boolean =>
  storedSecrets(rows).some((s) => isSealed(s.value));

/**
 * Seals the clear secrets a store opened with (written before secrets were sealed), each only if
 * it is still what was read, so consoles opening one store at once seal each secret once; and
 * refuses a key that is not the one the sealed secrets were sealed with.
 */
export function sealingPlan(box: SecretBox, rows: readonly UserRow[]) {
  return box.migrate(storedSecrets(rows));
}

/**
 * What every store shares: a table of rows, kept in a Map, in SQLite or in PostgreSQL. Each
 * method is one atomic step, so that consoles sharing a store cannot interleave inside one.
 */
export interface Rows {
  user(name: string): Maybe<CountedRow | undefined>;
  users(): Maybe<CountedRow[]>;
  /** False when the name is taken. */
  insert(row: UserRow): Maybe<boolean>;
  update(name: string, change: Partial<Omit<UserRow, 'name' | 'created_at'>>): Maybe<void>;
  remove(name: string): Maybe<boolean>;
  /** Sets the last step when it is newer than the stored one; false when it is not (a replay). */
  claimStep(name: string, step: number): Maybe<boolean>;
  /** Makes `pending` the secret, only while it is still the pending one. */
  activateTotp(name: string, pending: string, step: number): Maybe<boolean>;
  /** Sets the column to `to` only while it still holds `from` (sealing a clear secret once). */
  replaceSecret(name: string, column: SecretColumn, from: string, to: string): Maybe<boolean>;
  credentials(user: string): Maybe<WebAuthnCredential[]>;
  addCredential(credential: WebAuthnCredential): Maybe<void>;
  /** See `ConsoleUsers.updateCounter`. */
  updateCounter(id: string, counter: number): Maybe<boolean>;
  close(): Maybe<void>;
}

export function usersOver(rows: Rows, options: ConsoleUsersOptions, box: SecretBox): ConsoleUsers {
  const cost = options.scryptCost ?? DEFAULT_SCRYPT_COST;
  const issuer = options.issuer ?? 'Posture';
  // A hash at this store's cost to check unknown users' passwords against: a wrong name takes as long.
  let dummyHash: Promise<string> | undefined;
  const toUser = (row: CountedRow): ConsoleUser => ({
    name: row.name,
    roles: JSON.parse(row.roles) as Role[],
    created_at: row.created_at,
    totp: row.totp_secret !== null,
    webauthn: row.credential_count,
  });
  const existing = async (name: string): Promise<CountedRow> => {
    const row = await rows.user(name);
    if (!row) throw new Error(`no console user \`${name}\``);
    return row;
  };
  return {
    async add(input, now = new Date()) {
      checkInput(input);
      const row: UserRow = {
        name: input.name,
        password_hash: await hashPassword(input.password, cost),
        roles: JSON.stringify([...new Set(input.roles)]),
        created_at: now.toISOString(),
        totp_secret: null,
        totp_pending: null,
        totp_last_step: null,
      };
      if (!(await rows.insert(row))) throw new Error(`console user \`${input.name}\` already exists`);
      return toUser({ ...row, credential_count: 0 });
    },
    async get(name) {
      const row = await rows.user(name);
      return row ? toUser(row) : undefined;
    },
    async list() {
      return (await rows.users()).map(toUser);
    },
    async remove(name) {
      return rows.remove(name);
    },
    async setPassword(name, password) {
      await existing(name);
      checkInput({ name, password, roles: ['viewer'] });
      await rows.update(name, { password_hash: await hashPassword(password, cost) });
    },
    async verifyPassword(name, password) {
      const row = await rows.user(name);
      if (!row) {
        dummyHash ??= hashPassword('not a password', cost);
        await checkPassword(password, await dummyHash);
        return undefined;
      }
      return (await checkPassword(password, row.password_hash)) ? toUser(row) : undefined;
    },
    async enrolTotp(name, enrol = {}) {
      await existing(name);
      const secret = new Secret({ size: 20 }).base32;
      const sealed = await box.seal(name, secret);
      await rows.update(
        name,
        enrol.confirmed
          ? { totp_secret: sealed, totp_pending: null, totp_last_step: null }
          : { totp_pending: sealed },
      );
      return { secret, uri: totpFor(name, secret, issuer).toString() };
    },
    async confirmTotp(name, code, now) {
      const row = await existing(name);
      if (row.totp_pending === null) return false;
      const pending = await box.open(name, row.totp_pending);
      const step = totpStep(totpFor(name, pending, issuer), code, now);
      if (step === undefined) return false;
      // A secret enrolled meanwhile (another console, the command line) is not overwritten.
      return rows.activateTotp(name, row.totp_pending, step);
    },
    async verifyTotp(name, code, now) {
      const row = await rows.user(name);
      if (!row || row.totp_secret === null) return false;
      const secret = await box.open(name, row.totp_secret);
      const step = totpStep(totpFor(name, secret, issuer), code, now);
      return step !== undefined && (await rows.claimStep(name, step));
    },
    async addCredential(credential) {
      await existing(credential.user);
      await rows.addCredential(credential);
    },
    async credentials(name) {
      return rows.credentials(name);
    },
    async updateCounter(id, counter) {
      if (!Number.isSafeInteger(counter) || counter < 0) return false;
      return rows.updateCounter(id, counter);
    },
    async close() {
      await rows.close();
    },
  };
}

export function createMemoryConsoleUsers(options: ConsoleUsersOptions = {}): ConsoleUsers {
  const users = new Map<string, UserRow>();
  const credentials = new Map<string, WebAuthnCredential>();
  let closed = false;
  const open = () => {
    if (closed) throw new Error('the console users store is closed');
  };
  const count = (user: string) => [...credentials.values()].filter((c) => c.user === user).length;
  const counted = (row: UserRow): CountedRow => ({ ...row, credential_count: count(row.name) });
  const rows: Rows = {
    user: (name) => (open(), users.has(name) ? counted(users.get(name)!) : undefined),
    users: () => (
      open(),
      [...users.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)).map(counted)
    ),
    insert(row) {
      open();
      if (users.has(row.name)) return false;
      users.set(row.name, row);
      return true;
    },
    update(name, change) {
      open();
      const row = users.get(name);
      if (row) users.set(name, { ...row, ...change });
    },
    remove(name) {
      open();
      for (const [id, credential] of credentials) if (credential.user === name) credentials.delete(id);
      return users.delete(name);
    },
    claimStep(name, step) {
      open();
      const row = users.get(name);
      if (!row || (row.totp_last_step !== null && row.totp_last_step >= step)) return false;
      row.totp_last_step = step;
      return true;
    },
    activateTotp(name, pending, step) {
      open();
      const row = users.get(name);
      if (!row || row.totp_pending !== pending) return false;
      users.set(name, { ...row, totp_secret: pending, totp_pending: null, totp_last_step: step });
      return true;
    },
    replaceSecret(name, column, from, to) {
      open();
      const row = users.get(name);
      if (!row || row[column] !== from) return false;
      users.set(name, { ...row, [column]: to });
      return true;
    },
    credentials: (user) => (
      open(),
      [...credentials.values()].filter((c) => c.user === user).map((c) => ({ ...c }))
    ),
    addCredential(credential) {
      open();
      if (credentials.has(credential.id)) throw new Error('this credential is already registered');
      credentials.set(credential.id, { ...credential });
    },
    updateCounter(id, counter) {
      open();
      const credential = credentials.get(id);
      if (!credential || !(credential.counter < counter || (counter === 0 && credential.counter === 0)))
        return false;
      credential.counter = counter;
      return true;
    },
    close() {
      closed = true;
    },
  };
  const keyring = options.keyFile !== undefined ? fileKeyring(options.keyFile) : memoryKeyring();
  return usersOver(rows, options, new SecretBox(keyring, () => anySealed([...users.values()])));
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS posture_console_users (
  name TEXT PRIMARY KEY,
  password_hash TEXT NOT NULL,
  roles TEXT NOT NULL,
  created_at TEXT NOT NULL,
  totp_secret TEXT,
  totp_pending TEXT,
  totp_last_step INTEGER
) STRICT;
CREATE TABLE IF NOT EXISTS posture_console_credentials (
  id TEXT PRIMARY KEY,
  user TEXT NOT NULL REFERENCES posture_console_users(name) ON DELETE CASCADE,
  public_key TEXT NOT NULL,
  counter INTEGER NOT NULL,
  transports TEXT NOT NULL,
  created_at TEXT NOT NULL
) STRICT;`;

const COUNT =
  '(SELECT count(*) FROM posture_console_credentials c WHERE c.user = u.name) AS credential_count';

interface CredentialRow extends Omit<WebAuthnCredential, 'transports'> {
  transports: string;
}

/**
 * How many console users a SQLite file holds, read-only: opens nothing for writing, seals nothing,
 * creates no key. 0 when the file or its users table does not exist.
 */
export function countSqliteConsoleUsers(path: string): number {
  if (!existsSync(path)) return 0;
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    const table = db
      .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'posture_console_users'")
      .get();
    if (!table) return 0;
    return (db.prepare('SELECT count(*) AS n FROM posture_console_users').get() as { n: number }).n;
  } finally {
    db.close();
  }
}

/** Console users in the SQLite file at `path` (the gateway's evidence file), created if missing. */
export function openSqliteConsoleUsers(
  path: string,
  options: ConsoleUsersOptions & { create?: boolean } = {},
): ConsoleUsers {
  const create = options.create ?? true;
  if (!create && path !== ':memory:' && !existsSync(path))
    throw new Error(`no console users store at \`${path}\``);
  if (create && path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  let db: Database.Database;
  try {
    db = new Database(path, { fileMustExist: !create });
    db.pragma('busy_timeout = 5000');
    if (path !== ':memory:' && db.pragma('journal_mode', { simple: true }) !== 'wal')
      db.pragma('journal_mode = WAL');
    db.pragma('foreign_keys = ON');
    db.exec(SCHEMA);
  } catch (error) {
    throw new Error(`cannot open the console users store \`${path}\`: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const toCredential = (row: CredentialRow): WebAuthnCredential => ({
    ...row,
    transports: JSON.parse(row.transports) as string[],
  });
  const statements = {
    user: db.prepare(`SELECT u.*, ${COUNT} FROM posture_console_users u WHERE name = ?`),
    users: db.prepare(`SELECT u.*, ${COUNT} FROM posture_console_users u ORDER BY name`),
    insert: db.prepare(
      `INSERT INTO posture_console_users (name, password_hash, roles, created_at, totp_secret, totp_pending, totp_last_step)
       VALUES (@name, @password_hash, @roles, @created_at, @totp_secret, @totp_pending, @totp_last_step)
       ON CONFLICT (name) DO NOTHING`,
    ),
    remove: db.prepare('DELETE FROM posture_console_users WHERE name = ?'),
    claimStep: db.prepare(
      `UPDATE posture_console_users SET totp_last_step = @step
       WHERE name = @name AND (totp_last_step IS NULL OR totp_last_step < @step)`,
    ),
    activateTotp: db.prepare(
      `UPDATE posture_console_users SET totp_secret = @pending, totp_pending = NULL, totp_last_step = @step
       WHERE name = @name AND totp_pending = @pending`,
    ),
    credentials: db.prepare('SELECT * FROM posture_console_credentials WHERE user = ? ORDER BY created_at'),
    addCredential: db.prepare(
      `INSERT INTO posture_console_credentials (id, user, public_key, counter, transports, created_at)
       VALUES (@id, @user, @public_key, @counter, @transports, @created_at)`,
    ),
    updateCounter: db.prepare(
      `UPDATE posture_console_credentials SET counter = @counter
       WHERE id = @id AND (counter < @counter OR (@counter = 0 AND counter = 0))`,
    ),
    replaceSecret: {
      totp_secret: db.prepare(
        'UPDATE posture_console_users SET totp_secret = @to WHERE name = @name AND totp_secret = @from',
      ),
      totp_pending: db.prepare(
        'UPDATE posture_console_users SET totp_pending = @to WHERE name = @name AND totp_pending = @from',
      ),
    },
  };
  const columns = new Set(['password_hash', 'roles', 'totp_secret', 'totp_pending', 'totp_last_step']);
  const rows: Rows = {
    user: (name) => statements.user.get(name) as CountedRow | undefined,
    users: () => statements.users.all() as CountedRow[],
    insert: (row) => statements.insert.run(row).changes === 1,
    update(name, change) {
      const keys = Object.keys(change).filter((k) => columns.has(k));
      if (keys.length === 0) return;
      db.prepare(
        `UPDATE posture_console_users SET ${keys.map((k) => `${k} = @${k}`).join(', ')} WHERE name = @name`,
      ).run({
        ...change,
        name,
      });
    },
    remove: (name) => statements.remove.run(name).changes === 1,
    claimStep: (name, step) => statements.claimStep.run({ name, step }).changes === 1,
    activateTotp: (name, pending, step) => statements.activateTotp.run({ name, pending, step }).changes === 1,
    credentials: (user) => (statements.credentials.all(user) as CredentialRow[]).map(toCredential),
    addCredential(credential) {
      try {
        statements.addCredential.run({ ...credential, transports: JSON.stringify(credential.transports) });
      } catch (error) {
        const code = (error as { code?: string }).code;
        if (code === 'SQLITE_CONSTRAINT_PRIMARYKEY') throw new Error('this credential is already registered');
        if (code === 'SQLITE_CONSTRAINT_FOREIGNKEY')
          throw new Error(`no console user \`${credential.user}\``);
        throw error;
      }
    },
    updateCounter: (id, counter) => statements.updateCounter.run({ id, counter }).changes === 1,
    replaceSecret: (name, column, from, to) =>
      statements.replaceSecret[column].run({ name, from, to }).changes === 1,
    close: () => void db.close(),
  };
  const keyring =
    options.keyFile !== undefined || path !== ':memory:'
      ? fileKeyring(options.keyFile ?? join(dirname(path), 'console.key'))
      : memoryKeyring();
  const box = new SecretBox(keyring, () => anySealed(rows.users() as CountedRow[]));
  try {
    for (const { user, column, value, sealed } of sealingPlan(box, rows.users() as CountedRow[]))
      rows.replaceSecret(user, column, value, sealed);
  } catch (error) {
    db.close();
    throw error;
  }
  return usersOver(rows, options, box);
}
