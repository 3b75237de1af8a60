// The log's signing key on disk: one line `PRIVATE+KEY+…` in a file only its owner may read, created
// on first use. The matching verifier key is written beside it (`.pub`) for `posture audit verify`.
import { closeSync, openSync, readFileSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { generateSignerKey, parseSignerKey } from '../merkle/checkpoint.js';

function isMissing(error: unknown): boolean {
  return (error as NodeJS.ErrnoException).code === 'ENOENT';
}

function readKeyFile(path: string): string {
  if (process.platform !== 'win32') {
    const mode = statSync(path).mode & 0o777;
    if ((mode & 0o077) !== 0) {
      throw new Error(
        `signer key file \`${path}\` is readable by other users (mode \`${mode.toString(8)}\`): run \`chmod 600 ${path}\``,
      );
    }
  }
  const text = readFileSync(path, 'utf8').trim();
  try {
    parseSignerKey(text);
  } catch (error) {
    throw new Error(`signer key file \`${path}\` holds no valid key: ${(error as Error).message}`, {
      cause: error,
    });
  }
  return text;
}

/** The signer key in `path`, or a new key named `name` written there with mode 0600. */
export function loadOrCreateSignerKey(path: string, name: string): string {
  try {
    return readKeyFile(path);
  } catch (error) {
    if (!isMissing(error)) throw error;
  }
  const { signerKey, verifierKey } = generateSignerKey(name);
  let fd: number;
  try {
    // `wx`: if another process created the key in the meantime, use that one instead.
    fd = openSync(path, 'wx', 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return readKeyFile(path);
    throw new Error(`cannot create signer key file \`${path}\`: ${(error as Error).message}`, {
      cause: error,
    });
  }
  try {
    writeSync(fd, `${signerKey}\n`);
  } finally {
    closeSync(fd);
  }
  writeFileSync(path.replace(/(\.key)?$/, '.pub'), `${verifierKey}\n`, { mode: 0o644 });
  return signerKey;
}
