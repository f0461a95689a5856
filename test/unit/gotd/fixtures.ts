// Seeded synthetic data and small reference computations shared by the GOT-D tests.
import type { EmbeddingTable, RowId } from '../../../ml/methods/gotd/index.js';

/** mulberry32 uniform [0, 1). */
export function uniformRng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal draws by Box–Muller. */
export function normalRng(seed: number): () => number {
  const u = uniformRng(seed);
  let spare: number | undefined;
  return () => {
    if (spare !== undefined) {
      const s = spare;
      spare = undefined;
      return s;
    }
    const r = Math.sqrt(-2 * Math.log(1 - u()));
    const theta = 2 * Math.PI * u();
    spare = r * Math.sin(theta);
    return r * Math.cos(theta);
  };
}

/** `rows` points from N(center, sd²·I). */
export function gaussianCloud(
  rows: number,
  center: readonly number[],
  sd: number,
  normal: () => number,
): Float64Array {
  const dim = center.length;
  const out = new Float64Array(rows * dim);
  for (let i = 0; i < rows; i++) for (let d = 0; d < dim; d++) out[i * dim + d] = center[d]! + sd * normal();
  return out;
}

export function concat(...parts: Float64Array[]): Float64Array {
  const out = new Float64Array(parts.reduce((acc, p) => acc + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export function table(
  name: string,
  ids: RowId[],
  embeddings: Float64Array | Float32Array,
  dim: number,
): EmbeddingTable {
  return { name, ids, embeddings, dim };
}

export interface TwoClusterData {
  pool: EmbeddingTable;
  target: EmbeddingTable;
  /** Pool ids of the under-covered cluster B. */
  rare: Set<RowId>;
}

/**
 * Spec §7.3 (dim 2) and §7.6 (dim 8): pool = nA rows of N(0, 0.5²I) ("A") + nB rows of
 * N(4·e1, 0.5²I) ("B"); target = tA fresh A + tB fresh B. Pool ids: "a0".."a{nA-1}", "b0"...
 */
export function twoClusterData(opts: {
  dim: number;
  nA: number;
  nB: number;
  tA: number;
  tB: number;
  seed: number;
}): TwoClusterData {
  const normal = normalRng(opts.seed);
  const a = Array.from({ length: opts.dim }, () => 0);
  const b = a.map((_, d) => (d === 0 ? 4 : 0));
  const poolA = gaussianCloud(opts.nA, a, 0.5, normal);
  const poolB = gaussianCloud(opts.nB, b, 0.5, normal);
  const targetA = gaussianCloud(opts.tA, a, 0.5, normal);
  const targetB = gaussianCloud(opts.tB, b, 0.5, normal);
  const rareIds = Array.from({ length: opts.nB }, (_, k) => `b${k}`);
  return {
    pool: table(
      'pool',
      [...Array.from({ length: opts.nA }, (_, k) => `a${k}`), ...rareIds],
      concat(poolA, poolB),
      opts.dim,
    ),
    target: table(
      'target',
      Array.from({ length: opts.tA + opts.tB }, (_, k) => `t${k}`),
      concat(targetA, targetB),
      opts.dim,
    ),
    rare: new Set(rareIds),
  };
}

export function share(ids: readonly RowId[], set: Set<RowId>): number {
  return ids.filter((id) => set.has(id)).length / ids.length;
}

export function overlap(p: readonly RowId[], q: readonly RowId[]): number {
  const qs = new Set(q);
  return p.filter((id) => qs.has(id)).length / p.length;
}

function ranks(v: ArrayLike<number>): Float64Array {
  const order = Array.from({ length: v.length }, (_, k) => k).sort((p, q) => v[p]! - v[q]!);
  const r = new Float64Array(v.length);
  // average ranks for ties
  for (let s = 0; s < order.length;) {
    let e = s;
    while (e + 1 < order.length && v[order[e + 1]!] === v[order[s]!]) e++;
    for (let k = s; k <= e; k++) r[order[k]!] = (s + e) / 2;
    s = e + 1;
  }
  return r;
}

/** Spearman rank correlation (Pearson on average ranks). */
export function spearman(p: ArrayLike<number>, q: ArrayLike<number>): number {
  const rp = ranks(p);
  const rq = ranks(q);
  const n = rp.length;
  const mean = (n - 1) / 2;
  let num = 0;
  let dp = 0;
  let dq = 0;
  for (let k = 0; k < n; k++) {
    num += (rp[k]! - mean) * (rq[k]! - mean);
    dp += (rp[k]! - mean) ** 2;
    dq += (rq[k]! - mean) ** 2;
  }
  return num / Math.sqrt(dp * dq);
}

// The spec §7.3 matching baseline is product code now (the gotd-effect bench uses it too).
export { nearestNeighbourMatching } from '../../../ml/methods/gotd/baselines.js';
