// Near-duplicate removal by MinHash + locality-sensitive hashing (Broder 1997, "On the resemblance
// and containment of documents"; banding as in Leskovec, Rajaraman & Ullman, "Mining of Massive
// Datasets" §3.4). Pure functions over plain arrays; the activities in activities/dedup.ts do the I/O
// and the sharding, the workflow in workflows/dedup.ts the fan-out.
//
// 1. Normalisation (`normalizeForShingles`): Unicode NFKC, lowercase, every run of whitespace → one
//    space, trimmed; with `stripPunctuation` also every Unicode punctuation/symbol character removed.
//    Two documents that differ only in case, spacing or line wrapping are then identical.
// 2. Shingles: the set of character n-grams (n code points, `ngram`, default 5) of the normalised
//    text, each hashed to 32 bits with xxHash32 (`xxhash-wasm`) over its UTF-8 bytes. A text shorter
//    than n is one shingle; an empty one has none (it is never a candidate and is always kept).
// 3. MinHash signature: K = `numPerm` seeded universal hashes π_k(x) = (a_k·x + b_k) mod p with
//    p = 2³¹ − 1 (a Mersenne prime), a_k ∈ [1, p), b_k ∈ [0, p) drawn from the seed; x = shingle
//    hash mod p. sig_k = min over shingles of π_k(x). P(sig_k(A) = sig_k(B)) = J(A, B), the Jaccard
//    similarity of the shingle sets, so the fraction of equal components estimates J with standard
//    deviation √(J(1−J)/K).
// 4. LSH banding: the K components are cut into b bands of r rows (b·r = K); each band is hashed to
//    a key and documents sharing a key in any band are candidate pairs. A pair with similarity s is
//    a candidate with probability P(s) = 1 − (1 − s^r)^b, an S-curve whose steepest point is near
//    (1/b)^(1/r). Defaults b = 20, r = 5 (K = 100): P(0.8) = 0.9997, P(0.7) = 0.975, P(0.5) = 0.47,
//    P(0.3) = 0.047. More bands (or fewer rows) raise recall at the threshold and the number of
//    candidates below it (false positives of LSH, which the check in 5 removes at a cost in time);
//    fewer bands (or more rows) lower the work but miss true pairs (false negatives, never
//    recovered). The threshold t should sit on the S-curve's top shoulder: P(t) ≥ 0.99.
// 5. Verification: each candidate pair is kept only if the EXACT Jaccard similarity of the two
//    shingle-hash sets is ≥ `threshold` (32-bit hashes: two distinct shingles collide with
//    probability ~2⁻³², negligible). Candidates whose signature estimate is below threshold −
//    `ESTIMATE_MARGIN` are rejected first, without building their shingle sets. Against earlier partitions, whose texts are not kept, the check
//    uses the signatures' estimate instead (`estimateJaccard`).
// 6. Clusters: connected components of the verified pairs (union-find). One document per cluster is
//    kept: the one with the smallest id (UTF-16 code-unit order), so the choice does not depend on
//    file, shard or worker order. A component may hold pairs below the threshold (A≈B, B≈C, A≉C);
//    like every LSH deduplicator we drop all but one of it.
// Band buckets larger than `MAX_BUCKET_ALL_PAIRS` (boilerplate repeated thousands of times) are not
// expanded into all pairs: each member is checked against the bucket's first member and its
// predecessor, which keeps the work linear and still links chains of near-duplicates.
import xxhash from 'xxhash-wasm';
import { Rng, fmix32 } from '../../train/rng.js';

/** Mersenne prime 2³¹ − 1: the modulus of the universal hash family. */
export const MINHASH_PRIME = 2147483647;
const TWO31 = 2147483648;
const INV_TWO31 = 1 / TWO31;
export const MAX_BUCKET_ALL_PAIRS = 50;

export interface MinHashParams {
  /** Shingle length in Unicode code points. */
  ngram: number;
  bands: number;
  rows: number;
  /** Number of permutations: must equal bands × rows. */
  numPerm: number;
  /** Jaccard similarity at or above which two documents are duplicates. */
  threshold: number;
  stripPunctuation: boolean;
  seed: number;
}

/** A 32-bit hash of bytes with a seed: xxHash32 from `xxhash-wasm` in production. */
export type Hash32 = (bytes: Uint8Array, seed: number) => number;

let xxhash32: Promise<Hash32> | undefined;
/** xxHash32 of `xxhash-wasm` (the WebAssembly module is instantiated once per process). */
export function loadShingleHash(): Promise<Hash32> {
  xxhash32 ??= xxhash().then((api) => (bytes: Uint8Array, seed: number) => api.h32Raw(bytes, seed));
  return xxhash32;
}

/** Lowercase, NFKC, whitespace collapsed (and punctuation/symbols removed if asked). See header §1. */
export function normalizeForShingles(text: string, stripPunctuation: boolean): string {
  let t = text.normalize('NFKC').toLowerCase();
  if (stripPunctuation) t = t.replace(/[\p{P}\p{S}]+/gu, ' ');
  return t.replace(/\s+/gu, ' ').trim();
}

const encoder = new TextEncoder();

/**
 * Sorted, distinct 32-bit hashes of the character n-grams of `normalized` (header §2). The text is
 * encoded once; each shingle is a byte range of that encoding.
 */
export function shingleHashes(normalized: string, ngram: number, hash: Hash32, seed: number): Uint32Array {
  if (normalized.length === 0) return new Uint32Array(0);
  const bytes = encoder.encode(normalized);
  // Byte offset of every code point, plus the end.
  const starts: number[] = [];
  for (let i = 0; i < bytes.length; i++) if ((bytes[i]! & 0xc0) !== 0x80) starts.push(i);
  starts.push(bytes.length);
  const points = starts.length - 1;
  const count = Math.max(1, points - ngram + 1);
  const out = new Uint32Array(count);
  for (let i = 0; i < count; i++) {
    out[i] = hash(bytes.subarray(starts[i]!, starts[Math.min(i + ngram, points)]!), seed) >>> 0;
  }
  out.sort();
  let n = 0;
  for (let i = 0; i < out.length; i++) if (i === 0 || out[i] !== out[n - 1]) out[n++] = out[i]!;
  return out.slice(0, n);
}

export interface Permutations {
  /** a_k split as a_k = hi·2¹⁶ + lo, so that every product stays exact in a double. */
  aHi: Float64Array;
  aLo: Float64Array;
  b: Float64Array;
}

/** The K seeded hash functions π_k (header §3). Same seed → same permutations. */
export function minhashPermutations(numPerm: number, seed: number): Permutations {
  const rng = new Rng(seed);
  const draw = () => Math.floor(rng.next() * MINHASH_PRIME);
  const aHi = new Float64Array(numPerm);
  const aLo = new Float64Array(numPerm);
  const b = new Float64Array(numPerm);
  for (let k = 0; k < numPerm; k++) {
    const a = 1 + (draw() % (MINHASH_PRIME - 1));
    aHi[k] = Math.floor(a / 65536);
    aLo[k] = a % 65536;
    b[k] = draw();
  }
  return { aHi, aLo, b };
}

/**
 * The MinHash signature of a shingle-hash set: sig_k = min_x (a_k·x + b_k) mod p (header §3).
 * Products are reduced with the Mersenne identity 2³¹ ≡ 1 (mod p), in doubles (all values < 2⁵³).
 * An empty set gets p in every component (equal to no real minimum).
 */
export function minhashSignature(
  shingles: Uint32Array,
  perms: Permutations,
  out = new Uint32Array(perms.b.length),
): Uint32Array {
  const K = perms.b.length;
  const xs = new Float64Array(shingles.length);
  for (let s = 0; s < shingles.length; s++) xs[s] = shingles[s]! % MINHASH_PRIME;
  for (let k = 0; k < K; k++) {
    const ah = perms.aHi[k]!;
    const al = perms.aLo[k]!;
    const b = perms.b[k]!;
    let min = MINHASH_PRIME;
    for (let s = 0; s < xs.length; s++) {
      const x = xs[s]!;
      const y = ah * x; // < 2⁴⁶
      let q = Math.floor(y * INV_TWO31);
      const z = (y - q * TWO31 + q) * 65536 + al * x + b; // ≡ a·x + b, < 2⁴⁸·⁰¹
      q = Math.floor(z * INV_TWO31);
      let v = z - q * TWO31 + q;
      if (v >= MINHASH_PRIME) v -= MINHASH_PRIME;
      if (v < min) min = v;
    }
    out[k] = min;
  }
  return out;
}

/** Fraction of equal components: the MinHash estimate of the Jaccard similarity. */
export function estimateJaccard(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let eq = 0;
  for (let k = 0; k < a.length; k++) if (a[k] === b[k]) eq++;
  return eq / a.length;
}

/** Exact Jaccard similarity of two sorted, distinct arrays. Two empty sets: 0 (never duplicates). */
export function exactJaccard(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let i = 0;
  let j = 0;
  let inter = 0;
  while (i < a.length && j < b.length) {
    if (a[i]! === b[j]!) {
      inter++;
      i++;
      j++;
    } else if (a[i]! < b[j]!) i++;
    else j++;
  }
  const union = a.length + b.length - inter;
  return union === 0 ? 0 : inter / union;
}

/** P(candidate | similarity s) = 1 − (1 − s^r)^b: the LSH S-curve (header §4). */
export function lshCandidateProbability(s: number, bands: number, rows: number): number {
  return 1 - (1 - s ** rows) ** bands;
}

/**
 * One 32-bit key per band: a murmur-style hash of the band's r components and its index, so equal
 * rows in different bands never share a bucket. `out` holds `bands` keys.
 */
export function bandKeys(
  signature: ArrayLike<number>,
  bands: number,
  rows: number,
  out = new Uint32Array(bands),
): Uint32Array {
  for (let band = 0; band < bands; band++) {
    let h = Math.imul(band + 1, 0x9e3779b1);
    for (let r = 0; r < rows; r++) {
      h = Math.imul(h ^ fmix32(signature[band * rows + r]! >>> 0), 0x01000193);
      h = (h << 13) | (h >>> 19);
    }
    out[band] = fmix32(h >>> 0);
  }
  return out;
}

/**
 * Candidate pairs from band keys (`keys[doc·bands + band]`; docs with `skip[doc]` take no part). Per
 * band, (key, doc) is packed into one double and sorted natively; equal keys are a bucket. Returns
 * each pair once, flat as [i0, j0, i1, j1, …] with i < j, sorted: 8 bytes a pair, so millions of
 * candidates stay small.
 */
export function candidatePairs(
  keys: Uint32Array,
  docs: number,
  bands: number,
  skip?: Uint8Array,
): Uint32Array {
  const docBits = Math.max(1, Math.ceil(Math.log2(docs + 1)));
  if (docBits > 26)
    throw new RangeError(`too many documents for one candidate search: ${docs} (at most 2^26)`);
  // Key bits that fit next to the doc index in a double's 53-bit mantissa (32 below 2²¹ docs).
  const keyBits = Math.min(32, 53 - docBits);
  const docScale = 2 ** docBits;
  const keyShift = 2 ** (32 - keyBits);
  // Pair codes lo·docs + hi (< 2⁵²), appended to a growing buffer, sorted and made unique at the end.
  let codes = new Float64Array(1024);
  let n = 0;
  const add = (i: number, j: number) => {
    if (n === codes.length) {
      const grown = new Float64Array(codes.length * 2);
      grown.set(codes);
      codes = grown;
    }
    codes[n++] = i < j ? i * docs + j : j * docs + i;
  };
  const packed = new Float64Array(docs);
  for (let band = 0; band < bands; band++) {
    let m = 0;
    for (let d = 0; d < docs; d++) {
      if (skip?.[d]) continue;
      packed[m++] = Math.floor(keys[d * bands + band]! / keyShift) * docScale + d;
    }
    const sorted = packed.subarray(0, m).sort();
    let start = 0;
    while (start < m) {
      const bucket = Math.floor(sorted[start]! / docScale);
      let end = start + 1;
      while (end < m && Math.floor(sorted[end]! / docScale) === bucket) end++;
      const size = end - start;
      if (size > 1) {
        const doc = (k: number) => sorted[start + k]! - bucket * docScale;
        if (size <= MAX_BUCKET_ALL_PAIRS) {
          for (let i = 0; i < size; i++) for (let j = i + 1; j < size; j++) add(doc(i), doc(j));
        } else {
          for (let j = 1; j < size; j++) {
            add(doc(0), doc(j));
            if (j > 1) add(doc(j - 1), doc(j));
          }
        }
      }
      start = end;
    }
    // Keep the buffer small between bands: sort and drop repeats once it has grown.
    if (n > 1 << 20) n = uniqueSorted(codes, n);
  }
  n = uniqueSorted(codes, n);
  const out = new Uint32Array(2 * n);
  for (let k = 0; k < n; k++) {
    const lo = Math.floor(codes[k]! / docs);
    out[2 * k] = lo;
    out[2 * k + 1] = codes[k]! - lo * docs;
  }
  return out;
}

function uniqueSorted(codes: Float64Array, n: number): number {
  const view = codes.subarray(0, n).sort();
  let u = 0;
  for (let k = 0; k < n; k++) if (k === 0 || view[k] !== view[u - 1]) view[u++] = view[k]!;
  return u;
}

/**
 * Candidates whose signature estimate is this far below the threshold are rejected before the exact
 * check: with K = 100 the estimate's standard deviation at J = 0.8 is 0.04, so a pair at or above
 * the threshold is rejected with probability about 10⁻⁴, and most of the work (and the memory of
 * shingle sets) on dissimilar candidates is saved.
 */
export const ESTIMATE_MARGIN = 0.15;

/** Union-find with path halving; the root of a set is its smallest member under `before`. */
export class UnionFind {
  private readonly parent: Int32Array;
  constructor(
    n: number,
    private readonly before: (a: number, b: number) => boolean = (a, b) => a < b,
  ) {
    this.parent = Int32Array.from({ length: n }, (_, i) => i);
  }

  find(x: number): number {
    const p = this.parent;
    while (p[x] !== x) {
      p[x] = p[p[x]!]!;
      x = p[x]!;
    }
    return x;
  }

  union(a: number, b: number): void {
    const ra = this.find(a);
    const rb = this.find(b);
    if (ra === rb) return;
    if (this.before(ra, rb)) this.parent[rb] = ra;
    else this.parent[ra] = rb;
  }
}

export interface ClusterResolution {
  /** Per document: the index of the document kept for its cluster (itself when kept). */
  keptAs: Int32Array;
  /** Clusters of two or more documents. */
  clusters: number;
}

/**
 * Connected components of the verified pairs; each cluster keeps its smallest-id member (header §6),
 * or, with `tier`, its member of the lowest tier first (documents of earlier partitions, tier 0, are
 * already kept, so a cluster holding one drops all of this run's members). The result does not
 * depend on the order of `pairs`.
 */
export function resolveClusters(
  ids: readonly string[],
  pairs: readonly (readonly [number, number])[],
  tier?: ArrayLike<number>,
): ClusterResolution {
  const uf = new UnionFind(ids.length, (a, b) => {
    const ta = tier?.[a] ?? 0;
    const tb = tier?.[b] ?? 0;
    if (ta !== tb) return ta < tb;
    return ids[a]! < ids[b]! || (ids[a] === ids[b] && a < b);
  });
  for (const [i, j] of pairs) uf.union(i, j);
  const keptAs = new Int32Array(ids.length);
  const sizes = new Map<number, number>();
  for (let i = 0; i < ids.length; i++) {
    const r = uf.find(i);
    keptAs[i] = r;
    if (r !== i) sizes.set(r, (sizes.get(r) ?? 1) + 1);
  }
  return { keptAs, clusters: sizes.size };
}

/**
 * The whole method on in-memory texts (tests, the bench's reference, small inputs): which documents
 * to keep and the verified duplicate pairs. The sharded activities compute the same thing in pieces.
 */
export function deduplicateTexts(
  ids: readonly string[],
  texts: readonly string[],
  params: MinHashParams,
  hash: Hash32,
): { keep: boolean[]; keptAs: Int32Array; pairs: [number, number][]; clusters: number } {
  const perms = minhashPermutations(params.numPerm, params.seed);
  const shingles = texts.map((t) =>
    shingleHashes(normalizeForShingles(t, params.stripPunctuation), params.ngram, hash, params.seed),
  );
  const keys = new Uint32Array(ids.length * params.bands);
  const skip = new Uint8Array(ids.length);
  const signatures = shingles.map((s, d) => {
    if (s.length === 0) skip[d] = 1;
    const sig = minhashSignature(s, perms);
    keys.set(bandKeys(sig, params.bands, params.rows), d * params.bands);
    return sig;
  });
  const candidates = candidatePairs(keys, ids.length, params.bands, skip);
  const pairs: [number, number][] = [];
  for (let k = 0; k < candidates.length; k += 2) {
    const i = candidates[k]!;
    const j = candidates[k + 1]!;
    if (estimateJaccard(signatures[i]!, signatures[j]!) < params.threshold - ESTIMATE_MARGIN) continue;
    if (exactJaccard(shingles[i]!, shingles[j]!) >= params.threshold) pairs.push([i, j]);
  }
  const { keptAs, clusters } = resolveClusters(ids, pairs);
  return { keep: Array.from(keptAs, (k, i) => k === i), keptAs, pairs, clusters };
}
