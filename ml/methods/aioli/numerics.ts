// Small dense linear algebra and seeded randomness for the Aioli mixing methods
// (specs/mixing-aioli.md §5.2 and §4). Plain numbers, no tfjs: every value here ends up in Temporal
// workflow state (JSON), the systems are m×m with m the number of data groups (2–10), and a workflow
// must be able to call these functions deterministically. Nothing here imports anything.

/** Dense row-major matrix of plain numbers (JSON-serialisable). */
export type Matrix = number[][];
type ReadonlyMatrix = readonly (readonly number[])[];

/** Thrown when a linear system has no unique solution. */
export class SingularSystemError extends Error {
  override readonly name = 'SingularSystemError';
}

/**
 * Solves M x = b by Gaussian elimination with partial pivoting. M is square (n×n).
 * Throws SingularSystemError when a pivot is below 1e-12 × the largest |entry| of M.
 * Example: solveLinearSystem([[2, 0], [0, 4]], [2, 2]) → [1, 0.5].
 */
export function solveLinearSystem(m: ReadonlyMatrix, b: readonly number[]): number[] {
  const n = m.length;
  if (b.length !== n || m.some((row) => row.length !== n)) {
    throw new Error(
      `solveLinearSystem: expected an n×n matrix and n-vector, got ${n}×${m[0]?.length ?? 0} and ${b.length}`,
    );
  }
  const a = m.map((row, i) => [...row, b[i]!]);
  const scale = Math.max(0, ...m.flat().map(Math.abs));
  const tiny = 1e-12 * scale;
  for (let col = 0; col < n; col++) {
    let pivot = col;
    for (let r = col + 1; r < n; r++) if (Math.abs(a[r]![col]!) > Math.abs(a[pivot]![col]!)) pivot = r;
    if (!(Math.abs(a[pivot]![col]!) > tiny)) {
      throw new SingularSystemError(
        `solveLinearSystem: matrix is singular (pivot ${a[pivot]![col]} in column ${col})`,
      );
    }
    if (pivot !== col) [a[pivot], a[col]] = [a[col]!, a[pivot]!];
    const p = a[col]!;
    for (let r = col + 1; r < n; r++) {
      const row = a[r]!;
      const f = row[col]! / p[col]!;
      if (f === 0) continue;
      for (let c = col; c <= n; c++) row[c] = row[c]! - f * p[c]!;
    }
  }
  const x = new Array<number>(n).fill(0);
  for (let r = n - 1; r >= 0; r--) {
    const row = a[r]!;
    let s = row[n]!;
    for (let c = r + 1; c < n; c++) s -= row[c]! * x[c]!;
    x[r] = s / row[r]!;
  }
  return x;
}

/**
 * Least-squares solution B (p×r) of X B ≈ Y for X (N×p, N ≥ p, full column rank) and Y (N×r),
 * through the normal equations XᵀX B = XᵀY. Adequate for the well-conditioned mixture designs of
 * LearnParams (condition number of XᵀX = cond(W)², 16 at the default φ); throws when XᵀX is singular.
 */
export function leastSquares(x: ReadonlyMatrix, y: ReadonlyMatrix): Matrix {
  const p = x[0]?.length ?? 0;
  if (x.length < p || y.length !== x.length) {
    throw new Error(
      `leastSquares: need N ≥ p rows and matching Y, got X ${x.length}×${p}, Y ${y.length} rows`,
    );
  }
  const xtx = Array.from({ length: p }, (_, a) =>
    Array.from({ length: p }, (_, b) => x.reduce((s, row) => s + row[a]! * row[b]!, 0)),
  );
  const r = y[0]?.length ?? 0;
  const columns = Array.from({ length: r }, (_, c) =>
    solveLinearSystem(
      xtx,
      Array.from({ length: p }, (_, a) => x.reduce((s, row, n) => s + row[a]! * y[n]![c]!, 0)),
    ),
  );
  return transpose(columns);
}

export function transpose(a: ReadonlyMatrix): Matrix {
  const cols = a[0]?.length ?? 0;
  return Array.from({ length: cols }, (_, j) => a.map((row) => row[j]!));
}

/** Σ_i A_ij for every column j (the trained group): the quantity every LMO update steps along. */
export function columnSums(a: ReadonlyMatrix): number[] {
  const cols = a[0]?.length ?? 0;
  return Array.from({ length: cols }, (_, j) => a.reduce((s, row) => s + row[j]!, 0));
}

/** Entrywise a·x + b·y of two matrices of equal shape. */
export function combineMatrices(a: number, x: ReadonlyMatrix, b: number, y: ReadonlyMatrix): Matrix {
  return x.map((row, i) => row.map((v, j) => a * v + b * y[i]![j]!));
}

// ---- seeded randomness -------------------------------------------------------------------------
// A local stand-in until ml/train/rng.ts lands: mulberry32 over a murmur3-finalised (seed, stream)
// pair, so "seeded by (seed, round)" (spec §4) is one call and replays bit-identically.

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * A uniform [0, 1) generator determined by (seed, stream). Seeds and streams are integers
 * (any safe integer; the high 32 bits are folded in).
 */
export function seededUniform(seed: number, stream = 0): () => number {
  if (!Number.isSafeInteger(seed) || !Number.isSafeInteger(stream)) {
    throw new Error(`seededUniform: seed and stream must be safe integers, got ${seed}, ${stream}`);
  }
  const fold = (v: number) => fmix32((v >>> 0) ^ fmix32(Math.floor(v / 2 ** 32) >>> 0));
  let state = fmix32(fold(seed) ^ Math.imul(fold(stream) + 0x9e3779b9, 0x2545f491));
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A uniformly random permutation of 0..n−1 (Fisher–Yates). */
export function randomPermutation(n: number, uniform: () => number): number[] {
  const out = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(uniform() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** One standard normal draw (Box–Muller). */
export function standardNormal(uniform: () => number): number {
  const u = 1 - uniform(); // (0, 1]
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * uniform());
}

/** One Gamma(shape, 1) draw (Marsaglia–Tsang; shape < 1 by the U^{1/shape} boost). */
export function sampleGamma(shape: number, uniform: () => number): number {
  if (!(shape > 0)) throw new Error(`sampleGamma: shape must be > 0, got ${shape}`);
  if (shape < 1) return sampleGamma(shape + 1, uniform) * Math.pow(1 - uniform(), 1 / shape);
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let z: number;
    let v: number;
    do {
      z = standardNormal(uniform);
      v = 1 + c * z;
    } while (v <= 0);
    v = v * v * v;
    const u = 1 - uniform();
    if (Math.log(u) < 0.5 * z * z + d - d * v + d * Math.log(v)) return d * v;
  }
}

/** One Dirichlet(alpha) draw: a point of the simplex. */
export function sampleDirichlet(alpha: readonly number[], uniform: () => number): number[] {
  const g = alpha.map((a) => sampleGamma(a, uniform));
  const total = g.reduce((s, v) => s + v, 0);
  return g.map((v) => v / total);
}
