import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MerkleFrontier } from '../src/merkle/frontier.js';
import {
  EMPTY_ROOT,
  consistencyProof,
  inclusionProof,
  leafHash,
  nodeHash,
  rootOf,
  verifyConsistency,
  verifyInclusion,
  type Hash,
} from '../src/merkle/tree.js';

// The RFC 6962 reference vectors of the CT / transparency-dev/merkle tests: eight leaves, the roots
// of the trees of size 1 to 8, and known inclusion and consistency proofs among them.
const hex = (text: string) => Buffer.from(text, 'hex');
const LEAF_DATA = [
  '',
  '00',
  '10',
  '2021',
  '3031',
  '40414243',
  '5051525354555657',
  '606162636465666768696a6b6c6d6e6f',
].map(hex);
const ROOTS = [
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
  'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
  'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
  '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
].map(hex);
const INCLUSION = [
  { index: 0, size: 1, proof: [] },
  {
    index: 0,
    size: 8,
    proof: [
      '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
    ],
  },
  {
    index: 5,
    size: 8,
    proof: [
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
      'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  },
  { index: 2, size: 3, proof: ['fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125'] },
  {
    index: 1,
    size: 5,
    proof: [
      '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
    ],
  },
].map((v) => ({ ...v, proof: v.proof.map(hex) }));
const CONSISTENCY = [
  { m: 1, n: 1, proof: [] },
  {
    m: 1,
    n: 8,
    proof: [
      '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
    ],
  },
  {
    m: 6,
    n: 8,
    proof: [
      '0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a',
      'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  },
  {
    m: 2,
    n: 5,
    proof: [
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
    ],
  },
  {
    m: 6,
    n: 7,
    proof: [
      '0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a',
      'b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  },
].map((v) => ({ ...v, proof: v.proof.map(hex) }));

const LEAVES = LEAF_DATA.map((data) => leafHash(data));
const SOME_HASH = hex('abacaba000000000000000000000000000000000000000000060061e00123456');

const flip = (hash: Hash, byte: number, mask: number): Buffer => {
  const copy = Buffer.from(hash);
  copy[byte] = copy[byte]! ^ mask;
  return copy;
};

/** The mutations of transparency-dev/merkle's corruptInclusionProof: each must fail to verify. */
function corruptInclusion(index: number, size: number, proof: Hash[], root: Hash, leaf: Hash) {
  const probes: Array<{ desc: string; index: number; size: number; leaf: Hash; proof: Hash[]; root: Hash }> =
    [
      { desc: 'index - 1', index: index - 1, size, leaf, proof, root },
      { desc: 'index + 1', index: index + 1, size, leaf, proof, root },
      { desc: 'index ^ 2', index: index ^ 2, size, leaf, proof, root },
      { desc: 'size * 2', index, size: size * 2, leaf, proof, root },
      { desc: 'size / 2', index, size: Math.floor(size / 2), leaf, proof, root },
      { desc: 'wrong leaf', index, size, leaf: Buffer.from('WrongLeaf'), proof, root },
      { desc: 'empty root', index, size, leaf, proof, root: EMPTY_ROOT },
      { desc: 'random root', index, size, leaf, proof, root: SOME_HASH },
      { desc: 'trailing garbage', index, size, leaf, proof: [...proof, Buffer.alloc(0)], root },
      { desc: 'trailing root', index, size, leaf, proof: [...proof, root], root },
      { desc: 'preceding garbage', index, size, leaf, proof: [Buffer.alloc(0), ...proof], root },
      { desc: 'preceding root', index, size, leaf, proof: [root, ...proof], root },
    ];
  proof.forEach((_, i) => {
    const wrong = [...proof];
    wrong[i] = flip(proof[i]!, 0, 8);
    probes.push({ desc: `modified proof[${i}] bit 3`, index, size, leaf, proof: wrong, root });
  });
  if (proof.length > 0)
    probes.push({ desc: 'removed component', index, size, leaf, proof: proof.slice(0, -1), root });
  if (proof.length > 1) {
    probes.push({
      desc: 'inserted component',
      index,
      size,
      leaf,
      proof: [proof[0]!, SOME_HASH, ...proof.slice(1)],
      root,
    });
  }
  return probes;
}

/** The mutations of transparency-dev/merkle's corruptConsistencyProof. */
function corruptConsistency(m: number, n: number, rootM: Hash, rootN: Hash, proof: Hash[]) {
  const wrongRoot = Buffer.from('WrongRoot');
  const probes: Array<{ desc: string; m: number; n: number; rootM: Hash; rootN: Hash; proof: Hash[] }> = [
    { desc: 'm - 1', m: m - 1, n, rootM, rootN, proof },
    { desc: 'm + 1', m: m + 1, n, rootM, rootN, proof },
    { desc: 'm ^ 2', m: m ^ 2, n, rootM, rootN, proof },
    { desc: 'n * 2', m, n: n * 2, rootM, rootN, proof },
    { desc: 'n / 2', m, n: Math.floor(n / 2), rootM, rootN, proof },
    { desc: 'wrong rootM', m, n, rootM: wrongRoot, rootN, proof },
    { desc: 'wrong rootN', m, n, rootM, rootN: wrongRoot, proof },
    { desc: 'swapped roots', m, n, rootM: rootN, rootN: rootM, proof },
    { desc: 'empty proof', m, n, rootM, rootN, proof: [] },
    { desc: 'trailing garbage', m, n, rootM, rootN, proof: [...proof, Buffer.alloc(0)] },
    { desc: 'trailing rootM', m, n, rootM, rootN, proof: [...proof, rootM] },
    { desc: 'trailing rootN', m, n, rootM, rootN, proof: [...proof, rootN] },
    { desc: 'preceding garbage', m, n, rootM, rootN, proof: [Buffer.alloc(0), ...proof] },
    { desc: 'preceding rootM', m, n, rootM, rootN, proof: [rootM, ...proof] },
    { desc: 'preceding rootN', m, n, rootM, rootN, proof: [rootN, ...proof] },
    { desc: 'preceding proof[0]', m, n, rootM, rootN, proof: [proof[0]!, ...proof] },
    { desc: 'truncated proof', m, n, rootM, rootN, proof: proof.slice(0, -1) },
  ];
  proof.forEach((_, i) => {
    const wrong = [...proof];
    wrong[i] = flip(proof[i]!, 0, 16);
    probes.push({ desc: `modified proof[${i}] bit 4`, m, n, rootM, rootN, proof: wrong });
  });
  return probes;
}

describe('RFC 6962 hashes', () => {
  it('the empty tree hashes to SHA-256 of the empty string', () => {
    expect(Buffer.from(EMPTY_ROOT).toString('hex')).toBe(
      'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    );
    expect(rootOf([])).toEqual(EMPTY_ROOT);
  });

  it('separates leaves from nodes (0x00 and 0x01 prefixes)', () => {
    const sha = (...parts: Buffer[]) => createHash('sha256').update(Buffer.concat(parts)).digest();
    expect(leafHash(Buffer.from('x'))).toEqual(sha(Buffer.of(0), Buffer.from('x')));
    expect(leafHash('é')).toEqual(sha(Buffer.of(0), Buffer.from('é', 'utf8')));
    expect(nodeHash(LEAVES[0]!, LEAVES[1]!)).toEqual(sha(Buffer.of(1), LEAVES[0]!, LEAVES[1]!));
    expect(leafHash(Buffer.alloc(0))).not.toEqual(EMPTY_ROOT);
  });

  it('computes the reference roots of the trees of size 1 to 8', () => {
    for (let size = 1; size <= 8; size++) {
      expect(Buffer.from(rootOf(LEAVES.slice(0, size))).toString('hex'), `size ${size}`).toBe(
        ROOTS[size - 1]!.toString('hex'),
      );
    }
  });

  it('the frontier gives the same roots, incrementally', () => {
    const frontier = new MerkleFrontier();
    expect(frontier.root()).toEqual(EMPTY_ROOT);
    LEAVES.forEach((leaf, i) => {
      frontier.append(leaf);
      expect(frontier.root()).toEqual(ROOTS[i]);
    });
    const restored = MerkleFrontier.fromJSON(JSON.parse(JSON.stringify(frontier)));
    expect(restored.size).toBe(8);
    expect(restored.root()).toEqual(ROOTS[7]);
  });

  it('rejects a frontier whose hashes do not fit its size', () => {
    expect(() => MerkleFrontier.fromJSON({ size: 3, hashes: [] })).toThrow(/needs `2` hashes/);
    expect(() => MerkleFrontier.fromJSON({ size: 1, hashes: ['AAAA'] })).toThrow(/32 bytes/);
    expect(() => MerkleFrontier.fromJSON('x')).toThrow(/not a merkle frontier/);
  });
});

describe('inclusion proofs (transparency-dev/merkle vectors)', () => {
  it.each(INCLUSION)(
    'produces and verifies the known proof of leaf $index in a tree of size $size',
    (vector) => {
      const proof = inclusionProof(LEAVES, vector.index, vector.size);
      expect(proof.map((h) => Buffer.from(h).toString('hex'))).toEqual(
        vector.proof.map((h) => h.toString('hex')),
      );
      const root = ROOTS[vector.size - 1]!;
      expect(verifyInclusion(LEAVES[vector.index]!, vector.index, vector.size, vector.proof, root)).toBe(
        true,
      );
    },
  );

  it.each(INCLUSION)('rejects every mutation of the proof of leaf $index in size $size', (vector) => {
    const root = ROOTS[vector.size - 1]!;
    const accepted = corruptInclusion(vector.index, vector.size, vector.proof, root, LEAVES[vector.index]!)
      .filter((p) => verifyInclusion(p.leaf, p.index, p.size, p.proof, p.root))
      .map((p) => p.desc);
    expect(accepted).toEqual([]);
  });

  it('rejects impossible positions and hashes of the wrong length', () => {
    for (const [index, size] of [
      [0, 0],
      [1, 0],
      [2, 1],
    ] as const) {
      expect(verifyInclusion(SOME_HASH, index, size, [], EMPTY_ROOT)).toBe(false);
    }
    const single = leafHash(Buffer.from('data'));
    expect(verifyInclusion(single, 0, 1, [], single)).toBe(true);
    expect(verifyInclusion(single, 0, 1, [], Buffer.alloc(0))).toBe(false);
    expect(verifyInclusion(Buffer.alloc(0), 0, 1, [], single)).toBe(false);
    expect(() => inclusionProof(LEAVES, 8, 8)).toThrow(/not in a tree of size `8`/);
    expect(() => inclusionProof(LEAVES, 0, 9)).toThrow(/not within the `8` leaves/);
  });
});

describe('consistency proofs (transparency-dev/merkle vectors)', () => {
  it.each(CONSISTENCY)('produces and verifies the known proof from $m to $n', (vector) => {
    const proof = consistencyProof(LEAVES, vector.m, vector.n);
    expect(proof.map((h) => Buffer.from(h).toString('hex'))).toEqual(
      vector.proof.map((h) => h.toString('hex')),
    );
    expect(
      verifyConsistency(vector.m, vector.n, ROOTS[vector.m - 1]!, ROOTS[vector.n - 1]!, vector.proof),
    ).toBe(true);
  });

  it.each(CONSISTENCY.filter((v) => v.proof.length > 0))(
    'rejects every mutation of the proof from $m to $n',
    (vector) => {
      const accepted = corruptConsistency(
        vector.m,
        vector.n,
        ROOTS[vector.m - 1]!,
        ROOTS[vector.n - 1]!,
        vector.proof,
      )
        .filter((p) => verifyConsistency(p.m, p.n, p.rootM, p.rootN, p.proof))
        .map((p) => p.desc);
      expect(accepted).toEqual([]);
    },
  );

  it('handles the edge sizes as transparency-dev/merkle does', () => {
    const r1 = Buffer.from("don't care 1");
    const r2 = Buffer.from("don't care 2");
    expect(verifyConsistency(0, 0, r1, r2, [])).toBe(false);
    expect(verifyConsistency(1, 1, r1, r2, [])).toBe(false);
    expect(verifyConsistency(0, 0, r1, r1, [])).toBe(true);
    expect(verifyConsistency(0, 1, r1, r2, [])).toBe(true);
    expect(verifyConsistency(1, 1, r2, r2, [])).toBe(true);
    expect(verifyConsistency(1, 0, r1, r2, [])).toBe(false);
    expect(verifyConsistency(2, 1, r1, r2, [])).toBe(false);
    expect(verifyConsistency(1, 2, r1, r2, [])).toBe(false);
    expect(verifyConsistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT])).toBe(false);
    expect(verifyConsistency(0, 1, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT])).toBe(false);
    expect(verifyConsistency(1, 1, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT])).toBe(false);
  });
});

describe('proofs for random trees (properties)', () => {
  const tree = (size: number) => Array.from({ length: size }, (_, i) => leafHash(`leaf ${i}`));
  const bitFlip = fc.record({ byte: fc.nat({ max: 31 }), bit: fc.nat({ max: 7 }) });

  it('every inclusion proof verifies, and no single-bit flip of it does', () => {
    fc.assert(
      fc.property(
        fc
          .integer({ min: 1, max: 300 })
          .chain((size) => fc.tuple(fc.constant(size), fc.nat({ max: size - 1 }))),
        fc.nat(),
        bitFlip,
        ([size, index], pick, { byte, bit }) => {
          const leaves = tree(size);
          const root = rootOf(leaves);
          const proof = inclusionProof(leaves, index, size);
          expect(verifyInclusion(leaves[index]!, index, size, proof, root)).toBe(true);
          expect(verifyInclusion(flip(leaves[index]!, byte, 1 << bit), index, size, proof, root)).toBe(false);
          expect(verifyInclusion(leaves[index]!, index, size, proof, flip(root, byte, 1 << bit))).toBe(false);
          if (proof.length > 0) {
            const wrong = [...proof];
            const at = pick % proof.length;
            wrong[at] = flip(proof[at]!, byte, 1 << bit);
            expect(verifyInclusion(leaves[index]!, index, size, wrong, root)).toBe(false);
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('every consistency proof verifies, and no single-bit flip of it does', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 300 }).chain((n) => fc.tuple(fc.nat({ max: n }), fc.constant(n))),
        fc.nat(),
        bitFlip,
        ([m, n], pick, { byte, bit }) => {
          const leaves = tree(n);
          const rootM = rootOf(leaves.slice(0, m));
          const rootN = rootOf(leaves);
          const proof = consistencyProof(leaves, m, n);
          expect(verifyConsistency(m, n, rootM, rootN, proof)).toBe(true);
          if (m > 0 && m < n) {
            expect(verifyConsistency(m, n, flip(rootM, byte, 1 << bit), rootN, proof)).toBe(false);
            expect(verifyConsistency(m, n, rootM, flip(rootN, byte, 1 << bit), proof)).toBe(false);
            const wrong = [...proof];
            const at = pick % proof.length;
            wrong[at] = flip(proof[at]!, byte, 1 << bit);
            expect(verifyConsistency(m, n, rootM, rootN, wrong)).toBe(false);
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('the frontier root equals the recursive root at every size', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 200 }), (size) => {
        const leaves = tree(size);
        const frontier = new MerkleFrontier();
        for (const leaf of leaves) frontier.append(leaf);
        expect(frontier.root()).toEqual(rootOf(leaves));
        expect(MerkleFrontier.fromJSON(frontier.toJSON()).root()).toEqual(rootOf(leaves));
      }),
      { numRuns: 100 },
    );
  });
});
