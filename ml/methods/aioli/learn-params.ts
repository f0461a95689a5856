// Aioli's LearnParams (paper Algorithm 2; specs/mixing-aioli.md §5.2): k interleaved sweeps over
// φ-smoothed one-hot mixtures q^(j), sequential loss differences β, and the solve
// A_raw[i,:] = W^{-1} β[i,:]; plus the exact batch compositions that realise a probe mixture (§8.9).
import type { AioliConfig } from './config.js';
import { type MixtureProbe, assertFiniteVector, isPositiveInteger } from './lmo.js';
import {
  type Matrix,
  SingularSystemError,
  leastSquares,
  randomPermutation,
  seededUniform,
  solveLinearSystem,
  transpose,
} from './numerics.js';

/** q^(j): share φ on group j and (1−φ)/(m−1) on every other group. */
export function learnParamsMixture(m: number, trainedGroup: number, oneHotFactor: number): number[] {
  const rest = (1 - oneHotFactor) / (m - 1);
  return Array.from({ length: m }, (_, l) => (l === trainedGroup ? oneHotFactor : rest));
}

/** W, row j = q^(j) (symmetric). Eigenvalues 1 (once) and (mφ−1)/(m−1) (m−1 times). */
export function learnParamsMixtureMatrix(m: number, oneHotFactor: number): Matrix {
  return Array.from({ length: m }, (_, j) => learnParamsMixture(m, j, oneHotFactor));
}

/** cond₂(W) = (m−1)/(mφ−1) for φ in (1/m, 1] (§11: near-singular as φ → 1/m). */
export function learnParamsConditionNumber(m: number, oneHotFactor: number): number {
  const small = (m * oneHotFactor - 1) / (m - 1);
  return Math.max(1, small) / Math.min(1, small);
}

/** Concatenation of `sweeps` independent random permutations of 0..m−1 (interleaved sweeps). */
export function learnParamsOrder(m: number, sweeps: number, uniform: () => number): number[] {
  return Array.from({ length: sweeps }, () => randomPermutation(m, uniform)).flat();
}

/** The LearnParams intervals of round `round`; the order is seeded by (config.seed, round). */
export function planLearnParams(config: AioliConfig, round: number): MixtureProbe[] {
  const m = config.groups.length;
  const order = learnParamsOrder(m, config.sweeps, seededUniform(config.seed, round));
  return order.map((j, position) => {
    const mixture = learnParamsMixture(m, j, config.oneHotFactor);
    return {
      position,
      sweep: Math.floor(position / m),
      trainedGroup: j,
      mixture,
      steps: config.stepsPerInterval,
      batchCounts: config.batchSize === null ? null : batchGroupCounts(mixture, config.batchSize),
    };
  });
}

/** What the workflow observed for one interval: the group losses measured right after it. */
export interface LearnParamsInterval {
  trainedGroup: number;
  /** The shares actually trained on (realised batch composition), not necessarily the nominal q^(j). */
  mixture: number[];
  steps: number;
  losses: number[];
}

export interface LearnParamsObservations {
  /** L0: losses at the start of the round, before the first interval. */
  initialLosses: number[];
  /** In the order they were run. */
  intervals: LearnParamsInterval[];
}

export interface InteractionEstimate {
  /** β[i][j]: mean decrease of group i's loss over the intervals probing j, per s steps. */
  beta: Matrix;
  /** A_raw, per s steps (= s·A_step on a linear law); the scale is removed by normalisation. */
  aRaw: Matrix;
  /** 'exact': m×m solve with W; 'least-squares': realised mixtures varied; 'diagonal': ablation. */
  solve: 'exact' | 'least-squares' | 'diagonal';
  /** The W used by the exact solve (rows = mixture probing group j), else null. */
  mixtureMatrix: Matrix | null;
}

/**
 * A_raw from a LearnParams call (paper Algorithm 2). Each interval's loss decrease is attributed only
 * to its own mixture; its "before" value is the measurement after the previous interval (no resets).
 * β[:, j] averages the decreases of the intervals that probed j, and A_raw[i, :] = W^{-1} β[i, :] is
 * an exact m×m solve, W built from the mixtures the observations report. If the realised mixtures of
 * some group differ between its intervals, A_raw is instead the least-squares fit of
 * decrease_n ≈ (steps_n / s) · A_raw · mixture_n over all intervals (§5.2, §10: never fall back to
 * the nominal W silently).
 */
export function estimateInteractionMatrix(
  observations: LearnParamsObservations,
  options: { stepsPerInterval: number; diagonal?: boolean },
): InteractionEstimate {
  const { initialLosses, intervals } = observations;
  const m = initialLosses.length;
  const s = options.stepsPerInterval;
  assertFiniteVector(initialLosses, m, 'LearnParams initialLosses');
  const beta: Matrix = Array.from({ length: m }, () => new Array<number>(m).fill(0));
  const counts = new Array<number>(m).fill(0);
  const byGroup: number[][][] = Array.from({ length: m }, () => []);
  const design: Matrix = [];
  const decreases: Matrix = [];
  let previous = initialLosses;
  intervals.forEach((iv, n) => {
    const where = `LearnParams interval ${n}`;
    if (!(Number.isInteger(iv.trainedGroup) && iv.trainedGroup >= 0 && iv.trainedGroup < m)) {
      throw new Error(`${where}: trainedGroup must be an integer in [0, ${m}), got ${iv.trainedGroup}`);
    }
    if (!isPositiveInteger(iv.steps))
      throw new Error(`${where}: steps must be a positive integer, got ${iv.steps}`);
    assertFiniteVector(iv.mixture, m, `${where} mixture`);
    assertFiniteVector(iv.losses, m, `${where} losses`);
    const decrease = previous.map((v, i) => v - iv.losses[i]!);
    const perS = s / iv.steps;
    for (let i = 0; i < m; i++) beta[i]![iv.trainedGroup]! += decrease[i]! * perS;
    counts[iv.trainedGroup]! += 1;
    byGroup[iv.trainedGroup]!.push(iv.mixture);
    design.push(iv.mixture.map((q) => q / perS));
    decreases.push(decrease);
    previous = iv.losses;
  });
  const missing = counts.flatMap((c, j) => (c === 0 ? [j] : []));
  if (missing.length > 0) {
    throw new Error(
      `LearnParams observations never probed group(s) ${missing.join(', ')}: every group needs at least one interval`,
    );
  }
  for (let i = 0; i < m; i++) for (let j = 0; j < m; j++) beta[i]![j]! /= counts[j]!;

  const sameMixture = (a: readonly number[], b: readonly number[]) =>
    a.every((v, l) => Math.abs(v - b[l]!) <= 1e-12);
  const consistent = byGroup.every((mixes) => mixes.every((q) => sameMixture(q, mixes[0]!)));
  if (options.diagonal === true) {
    // Repo --aioli_diagonal: A_ii = β_ii / φ, with φ the (realised, averaged) share of i when probing i.
    const aRaw = beta.map((row, i) =>
      row.map((b, j) =>
        i === j ? b / (byGroup[i]!.reduce((acc, q) => acc + q[i]!, 0) / byGroup[i]!.length) : 0,
      ),
    );
    return { beta, aRaw, solve: 'diagonal', mixtureMatrix: null };
  }
  if (consistent) {
    const w = byGroup.map((mixes) => [...mixes[0]!]);
    try {
      return { beta, aRaw: beta.map((row) => solveLinearSystem(w, row)), solve: 'exact', mixtureMatrix: w };
    } catch (e) {
      if (e instanceof SingularSystemError)
        throw new Error(
          `LearnParams: the probe mixtures are linearly dependent (W singular; is φ = 1/m?): ${e.message}`,
        );
      throw e;
    }
  }
  try {
    return {
      beta,
      aRaw: transpose(leastSquares(design, decreases)),
      solve: 'least-squares',
      mixtureMatrix: null,
    };
  } catch (e) {
    if (e instanceof SingularSystemError)
      throw new Error(`LearnParams: the realised probe mixtures do not span all ${m} groups: ${e.message}`);
    throw e;
  }
}

/** Rows per group realising `mixture` exactly in a batch of `batchSize` rows, or null. */
export function tryBatchGroupCounts(mixture: readonly number[], batchSize: number): number[] | null {
  const counts = mixture.map((q) => Math.round(q * batchSize));
  const exact = mixture.every((q, l) => Math.abs(q * batchSize - counts[l]!) <= 1e-9 * batchSize);
  return exact && counts.reduce((s, c) => s + c, 0) === batchSize ? counts : null;
}

/**
 * Rows per group in a batch of `batchSize` rows that realises `mixture` exactly; throws otherwise
 * (the repo silently quantises with max(1, ⌊share·B⌋) and keeps the nominal W — §10). Example:
 * batchGroupCounts([0.625, 0.375], 8) → [5, 3].
 */
export function batchGroupCounts(mixture: readonly number[], batchSize: number): number[] {
  const counts = tryBatchGroupCounts(mixture, batchSize);
  if (counts === null) {
    const fits = smallestRealisingBatch(mixture);
    throw new Error(
      `A batch of ${batchSize} rows cannot realise the mixture [${mixture.map((v) => v.toFixed(4)).join(', ')}]` +
        (fits === null ? '' : `; the smallest batch that does has ${fits} rows`),
    );
  }
  return counts;
}

/** The smallest batch size (≤ maxRows) whose rows realise `mixture` exactly, or null. */
export function smallestRealisingBatch(mixture: readonly number[], maxRows = 4096): number | null {
  for (let b = 1; b <= maxRows; b++) if (tryBatchGroupCounts(mixture, b) !== null) return b;
  return null;
}
