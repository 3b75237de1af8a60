// The compact range [0, size) of a growing tree: the roots of its perfect subtrees, one per set bit
// of `size`, largest first. Appending costs O(1) node hashes amortised and the tree head O(log n),
// so a log keeps this instead of rehashing its leaves when it opens.
import { EMPTY_ROOT, HASH_SIZE, nodeHash, type Hash } from './tree.js';

/** The frontier as stored: its size and the subtree roots (base64), largest subtree first. */
export interface FrontierJson {
  size: number;
  hashes: string[];
}

function bitCount(n: number): number {
  let count = 0;
  for (let rest = n; rest > 0; rest = Math.floor(rest / 2)) count += rest % 2;
  return count;
}

export class MerkleFrontier {
  #size: number;
  #hashes: Hash[];

  constructor(size = 0, hashes: Hash[] = []) {
    if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`not a tree size: \`${size}\``);
    if (hashes.length !== bitCount(size) || hashes.some((h) => h.length !== HASH_SIZE)) {
      throw new RangeError(`a frontier of size \`${size}\` needs \`${bitCount(size)}\` hashes of 32 bytes`);
    }
    this.#size = size;
    this.#hashes = hashes;
  }

  get size(): number {
    return this.#size;
  }

  append(leaf: Hash): void {
    this.#hashes.push(leaf);
    // Each trailing 1 bit of the old size is a subtree of equal height that the new leaf completes.
    for (let s = this.#size; s % 2 === 1; s = (s - 1) / 2) {
      const right = this.#hashes.pop()!;
      const left = this.#hashes.pop()!;
      this.#hashes.push(nodeHash(left, right));
    }
    this.#size++;
  }

  /** MTH of the leaves appended so far. */
  root(): Hash {
    const hashes = this.#hashes;
    if (hashes.length === 0) return EMPTY_ROOT;
    let root = hashes[hashes.length - 1]!;
    for (let i = hashes.length - 2; i >= 0; i--) root = nodeHash(hashes[i]!, root);
    return root;
  }

  clone(): MerkleFrontier {
    return new MerkleFrontier(this.#size, [...this.#hashes]);
  }

  toJSON(): FrontierJson {
    return { size: this.#size, hashes: this.#hashes.map((h) => Buffer.from(h).toString('base64')) };
  }

  static fromJSON(json: unknown): MerkleFrontier {
    const value = json as Partial<FrontierJson> | null;
    if (
      typeof value !== 'object' ||
      value === null ||
      typeof value.size !== 'number' ||
      !Array.isArray(value.hashes) ||
      !value.hashes.every((h) => typeof h === 'string')
    ) {
      throw new TypeError('not a merkle frontier: expected `{ size, hashes }`');
    }
    return new MerkleFrontier(
      value.size,
      value.hashes.map((h) => Buffer.from(h, 'base64')),
    );
  }
}
