import { describe, expect, it } from 'vitest';
import {
  generateSignerKey,
  openCheckpoint,
  openNote,
  parseSignerKey,
  parseVerifierKey,
  signCheckpoint,
  signNote,
} from '../src/merkle/checkpoint.js';
import { EMPTY_ROOT, leafHash } from '../src/merkle/tree.js';

// The example key and note of Go's golang.org/x/mod/sumdb/note tests. Ed25519 is deterministic, so
// signing the same text with the same key must give the published signature byte for byte.
const GO_VERIFIER = 'PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW';
const GO_SIGNER = 'PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz';
const GO_TEXT =
  "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const GO_NOTE = `${GO_TEXT}\n— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n`;

const ORIGIN = 'example.com/posture/test';
const keys = generateSignerKey(ORIGIN);
const other = generateSignerKey('witness.example/w1');
const root = leafHash('some tree');

describe('signed notes (C2SP signed-note, Go note key formats)', () => {
  it('reproduces the Go reference signature and opens the Go reference note', () => {
    expect(signNote(GO_TEXT, GO_SIGNER)).toBe(GO_NOTE);
    expect(parseSignerKey(GO_SIGNER).verifierKey).toBe(GO_VERIFIER);
    expect(openNote(GO_NOTE, [GO_VERIFIER])).toEqual({ text: GO_TEXT, signedBy: ['PeterNeumann'] });
    expect(() => openNote(GO_NOTE.replace('cryptography', 'cryptographY'), [GO_VERIFIER])).toThrow(
      /invalid signature by key `PeterNeumann\+c74f20a3`/,
    );
  });

  it('rejects mangled verifier keys', () => {
    expect(() => parseVerifierKey(GO_VERIFIER.slice(0, -4))).toThrow(/verifier key/);
    expect(() => parseVerifierKey(GO_VERIFIER.replace('c74f20a3', 'c74f20a4'))).toThrow(
      /does not match its key/,
    );
    expect(() => parseVerifierKey(`Peter Neumann${GO_VERIFIER.slice('PeterNeumann'.length)}`)).toThrow(
      /malformed/,
    );
    expect(() => parseVerifierKey(GO_VERIFIER.replace('+ARpc', '+Apc'))).toThrow();
    expect(() => parseVerifierKey('PeterNeumann+c74f20a3')).toThrow(/malformed verifier key/);
    expect(() => parseSignerKey(GO_VERIFIER)).toThrow(/PRIVATE\+KEY/);
    expect(() => parseSignerKey(GO_SIGNER.replace('c74f20a3', '00000000'))).toThrow(/does not match its key/);
  });

  it('generates keys in the text formats of Go: name+hash+key', () => {
    expect(keys.verifierKey).toMatch(/^example\.com\/posture\/test\+[0-9a-f]{8}\+[A-Za-z0-9+/]{44}$/);
    expect(keys.signerKey).toMatch(/^PRIVATE\+KEY\+example\.com\/posture\/test\+[0-9a-f]{8}\+/);
    expect(parseSignerKey(keys.signerKey).verifierKey).toBe(keys.verifierKey);
    expect(() => generateSignerKey('has space')).toThrow(/key name `has space`/);
    expect(() => generateSignerKey('a+b')).toThrow(/without spaces or `\+`/);
  });
});

describe('checkpoints (C2SP tlog-checkpoint)', () => {
  const checkpoint = signCheckpoint({ origin: ORIGIN, size: 42, root }, keys.signerKey);

  it('writes origin, size and base64 root, then one signature line', () => {
    const [body, signatures] = checkpoint.note.split('\n\n');
    expect(body).toBe(`${ORIGIN}\n42\n${root.toString('base64')}`);
    expect(signatures).toMatch(new RegExp(`^— ${ORIGIN} [A-Za-z0-9+/]{91}=\n$`));
    expect(checkpoint).toMatchObject({ origin: ORIGIN, size: 42, root: root.toString('base64') });
  });

  it('opens a checkpoint signed by a known key', () => {
    const opened = openCheckpoint(checkpoint.note, [keys.verifierKey]);
    expect(opened).toMatchObject({
      origin: ORIGIN,
      size: 42,
      root: root.toString('base64'),
      signedBy: [ORIGIN],
    });
    expect(opened.rootHash).toEqual(root);
    const empty = signCheckpoint({ origin: ORIGIN, size: 0, root: EMPTY_ROOT }, keys.signerKey);
    expect(openCheckpoint(empty.note, [keys.verifierKey]).size).toBe(0);
  });

  it('ignores signatures by unknown keys (witness cosignatures) but needs one known key', () => {
    const cosigned = `${checkpoint.note}${signNote(checkpoint.note.split('\n\n')[0]! + '\n', other.signerKey).split('\n\n')[1]}`;
    expect(openCheckpoint(cosigned, [keys.verifierKey]).signedBy).toEqual([ORIGIN]);
    expect(openCheckpoint(cosigned, [keys.verifierKey, other.verifierKey]).signedBy).toEqual([
      ORIGIN,
      'witness.example/w1',
    ]);
    expect(() => openCheckpoint(checkpoint.note, [other.verifierKey])).toThrow(/no signature by a known key/);
    expect(() => openCheckpoint(checkpoint.note, [])).toThrow(/no signature by a known key/);
  });

  it('rejects a signature by a key with the right name and a wrong key hash', () => {
    // Same name, another key: its hash differs, so the signature is ignored, and no known key signed.
    const impostor = generateSignerKey(ORIGIN);
    const forged = signCheckpoint({ origin: ORIGIN, size: 42, root }, impostor.signerKey);
    expect(() => openCheckpoint(forged.note, [keys.verifierKey])).toThrow(/no signature by a known key/);
    // The right key hash over a signature made by another key fails verification outright.
    const realHash = checkpoint.note.split(' ').at(-1)!.trim();
    const forgedBlob = Buffer.from(forged.note.split(' ').at(-1)!.trim(), 'base64');
    Buffer.from(realHash, 'base64').copy(forgedBlob, 0, 0, 4);
    const spliced = forged.note.replace(/ [A-Za-z0-9+/=]+\n$/, ` ${forgedBlob.toString('base64')}\n`);
    expect(() => openCheckpoint(spliced, [keys.verifierKey])).toThrow(/invalid signature/);
  });

  it('rejects a bad signature, an edited body and any bit flip of the signature', () => {
    const edited = checkpoint.note.replace('\n42\n', '\n43\n');
    expect(() => openCheckpoint(edited, [keys.verifierKey])).toThrow(/invalid signature/);
    const line = checkpoint.note.split('\n').at(-2)!;
    const blob = Buffer.from(line.split(' ')[2]!, 'base64');
    for (const byte of [4, 30, 67]) {
      const flipped = Buffer.from(blob);
      flipped[byte] = flipped[byte]! ^ 1;
      const note = checkpoint.note.replace(line, `— ${ORIGIN} ${flipped.toString('base64')}`);
      expect(() => openCheckpoint(note, [keys.verifierKey]), `byte ${byte}`).toThrow(/invalid signature/);
    }
  });

  const sign = (body: string) => signNote(body, keys.signerKey);
  const malformed: Array<[string, string, RegExp]> = [
    ['no blank line', checkpoint.note.replace('\n\n', '\n'), /no blank line|not a signature line/],
    ['no final newline', checkpoint.note.slice(0, -1), /must end with a newline/],
    ['text after the signatures', `${checkpoint.note}trailing garbage\n`, /not a signature line/],
    ['a signature line without the em dash', checkpoint.note.replace('— ', '- '), /not a signature line/],
    ['a control character', checkpoint.note.replace(ORIGIN, `${ORIGIN}\t`), /control characters/],
    ['non-canonical base64', checkpoint.note.replace(/=?\n$/, '\n'), /bad signature line/],
    ['an extension line', sign(`${ORIGIN}\n42\n${root.toString('base64')}\nextra\n`), /expected 3 lines/],
    ['two lines only', sign(`${ORIGIN}\n42\n`), /expected 3 lines/],
    ['an empty origin', sign(`\n42\n${root.toString('base64')}\n`), /empty origin/],
    ['a size with a leading zero', sign(`${ORIGIN}\n042\n${root.toString('base64')}\n`), /tree size `042`/],
    ['a negative size', sign(`${ORIGIN}\n-1\n${root.toString('base64')}\n`), /tree size `-1`/],
    ['a huge size', sign(`${ORIGIN}\n99999999999999999999\n${root.toString('base64')}\n`), /tree size/],
    ['a short root', sign(`${ORIGIN}\n42\nAAAA\n`), /not a base64 SHA-256 hash/],
    ['a root that is not base64', sign(`${ORIGIN}\n42\n${'!'.repeat(44)}\n`), /not a base64 SHA-256 hash/],
  ];
  it.each(malformed)('rejects a note with %s', (_, note, error) => {
    expect(() => openCheckpoint(note, [keys.verifierKey])).toThrow(error);
  });
});
