// LearnParams under a strong shared loss trend: the detrended estimator recovers the interactions'
// column sums (what every EGD step moves along); the repo's sequential-difference estimator, kept as
// the regression guard, does not — its column sums follow the probe order.
import { describe, expect, it } from 'vitest';
import {
  type Matrix,
  estimateInteractionMatrix,
  learnParamsMixture,
  learnParamsOrder,
  normalizeInteractionMatrix,
} from '../../../ml/methods/aioli/index.js';
import { estimateInteractionsDetrended } from '../../../ml/methods/aioli/detrended.js';
import { exponentiatedGradientUpdate } from '../../../ml/methods/aioli/lmo.js';
import { columnSums, seededUniform, standardNormal } from '../../../ml/methods/aioli/numerics.js';

const M = 3;
const S = 4; // steps per interval
const PHI = 0.5;
/** Known interactions per optimizer step (rows evaluated, columns trained); column sums 3.2, 3.5, 4.1 e-3. */
const A_STEP: Matrix = [
  [3, 0.5, 0],
  [0.2, 2, 0.1],
  [0, 1, 4],
].map((row) => row.map((v) => v * 1e-3));
/** Shared trend: every group's loss falls by G·c_i·exp(−t/τ) per step whatever it is trained on. */
const TREND = { g: 0.02, tau: 100, scale: [1, 1.3, 0.8] };

const pearson = (a: readonly number[], b: readonly number[]) => {
  const ma = a.reduce((x, y) => x + y, 0) / a.length;
  const mb = b.reduce((x, y) => x + y, 0) / b.length;
  let ab = 0;
  let aa = 0;
  let bb = 0;
  a.forEach((x, i) => {
    ab += (x - ma) * (b[i]! - mb);
    aa += (x - ma) ** 2;
    bb += (b[i]! - mb) ** 2;
  });
  return ab / Math.sqrt(aa * bb);
};
const argmax = (v: readonly number[]) => v.indexOf(Math.max(...v));

/** One LearnParams call (the repo's order: k independent random permutations) on the trend law. */
function observe(seed: number, sweeps: number, trend: typeof TREND | null, noise: number) {
  const order = learnParamsOrder(M, sweeps, seededUniform(seed, 1));
  const noiseDraw = seededUniform(seed, 2);
  const losses = [4, 4.5, 3.5];
  let t = 0;
  const measure = () => losses.map((l) => l + noise * standardNormal(noiseDraw));
  const initialLosses = measure();
  let trendPerInterval = Infinity;
  const intervals = order.map((j) => {
    const mixture = learnParamsMixture(M, j, PHI);
    let shared = 0;
    for (let n = 0; n < S; n += 1, t += 1) {
      const decay = trend === null ? 0 : trend.g * Math.exp(-t / trend.tau);
      shared += decay;
      for (let i = 0; i < M; i += 1) {
        const mixed = A_STEP[i]!.reduce((a, v, l) => a + v * mixture[l]!, 0);
        losses[i] = losses[i]! - (trend === null ? 0 : decay * trend.scale[i]!) - mixed;
      }
    }
    trendPerInterval = Math.min(trendPerInterval, shared);
    return { trainedGroup: j, mixture, steps: S, losses: measure() };
  });
  return { initialLosses, intervals, trendPerInterval };
}

const truth = columnSums(A_STEP);

/** Over many seeds: how often the estimate's column sums correlate with the truth's, and pick its best group. */
function score(estimate: (o: ReturnType<typeof observe>) => Matrix, sweeps: number, seeds = 100) {
  let correlated = 0;
  let bestGroup = 0;
  let egdTowardBest = 0;
  for (let seed = 0; seed < seeds; seed += 1) {
    const a = estimate(observe(seed, sweeps, TREND, 1e-4));
    const cols = columnSums(a);
    if (pearson(cols, truth) > 0.8) correlated += 1;
    if (argmax(cols) === argmax(truth)) bestGroup += 1;
    const normalized = normalizeInteractionMatrix(a);
    const p = normalized && exponentiatedGradientUpdate([1 / 3, 1 / 3, 1 / 3], normalized, 1);
    if (p !== null && argmax(p) === argmax(truth)) egdTowardBest += 1;
  }
  return {
    correlated: correlated / seeds,
    bestGroup: bestGroup / seeds,
    egdTowardBest: egdTowardBest / seeds,
  };
}

const detrended = (o: ReturnType<typeof observe>) =>
  estimateInteractionsDetrended(o.initialLosses, o.intervals, { stepsPerInterval: S }).aRaw;
const repo = (o: ReturnType<typeof observe>) => estimateInteractionMatrix(o, { stepsPerInterval: S }).aRaw;

describe('LearnParams: interactions, not the loss trend', () => {
  it('the scenario is trend-dominated: every interval’s shared drop is > 10× the largest column-sum gap', () => {
    const { trendPerInterval } = observe(0, 4, TREND, 0);
    const gap = (Math.max(...truth) - Math.min(...truth)) * S;
    expect(trendPerInterval).toBeGreaterThan(10 * gap);
  });

  it('without a trend or noise it returns A − rowmean(A) per s steps exactly', () => {
    for (const seed of [0, 1, 2]) {
      const o = observe(seed, 2, null, 0);
      const got = estimateInteractionsDetrended(o.initialLosses, o.intervals, { stepsPerInterval: S });
      const want = A_STEP.map((row) => row.map((v) => S * (v - row.reduce((a, b) => a + b, 0) / M)));
      got.aRaw.forEach((row, i) => row.forEach((v, j) => expect(v).toBeCloseTo(want[i]![j]!, 12)));
      got.aRaw.forEach((row) => expect(row.reduce((a, b) => a + b, 0)).toBeCloseTo(0, 14));
    }
  });

  it('measures only the objective’s groups when asked: rows follow the losses, columns the mixtures', () => {
    const o = observe(1, 2, null, 0);
    const rows = [0, 2];
    const pick = (l: number[]) => rows.map((i) => l[i]!);
    const got = estimateInteractionsDetrended(
      pick(o.initialLosses),
      o.intervals.map((iv) => ({ ...iv, losses: pick(iv.losses) })),
      { stepsPerInterval: S },
    );
    expect(got.aRaw).toHaveLength(2);
    rows.forEach((i, r) => {
      const row = A_STEP[i]!;
      const mean = row.reduce((a, b) => a + b, 0) / M;
      got.aRaw[r]!.forEach((v, j) => expect(v).toBeCloseTo(S * (row[j]! - mean), 12));
    });
  });

  it('under the trend (k = 4): column sums track the truth and EGD moves to the best group', () => {
    const got = score(detrended, 4);
    expect(got.correlated).toBeGreaterThanOrEqual(0.9);
    expect(got.bestGroup).toBeGreaterThanOrEqual(0.9);
    expect(got.egdTowardBest).toBeGreaterThanOrEqual(0.9);
  });

  it('under the trend (k = 2, the CPU default): still right most of the time', () => {
    const got = score(detrended, 2);
    expect(got.correlated).toBeGreaterThanOrEqual(0.6);
    expect(got.bestGroup).toBeGreaterThanOrEqual(0.7);
  });

  it('regression guard: the repo’s sequential-difference estimator fails the same test', () => {
    const got = score(repo, 4);
    expect(got.correlated).toBeLessThan(0.5);
    expect(got.bestGroup).toBeLessThan(0.6);
  });

  it('rejects observations that cannot separate mixtures from a trend', () => {
    const o = observe(0, 1, null, 0);
    expect(() =>
      estimateInteractionsDetrended(o.initialLosses, o.intervals.slice(0, 2), { stepsPerInterval: S }),
    ).toThrow(/never probed group/);
  });
});
