// Signed checkpoints in the C2SP formats: a tlog-checkpoint body (`<origin>\n<size>\n<base64 root>\n`)
// in a signed note with Ed25519 signatures, keys written as Go's golang.org/x/mod/sumdb/note does:
//   verifier  <name>+<hex key hash>+<base64(0x01 ‖ public key)>
//   signer    PRIVATE+KEY+<name>+<hex key hash>+<base64(0x01 ‖ 32-byte seed)>
// key hash = first 4 bytes of SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key), big-endian.
import { createPrivateKey, createPublicKey, randomBytes, sign, verify, type KeyObject } from 'node:crypto';
import type { Checkpoint } from '../ports.js';
import { HASH_SIZE, sha256, type Hash } from './tree.js';

const ED25519 = 0x01;
/** DER prefixes that wrap a raw 32-byte Ed25519 seed (PKCS #8) or public key (SPKI). */
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
/** Signature lines start with an em dash and a space. */
const SIGNATURE_PREFIX = '\u2014 ';
/** The signed-note spec asks verifiers to accept at least 16; Go's note package stops at 100. */
const MAX_SIGNATURES = 100;
/** What invalid UTF-8 becomes in a JavaScript string: a surrogate without its pair. */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

export interface NoteVerifier {
  name: string;
  keyHash: number;
  publicKey: KeyObject;
  /** The key in text form. */
  text: string;
}

export interface NoteSigner {
  name: string;
  keyHash: number;
  privateKey: KeyObject;
  /** The matching verifier key in text form. */
  verifierKey: string;
}

/** A checkpoint whose signature was verified, with the root as bytes and who signed it. */
export interface OpenedCheckpoint extends Checkpoint {
  rootHash: Hash;
  /** Names of the known keys whose signatures verified. */
  signedBy: string[];
}

function isKeyName(name: string): boolean {
  return name.length > 0 && !/[\s+]/u.test(name);
}

/** Strict standard base64 (RFC 4648 §4, padded, canonical), as Go's decoder requires. */
function decodeBase64(text: string): Buffer | undefined {
  if (text.length === 0 || text.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) return undefined;
  const bytes = Buffer.from(text, 'base64');
  return bytes.toString('base64') === text ? bytes : undefined;
}

function computeKeyHash(name: string, publicKey: Uint8Array): number {
  return sha256(
    Buffer.concat([Buffer.from(`${name}\n`, 'utf8'), Buffer.of(ED25519), publicKey]),
  ).readUInt32BE(0);
}

const hex8 = (keyHash: number) => keyHash.toString(16).padStart(8, '0');

function rawPublicKey(privateKey: KeyObject): Buffer {
  return createPublicKey(privateKey)
    .export({ format: 'der', type: 'spki' })
    .subarray(SPKI_ED25519_PREFIX.length);
}

function signerFromSeed(name: string, seed: Uint8Array): NoteSigner {
  const privateKey = createPrivateKey({
    key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]),
    format: 'der',
    type: 'pkcs8',
  });
  const publicKey = rawPublicKey(privateKey);
  const keyHash = computeKeyHash(name, publicKey);
  const verifierKey = `${name}+${hex8(keyHash)}+${Buffer.concat([Buffer.of(ED25519), publicKey]).toString('base64')}`;
  return { name, keyHash, privateKey, verifierKey };
}

/** A new Ed25519 key pair named `name`, as signer and verifier key texts. */
export function generateSignerKey(name: string): { signerKey: string; verifierKey: string } {
  if (!isKeyName(name)) throw new Error(`key name \`${name}\` must be non-empty, without spaces or \`+\``);
  const seed = randomBytes(32);
  const { keyHash, verifierKey } = signerFromSeed(name, seed);
  const signerKey = `PRIVATE+KEY+${name}+${hex8(keyHash)}+${Buffer.concat([Buffer.of(ED25519), seed]).toString('base64')}`;
  return { signerKey, verifierKey };
}

/** Splits `<name>+<hex8>+<base64>` (the base64 may itself contain `+`). */
function splitKey(text: string, what: string): { name: string; keyHash: number; key: Buffer } {
  const first = text.indexOf('+');
  const second = text.indexOf('+', first + 1);
  const name = text.slice(0, first);
  const hash = text.slice(first + 1, second);
  const key = first < 0 || second < 0 ? undefined : decodeBase64(text.slice(second + 1));
  if (!isKeyName(name) || !/^[0-9a-f]{8}$/.test(hash) || key === undefined) {
    throw new Error(`malformed ${what} key: expected \`<name>+<hex key hash>+<base64 key>\``);
  }
  if (key.length !== 33 || key[0] !== ED25519) {
    throw new Error(`${what} key \`${name}\` is not an Ed25519 key (type 0x01 and 32 bytes)`);
  }
  return { name, keyHash: parseInt(hash, 16), key: key.subarray(1) };
}

export function parseVerifierKey(text: string): NoteVerifier {
  const { name, keyHash, key } = splitKey(text, 'verifier');
  if (computeKeyHash(name, key) !== keyHash) {
    throw new Error(
      `verifier key \`${name}\` has key hash \`${hex8(keyHash)}\`, which does not match its key`,
    );
  }
  const publicKey = createPublicKey({
    key: Buffer.concat([SPKI_ED25519_PREFIX, key]),
    format: 'der',
    type: 'spki',
  });
  return { name, keyHash, publicKey, text };
}

export function parseSignerKey(text: string): NoteSigner {
  if (!text.startsWith('PRIVATE+KEY+')) throw new Error('malformed signer key: expected `PRIVATE+KEY+…`');
  const { name, keyHash, key } = splitKey(text.slice('PRIVATE+KEY+'.length), 'signer');
  const signer = signerFromSeed(name, key);
  if (signer.keyHash !== keyHash) {
    throw new Error(`signer key \`${name}\` has key hash \`${hex8(keyHash)}\`, which does not match its key`);
  }
  return signer;
}

/** The checkpoint body of C2SP tlog-checkpoint, without extension lines. */
export function checkpointBody(origin: string, size: number, root: Hash): string {
  if (origin.length === 0 || /[\n\r]/.test(origin))
    throw new Error(`origin \`${origin}\` must be one non-empty line`);
  if (!Number.isSafeInteger(size) || size < 0)
    throw new Error(`tree size \`${size}\` is not a natural number`);
  if (root.length !== HASH_SIZE) throw new Error(`root hash has \`${root.length}\` bytes, expected 32`);
  return `${origin}\n${size}\n${Buffer.from(root).toString('base64')}\n`;
}

/** Signs `text` (ending in a newline) as a note with one signature. */
export function signNote(text: string, signer: NoteSigner | string): string {
  const key = typeof signer === 'string' ? parseSignerKey(signer) : signer;
  if (!text.endsWith('\n')) throw new Error('note text must end with a newline');
  const signature = sign(null, Buffer.from(text, 'utf8'), key.privateKey);
  const blob = Buffer.alloc(4 + signature.length);
  blob.writeUInt32BE(key.keyHash, 0);
  blob.set(signature, 4);
  return `${text}\n${SIGNATURE_PREFIX}${key.name} ${blob.toString('base64')}\n`;
}

/** Signs a checkpoint of the tree `root` of `size` leaves. */
export function signCheckpoint(
  checkpoint: { origin: string; size: number; root: Hash },
  signer: NoteSigner | string,
): Checkpoint {
  const note = signNote(checkpointBody(checkpoint.origin, checkpoint.size, checkpoint.root), signer);
  return {
    origin: checkpoint.origin,
    size: checkpoint.size,
    root: Buffer.from(checkpoint.root).toString('base64'),
    note,
  };
}

/**
 * Verifies a signed note against known keys and returns its text. Signatures by unknown keys are
 * ignored (witness cosignatures, rotated keys); a known key's bad signature rejects the note, and
 * at least one known key must have signed.
 */
export function openNote(
  note: string,
  verifierKeys: readonly (NoteVerifier | string)[],
): { text: string; signedBy: string[] } {
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0009\u000b-\u001f]/.test(note))
    throw new Error('malformed note: it contains control characters');
  if (LONE_SURROGATE.test(note)) throw new Error('malformed note: it is not valid UTF-8');
  const split = note.lastIndexOf('\n\n');
  if (split < 0) throw new Error('malformed note: no blank line before the signatures');
  const text = note.slice(0, split + 1);
  const signatureBlock = note.slice(split + 2);
  if (!signatureBlock.endsWith('\n'))
    throw new Error('malformed note: the signatures must end with a newline');
  const lines = signatureBlock.slice(0, -1).split('\n');
  if (lines.length > MAX_SIGNATURES)
    throw new Error(`malformed note: more than ${MAX_SIGNATURES} signatures`);
  const verifiers = verifierKeys.map((k) => (typeof k === 'string' ? parseVerifierKey(k) : k));
  const signedBy: string[] = [];
  for (const line of lines) {
    if (!line.startsWith(SIGNATURE_PREFIX))
      throw new Error(`malformed note: \`${line}\` is not a signature line`);
    const rest = line.slice(SIGNATURE_PREFIX.length);
    const space = rest.indexOf(' ');
    const name = rest.slice(0, space);
    const blob = space < 0 ? undefined : decodeBase64(rest.slice(space + 1));
    if (!isKeyName(name) || blob === undefined || blob.length < 5) {
      throw new Error(`malformed note: bad signature line \`${line}\``);
    }
    const keyHash = blob.readUInt32BE(0);
    const verifier = verifiers.find((v) => v.name === name && v.keyHash === keyHash);
    if (verifier === undefined) continue;
    if (!verify(null, Buffer.from(text, 'utf8'), verifier.publicKey, blob.subarray(4))) {
      throw new Error(`invalid signature by key \`${name}+${hex8(keyHash)}\``);
    }
    if (!signedBy.includes(name)) signedBy.push(name);
  }
  if (signedBy.length === 0) throw new Error('no signature by a known key');
  return { text, signedBy };
}

/** Verifies a checkpoint note and parses its body. Throws a clear error if anything is wrong. */
export function openCheckpoint(
  note: string,
  verifierKeys: readonly (NoteVerifier | string)[],
): OpenedCheckpoint {
  const { text, signedBy } = openNote(note, verifierKeys);
  const lines = text.slice(0, -1).split('\n');
  if (lines.length !== 3) {
    throw new Error(`malformed checkpoint: expected 3 lines (origin, size, root), found \`${lines.length}\``);
  }
  const [origin, sizeText, rootText] = lines as [string, string, string];
  if (origin.length === 0) throw new Error('malformed checkpoint: empty origin');
  if (!/^(0|[1-9][0-9]*)$/.test(sizeText) || !Number.isSafeInteger(Number(sizeText))) {
    throw new Error(`malformed checkpoint: tree size \`${sizeText}\` is not a decimal number`);
  }
  const rootHash = decodeBase64(rootText);
  if (rootHash === undefined || rootHash.length !== HASH_SIZE) {
    throw new Error(`malformed checkpoint: root \`${rootText}\` is not a base64 SHA-256 hash`);
  }
  return { origin, size: Number(sizeText), root: rootText, rootHash, note, signedBy };
}
