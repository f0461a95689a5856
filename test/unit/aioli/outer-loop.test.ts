// The Aioli outer loop (paper Algorithm 1) driven round by round like the workflow does:
// spec §8 oracles 4, 5, 6, 8, 10, plus the EGD step, determinism and JSON state.
import { describe, expect, it } from 'vitest';
import {
  type AioliConfig,
  type Matrix,
  aioliConfig,
  aioliProvider,
  aioliStepBudget,
  normalizeInteractionMatrix,
  planLearnParams,
} from '../../../ml/methods/aioli/index.js';
import { exponentiatedGradientUpdate, multiplicativeWeightsUpdate } from '../../../ml/methods/aioli/lmo.js';
import { stratifiedProvider } from '../../../ml/methods/aioli/baselines.js';
import { columnSums } from '../../../ml/methods/aioli/numerics.js';
import { LinearMixingLaw, runOnLinearLaw } from './linear-mixing-law.js';

const SCHEDULE = { groups: ['arxiv', 'stackexchange'], totalSteps: 5000, roundSteps: 250 };
const ORACLE4_A: Matrix = [
  [0.004, 0.001],
  [0, 0.002],
];
const twoGroups = (over: Partial<AioliConfig> = {}) =>
  aioliConfig({ ...SCHEDULE, sweeps: 4, stepsPerInterval: 4, oneHotFactor: 0.625, ...over });
const stratifiedLoss = (aStep: Matrix | ((step: number) => Matrix)) =>
  runOnLinearLaw(stratifiedProvider(SCHEDULE), new LinearMixingLaw({ aStep })).law.averageLoss();

describe('exponentiated-gradient step (§3 EGD)', () => {
  it('matches hand-computed values, sums to 1, keeps entries positive', () => {
    const half = exponentiatedGradientUpdate(
      [0.5, 0.5],
      [
        [1, 0],
        [0, 0],
      ],
      Math.log(3),
    );
    expect(half[0]).toBeCloseTo(0.75, 15);
    expect(half[1]).toBeCloseTo(0.25, 15);
    // colsum (1, 0, −1), η = 1: (0.2e, 0.3, 0.5/e) / (0.2e + 0.3 + 0.5/e)
    const p = exponentiatedGradientUpdate(
      [0.2, 0.3, 0.5],
      [
        [1, 0.5, -1],
        [0, -0.5, 0],
      ],
      1,
    );
    const w = [0.2 * Math.E, 0.3, 0.5 / Math.E];
    const total = w[0]! + w[1]! + w[2]!;
    p.forEach((v, j) => expect(v).toBeCloseTo(w[j]! / total, 15));
    expect(p.reduce((s, v) => s + v, 0)).toBeCloseTo(1, 15);
    expect(p.every((v) => v > 0)).toBe(true);
  });

  it('is stable for huge steps and keeps zero proportions at zero', () => {
    expect(
      exponentiatedGradientUpdate(
        [0.5, 0.5],
        [
          [1000, 0],
          [0, 0],
        ],
        1,
      ),
    ).toEqual([1, 0]);
    expect(
      exponentiatedGradientUpdate(
        [0, 1],
        [
          [5, 0],
          [0, 0],
        ],
        1,
      ),
    ).toEqual([0, 1]);
    expect(
      multiplicativeWeightsUpdate(
        [1, 1],
        [
          [800, 0],
          [0, 0],
        ],
        1,
      ),
    ).toEqual([1, 0]);
    expect(
      multiplicativeWeightsUpdate(
        [1, 2],
        [
          [0.5, 0],
          [0, 0],
        ],
        2,
      ),
    ).toEqual([Math.E, 2]);
  });
});

describe('oracle 4: direction, cumulative vs EMA (m=2, S=5000, U=250, k=4, s=4, φ=0.625)', () => {
  const cases = [
    { name: 'cumulative η=0.2', over: { eta: 0.2, ema: null }, p1: 0.5071, p20: 0.6391, delta: -0.161 },
    { name: 'cumulative η=1', over: { eta: 1, ema: null }, p1: 0.5357, p20: 0.9457, delta: -0.628 },
    { name: 'EMA γ=0.1, η=0.2', over: { eta: 0.2, ema: 0.1 }, p1: null, p20: null, delta: -0.016 },
    { name: 'EMA γ=0.1, η=1', over: { eta: 1, ema: 0.1 }, p1: 0.5357, p20: 0.5357, delta: -0.078 },
  ];
  const stratified = stratifiedLoss(ORACLE4_A);
  for (const c of cases) {
    it(`${c.name}: p_0 after round 1 / 20 and final average loss − stratified (${c.delta})`, () => {
      const run = runOnLinearLaw(aioliProvider(twoGroups(c.over)), new LinearMixingLaw({ aStep: ORACLE4_A }));
      expect(run.records).toHaveLength(20);
      if (c.p1 !== null) expect(Math.abs(run.records[0]!.proportions[0]! - c.p1)).toBeLessThan(5e-5);
      if (c.p20 !== null) expect(Math.abs(run.records[19]!.proportions[0]! - c.p20)).toBeLessThan(5e-5);
      const delta = run.law.averageLoss() - stratified;
      expect(Math.abs(delta - c.delta)).toBeLessThan(5e-4);
      expect(delta).toBeLessThan(0); // strictly better than stratified
      // every round moves toward group 0, the larger column sum (0.004 > 0.003)
      run.records.forEach((r) => expect(r.proportions[0]).toBeGreaterThan(0.5));
    });
  }
});

describe('oracle 5: symmetry', () => {
  it('equal column sums keep p at (0.5, 0.5)', () => {
    for (const ema of [null, 0.1]) {
      const run = runOnLinearLaw(
        aioliProvider(twoGroups({ eta: 1, ema })),
        new LinearMixingLaw({
          aStep: [
            [0.003, 0.001],
            [0.001, 0.003],
          ],
        }),
      );
      for (const r of run.records) {
        expect(Math.abs(r.proportions[0]! - 0.5)).toBeLessThan(1e-15);
        expect(Math.abs(r.proportions[1]! - 0.5)).toBeLessThan(1e-15);
      }
    }
  });
});

describe('oracle 6: non-stationary A (diag(0.004, 0.002) → diag(0.002, 0.004) at step 2500, η=1)', () => {
  const aStep = (step: number): Matrix =>
    step < 2500
      ? [
          [0.004, 0],
          [0, 0.002],
        ]
      : [
          [0.002, 0],
          [0, 0.004],
        ];

  it('cumulative: 0.583, 0.661, …, 0.966 at round 10, then back down to 0.500 at round 20', () => {
    const p = runOnLinearLaw(
      aioliProvider(twoGroups({ eta: 1 })),
      new LinearMixingLaw({ aStep }),
    ).records.map((r) => r.proportions[0]!);
    expect(Math.abs(p[0]! - 0.583)).toBeLessThan(5e-4);
    expect(Math.abs(p[1]! - 0.661)).toBeLessThan(5e-4);
    expect(Math.abs(p[9]! - 0.966)).toBeLessThan(5e-4);
    for (let r = 0; r < 9; r++) expect(p[18 - r]).toBeCloseTo(p[r]!, 9); // symmetric descent
    expect(p[19]).toBeCloseTo(0.5, 9);
  });

  it('EMA γ=0.1: 0.583 for rounds 1–10, then 0.434, 0.419, 0.418, 0.417…', () => {
    const p = runOnLinearLaw(
      aioliProvider(twoGroups({ eta: 1, ema: 0.1 })),
      new LinearMixingLaw({ aStep }),
    ).records.map((r) => r.proportions[0]!);
    p.slice(0, 10).forEach((v) => expect(Math.abs(v - 0.583)).toBeLessThan(5e-4));
    [0.434, 0.419, 0.418, 0.417].forEach((v, n) => expect(Math.abs(p[10 + n]! - v)).toBeLessThan(5e-4));
    p.slice(13).forEach((v) => expect(Math.abs(v - 0.4174)).toBeLessThan(1e-4));
  });
});

describe('oracle 8: step accounting (S=5000, U=250, m=2, k=4, s=4)', () => {
  it('T=20, 32 LearnParams + 218 main steps and 9 evaluations per round, exactly 5000 steps', () => {
    const config = twoGroups({ eta: 0.2 });
    expect(aioliStepBudget(config)).toEqual({
      priorSteps: 0,
      rounds: 20,
      learnParamsStepsPerRound: 32,
      mainStepsPerRound: 218,
      evaluationsPerRound: 9,
      learnParamsFraction: 0.128,
      totalSteps: 5000,
    });
    const provider = aioliProvider(config);
    let state = provider.initialState();
    let rounds = 0;
    while (!provider.isComplete(state)) {
      const plan = provider.planRound(state);
      expect(plan.stepStart).toBe(rounds * 250);
      expect(plan.probes.reduce((s, p) => s + p.steps, 0)).toBe(32);
      expect(plan.mainSteps).toBe(218);
      expect(plan.evaluateAtStart).toBe(true);
      const law = new LinearMixingLaw({ aStep: ORACLE4_A });
      state = provider.completeRound(state, {
        initialLosses: law.evaluate(),
        probes: plan.probes.map(() => ({ losses: law.evaluate() })),
      }).state;
      rounds += 1;
    }
    expect(rounds).toBe(20);
    expect(state.stepsDone).toBe(5000);
    const run = runOnLinearLaw(provider, new LinearMixingLaw({ aStep: ORACLE4_A }));
    expect(run.law.step).toBe(5000);
    expect(run.law.evaluations).toBe(20 * 9);
    expect(() => provider.planRound(run.state)).toThrow(/all 5000 steps are done/);
  });
});

describe('oracle 10: restricted mode restarts from uniform weights', () => {
  it('p_init = (0.9, 0.1) for S_init = 1000, then the first Aioli mixture is softmax(η·colsum(Ā¹))', () => {
    const config = twoGroups({ eta: 0.2, prior: { proportions: [0.9, 0.1], steps: 1000 } });
    expect(aioliStepBudget(config).rounds).toBe(16);
    const run = runOnLinearLaw(aioliProvider(config), new LinearMixingLaw({ aStep: ORACLE4_A }));
    const [prior, first] = run.records;
    expect(prior!.phase).toBe('prior');
    expect(prior!.mainSteps).toBe(1000);
    expect(prior!.proportions).toEqual([0.9, 0.1]);
    expect(first!.phase).toBe('aioli');
    expect(first!.stepStart).toBe(1000);
    const g = columnSums(first!.aNormalized!);
    const softmax = g.map((v) => Math.exp(0.2 * v) / (Math.exp(0.2 * g[0]!) + Math.exp(0.2 * g[1]!)));
    first!.proportions.forEach((v, j) => expect(v).toBeCloseTo(softmax[j]!, 15));
    expect(first!.proportions[0]).toBeCloseTo(0.5071, 4); // not carried over from 0.9
    expect(run.records).toHaveLength(17);
    expect(run.law.step).toBe(5000);
  });

  it('rejects a prior that leaves S − S_init indivisible by U', () => {
    expect(() => aioliProvider(twoGroups({ prior: { proportions: [0.9, 0.1], steps: 1100 } }))).toThrow(
      /S − S_init = 3900\) must be divisible by roundSteps/,
    );
  });
});

describe('workflow-facing behaviour', () => {
  it('is deterministic for a seed: same plans, same history; sweeps are permutations', () => {
    const config = aioliConfig({
      groups: ['a', 'b', 'c'],
      totalSteps: 2000,
      roundSteps: 200,
      sweeps: 2,
      stepsPerInterval: 4,
      seed: 17,
    });
    for (let r = 0; r < 10; r++) {
      const plan = planLearnParams(config, r);
      expect(planLearnParams(config, r)).toEqual(plan);
      expect(plan.map((p) => p.sweep)).toEqual([0, 0, 0, 1, 1, 1]);
      for (const sweep of [0, 1])
        expect(
          plan
            .filter((p) => p.sweep === sweep)
            .map((p) => p.trainedGroup)
            .sort(),
        ).toEqual([0, 1, 2]);
    }
    const orders = (seed: number) =>
      Array.from({ length: 10 }, (_, r) =>
        planLearnParams({ ...config, seed }, r)
          .map((p) => p.trainedGroup)
          .join(''),
      );
    expect(orders(17)).toEqual(orders(17));
    expect(orders(18)).not.toEqual(orders(17));
    const noisy = (seed: number) =>
      new LinearMixingLaw({
        aStep: [
          [0.003, 0.001, 0],
          [0, 0.002, 0],
          [0.001, 0, 0.001],
        ],
        noiseStd: 1e-4,
        seed,
      });
    const a = runOnLinearLaw(aioliProvider(config), noisy(3));
    const b = runOnLinearLaw(aioliProvider(config), noisy(3), { roundTrip: true });
    expect(b.records).toEqual(a.records);
    expect(b.state).toEqual(a.state);
  });

  it('keeps state and records plain JSON', () => {
    const run = runOnLinearLaw(
      aioliProvider(twoGroups({ eta: 1, ema: 0.1 })),
      new LinearMixingLaw({ aStep: ORACLE4_A }),
    );
    expect(JSON.parse(JSON.stringify(run.state))).toEqual(run.state);
    expect(JSON.parse(JSON.stringify(run.records))).toEqual(run.records);
    const r = run.records[3]!;
    expect(r.beta).toHaveLength(2);
    expect(r.aRaw).toHaveLength(2);
    expect(r.aNormalized!.flat().reduce((s, v) => s + v, 0)).toBeCloseTo(1, 14);
    expect(r.aSmoothed).not.toBeNull();
  });

  it('uses the realised shares a probe reports', () => {
    const provider = aioliProvider(twoGroups({ eta: 1 }));
    const state = provider.initialState();
    const plan = provider.planRound(state);
    const realised = (j: number) => (j === 0 ? [0.7, 0.3] : [0.3, 0.7]);
    const law = new LinearMixingLaw({ aStep: ORACLE4_A });
    const initialLosses = law.evaluate();
    const probes = plan.probes.map((p) => {
      law.train(realised(p.trainedGroup), p.steps);
      return { losses: law.evaluate(), realizedShares: realised(p.trainedGroup) };
    });
    const { record } = provider.completeRound(state, { initialLosses, probes });
    record.aRaw!.forEach((row, i) => row.forEach((v, j) => expect(v).toBeCloseTo(4 * ORACLE4_A[i]![j]!, 12)));
  });

  it('rejects observations that do not match the plan, naming the round and groups', () => {
    const provider = aioliProvider(twoGroups());
    const state = provider.initialState();
    expect(() => provider.completeRound(state, { probes: [] })).toThrow(
      /aioli round 0: initialLosses \(groups arxiv, stackexchange\): expected 2 numbers/,
    );
    expect(() => provider.completeRound(state, { initialLosses: [4, 4], probes: [] })).toThrow(
      /expected 8 probe observations, got 0/,
    );
    const probes = Array.from({ length: 8 }, (_, n) => ({
      losses: n === 5 ? [4, Number.POSITIVE_INFINITY] : [4, 4],
    }));
    expect(() => provider.completeRound(state, { initialLosses: [4, 4], probes })).toThrow(
      /probe 5 losses .* entry 1 is not a finite number/,
    );
  });

  it('skips the update when A carries no signal, keeping the mixture', () => {
    const run = runOnLinearLaw(
      aioliProvider(twoGroups({ eta: 1 })),
      new LinearMixingLaw({
        aStep: [
          [0, 0],
          [0, 0],
        ],
      }),
    );
    for (const r of run.records) {
      expect(r.proportions).toEqual([0.5, 0.5]);
      expect(r.note).toMatch(/update skipped/);
      expect(r.aNormalized).toBeNull();
    }
  });

  it('steering replaces the mixture; cumulative EGD continues from it', () => {
    const provider = aioliProvider(twoGroups({ eta: 1 }));
    const law = new LinearMixingLaw({ aStep: ORACLE4_A });
    const steered = provider.steer(provider.initialState(), [0.2, 0.8]);
    expect(steered.proportions).toEqual([0.2, 0.8]);
    const plan = provider.planRound(steered);
    const initialLosses = law.evaluate();
    const probes = plan.probes.map((p) => {
      law.train(p.mixture, p.steps);
      return { losses: law.evaluate() };
    });
    const { proportions, record } = provider.completeRound(steered, { initialLosses, probes });
    const expected = exponentiatedGradientUpdate([0.2, 0.8], normalizeInteractionMatrix(record.aRaw!)!, 1);
    proportions.forEach((v, j) => expect(v).toBeCloseTo(expected[j]!, 15));
    expect(() => provider.steer(steered, [0.5, 0.6])).toThrow(/aioli steer: proportions sum to 1.1/);
  });
});
