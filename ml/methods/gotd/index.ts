// GOT-D — Kang, Just, Sun, Jahagirdar, Zhang, Du, Sahu, Jia, "Get more for less: Principled Data
// Selection for Warming Up Fine-Tuning in LLMs", ICLR 2024 (arXiv 2405.02774).
// Spec: specs/warmup-selection-gotd.md.
//
// Implemented here:
// - Theorem 1 / Eq. (4), (8): with λ small, OT(λ·D_U + (1−λ)·D_S, D_R) ≈ OT(D_S, D_R) + λ·⟨D_U, ∇_{D_S} OT⟩,
//   so the warm-up set D_U is the K pool rows with the most negative gradient of OT(D_S, D_R) with
//   respect to their probability mass (spec §2, §4.5). One solve, one sort, no re-solve.
// - The gradient is the candidate-side dual potential g of entropic OT (ml/ops/sinkhorn.ts, spec
//   §4.4), made comparable by the LAVA calibration (Just et al., ICLR 2023):
//     c_j = g_j − (1/(N−1))·Σ_{k≠j} g_k = (N/(N−1))·(g_j − mean g),   Σ_j c_j = 0.
//   The GOT-D notebook divides by N instead of N−1 (spec §9); the ranking is the same, but only the
//   N−1 form removes g's free additive constant exactly (Σc = 0, spec §7.4), which merging chunks
//   needs, so this file follows the spec there.
// - Contrast mode (GOT-D_contrast, paper Table 1, detoxification): the target holds negative examples and the
//   ranking is by c descending.
// - Chunked approximation (spec §4.6, not in the paper): random shards each solved against the full
//   target, calibrated within the shard, merged by id. `scoreShard` is what one activity runs;
//   `mergeShardScores` is the reduce step.
// The domain screen and the before/after OT summary are in diagnostics.ts; the matching baseline in
// baselines.ts, the model-free embedder in ngram-embedder.ts, preprocessing in preprocess.ts.
// Rows are identified by id throughout: nothing here returns a position for the caller to index
// texts with (the notebook's misaligned text/embedding slicing, spec §9–10).
import type { SolveStatsJson } from '../../../schemas/gotd.js';
import { Rng } from '../../train/rng.js';
import {
  meanSquaredEuclideanCost,
  sinkhorn,
  SINKHORN_DEFAULTS,
  type PointCloud,
} from '../../ops/sinkhorn.js';

export type RowId = string | number | bigint;

/** Embeddings with their row ids; `embeddings` is row-major rows × dim. */
export interface EmbeddingTable {
  /** Used in error messages, e.g. "pool", "target", "pool shard 3". */
  readonly name?: string;
  readonly ids: readonly RowId[];
  readonly embeddings: Float32Array | Float64Array;
  readonly dim: number;
}

export type GotdMode = 'clean' | 'contrast';

/** Solver settings (spec §5, CPU defaults). ε is absolute unless `relativeEpsilon` (then × mean cost). */
export interface GotdSolverConfig {
  epsilon: number;
  relativeEpsilon: boolean;
  omega: number;
  tol: number;
  maxIter: number;
  blockSize: number;
  cacheCostLimit: number;
  precision: 'float32' | 'float64';
}

export interface GotdConfig extends Partial<GotdSolverConfig> {
  /** K: rows to select. */
  budget: number;
  mode?: GotdMode;
  /** `auto`: exact up to `maxExactPool` candidates, chunked above. */
  strategy?: 'auto' | 'exact' | 'chunked';
  maxExactPool?: number;
  /** Number of random chunks in chunked mode (default ⌈N / maxExactPool⌉). */
  chunks?: number;
  /** Seeds the random chunk assignment. */
  seed?: number;
}

export const GOTD_DEFAULTS = {
  ...SINKHORN_DEFAULTS,
  epsilon: 0.1,
  mode: 'clean',
  strategy: 'auto',
  maxExactPool: 100_000,
  seed: 0,
} as const satisfies GotdSolverConfig & Omit<GotdConfig, 'budget'>;

/** One OT solve's facts (the `solver_report` columns of spec §3, per solve); declared in schemas/. */
export type SolveStats = SolveStatsJson;

/** The `solver_report` row: for chunked runs, iterations and error are the worst chunk's, costs the chunk mean. */
export interface SolverReport extends SolveStats {
  mode: 'exact' | 'chunked';
  chunks: number;
}

/** Output of scoring one shard (or the whole pool): plain data for the scoring activity to write as a table. */
export interface ShardScores {
  ids: RowId[];
  /** Raw potential g_j: comparable only within this solve. */
  potentialG: Float64Array;
  /** Calibrated gradient c_j: comparable across shards. */
  calibratedGrad: Float64Array;
  stats: SolveStats;
}

/** Scores of every candidate (in the order of the shards given, each shard in its own order). */
export interface GotdScores {
  ids: RowId[];
  potentialG: Float64Array;
  calibratedGrad: Float64Array;
  /** 0 = best. */
  rank: Int32Array;
  /** 1 where the row is in the selection. */
  selected: Uint8Array;
  /** Selected ids, best first. */
  selection: RowId[];
  mode: GotdMode;
  budget: number;
  report: SolverReport;
}

// ---------------------------------------------------------------------------------------------------
// Input validation: errors say what is wrong and in which table.

export function tableName(t: EmbeddingTable, fallback: string): string {
  return t.name ?? fallback;
}

export function formatId(id: RowId): string {
  return typeof id === 'string' ? JSON.stringify(id) : String(id);
}

/** Throws unless `t` is a well-formed, finite, non-empty embedding table with unique ids. */
export function validateEmbeddingTable(t: EmbeddingTable, fallbackName: string): void {
  const name = tableName(t, fallbackName);
  if (!Number.isInteger(t.dim) || t.dim < 1)
    throw new Error(`embeddings of "${name}": dimension ${t.dim} is not a positive integer`);
  if (t.embeddings.length % t.dim !== 0) {
    throw new Error(
      `embeddings of "${name}": length ${t.embeddings.length} is not a multiple of dimension ${t.dim}`,
    );
  }
  const rows = t.embeddings.length / t.dim;
  if (rows === 0) throw new Error(`embeddings of "${name}": empty (0 rows)`);
  if (t.ids.length !== rows)
    throw new Error(`embeddings of "${name}": ${t.ids.length} ids but ${rows} embedding rows`);
  for (let k = 0; k < t.embeddings.length; k++) {
    const v = t.embeddings[k]!;
    if (!Number.isFinite(v)) {
      const row = Math.floor(k / t.dim);
      throw new Error(
        `embeddings of "${name}": non-finite value ${v} at row ${row} (id ${formatId(t.ids[row]!)}), column ${k % t.dim}`,
      );
    }
  }
  const seen = new Map<RowId, number>();
  t.ids.forEach((id, row) => {
    const first = seen.get(id);
    if (first !== undefined)
      throw new Error(`ids of "${name}": duplicate id ${formatId(id)} at rows ${first} and ${row}`);
    seen.set(id, row);
  });
}

export function validatePair(target: EmbeddingTable, pool: EmbeddingTable): void {
  validateEmbeddingTable(target, 'target');
  validateEmbeddingTable(pool, 'pool');
  if (pool.dim !== target.dim) {
    throw new Error(
      `embeddings of "${tableName(pool, 'pool')}": dimension ${pool.dim}, target has ${target.dim}`,
    );
  }
}

function resolveSolver(config: Partial<GotdSolverConfig>): GotdSolverConfig {
  return {
    epsilon: config.epsilon ?? GOTD_DEFAULTS.epsilon,
    relativeEpsilon: config.relativeEpsilon ?? GOTD_DEFAULTS.relativeEpsilon,
    omega: config.omega ?? GOTD_DEFAULTS.omega,
    tol: config.tol ?? GOTD_DEFAULTS.tol,
    maxIter: config.maxIter ?? GOTD_DEFAULTS.maxIter,
    blockSize: config.blockSize ?? GOTD_DEFAULTS.blockSize,
    cacheCostLimit: config.cacheCostLimit ?? GOTD_DEFAULTS.cacheCostLimit,
    precision: config.precision ?? GOTD_DEFAULTS.precision,
  };
}

function asCloud(t: EmbeddingTable): PointCloud {
  return { data: t.embeddings, rows: t.ids.length, dim: t.dim };
}

// ---------------------------------------------------------------------------------------------------
// Eq. (8) with the LAVA calibration.

/** c_j = g_j − (Σ_k g_k − g_j)/(N−1) = (N/(N−1))·(g_j − mean g); Σ_j c_j = 0. N = 1 gives c = 0. */
export function calibratedOtGradient(g: ArrayLike<number>): Float64Array {
  const N = g.length;
  const c = new Float64Array(N);
  if (N < 2) return c;
  let mean = 0;
  for (let j = 0; j < N; j++) mean += g[j]!;
  mean /= N;
  for (let j = 0; j < N; j++) c[j] = (N / (N - 1)) * (g[j]! - mean);
  return c;
}

/** Orders ids: numbers/bigints numerically before strings, strings by code unit. */
export function compareRowIds(p: RowId, q: RowId): number {
  const ps = typeof p === 'string';
  const qs = typeof q === 'string';
  if (ps !== qs) return ps ? 1 : -1;
  return p < q ? -1 : p > q ? 1 : 0;
}

/**
 * Positions of `ids` best first: clean mode by c ascending (most negative gradient first), contrast
 * mode by c descending; ties by id ascending.
 */
export function rankByCalibratedGradient(
  ids: readonly RowId[],
  c: ArrayLike<number>,
  mode: GotdMode,
): Int32Array {
  const order = Int32Array.from({ length: ids.length }, (_, k) => k);
  const sign = mode === 'clean' ? 1 : -1;
  order.sort((p, q) => sign * (c[p]! - c[q]!) || compareRowIds(ids[p]!, ids[q]!));
  return order;
}

// ---------------------------------------------------------------------------------------------------
// Scoring: one solve per shard (the whole pool is the one-shard case).

/**
 * Solves OT(target, shard) and returns the shard's potentials and calibrated gradients by id. This is
 * the unit of work of one scoring activity; pass an absolute ε (see `resolveEpsilon`) so that every
 * shard of one selection uses the same one.
 */
export function scoreShard(
  target: EmbeddingTable,
  shard: EmbeddingTable,
  config: Partial<GotdSolverConfig> = {},
  candidateWeights?: ArrayLike<number>,
): ShardScores {
  validatePair(target, shard);
  const solver = resolveSolver(config);
  const result = sinkhorn(asCloud(target), asCloud(shard), {
    ...solver,
    ...(candidateWeights ? { candidateWeights } : {}),
  });
  return {
    ids: [...shard.ids],
    potentialG: result.g,
    calibratedGrad: calibratedOtGradient(result.g),
    stats: {
      nTarget: target.ids.length,
      nCandidates: shard.ids.length,
      dim: target.dim,
      epsilon: result.epsilon,
      meanCost: result.meanCost,
      omega: result.omega,
      iterations: result.iterations,
      marginalError: result.marginalError,
      converged: result.converged,
      transportCost: result.transportCost,
      dualObjective: result.dualObjective,
    },
  };
}

/** The absolute ε a selection should use: `epsilon`, or `epsilon × mean cost` over the whole pool. */
export function resolveEpsilon(
  target: EmbeddingTable,
  pool: EmbeddingTable,
  config: Partial<GotdSolverConfig>,
): number {
  const solver = resolveSolver(config);
  if (!solver.relativeEpsilon) return solver.epsilon;
  validatePair(target, pool);
  return solver.epsilon * meanSquaredEuclideanCost(asCloud(target), asCloud(pool));
}

/**
 * Random, balanced partition of `count` rows into `shards` lists of row positions (each sorted), by
 * a seeded shuffle. Chunks must be random, never domain-sorted (spec §4.6).
 */
export function randomShardAssignment(count: number, shards: number, seed: number): Int32Array[] {
  if (!Number.isInteger(shards) || shards < 1 || shards > count) {
    throw new Error(`shards must be an integer in [1, ${count}], got ${shards}`);
  }
  const perm = Int32Array.from({ length: count }, (_, k) => k);
  const rng = Rng.fromState(seed);
  for (let k = count - 1; k > 0; k--) {
    const r = Math.floor(rng.next() * (k + 1));
    const tmp = perm[k]!;
    perm[k] = perm[r]!;
    perm[r] = tmp;
  }
  const out: Int32Array[] = [];
  for (let s = 0; s < shards; s++) {
    const from = Math.floor((s * count) / shards);
    const to = Math.floor(((s + 1) * count) / shards);
    out.push(perm.slice(from, to).sort());
  }
  return out;
}

/** Splits a pool into random shards; ids travel with their embeddings. */
export function splitIntoShards(pool: EmbeddingTable, shards: number, seed: number): EmbeddingTable[] {
  return randomShardAssignment(pool.ids.length, shards, seed).map((rows, s) => shardOf(pool, rows, s));
}

/** The rows `rows` of `pool` as shard number `s` (a copy). */
function shardOf(pool: EmbeddingTable, rows: Int32Array, s: number): EmbeddingTable {
  const embeddings = new (pool.embeddings.constructor as Float32ArrayConstructor | Float64ArrayConstructor)(
    rows.length * pool.dim,
  );
  rows.forEach((row, k) =>
    embeddings.set(pool.embeddings.subarray(row * pool.dim, (row + 1) * pool.dim), k * pool.dim),
  );
  return {
    name: `${tableName(pool, 'pool')} shard ${s}`,
    ids: Array.from(rows, (row) => pool.ids[row]!),
    embeddings,
    dim: pool.dim,
  };
}

/**
 * Merges shard score lists (one or many), ranks every candidate by calibrated gradient and selects
 * the top `budget` ids (spec §4.5). The reduce step of a sharded selection.
 */
export function mergeShardScores(
  shards: readonly ShardScores[],
  options: { budget: number; mode?: GotdMode },
): GotdScores {
  const mode = options.mode ?? GOTD_DEFAULTS.mode;
  if (shards.length === 0) throw new Error('mergeShardScores: no shard scores given');
  const total = shards.reduce((acc, s) => acc + s.ids.length, 0);
  const { budget } = options;
  if (!Number.isInteger(budget) || budget < 1)
    throw new Error(`budget must be a positive integer, got ${budget}`);
  if (budget > total) throw new Error(`budget ${budget} exceeds pool size ${total}`);

  const ids: RowId[] = [];
  const potentialG = new Float64Array(total);
  const calibratedGrad = new Float64Array(total);
  const seen = new Map<RowId, number>();
  shards.forEach((s, shard) => {
    if (s.potentialG.length !== s.ids.length || s.calibratedGrad.length !== s.ids.length) {
      throw new Error(
        `shard ${shard}: ${s.ids.length} ids but ${s.potentialG.length} potentials and ${s.calibratedGrad.length} gradients`,
      );
    }
    potentialG.set(s.potentialG, ids.length);
    calibratedGrad.set(s.calibratedGrad, ids.length);
    for (const id of s.ids) {
      const other = seen.get(id);
      if (other !== undefined)
        throw new Error(`id ${formatId(id)} appears in shard ${other} and shard ${shard}`);
      seen.set(id, shard);
      ids.push(id);
    }
  });

  const order = rankByCalibratedGradient(ids, calibratedGrad, mode);
  const rank = new Int32Array(total);
  const selected = new Uint8Array(total);
  order.forEach((row, r) => {
    rank[row] = r;
    if (r < budget) selected[row] = 1;
  });
  const selection = Array.from(order.subarray(0, budget), (row) => ids[row]!);
  return {
    ids,
    potentialG,
    calibratedGrad,
    rank,
    selected,
    selection,
    mode,
    budget,
    report: combineStats(shards.map((s) => s.stats)),
  };
}

function combineStats(stats: readonly SolveStats[]): SolverReport {
  const mean = (pick: (s: SolveStats) => number): number =>
    stats.reduce((acc, s) => acc + pick(s), 0) / stats.length;
  const first = stats[0]!;
  return {
    nTarget: first.nTarget,
    nCandidates: stats.reduce((acc, s) => acc + s.nCandidates, 0),
    dim: first.dim,
    epsilon: first.epsilon,
    meanCost: mean((s) => s.meanCost),
    omega: Math.min(...stats.map((s) => s.omega)),
    iterations: Math.max(...stats.map((s) => s.iterations)),
    marginalError: Math.max(...stats.map((s) => s.marginalError)),
    converged: stats.every((s) => s.converged),
    transportCost: mean((s) => s.transportCost),
    dualObjective: mean((s) => s.dualObjective),
    mode: stats.length === 1 ? 'exact' : 'chunked',
    chunks: stats.length,
  };
}

/**
 * GOT-D selection in one process: validates, solves (exact, or chunked for large pools), ranks and
 * selects `budget` ids. Activities that fan out use `splitIntoShards` → `scoreShard` → `mergeShardScores`.
 */
export function selectWarmupData(
  target: EmbeddingTable,
  pool: EmbeddingTable,
  config: GotdConfig,
): GotdScores {
  validatePair(target, pool);
  const N = pool.ids.length;
  if (!Number.isInteger(config.budget) || config.budget < 1)
    throw new Error(`budget must be a positive integer, got ${config.budget}`);
  if (config.budget > N) throw new Error(`budget ${config.budget} exceeds pool size ${N}`);
  const strategy = config.strategy ?? GOTD_DEFAULTS.strategy;
  const maxExactPool = config.maxExactPool ?? GOTD_DEFAULTS.maxExactPool;
  const chunked = strategy === 'chunked' || (strategy === 'auto' && N > maxExactPool);
  const mode = config.mode ?? GOTD_DEFAULTS.mode;
  if (!chunked) return mergeShardScores([scoreShard(target, pool, config)], { budget: config.budget, mode });

  const chunks = config.chunks ?? Math.ceil(N / maxExactPool);
  // One absolute ε for all chunks, so that their calibrated gradients are on one scale.
  const solver = { ...config, epsilon: resolveEpsilon(target, pool, config), relativeEpsilon: false };
  // One shard copy at a time: each is scored and dropped before the next is built, so the pool is
  // never held twice.
  const assignment = randomShardAssignment(N, chunks, config.seed ?? GOTD_DEFAULTS.seed);
  const merged = mergeShardScores(
    assignment.map((rows, s) => scoreShard(target, shardOf(pool, rows, s), solver)),
    { budget: config.budget, mode },
  );
  return { ...merged, report: { ...merged.report, mode: 'chunked' } };
}
