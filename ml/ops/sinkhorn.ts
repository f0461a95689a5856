// Entropic optimal transport between two point clouds by log-domain Sinkhorn, with the squared
// Euclidean cost streamed in blocks of candidate rows (specs/warmup-selection-gotd.md §4.4).
//
// Parametrisation (ott-jax's, which the GOT-D code uses): plan P_ij = exp((f_i + g_j − C_ij)/ε),
// potentials start at 0, and one iteration is
//   f̃_i = ε·log a_i − ε·LSE_j((g_j − C_ij)/ε),   f ← (1−ω)·f + ω·f̃
//   g̃_j = ε·log b_j − ε·LSE_i((f_i − C_ij)/ε),   g ← (1−ω)·g + ω·g̃
// stopping when the row-marginal error Σ_i |Σ_j P_ij − a_i| ≤ tol (L1, checked every iteration).
// ott-jax updates g before f and checks the column marginal; the spec's order is the mirror image
// and reaches the same fixed point.
//
// Precision. The potentials live in float64 JS arrays; a block kernel only ever returns per-row
// (max, Σexp) partials or per-column log-sum-exps, which are merged in float64 (spec §10, "Float32
// sums over millions of terms"). Before a potential is handed to a kernel it is shifted by its max
// and divided by ε, so the float32 kernel sees only O(C/ε) numbers, never ε·log(1/N)-sized offsets.
// The float32 (tfjs) kernel is the production path; it resolves potentials to about
// 1e-7·max(ε·log n, max C), so marginal errors below ~1e-5 and regimes with ε ≫ C (where g varies by
// much less than ε) are out of its reach. `precision: 'float64'` runs the same iteration with a
// plain-JS float64 kernel, for small problems and for oracles that need tolerances float32 cannot
// reach (tfjs has no float64 tensors).
import * as tf from '@tensorflow/tfjs-core';

/** Row-major matrix of `rows` points in R^dim. */
export interface PointCloud {
  readonly data: Float32Array | Float64Array;
  readonly rows: number;
  readonly dim: number;
}

export interface SinkhornConfig {
  /** Entropic regularisation ε: absolute, or a multiple of mean(C) when `relativeEpsilon`. */
  epsilon: number;
  relativeEpsilon?: boolean;
  /** Over-relaxation ω ∈ (0, 2); 1 is plain Sinkhorn. Falls back to 1 after 50 rising errors (§10). */
  omega?: number;
  /** Stop when the L1 row-marginal error is at most this. */
  tol?: number;
  maxIter?: number;
  /** Candidate rows per cost block (the n×blockSize cost block is the largest tensor). */
  blockSize?: number;
  /** Cache the cost blocks across iterations when n·N is at most this (entries, not bytes). */
  cacheCostLimit?: number;
  /** Weights a (target) and b (candidates); positive, normalised to sum 1. Default uniform. */
  targetWeights?: ArrayLike<number>;
  candidateWeights?: ArrayLike<number>;
  precision?: 'float32' | 'float64';
}

export const SINKHORN_DEFAULTS = {
  relativeEpsilon: false,
  omega: 1,
  tol: 1e-3,
  maxIter: 2000,
  blockSize: 4096,
  cacheCostLimit: 1e8,
  precision: 'float32',
} as const;

/** Consecutive rising marginal errors after which over-relaxation is switched off (spec §10). */
const OMEGA_FALLBACK_STREAK = 50;

export interface SinkhornResult {
  /** Target-side potential (length n). */
  f: Float64Array;
  /** Candidate-side potential (length N): the gradient of the OT cost w.r.t. b, up to a constant. */
  g: Float64Array;
  /** Completed (f, g) updates. */
  iterations: number;
  /** L1 row-marginal error of the returned potentials. */
  marginalError: number;
  converged: boolean;
  /** ⟨P, C⟩ of the returned plan. */
  transportCost: number;
  /** ⟨a, f⟩ + ⟨b, g⟩ (ott-jax's reg_ot_cost once the plan sums to 1). */
  dualObjective: number;
  /** Absolute ε used. */
  epsilon: number;
  /** mean_ij C_ij under uniform averaging (closed form). */
  meanCost: number;
  /** ω in force at the end; differs from the requested one after the fallback. */
  omega: number;
  omegaFellBack: boolean;
  blocks: number;
  cachedCost: boolean;
  precision: 'float32' | 'float64';
}

function fail(message: string): never {
  throw new Error(`sinkhorn: ${message}`);
}

function checkCloud(name: string, x: PointCloud): void {
  if (!Number.isInteger(x.dim) || x.dim < 1) fail(`${name} has dimension ${x.dim}`);
  if (!Number.isInteger(x.rows) || x.rows < 1) fail(`${name} has ${x.rows} rows`);
  if (x.data.length !== x.rows * x.dim) {
    fail(`${name} data has length ${x.data.length}, expected rows·dim = ${x.rows}·${x.dim}`);
  }
  for (let k = 0; k < x.data.length; k++) {
    if (!Number.isFinite(x.data[k]!)) {
      fail(`${name} has non-finite value ${x.data[k]} at row ${Math.floor(k / x.dim)}, column ${k % x.dim}`);
    }
  }
}

function logWeights(name: string, w: ArrayLike<number> | undefined, count: number): Float64Array {
  const out = new Float64Array(count);
  if (w === undefined) return out.fill(-Math.log(count));
  if (w.length !== count) fail(`${name} weights have length ${w.length}, expected ${count}`);
  let total = 0;
  for (let k = 0; k < count; k++) {
    const v = w[k]!;
    if (!(v > 0) || !Number.isFinite(v))
      fail(`${name} weight ${k} is ${v}; weights must be positive and finite`);
    total += v;
  }
  for (let k = 0; k < count; k++) out[k] = Math.log(w[k]! / total);
  return out;
}

/**
 * mean over all pairs of ‖x_i − y_j‖², in float64 and without forming any pair:
 * mean_i ‖x_i − x̄‖² + mean_j ‖y_j − x̄‖² (the cross term vanishes after centring at x̄).
 */
export function meanSquaredEuclideanCost(x: PointCloud, y: PointCloud): number {
  const mean = columnMeans(x);
  return meanSquaredDistanceTo(x, mean) + meanSquaredDistanceTo(y, mean);
}

function columnMeans(x: PointCloud): Float64Array {
  const mean = new Float64Array(x.dim);
  for (let i = 0; i < x.rows; i++) for (let d = 0; d < x.dim; d++) mean[d]! += x.data[i * x.dim + d]!;
  for (let d = 0; d < x.dim; d++) mean[d]! /= x.rows;
  return mean;
}

function meanSquaredDistanceTo(x: PointCloud, p: Float64Array): number {
  let total = 0;
  for (let i = 0; i < x.rows; i++) {
    for (let d = 0; d < x.dim; d++) {
      const diff = x.data[i * x.dim + d]! - p[d]!;
      total += diff * diff;
    }
  }
  return total / x.rows;
}

/**
 * Squared Euclidean cost block C_ij = ‖x_i‖² + ‖y_j‖² − 2·x_i·y_j, clamped at 0 (float32
 * cancellation can make it slightly negative). `x` is n×d, `y` is B×d; returns n×B.
 * @example squaredEuclideanCost(tf.tensor2d([[1, 2]]), tf.tensor2d([[0, 0], [1, 1]])) // [[5, 1]]
 */
export function squaredEuclideanCost(x: tf.Tensor2D, y: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const xNorm = tf.sum(tf.square(x), 1, true);
    const yNorm = tf.reshape(tf.sum(tf.square(y), 1), [1, y.shape[0]]);
    const cross = tf.matMul(x, y, false, true);
    return tf.relu(tf.sub<tf.Tensor2D>(tf.add(xNorm, yNorm), tf.mul(cross, 2)));
  });
}

interface Block {
  readonly start: number;
  readonly size: number;
}

/**
 * Per-row partials of v_ij = u_j − C_ij/ε for every block, block-major (entry k·n + i): max_j v,
 * Σ_j e^(v−max), and optionally Σ_j e^(v−max)·C_ij/ε.
 */
interface RowPartials {
  max: ArrayLike<number>;
  sum: ArrayLike<number>;
  costOverEps?: ArrayLike<number>;
}

/**
 * The only place the n×N cost is touched; two implementations (tfjs float32, JS float64). Each pass
 * uploads its potential once and downloads one small result, however many blocks there are.
 */
interface CostKernel {
  readonly blocks: readonly Block[];
  readonly cached: boolean;
  /** Row partials for all blocks; `u` has length N. */
  rowPartials(u: Float64Array, withCost: boolean): RowPartials;
  /** LSE_i(w_i − C_ij/ε) for every column j (length N). */
  columnLse(w: Float64Array): ArrayLike<number>;
  dispose(): void;
}

function makeBlocks(count: number, blockSize: number): Block[] {
  const blocks: Block[] = [];
  for (let start = 0; start < count; start += blockSize)
    blocks.push({ start, size: Math.min(blockSize, count - start) });
  return blocks;
}

/** Both clouds shifted by the target mean (the cost is translation invariant; less float32 cancellation). */
function centredFloat32(x: PointCloud, mean: Float64Array): Float32Array {
  const out = new Float32Array(x.data.length);
  for (let k = 0; k < out.length; k++) out[k] = x.data[k]! - mean[k % x.dim]!;
  return out;
}

class TfCostKernel implements CostKernel {
  readonly blocks: Block[];
  readonly cached: boolean;
  private readonly n: number;
  private readonly x: tf.Tensor2D;
  private readonly yBlocks: tf.Tensor2D[] = [];
  private readonly costOverEpsBlocks: tf.Tensor2D[] = [];
  private readonly epsilon: number;

  constructor(
    target: PointCloud,
    candidates: PointCloud,
    epsilon: number,
    blockSize: number,
    cache: boolean,
  ) {
    this.epsilon = epsilon;
    const mean = columnMeans(target);
    this.n = target.rows;
    this.blocks = makeBlocks(candidates.rows, blockSize);
    this.cached = cache;
    this.x = tf.tensor2d(centredFloat32(target, mean), [target.rows, target.dim]);
    const y = centredFloat32(candidates, mean);
    for (const b of this.blocks) {
      const yb = tf.tensor2d(y.subarray(b.start * candidates.dim, (b.start + b.size) * candidates.dim), [
        b.size,
        candidates.dim,
      ]);
      if (!cache) {
        this.yBlocks.push(yb);
        continue;
      }
      this.costOverEpsBlocks.push(tf.tidy(() => tf.div(squaredEuclideanCost(this.x, yb), epsilon)));
      yb.dispose();
    }
  }

  /** C/ε for a block: the cached tensor, or a fresh one (call inside tf.tidy). */
  private costOverEps(block: number): tf.Tensor2D {
    if (this.cached) return this.costOverEpsBlocks[block]!;
    return tf.div(squaredEuclideanCost(this.x, this.yBlocks[block]!), this.epsilon);
  }

  rowPartials(u: Float64Array, withCost: boolean): RowPartials {
    const n = this.n;
    const uAll = tf.tensor2d(Float32Array.from(u), [1, u.length]);
    // One small (parts × n) tensor per block survives its tidy; the n×B intermediates do not.
    const perBlock = this.blocks.map((b, k) =>
      tf.tidy(() => {
        const ce = this.costOverEps(k);
        const v = tf.sub(tf.slice(uAll, [0, b.start], [1, b.size]), ce);
        const max = tf.max(v, 1, true);
        const e = tf.exp(tf.sub(v, max));
        const parts = [tf.reshape(max, [n]), tf.sum(e, 1)];
        if (withCost) parts.push(tf.sum(tf.mul(e, ce), 1));
        return tf.stack(parts);
      }),
    );
    const packed = tf.stack(perBlock);
    const data = packed.dataSync();
    tf.dispose([uAll, packed, ...perBlock]);
    const parts = withCost ? 3 : 2;
    const pick = (part: number): Float32Array => {
      const out = new Float32Array(this.blocks.length * n);
      for (let k = 0; k < this.blocks.length; k++)
        out.set(data.subarray((k * parts + part) * n, (k * parts + part + 1) * n), k * n);
      return out;
    };
    return { max: pick(0), sum: pick(1), ...(withCost ? { costOverEps: pick(2) } : {}) };
  }

  columnLse(w: Float64Array): ArrayLike<number> {
    const wAll = tf.tensor2d(Float32Array.from(w), [this.n, 1]);
    const perBlock = this.blocks.map((_, k) =>
      tf.tidy(() => {
        const v = tf.sub(wAll, this.costOverEps(k));
        const max = tf.max(v, 0, true);
        return tf.reshape(tf.add(max, tf.log(tf.sum(tf.exp(tf.sub(v, max)), 0, true))), [-1]);
      }),
    );
    const lse = perBlock.length === 1 ? perBlock[0]! : tf.concat(perBlock);
    const data = lse.dataSync();
    tf.dispose([wAll, lse, ...perBlock]);
    return data;
  }

  dispose(): void {
    this.x.dispose();
    for (const t of this.yBlocks) t.dispose();
    for (const t of this.costOverEpsBlocks) t.dispose();
  }
}

class Float64CostKernel implements CostKernel {
  readonly blocks: Block[];
  readonly cached: boolean;
  private readonly cache: Float64Array[] = [];

  constructor(
    private readonly target: PointCloud,
    private readonly candidates: PointCloud,
    private readonly epsilon: number,
    blockSize: number,
    cache: boolean,
  ) {
    this.blocks = makeBlocks(candidates.rows, blockSize);
    this.cached = cache;
    if (cache) for (let k = 0; k < this.blocks.length; k++) this.cache.push(this.computeCostOverEps(k));
  }

  /** Exact differences, no norm expansion: no cancellation. Row-major n×size. */
  private computeCostOverEps(block: number): Float64Array {
    const { start, size } = this.blocks[block]!;
    const { rows: n, dim } = this.target;
    const x = this.target.data;
    const y = this.candidates.data;
    const out = new Float64Array(n * size);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < size; j++) {
        let c = 0;
        for (let d = 0; d < dim; d++) {
          const diff = x[i * dim + d]! - y[(start + j) * dim + d]!;
          c += diff * diff;
        }
        out[i * size + j] = c / this.epsilon;
      }
    }
    return out;
  }

  private costOverEps(block: number): Float64Array {
    return this.cached ? this.cache[block]! : this.computeCostOverEps(block);
  }

  rowPartials(u: Float64Array, withCost: boolean): RowPartials {
    const n = this.target.rows;
    const max = new Float64Array(this.blocks.length * n);
    const sum = new Float64Array(this.blocks.length * n);
    const cost = new Float64Array(this.blocks.length * n);
    this.blocks.forEach(({ start, size }, k) => {
      const ce = this.costOverEps(k);
      for (let i = 0; i < n; i++) {
        const row = i * size;
        let m = -Infinity;
        for (let j = 0; j < size; j++) m = Math.max(m, u[start + j]! - ce[row + j]!);
        let s = 0;
        let t = 0;
        for (let j = 0; j < size; j++) {
          const e = Math.exp(u[start + j]! - ce[row + j]! - m);
          s += e;
          if (withCost) t += e * ce[row + j]!;
        }
        max[k * n + i] = m;
        sum[k * n + i] = s;
        cost[k * n + i] = t;
      }
    });
    return withCost ? { max, sum, costOverEps: cost } : { max, sum };
  }

  columnLse(w: Float64Array): ArrayLike<number> {
    const n = this.target.rows;
    const lse = new Float64Array(this.candidates.rows);
    this.blocks.forEach(({ start, size }, k) => {
      const ce = this.costOverEps(k);
      const max = new Float64Array(size).fill(-Infinity);
      for (let i = 0; i < n; i++)
        for (let j = 0; j < size; j++) max[j] = Math.max(max[j]!, w[i]! - ce[i * size + j]!);
      const sum = new Float64Array(size);
      for (let i = 0; i < n; i++)
        for (let j = 0; j < size; j++) sum[j]! += Math.exp(w[i]! - ce[i * size + j]! - max[j]!);
      for (let j = 0; j < size; j++) lse[start + j] = max[j]! + Math.log(sum[j]!);
    });
    return lse;
  }

  dispose(): void {
    this.cache.length = 0;
  }
}

/** Row-wise LSE_j(u_j − C_ij/ε) over all blocks, merged in float64 with the max-shift rule. */
interface RowPass {
  lse: Float64Array;
  /** Σ_j e^(u_j − C_ij/ε − lse_i)·C_ij/ε (only when asked): the row's cost per unit row mass, over ε. */
  costOverEps?: Float64Array;
}

function rowPass(kernel: CostKernel, n: number, u: Float64Array, withCost: boolean): RowPass {
  const max = new Float64Array(n).fill(-Infinity);
  const sum = new Float64Array(n);
  const cost = new Float64Array(n);
  const part = kernel.rowPartials(u, withCost);
  for (let k = 0; k < kernel.blocks.length; k++) {
    for (let i = 0; i < n; i++) {
      const m = part.max[k * n + i]!;
      const s = part.sum[k * n + i]!;
      const c = withCost ? part.costOverEps![k * n + i]! : 0;
      if (m > max[i]!) {
        const scale = Math.exp(max[i]! - m);
        sum[i] = sum[i]! * scale + s;
        cost[i] = cost[i]! * scale + c;
        max[i] = m;
      } else {
        const scale = Math.exp(m - max[i]!);
        sum[i]! += s * scale;
        cost[i]! += c * scale;
      }
    }
  }
  const lse = new Float64Array(n);
  for (let i = 0; i < n; i++) lse[i] = max[i]! + Math.log(sum[i]!);
  if (!withCost) return { lse };
  for (let i = 0; i < n; i++) cost[i] = cost[i]! / sum[i]!;
  return { lse, costOverEps: cost };
}

function maxOf(v: Float64Array): number {
  let m = -Infinity;
  for (const x of v) m = Math.max(m, x);
  return m;
}

/** (v − max v)/ε, so kernels only see O(C/ε) numbers; returns the shift too. */
function shiftedOverEps(v: Float64Array, epsilon: number): { shifted: Float64Array; shift: number } {
  const shift = maxOf(v);
  const shifted = new Float64Array(v.length);
  for (let k = 0; k < v.length; k++) shifted[k] = (v[k]! - shift) / epsilon;
  return { shifted, shift };
}

function toPointCloud(name: string, x: PointCloud | tf.Tensor2D): PointCloud {
  if (x instanceof tf.Tensor) {
    if (x.rank !== 2) fail(`${name} must be a rank-2 tensor, got shape [${x.shape.join(', ')}]`);
    return { data: x.dataSync() as Float32Array, rows: x.shape[0], dim: x.shape[1] };
  }
  return x;
}

/**
 * Entropic OT between `target` (n points, weights a) and `candidates` (N points, weights b) under
 * the squared Euclidean cost. Returns both potentials, the transport cost and convergence facts.
 * @example sinkhorn({ data: new Float32Array([1, 2]), rows: 1, dim: 2 }, pool, { epsilon: 0.1 }).g
 */
export function sinkhorn(
  target: PointCloud | tf.Tensor2D,
  candidates: PointCloud | tf.Tensor2D,
  config: SinkhornConfig,
): SinkhornResult {
  const x = toPointCloud('target', target);
  const y = toPointCloud('candidates', candidates);
  checkCloud('target', x);
  checkCloud('candidates', y);
  if (x.dim !== y.dim) fail(`target has dimension ${x.dim}, candidates have ${y.dim}`);
  const cfg = { ...SINKHORN_DEFAULTS, ...config };
  if (!(cfg.epsilon > 0) || !Number.isFinite(cfg.epsilon))
    fail(`epsilon must be positive and finite, got ${cfg.epsilon}`);
  if (!(cfg.omega > 0 && cfg.omega < 2)) fail(`omega must lie in (0, 2), got ${cfg.omega}`);
  if (!(cfg.tol >= 0)) fail(`tol must be non-negative, got ${cfg.tol}`);
  if (!Number.isInteger(cfg.maxIter) || cfg.maxIter < 1)
    fail(`maxIter must be a positive integer, got ${cfg.maxIter}`);
  if (!Number.isInteger(cfg.blockSize) || cfg.blockSize < 1)
    fail(`blockSize must be a positive integer, got ${cfg.blockSize}`);

  const n = x.rows;
  const N = y.rows;
  const logA = logWeights('target', cfg.targetWeights, n);
  const logB = logWeights('candidate', cfg.candidateWeights, N);
  const meanCost = meanSquaredEuclideanCost(x, y);
  const eps = cfg.relativeEpsilon ? cfg.epsilon * meanCost : cfg.epsilon;
  if (!(eps > 0))
    fail(`relative epsilon ${cfg.epsilon} × mean cost ${meanCost} is not positive (all points equal?)`);
  const cache = n * N <= cfg.cacheCostLimit;
  const kernel: CostKernel =
    cfg.precision === 'float64'
      ? new Float64CostKernel(x, y, eps, cfg.blockSize, cache)
      : new TfCostKernel(x, y, eps, cfg.blockSize, cache);

  try {
    const f = new Float64Array(n);
    const g = new Float64Array(N);
    let omega = cfg.omega;
    let omegaFellBack = false;
    let iterations = 0;
    let error = Infinity;
    let rising = 0;
    for (;;) {
      // The row pass that the f-update needs also yields the row marginal of the current (f, g):
      // Σ_j P_ij = exp(f_i/ε + LSE_j((g_j − C_ij)/ε)), so the error check costs no extra pass.
      const gs = shiftedOverEps(g, eps);
      const { lse } = rowPass(kernel, n, gs.shifted, false);
      const previous = error;
      error = 0;
      for (let i = 0; i < n; i++)
        error += Math.abs(Math.exp((f[i]! + gs.shift) / eps + lse[i]!) - Math.exp(logA[i]!));
      if (Number.isNaN(error) || (error === Infinity && omega === 1)) {
        // With ω = 1 every row marginal is at most N·max a after an update, so this is a real fault.
        fail(
          `marginal error became ${error} at iteration ${iterations} (epsilon ${eps}, mean cost ${meanCost})`,
        );
      }
      if (iterations > 0 && error <= cfg.tol) break;
      if (iterations >= cfg.maxIter) break;
      rising = error >= previous ? rising + 1 : 0;
      // Over-relaxation can oscillate or overshoot at small ε (spec §10): an overflowing marginal, or
      // 50 rising errors in a row, switch to plain Sinkhorn, which converges from any finite potentials.
      if (omega !== 1 && (error === Infinity || rising >= OMEGA_FALLBACK_STREAK)) {
        omega = 1;
        omegaFellBack = true;
      }

      for (let i = 0; i < n; i++) {
        const fNew = eps * logA[i]! - gs.shift - eps * lse[i]!;
        f[i] = (1 - omega) * f[i]! + omega * fNew;
      }
      const fs = shiftedOverEps(f, eps);
      const colLse = kernel.columnLse(fs.shifted);
      for (let j = 0; j < N; j++) {
        const gNew = eps * logB[j]! - fs.shift - eps * colLse[j]!;
        g[j] = (1 - omega) * g[j]! + omega * gNew;
      }
      iterations++;
    }

    const gs = shiftedOverEps(g, eps);
    const final = rowPass(kernel, n, gs.shifted, true);
    let transportCost = 0;
    let dualObjective = 0;
    for (let i = 0; i < n; i++) {
      const rowMass = Math.exp((f[i]! + gs.shift) / eps + final.lse[i]!);
      transportCost += rowMass * final.costOverEps![i]! * eps;
      dualObjective += Math.exp(logA[i]!) * f[i]!;
    }
    for (let j = 0; j < N; j++) dualObjective += Math.exp(logB[j]!) * g[j]!;

    return {
      f,
      g,
      iterations,
      marginalError: error,
      converged: error <= cfg.tol,
      transportCost,
      dualObjective,
      epsilon: eps,
      meanCost,
      omega,
      omegaFellBack,
      blocks: kernel.blocks.length,
      cachedCost: kernel.cached,
      precision: cfg.precision,
    };
  } finally {
    kernel.dispose();
  }
}

/**
 * The entropic plan P_ij = exp((f_i + g_j − C_ij)/ε) as a dense n×N float64 matrix, for small
 * problems (tests, reports). Uses exact pairwise differences.
 */
export function transportPlan(
  target: PointCloud,
  candidates: PointCloud,
  potentials: Pick<SinkhornResult, 'f' | 'g' | 'epsilon'>,
): Float64Array {
  const { rows: n, dim } = target;
  const N = candidates.rows;
  const { f, g, epsilon } = potentials;
  const plan = new Float64Array(n * N);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < N; j++) {
      let c = 0;
      for (let d = 0; d < dim; d++) {
        const diff = target.data[i * dim + d]! - candidates.data[j * dim + d]!;
        c += diff * diff;
      }
      plan[i * N + j] = Math.exp((f[i]! + g[j]! - c) / epsilon);
    }
  }
  return plan;
}
