// LearnParams (paper Algorithm 2) and normalisation: spec §8 oracles 1, 2, 3, 7, 9.
import { describe, expect, it } from 'vitest';
import {
  type Matrix,
  aioliConfig,
  batchGroupCounts,
  estimateInteractionMatrix,
  learnParamsConditionNumber,
  learnParamsMixture,
  learnParamsMixtureMatrix,
  normalizeInteractionMatrix,
  oneHotFactorFromEpsilon,
  planLearnParams,
  smallestRealisingBatch,
  validateAioliConfig,
  AIOLI_REPO_PRESETS,
} from '../../../ml/methods/aioli/index.js';
import { exponentiatedGradientUpdate } from '../../../ml/methods/aioli/lmo.js';
import { columnSums } from '../../../ml/methods/aioli/numerics.js';
import { LinearMixingLaw } from './linear-mixing-law.js';

const ORACLE2_A: Matrix = [
  [0.3, 0.05, 0.0],
  [0.02, 0.2, 0.01],
  [0.0, 0.1, 0.4],
].map((row) => row.map((v) => v * 1e-3));

const maxAbs = (a: Matrix) => Math.max(...a.flat().map(Math.abs));
const maxRelError = (got: Matrix, want: Matrix) =>
  maxAbs(got.map((row, i) => row.map((v, j) => v - want[i]![j]!))) / maxAbs(want);
const matVec = (a: Matrix, x: readonly number[]) => a.map((row) => row.reduce((s, v, j) => s + v * x[j]!, 0));

/** One LearnParams call on a simulated law: L0, then train + evaluate per planned probe. */
function observeLearnParams(law: LinearMixingLaw, config: ReturnType<typeof aioliConfig>, round = 0) {
  const initialLosses = law.evaluate();
  const intervals = planLearnParams(config, round).map((probe) => {
    law.train(probe.mixture, probe.steps);
    return {
      trainedGroup: probe.trainedGroup,
      mixture: probe.mixture,
      steps: probe.steps,
      losses: law.evaluate(),
    };
  });
  return { initialLosses, intervals };
}

const threeGroups = (over: Partial<ReturnType<typeof aioliConfig>> = {}) =>
  aioliConfig({
    groups: ['arxiv', 'book', 'stackexchange'],
    totalSteps: 5000,
    roundSteps: 250,
    sweeps: 4,
    stepsPerInterval: 6,
    oneHotFactor: 0.5,
    ...over,
  });

describe('oracle 1: the probe mixture matrix W', () => {
  it('m=2, φ=0.625: [[0.625, 0.375], [0.375, 0.625]], eigenvalues {0.25, 1}', () => {
    expect(learnParamsMixtureMatrix(2, 0.625)).toEqual([
      [0.625, 0.375],
      [0.375, 0.625],
    ]);
    expectEigenvalues(2, 0.625, 0.25);
  });

  it('m=3, φ=0.5: off-diagonal 0.25, eigenvalues {0.25, 0.25, 1}', () => {
    const w = learnParamsMixtureMatrix(3, 0.5);
    w.forEach((row, j) => row.forEach((v, l) => expect(v).toBe(j === l ? 0.5 : 0.25)));
    expectEigenvalues(3, 0.5, 0.25);
  });

  it('m=7, φ=0.75: off-diagonal 1/24, eigenvalues {0.7083 ×6, 1}', () => {
    const w = learnParamsMixtureMatrix(7, 0.75);
    w.forEach((row, j) => row.forEach((v, l) => expect(v).toBeCloseTo(j === l ? 0.75 : 1 / 24, 15)));
    expectEigenvalues(7, 0.75, 0.708333333);
  });

  it('rejects φ = 1/m at config validation, and reports conditioning', () => {
    for (const m of [2, 3, 7]) {
      const groups = Array.from({ length: m }, (_, i) => `g${i}`);
      const errors = validateAioliConfig(
        aioliConfig({
          groups,
          totalSteps: 40000,
          roundSteps: 200,
          sweeps: 1,
          stepsPerInterval: 1,
          oneHotFactor: 1 / m,
        }),
      );
      expect(errors.join('\n')).toMatch(/oneHotFactor \(φ\) must lie in \(1\/m, 1\].*W is singular/);
    }
    expect(learnParamsConditionNumber(3, 0.5)).toBeCloseTo(4, 12);
    expect(learnParamsConditionNumber(3, 0.34333333333)).toBeCloseTo(66.7, 1);
    expect(oneHotFactorFromEpsilon(0.75, 2)).toBe(0.625);
    expect(oneHotFactorFromEpsilon(0.75, 3)).toBe(0.5);
  });

  // W 1 = 1 and W (e_0 − e_l) = λ (e_0 − e_l) for l = 1..m−1: that basis pins all m eigenvalues.
  function expectEigenvalues(m: number, phi: number, small: number) {
    const w = learnParamsMixtureMatrix(m, phi);
    matVec(w, new Array<number>(m).fill(1)).forEach((v) => expect(v).toBeCloseTo(1, 14));
    for (let l = 1; l < m; l++) {
      const v = Array.from({ length: m }, (_, i) => (i === 0 ? 1 : i === l ? -1 : 0));
      matVec(w, v).forEach((x, i) => expect(x).toBeCloseTo(small * v[i]!, 8));
    }
  }
});

describe('oracle 2: exact recovery on a noise-free linear law (m=3, k=4, s=6, φ=0.5)', () => {
  it('A_raw = s·A_step to 1e-9 relative for any permutation order and any k', () => {
    const want = ORACLE2_A.map((row) => row.map((v) => v * 6));
    let worst = 0;
    for (const sweeps of [1, 2, 4, 7]) {
      for (const seed of [0, 1, 2, 3, 99]) {
        const config = threeGroups({ sweeps, seed });
        const estimate = estimateInteractionMatrix(
          observeLearnParams(new LinearMixingLaw({ aStep: ORACLE2_A }), config),
          { stepsPerInterval: 6 },
        );
        expect(estimate.solve).toBe('exact');
        worst = Math.max(worst, maxRelError(estimate.aRaw, want));
      }
    }
    expect(worst).toBeLessThan(1e-9);
  });

  it('normalised Ā, column sums and first-round proportions match the reference', () => {
    const estimate = estimateInteractionMatrix(
      observeLearnParams(new LinearMixingLaw({ aStep: ORACLE2_A }), threeGroups()),
      { stepsPerInterval: 6 },
    );
    const aBar = normalizeInteractionMatrix(estimate.aRaw)!;
    const want = [
      [0.2778, 0.0463, 0],
      [0.0185, 0.1852, 0.0093],
      [0, 0.0926, 0.3704],
    ];
    aBar.forEach((row, i) => row.forEach((v, j) => expect(Math.abs(v - want[i]![j]!)).toBeLessThan(5e-5)));
    columnSums(aBar).forEach((v, j) => expect(Math.abs(v - [0.2963, 0.3241, 0.3796][j]!)).toBeLessThan(5e-5));
    const uniform = [1 / 3, 1 / 3, 1 / 3];
    for (const [eta, p] of [
      [0.1, [0.3321, 0.333, 0.3349]],
      [0.2, [0.3309, 0.3327, 0.3364]],
      [1, [0.321, 0.3301, 0.3489]],
    ] as const) {
      const next = exponentiatedGradientUpdate(uniform, aBar, eta);
      next.forEach((v, j) => expect(Math.abs(v - p[j]!)).toBeLessThan(5e-5));
      expect(next.indexOf(Math.max(...next))).toBe(2); // the group with the largest column sum
    }
  });

  it('φ = 1 (pure one-hot sweeps) gives A_raw = β = s·A_step', () => {
    const estimate = estimateInteractionMatrix(
      observeLearnParams(new LinearMixingLaw({ aStep: ORACLE2_A }), threeGroups({ oneHotFactor: 1 })),
      { stepsPerInterval: 6 },
    );
    expect(maxRelError(estimate.aRaw, estimate.beta)).toBeLessThan(1e-12);
    expect(
      maxRelError(
        estimate.aRaw,
        ORACLE2_A.map((r) => r.map((v) => 6 * v)),
      ),
    ).toBeLessThan(1e-9);
  });

  it('the diagonal ablation returns A_ii = β_ii / φ and zero off-diagonals', () => {
    const diag: Matrix = [
      [0.003, 0, 0],
      [0, 0.001, 0],
      [0, 0, 0.002],
    ];
    const estimate = estimateInteractionMatrix(
      observeLearnParams(new LinearMixingLaw({ aStep: diag }), threeGroups()),
      { stepsPerInterval: 6, diagonal: true },
    );
    expect(estimate.solve).toBe('diagonal');
    estimate.aRaw.forEach((row, i) =>
      row.forEach((v, j) => expect(v).toBeCloseTo(i === j ? estimate.beta[i]![i]! / 0.5 : 0, 15)),
    );
    expect(
      maxRelError(
        estimate.aRaw,
        diag.map((r) => r.map((v) => 6 * v)),
      ),
    ).toBeLessThan(1e-9);
  });
});

describe('realised shares (§5.2, §10: never the nominal W silently)', () => {
  it('builds W from consistent realised shares and solves exactly', () => {
    const realised = (j: number) => [0.6, 0.2, 0.2].map((_, l, a) => (l === j ? a[0]! : a[1]!));
    const law = new LinearMixingLaw({ aStep: ORACLE2_A });
    const initialLosses = law.evaluate();
    const intervals = planLearnParams(threeGroups(), 0).map((probe) => {
      law.train(realised(probe.trainedGroup), probe.steps);
      return { ...probe, mixture: realised(probe.trainedGroup), losses: law.evaluate() };
    });
    const estimate = estimateInteractionMatrix({ initialLosses, intervals }, { stepsPerInterval: 6 });
    expect(estimate.solve).toBe('exact');
    expect(estimate.mixtureMatrix![0]).toEqual([0.6, 0.2, 0.2]);
    expect(
      maxRelError(
        estimate.aRaw,
        ORACLE2_A.map((r) => r.map((v) => 6 * v)),
      ),
    ).toBeLessThan(1e-9);
  });

  it('falls back to least squares when a group was probed with different mixtures', () => {
    const law = new LinearMixingLaw({ aStep: ORACLE2_A });
    const initialLosses = law.evaluate();
    const intervals = planLearnParams(threeGroups(), 0).map((probe) => {
      const mixture =
        probe.sweep % 2 === 0 ? probe.mixture : learnParamsMixture(3, probe.trainedGroup, 7 / 12);
      const steps = probe.sweep === 3 ? 8 : probe.steps; // unequal interval lengths are rescaled to s
      law.train(mixture, steps);
      return { trainedGroup: probe.trainedGroup, mixture, steps, losses: law.evaluate() };
    });
    const estimate = estimateInteractionMatrix({ initialLosses, intervals }, { stepsPerInterval: 6 });
    expect(estimate.solve).toBe('least-squares');
    expect(
      maxRelError(
        estimate.aRaw,
        ORACLE2_A.map((r) => r.map((v) => 6 * v)),
      ),
    ).toBeLessThan(1e-9);
  });

  it('errors on incomplete sweeps and malformed observations', () => {
    const law = new LinearMixingLaw({ aStep: ORACLE2_A });
    const obs = observeLearnParams(law, threeGroups({ sweeps: 1 }));
    const missing = { ...obs, intervals: obs.intervals.filter((iv) => iv.trainedGroup !== 1) };
    expect(() => estimateInteractionMatrix(missing, { stepsPerInterval: 6 })).toThrow(
      /never probed group\(s\) 1/,
    );
    const nan = {
      ...obs,
      intervals: obs.intervals.map((iv, n) => (n === 2 ? { ...iv, losses: [1, Number.NaN, 1] } : iv)),
    };
    expect(() => estimateInteractionMatrix(nan, { stepsPerInterval: 6 })).toThrow(
      /LearnParams interval 2 losses: entry 1 is not a finite number/,
    );
    const uniformProbes = {
      ...obs,
      intervals: obs.intervals.map((iv) => ({ ...iv, mixture: [1 / 3, 1 / 3, 1 / 3] })),
    };
    expect(() => estimateInteractionMatrix(uniformProbes, { stepsPerInterval: 6 })).toThrow(
      /linearly dependent/,
    );
  });
});

describe('oracle 3: normalisation with negative entries', () => {
  it('A_raw = [[0.5, −0.2], [−0.1, 0.3]] → [[0.5385, 0], [0.0769, 0.3846]], column sums (0.6154, 0.3846)', () => {
    const aBar = normalizeInteractionMatrix([
      [0.5, -0.2],
      [-0.1, 0.3],
    ])!;
    const want = [
      [0.5385, 0],
      [0.0769, 0.3846],
    ];
    aBar.forEach((row, i) => row.forEach((v, j) => expect(Math.abs(v - want[i]![j]!)).toBeLessThan(5e-5)));
    columnSums(aBar).forEach((v, j) => expect(Math.abs(v - [0.6154, 0.3846][j]!)).toBeLessThan(5e-5));
    expect(aBar.flat().reduce((s, v) => s + v, 0)).toBeCloseTo(1, 15);
    expect(Math.min(...aBar.flat())).toBe(0);
  });

  it('returns null (skip the update) when the entries are all equal after the shift', () => {
    expect(
      normalizeInteractionMatrix([
        [0, 0],
        [0, 0],
      ]),
    ).toBeNull();
    expect(
      normalizeInteractionMatrix([
        [-1, -1],
        [-1, -1],
      ]),
    ).toBeNull();
    expect(
      normalizeInteractionMatrix([
        [2, 2],
        [2, 2],
      ]),
    ).toEqual([
      [0.25, 0.25],
      [0.25, 0.25],
    ]);
  });
});

describe('oracle 7: averaging over sweeps beats evaluation noise (σ = 0.002, m=3, s=6, φ=0.5)', () => {
  it('the median colsum error falls like k^−½ (200 seeds per k)', () => {
    const reference: Record<number, number> = { 1: 7.07, 2: 4.78, 4: 3.47, 8: 2.54, 16: 1.78 };
    const truth = columnSums(ORACLE2_A);
    const norm = (v: number[]) => Math.hypot(...v);
    const medians: number[] = [];
    for (const sweeps of [1, 2, 4, 8, 16]) {
      const errors: number[] = [];
      for (let seed = 0; seed < 200; seed++) {
        const config = threeGroups({ sweeps, seed, roundSteps: 1000 });
        const law = new LinearMixingLaw({ aStep: ORACLE2_A, noiseStd: 0.002, seed });
        const estimate = estimateInteractionMatrix(observeLearnParams(law, config), { stepsPerInterval: 6 });
        const perStep = columnSums(estimate.aRaw).map((v) => v / 6);
        errors.push(norm(perStep.map((v, j) => v - truth[j]!)) / norm(truth));
      }
      errors.sort((a, b) => a - b);
      const median = (errors[99]! + errors[100]!) / 2;
      medians.push(median);
      // Different noise draws than the NumPy reference: agree to the Monte-Carlo error of a median.
      expect(Math.abs(median / reference[sweeps]! - 1)).toBeLessThan(0.15);
    }
    medians.slice(1).forEach((v, n) => expect(v).toBeLessThan(medians[n]!));
    expect(medians[0]! / medians[4]!).toBeGreaterThanOrEqual(3);
  });
});

describe('oracle 9: batch realisation of the probe mixtures', () => {
  it('batch 8 realises m=2, φ=0.625 as (5, 3) and m=3, φ=0.5 as (4, 2, 2)', () => {
    expect(batchGroupCounts(learnParamsMixture(2, 0, 0.625), 8)).toEqual([5, 3]);
    expect(batchGroupCounts(learnParamsMixture(3, 0, 0.5), 8)).toEqual([4, 2, 2]);
    expect(batchGroupCounts(learnParamsMixture(3, 2, 0.5), 8)).toEqual([2, 2, 4]);
  });

  it('m=7, φ=0.75 cannot be realised with 8 rows: errors, and names the 24-row batch (18 + 6×1)', () => {
    const q = learnParamsMixture(7, 0, 0.75);
    expect(() => batchGroupCounts(q, 8)).toThrow(/cannot realise .* smallest batch that does has 24 rows/);
    expect(smallestRealisingBatch(q)).toBe(24);
    expect(batchGroupCounts(q, 24)).toEqual([18, 1, 1, 1, 1, 1, 1]);
    const preset = aioliConfig({ ...AIOLI_REPO_PRESETS.slimPajama7, batchSize: 8 });
    expect(validateAioliConfig(preset).join('\n')).toMatch(
      /batchSize 8 cannot realise the LearnParams mixture for "arxiv".*24 rows/,
    );
    const fixed = aioliConfig({ ...AIOLI_REPO_PRESETS.slimPajama7, batchSize: 24 });
    expect(validateAioliConfig(fixed)).toEqual([]);
    expect(planLearnParams(fixed, 0).find((p) => p.trainedGroup === 4)!.batchCounts).toEqual([
      1, 1, 1, 1, 18, 1, 1,
    ]);
  });
});
