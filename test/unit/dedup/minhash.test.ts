// MinHash + LSH near-duplicate removal (ml/methods/dedup/index.ts): the estimate against exact
// Jaccard, the S-curve of banding, union-find clusters, the keep choice and determinism.
import { beforeAll, describe, expect, it } from 'vitest';
import {
  type Hash32,
  type MinHashParams,
  bandKeys,
  candidatePairs,
  deduplicateTexts,
  estimateJaccard,
  exactJaccard,
  loadShingleHash,
  lshCandidateProbability,
  minhashPermutations,
  minhashSignature,
  normalizeForShingles,
  resolveClusters,
  shingleHashes,
} from '../../../ml/methods/dedup/index.js';
import { Rng } from '../../../ml/train/rng.js';
import { DedupSettings } from '../../../schemas/dedup.js';

let hash: Hash32;
beforeAll(async () => {
  hash = await loadShingleHash();
});

/** The product's default settings (schemas/dedup.ts) with a seed of this test's own. */
const { ngram, bands, rows, numPerm, threshold, stripPunctuation } = DedupSettings.parse({});
const params: MinHashParams = { ngram, bands, rows, numPerm, threshold, stripPunctuation, seed: 3 };

/** Two sets with |A ∩ B| = shared, |A \ B| = |B \ A| = own: Jaccard = shared / (shared + 2·own). */
function setPair(rng: Rng, shared: number, own: number): [Uint32Array, Uint32Array] {
  const pool = new Set<number>();
  while (pool.size < shared + 2 * own) pool.add(rng.nextUint32());
  const all = [...pool];
  const a = Uint32Array.from(all.slice(0, shared + own)).sort();
  const b = Uint32Array.from([...all.slice(0, shared), ...all.slice(shared + own)]).sort();
  return [a, b];
}

const words = (rng: Rng, n: number) =>
  Array.from({ length: n }, () =>
    Array.from({ length: 3 + Math.floor(rng.next() * 6) }, () =>
      String.fromCharCode(97 + Math.floor(rng.next() * 26)),
    ).join(''),
  ).join(' ');

describe('MinHash', () => {
  it('normalises case and whitespace, and punctuation only when asked', () => {
    expect(normalizeForShingles('  Hello,\n\tWORLD  ', false)).toBe('hello, world');
    expect(normalizeForShingles('Hello, world!', true)).toBe('hello world');
    expect(shingleHashes('', 5, hash, 0)).toHaveLength(0);
    expect(shingleHashes('abc', 5, hash, 0)).toHaveLength(1);
    // "abcabc" has 2 distinct 5-grams? "abcab", "bcabc" → 2.
    expect(shingleHashes('abcabc', 5, hash, 0)).toHaveLength(2);
    // Multi-byte code points are one character each.
    expect(shingleHashes('ééééé', 5, hash, 0)).toHaveLength(1);
  });

  it('estimates the exact Jaccard similarity within 4 standard deviations', () => {
    const rng = new Rng(11);
    const K = 256;
    const perms = minhashPermutations(K, 5);
    const errors: number[] = [];
    for (const [shared, own] of [
      [180, 10],
      [100, 50],
      [60, 70],
      [20, 90],
      [200, 0],
    ] as const) {
      for (let rep = 0; rep < 5; rep++) {
        const [a, b] = setPair(rng, shared, own);
        const j = exactJaccard(a, b);
        expect(j).toBeCloseTo(shared / (shared + 2 * own), 12);
        const est = estimateJaccard(minhashSignature(a, perms), minhashSignature(b, perms));
        const sd = Math.sqrt((j * (1 - j)) / K);
        expect(Math.abs(est - j)).toBeLessThanOrEqual(4 * sd + 1e-9);
        errors.push(est - j);
      }
    }
    // Unbiased: the mean error over 25 pairs is small.
    expect(Math.abs(errors.reduce((s, e) => s + e, 0) / errors.length)).toBeLessThan(0.02);
  });

  it('makes pairs candidates at the rate of the S-curve 1 − (1 − s^r)^b', () => {
    expect(lshCandidateProbability(0.8, 20, 5)).toBeGreaterThan(0.999);
    expect(lshCandidateProbability(0.3, 20, 5)).toBeLessThan(0.05);
    const rng = new Rng(2);
    const pairsPerS = 400;
    for (const s of [0.3, 0.5, 0.7]) {
      // Signatures of pairs with component-wise agreement probability exactly s.
      const docs = 2 * pairsPerS;
      const keys = new Uint32Array(docs * params.bands);
      for (let p = 0; p < pairsPerS; p++) {
        const a = Uint32Array.from({ length: params.numPerm }, () => rng.nextUint32());
        const b = a.map((v) => (rng.next() < s ? v : rng.nextUint32()));
        keys.set(bandKeys(a, params.bands, params.rows), 2 * p * params.bands);
        keys.set(bandKeys(b, params.bands, params.rows), (2 * p + 1) * params.bands);
      }
      const flat = candidatePairs(keys, docs, params.bands);
      const pairs = Array.from({ length: flat.length / 2 }, (_, k) => [flat[2 * k]!, flat[2 * k + 1]!]);
      // Only the planted pairs collide (random 32-bit keys otherwise), each once.
      expect(pairs.every(([i, j]) => j === i! + 1 && i! % 2 === 0)).toBe(true);
      expect(new Set(pairs.map(([i]) => i)).size).toBe(pairs.length);
      const rate = pairs.length / pairsPerS;
      const expected = lshCandidateProbability(s, params.bands, params.rows);
      const sd = Math.sqrt((expected * (1 - expected)) / pairsPerS);
      expect(Math.abs(rate - expected)).toBeLessThanOrEqual(4 * sd + 0.01);
    }
  });

  it('finds connected components and keeps the smallest id of each', () => {
    const ids = ['d', 'b', 'a', 'e', 'c', 'f'];
    // d–b, b–a: one cluster {d, b, a} kept as "a"; e–c kept as "c"; f alone.
    const { keptAs, clusters } = resolveClusters(ids, [
      [0, 1],
      [1, 2],
      [3, 4],
    ]);
    expect(clusters).toBe(2);
    expect(Array.from(keptAs, (k) => ids[k])).toEqual(['a', 'a', 'a', 'c', 'c', 'f']);
    // The same clusters given in another order resolve the same way.
    const again = resolveClusters(ids, [
      [4, 3],
      [2, 1],
      [1, 0],
    ]);
    expect(Array.from(again.keptAs)).toEqual(Array.from(keptAs));
  });
});

describe('deduplicateTexts', () => {
  const rng = new Rng(99);
  const base = Array.from({ length: 30 }, () => words(rng, 80));
  /** base[0] with one word replaced: Jaccard well above 0.8; base[1] a quarter rewritten: below. */
  const near = base[0]!.replace(/^\S+/, 'zzzzzz');
  const half = base[1]!.slice(0, Math.floor((base[1]!.length * 3) / 4)) + ' ' + words(rng, 20);
  const ids = [...base.map((_, i) => `doc-${String(i).padStart(2, '0')}`), 'x-near', 'x-half', 'x-exact'];
  const texts = [...base, near, half, `  ${base[2]!.toUpperCase()}\n`];

  it('removes near-duplicates above the threshold and keeps those below it', async () => {
    const j = (a: string, b: string) =>
      exactJaccard(
        shingleHashes(normalizeForShingles(a, false), 5, hash, 3),
        shingleHashes(normalizeForShingles(b, false), 5, hash, 3),
      );
    expect(j(near, base[0]!)).toBeGreaterThan(0.85);
    expect(j(near, base[0]!)).toBeLessThan(0.99);
    expect(j(half, base[1]!)).toBeLessThan(0.75);
    expect(j(half, base[1]!)).toBeGreaterThan(0.5);
    const out = deduplicateTexts(ids, texts, params, hash);
    const removed = ids.filter((_, i) => !out.keep[i]);
    expect(removed).toEqual(['x-near', 'x-exact']);
    expect(out.clusters).toBe(2);
    // An inverted threshold fails these: at 0.5 (with bands of 2 rows, so that LSH finds pairs that
    // similar) the rewritten document goes too, at 0.99 the near one stays.
    const low = { ...params, threshold: 0.5, bands: 50, rows: 2 };
    expect(ids.filter((_, i) => !deduplicateTexts(ids, texts, low, hash).keep[i])).toEqual([
      'x-near',
      'x-half',
      'x-exact',
    ]);
    expect(
      ids.filter((_, i) => !deduplicateTexts(ids, texts, { ...params, threshold: 0.99 }, hash).keep[i]),
    ).toEqual(['x-exact']);
  });

  it('keeps the same documents whatever the input order, and the same seed gives the same signatures', () => {
    const order = Array.from(ids.keys()).reverse();
    const a = deduplicateTexts(ids, texts, params, hash);
    const b = deduplicateTexts(
      order.map((i) => ids[i]!),
      order.map((i) => texts[i]!),
      params,
      hash,
    );
    const keptA = ids.filter((_, i) => a.keep[i]).sort();
    const keptB = order
      .map((i) => ids[i]!)
      .filter((_, k) => b.keep[k])
      .sort();
    expect(keptB).toEqual(keptA);
    const sig = (seed: number) =>
      Array.from(minhashSignature(shingleHashes(texts[0]!, 5, hash, seed), minhashPermutations(100, seed)));
    expect(sig(3)).toEqual(sig(3));
    expect(sig(4)).not.toEqual(sig(3));
  });
});
