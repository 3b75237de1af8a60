// TOTP secrets at rest: sealed with AES-256-GCM under the console key (`.posture/console.key`, 32
// random bytes in hex, mode 0600, created on first use), with the user's name as additional
// authenticated data, so that whoever reads the users table learns no secret, and a sealed secret
// copied into another user's row does not open there. Secrets written before sealing (base32 in
// clear) are still read, and sealed when a store opens.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

/** The prefix of a sealed secret; a clear one is base32 (`A-Z2-7=`), which never holds a `:`. */
const SEALED = 'sealed:v1:';
const IV_LENGTH = 12;
const TAG_LENGTH = 16;

/** A console key that is missing, unreadable, not a key, or not the one a secret was sealed with. */
export class ConsoleKeyError extends Error {
  override readonly name = 'ConsoleKeyError';
}

/** Where the console key comes from: a file, read (or created) when first needed, or one in memory. */
export interface ConsoleKeyring {
  /** The file, named in every error; undefined for a key in memory. */
  readonly path: string | undefined;
  /** The key, or undefined when the file does not exist yet. */
  load(): Buffer | undefined;
  /** A new key written to the file; the existing one when another process wrote it first. */
  create(): Buffer;
}

const describe = (path: string | undefined) => (path === undefined ? 'the console key' : `\`${path}\``);

function readKey(path: string): Buffer {
  if (process.platform !== 'win32') {
    const mode = statSync(path).mode & 0o777;
    if ((mode & 0o077) !== 0) {
      throw new ConsoleKeyError(
        `console key file \`${path}\` is readable by other users (mode \`${mode.toString(8)}\`): run \`chmod 600 ${path}\``,
      );
    }
  }
  const text = readFileSync(path, 'utf8').trim();
  if (!/^[0-9a-fA-F]{64}$/.test(text)) {
    throw new ConsoleKeyError(`console key file \`${path}\` holds no valid key: expected 64 hex digits`);
  }
  return Buffer.from(text, 'hex');
}

/** The console key in `path` (created on first use, like the other key files: mode 0600). */
export function fileKeyring(path: string): ConsoleKeyring {
  return {
    path,
    load() {
      try {
        return readKey(path);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        if (error instanceof ConsoleKeyError) throw error;
        throw new ConsoleKeyError(`cannot read console key file \`${path}\`: ${(error as Error).message}`, {
          cause: error,
        });
      }
    },
    create() {
      let fd: number;
      try {
        mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
        // `wx`: if another process created the key in the meantime, use that one instead.
        fd = openSync(path, 'wx', 0o600);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'EEXIST') return readKey(path);
        throw new ConsoleKeyError(`cannot create console key file \`${path}\`: ${(error as Error).message}`, {
          cause: error,
        });
      }
      const key = randomBytes(32);
      try {
        writeSync(fd, `${key.toString('hex')}\n`);
      } finally {
        closeSync(fd);
      }
      return key;
    },
  };
}

/** A key that lives as long as the process (memory stores, `:memory:` SQLite). */
export function memoryKeyring(): ConsoleKeyring {
  let key: Buffer | undefined;
  return { path: undefined, load: () => key, create: () => (key ??= randomBytes(32)) };
}

export const isSealed = (stored: string): boolean => stored.startsWith(SEALED);

const aad = (user: string) => Buffer.from(`posture console totp\0${user}`, 'utf8');

/** `sealed:v1:<base64url of iv ‖ ciphertext ‖ tag>`, bound to `user`. */
export function sealSecret(key: Buffer, user: string, secret: string): string {
  const iv = randomBytes(IV_LENGTH);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(aad(user));
  const body = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final()]);
  return SEALED + Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64url');
}

/** The secret, or undefined when it does not open with `key` for `user` (another key, another row). */
export function tryOpenSecret(key: Buffer, user: string, stored: string): string | undefined {
  const raw = Buffer.from(stored.slice(SEALED.length), 'base64url');
  if (raw.length < IV_LENGTH + TAG_LENGTH) return undefined;
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, IV_LENGTH));
    decipher.setAAD(aad(user));
    decipher.setAuthTag(raw.subarray(raw.length - TAG_LENGTH));
    return Buffer.concat([
      decipher.update(raw.subarray(IV_LENGTH, raw.length - TAG_LENGTH)),
      decipher.final(),
    ]).toString('utf8');
  } catch {
    return undefined;
  }
}

/**
 * The console key of a store: loaded once; created only while the store holds no sealed secret
 * (a missing key file then means a lost key, and a new one would open nothing).
 */
export class SecretBox {
  private key: Buffer | undefined;
  constructor(
    private readonly keyring: ConsoleKeyring,
    /** Whether the store already holds a sealed secret (asked only when the key file is missing). */
    private readonly anySealed: () => boolean | Promise<boolean>,
  ) {}

  private missing(): ConsoleKeyError {
    return new ConsoleKeyError(
      `the console key ${describe(this.keyring.path)} is missing, but the console users store holds TOTP secrets sealed with it: restore the file (every console sharing the store needs the same one), or re-enrol each user's authenticator app`,
    );
  }

  async current(): Promise<Buffer> {
    if (this.key) return this.key;
    const loaded = this.keyring.load();
    if (loaded) return (this.key = loaded);
    if (await this.anySealed()) throw this.missing();
    return (this.key = this.keyring.create());
  }

  /** As `current`, for stores that open synchronously (SQLite). */
  currentSync(anySealed: boolean): Buffer {
    if (this.key) return this.key;
    const loaded = this.keyring.load();
    if (loaded) return (this.key = loaded);
    if (anySealed) throw this.missing();
    return (this.key = this.keyring.create());
  }

  async seal(user: string, secret: string): Promise<string> {
    return sealSecret(await this.current(), user, secret);
  }

  /** A clear (older) secret as it is; a sealed one opened, or a ConsoleKeyError naming the file. */
  async open(user: string, stored: string): Promise<string> {
    if (!isSealed(stored)) return stored;
    const secret = tryOpenSecret(await this.current(), user, stored);
    if (secret === undefined) {
      throw new ConsoleKeyError(
        `the TOTP secret of \`${user}\` does not open with the console key ${describe(this.keyring.path)}: it was sealed under another key, or copied from another user's row`,
      );
    }
    return secret;
  }

  /**
   * What opening a store does with the secrets it holds, given as (user, stored value) pairs:
   * refuses a key that opens none of the sealed ones (the wrong file), and returns the clear
   * ones sealed, for the store to write back.
   */
  migrate<T extends { user: string; value: string }>(stored: readonly T[]): Array<T & { sealed: string }> {
    const sealed = stored.filter((s) => isSealed(s.value));
    const clear = stored.filter((s) => !isSealed(s.value));
    if (sealed.length === 0 && clear.length === 0) return [];
    const key = this.currentSync(sealed.length > 0);
    if (sealed.length > 0 && !sealed.some((s) => tryOpenSecret(key, s.user, s.value) !== undefined)) {
      throw new ConsoleKeyError(
        `the console key ${describe(this.keyring.path)} opens none of the TOTP secrets in the console users store: it is not the key they were sealed with (every console sharing the store needs the same file)`,
      );
    }
    return clear.map((s) => ({ ...s, sealed: sealSecret(key, s.user, s.value) }));
  }
}
