// The RFC 6962 / RFC 9162 §2.1 Merkle tree: leaf and node hashes with domain separation, tree
// heads, inclusion and consistency proofs, and their verification. Hashes are 32-byte Uint8Arrays.
import { hash } from 'node:crypto';

export type Hash = Uint8Array;

export const HASH_SIZE = 32;

/**
 * SHA-256 as a Buffer. `hash()` with a `binary` (latin1) string output and `Buffer.from` is about
 * twice as fast as asking for a Buffer directly, and these hashes are the hot path of verification.
 */
export function sha256(data: string | Uint8Array): Buffer {
  return Buffer.from(hash('sha256', data, 'binary'), 'binary');
}

/** The root of the empty tree: SHA-256 of the empty string. */
export const EMPTY_ROOT: Hash = sha256(new Uint8Array(0));

/** `SHA-256(0x00 ‖ data)`; a string is hashed as its UTF-8 bytes. */
export function leafHash(data: string | Uint8Array): Buffer {
  // U+0000 encodes to the single byte 0x00 in UTF-8, so a string needs no copy into a buffer.
  if (typeof data === 'string') return sha256(`\0${data}`);
  const input = Buffer.allocUnsafe(data.length + 1);
  input[0] = 0;
  input.set(data, 1);
  return sha256(input);
}

// One scratch buffer for node hashes: the call is synchronous, so it is never shared.
const nodeInput = Buffer.alloc(1 + 2 * HASH_SIZE);
nodeInput[0] = 1;

/** `SHA-256(0x01 ‖ left ‖ right)`. */
export function nodeHash(left: Hash, right: Hash): Buffer {
  if (left.length === HASH_SIZE && right.length === HASH_SIZE) {
    nodeInput.set(left, 1);
    nodeInput.set(right, 1 + HASH_SIZE);
    return sha256(nodeInput);
  }
  // Proofs under test may carry elements of the wrong length; hash them faithfully all the same.
  return sha256(Buffer.concat([Buffer.of(1), left, right]));
}

/** The largest power of two smaller than `n` (n > 1): where RFC 6962 splits a tree of size n. */
function split(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** MTH(D[from:to]) over leaf hashes. */
function subtreeRoot(leaves: readonly Hash[], from: number, to: number): Hash {
  const n = to - from;
  if (n === 0) return EMPTY_ROOT;
  if (n === 1) return leaves[from]!;
  const k = split(n);
  return nodeHash(subtreeRoot(leaves, from, from + k), subtreeRoot(leaves, from + k, to));
}

function checkSize(leaves: readonly Hash[], size: number): void {
  if (!Number.isSafeInteger(size) || size < 0 || size > leaves.length) {
    throw new RangeError(`tree size \`${size}\` is not within the \`${leaves.length}\` leaves given`);
  }
}

/** The tree head MTH over the given leaf hashes. */
export function rootOf(leaves: readonly Hash[]): Hash {
  return subtreeRoot(leaves, 0, leaves.length);
}

/** PATH(index, D[0:size]) of RFC 6962 §2.1.1: the audit path, from the leaf's sibling upwards. */
export function inclusionProof(leaves: readonly Hash[], index: number, size: number): Hash[] {
  checkSize(leaves, size);
  if (!Number.isSafeInteger(index) || index < 0 || index >= size) {
    throw new RangeError(`leaf index \`${index}\` is not in a tree of size \`${size}\``);
  }
  const path: Hash[] = [];
  const walk = (m: number, from: number, to: number): void => {
    const n = to - from;
    if (n === 1) return;
    const k = split(n);
    if (m < k) {
      walk(m, from, from + k);
      path.push(subtreeRoot(leaves, from + k, to));
    } else {
      walk(m - k, from + k, to);
      path.push(subtreeRoot(leaves, from, from + k));
    }
  };
  walk(index, 0, size);
  return path;
}

/** PROOF(m, D[0:n]) of RFC 6962 §2.1.2: that the tree of size m is a prefix of the tree of size n. */
export function consistencyProof(leaves: readonly Hash[], m: number, n: number): Hash[] {
  checkSize(leaves, n);
  if (!Number.isSafeInteger(m) || m < 0 || m > n) {
    throw new RangeError(`tree size \`${m}\` is not between 0 and \`${n}\``);
  }
  const proof: Hash[] = [];
  if (m === 0 || m === n) return proof;
  const subproof = (m: number, from: number, to: number, whole: boolean): void => {
    const n = to - from;
    if (m === n) {
      if (!whole) proof.push(subtreeRoot(leaves, from, to));
      return;
    }
    const k = split(n);
    if (m <= k) {
      subproof(m, from, from + k, whole);
      proof.push(subtreeRoot(leaves, from + k, to));
    } else {
      subproof(m - k, from + k, to, false);
      proof.push(subtreeRoot(leaves, from, from + k));
    }
  };
  subproof(m, 0, n, true);
  return proof;
}

export function equalHashes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}

const wellFormed = (hashes: readonly Uint8Array[]) => hashes.every((h) => h.length === HASH_SIZE);

/** RFC 9162 §2.1.3.2: whether `proof` shows leaf `index` with hash `leaf` is in the tree `root` of `size`. */
export function verifyInclusion(
  leaf: Hash,
  index: number,
  size: number,
  proof: readonly Hash[],
  root: Hash,
): boolean {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 || index >= size) return false;
  if (leaf.length !== HASH_SIZE || root.length !== HASH_SIZE || !wellFormed(proof)) return false;
  // Sizes are below 2^53, so plain numbers with Math.floor stand in for the RFC's right shifts.
  let fn = index;
  let sn = size - 1;
  let r: Hash = leaf;
  for (const p of proof) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      while (fn % 2 === 0 && fn !== 0) {
        fn /= 2;
        sn = Math.floor(sn / 2);
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && equalHashes(r, root);
}

/**
 * RFC 9162 §2.1.4.2: whether `proof` shows the tree `rootM` of size m is a prefix of the tree
 * `rootN` of size n. As in transparency-dev/merkle, size 0 is consistent with every tree (with an
 * empty proof), and equal sizes need equal roots and an empty proof.
 */
export function verifyConsistency(
  m: number,
  n: number,
  rootM: Hash,
  rootN: Hash,
  proof: readonly Hash[],
): boolean {
  if (!Number.isSafeInteger(m) || !Number.isSafeInteger(n) || m < 0 || m > n) return false;
  if (m === n) return proof.length === 0 && equalHashes(rootM, rootN);
  if (m === 0) return proof.length === 0;
  if (proof.length === 0 || rootM.length !== HASH_SIZE || rootN.length !== HASH_SIZE || !wellFormed(proof)) {
    return false;
  }
  // If m is a power of two, the old root is itself a node of the new tree and starts the path.
  const path = isPowerOfTwo(m) ? [rootM, ...proof] : proof;
  let fn = m - 1;
  let sn = n - 1;
  while (fn % 2 === 1) {
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  let fr: Hash = path[0]!;
  let sr: Hash = path[0]!;
  for (let i = 1; i < path.length; i++) {
    const c = path[i]!;
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      while (fn % 2 === 0 && fn !== 0) {
        fn /= 2;
        sn = Math.floor(sn / 2);
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && equalHashes(fr, rootM) && equalHashes(sr, rootN);
}

function isPowerOfTwo(n: number): boolean {
  while (n > 1 && n % 2 === 0) n /= 2;
  return n === 1;
}
