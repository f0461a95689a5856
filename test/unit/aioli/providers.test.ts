// Baselines as MixtureProviders on the same round loop as Aioli (spec §3 table, §8 oracle 11).
import { describe, expect, it } from 'vitest';
import { type Matrix, aioliConfig, aioliProvider } from '../../../ml/methods/aioli/index.js';
import {
  bestStaticMixture,
  dirichletSimplexCover,
  doremiAverageMixture,
  doremiProvider,
  gridSearchMixtures,
  simplexLatticeMixtures,
  skillItGraphFromRepo,
  skillItProvider,
  staticMixtureProvider,
  stratifiedProvider,
} from '../../../ml/methods/aioli/baselines.js';
import { LinearMixingLaw, runOnLinearLaw } from './linear-mixing-law.js';

const SCHEDULE = { groups: ['arxiv', 'stackexchange'], totalSteps: 5000, roundSteps: 250 };
const ORACLE4_A: Matrix = [
  [0.004, 0.001],
  [0, 0.002],
];

describe('stratified and static mixtures', () => {
  it('stratified trains 1/m every round, needs no evaluations, and spends exactly S steps', () => {
    const run = runOnLinearLaw(stratifiedProvider(SCHEDULE), new LinearMixingLaw({ aStep: ORACLE4_A }));
    expect(run.records).toHaveLength(20);
    run.records.forEach((r, t) => {
      expect(r.method).toBe('stratified');
      expect(r.proportions).toEqual([0.5, 0.5]);
      expect(r.stepStart).toBe(250 * t);
    });
    expect(run.law.step).toBe(5000);
    expect(run.law.evaluations).toBe(0);
    // linear law: L = 4 − S · A (½, ½)
    expect(run.law.losses[0]).toBeCloseTo(4 - 5000 * 0.0025, 9);
  });

  it('a static provider keeps its mixture, can be steered, and validates it', () => {
    const provider = staticMixtureProvider({ ...SCHEDULE, proportions: [0.7, 0.3] });
    const s0 = provider.initialState();
    const first = provider.completeRound(s0, {});
    expect(first.proportions).toEqual([0.7, 0.3]);
    const steered = provider.steer(first.state, [0.1, 0.9]);
    expect(provider.completeRound(steered, {}).proportions).toEqual([0.1, 0.9]);
    expect(() => staticMixtureProvider({ ...SCHEDULE, proportions: [0.7, 0.7] })).toThrow(
      /static proportions: proportions sum to 1.4/,
    );
    expect(() => stratifiedProvider({ ...SCHEDULE, roundSteps: 300 })).toThrow(
      /Invalid stratified config: totalSteps \(S = 5000\) must be divisible by roundSteps \(U = 300\)/,
    );
  });
});

describe('grid search over static mixtures', () => {
  it('m = 2: the repo sweep (i/10, 1 − i/10), i = 0..9', () => {
    const grid = gridSearchMixtures(2);
    expect(grid).toHaveLength(10);
    grid.forEach((p, i) => {
      expect(p[0]).toBeCloseTo(i / 10, 15);
      expect(p[0]! + p[1]!).toBeCloseTo(1, 15);
    });
  });

  it('m ≥ 3: the last-group vertex plus a seeded Dirichlet cover, deterministic per seed', () => {
    const grid = gridSearchMixtures(3, { seed: 1 });
    expect(grid).toHaveLength(10);
    expect(grid[0]).toEqual([0, 0, 1]);
    for (const p of grid) {
      expect(p.reduce((s, v) => s + v, 0)).toBeCloseTo(1, 12);
      expect(p.every((v) => v >= 0)).toBe(true);
    }
    expect(gridSearchMixtures(3, { seed: 1 })).toEqual(grid);
    expect(gridSearchMixtures(3, { seed: 2 })).not.toEqual(grid);
    const cover = dirichletSimplexCover(7, 5, { seed: 3, oversampleFactor: 2 });
    expect(cover).toHaveLength(5);
    cover.forEach((p) => expect(p).toHaveLength(7));
  });

  it('simplex lattice: C(d+m−1, m−1) points, C(d−1, m−1) interior', () => {
    expect(simplexLatticeMixtures(3, 10)).toHaveLength(66);
    expect(simplexLatticeMixtures(3, 10, { interiorOnly: true })).toHaveLength(36);
    expect(simplexLatticeMixtures(2, 4)).toEqual([
      [1, 0],
      [0.75, 0.25],
      [0.5, 0.5],
      [0.25, 0.75],
      [0, 1],
    ]);
  });

  it('runs every grid mixture through the same loop and picks the best (most weight on the larger column sum)', () => {
    const results = gridSearchMixtures(2).map((proportions) => ({
      proportions,
      metric: runOnLinearLaw(
        staticMixtureProvider({ ...SCHEDULE, proportions }),
        new LinearMixingLaw({ aStep: ORACLE4_A }),
      ).law.averageLoss(),
    }));
    expect(bestStaticMixture(results).proportions[0]).toBeCloseTo(0.9, 15);
    expect(() => bestStaticMixture([])).toThrow(/no results/);
  });
});

describe('oracle 11: a DoReMi-style provider plugs into the same loop', () => {
  it('A^t = diag(max(L^t − L^ref, 0)) unnormalised gives p^{t+1} ∝ p^t · exp(η · max(L^t − L^ref, 0))', () => {
    const referenceLosses = [-2, -1.5];
    const eta = 0.3;
    const provider = doremiProvider({ ...SCHEDULE, referenceLosses, eta, smoothing: 0 });
    const law = new LinearMixingLaw({ aStep: ORACLE4_A });
    let state = provider.initialState();
    let p = [0.5, 0.5];
    let worst = 0;
    let sawClipped = false;
    while (!provider.isComplete(state)) {
      const plan = provider.planRound(state);
      expect(plan.evaluateAtStart).toBe(true);
      const losses = law.evaluate();
      const out = provider.completeRound(state, { initialLosses: losses });
      const excess = losses.map((l, j) => Math.max(l - referenceLosses[j]!, 0));
      sawClipped ||= excess.some((e) => e === 0);
      const w = p.map((pj, j) => pj * Math.exp(eta * excess[j]!));
      p = w.map((v) => v / (w[0]! + w[1]!));
      worst = Math.max(worst, ...out.proportions.map((v, j) => Math.abs(v - p[j]!)));
      law.train(out.proportions, plan.mainSteps);
      state = out.state;
    }
    expect(worst).toBeLessThan(1e-12);
    expect(sawClipped).toBe(true); // the max(·, 0) clip was exercised
    expect(state.updates).toBe(20);
  });

  it('applies uniform smoothing and reports the average mixture', () => {
    const provider = doremiProvider({ ...SCHEDULE, referenceLosses: [0, 0], eta: 1, smoothing: 1e-3 });
    const run = runOnLinearLaw(provider, new LinearMixingLaw({ aStep: ORACLE4_A }));
    const first = run.records[0]!.proportions;
    // L^1 = (4, 4): equal excess, so the EGD step is a no-op and smoothing keeps uniform
    expect(first[0]).toBeCloseTo(0.5, 15);
    const avg = doremiAverageMixture(run.state);
    const mean0 = run.records.reduce((s, r) => s + r.proportions[0]!, 0) / run.records.length;
    expect(avg[0]).toBeCloseTo(mean0, 15);
    for (const r of run.records) expect(Math.min(...r.proportions)).toBeGreaterThanOrEqual(1e-3 / 2);
  });
});

describe('Skill-It provider', () => {
  it('uses A^SG_ij · ℓ_i with the repo look-back: round r sums the start-of-round losses of r−3..r−1', () => {
    const repoGraph = [
      [1, 0.5],
      [0, 1],
    ]; // repo layout [trained, evaluated]
    const skillGraph = skillItGraphFromRepo(repoGraph);
    expect(skillGraph).toEqual([
      [1, 0],
      [0.5, 1],
    ]);
    const eta = 0.05;
    const provider = skillItProvider({ ...SCHEDULE, skillGraph, eta, window: 3 });
    const law = new LinearMixingLaw({ aStep: ORACLE4_A });
    let state = provider.initialState();
    const seen: number[][] = [];
    while (!provider.isComplete(state)) {
      const plan = provider.planRound(state);
      const losses = law.evaluate();
      const out = provider.completeRound(state, { initialLosses: losses });
      const window = seen.length === 0 ? [[1, 1]] : seen.slice(-3);
      const l = [0, 1].map((i) => window.reduce((s, v) => s + v[i]!, 0));
      // p_j ∝ exp(η Σ_i A^SG_ij ℓ_i) = exp(η Σ_i repoGraph[j][i] ℓ_i)
      const w = [0, 1].map((j) => Math.exp(eta * (repoGraph[j]![0]! * l[0]! + repoGraph[j]![1]! * l[1]!)));
      out.proportions.forEach((v, j) => expect(v).toBeCloseTo(w[j]! / (w[0]! + w[1]!), 14));
      seen.push(losses);
      law.train(out.proportions, plan.mainSteps);
      state = out.state;
    }
    expect(state.lossHistory).toHaveLength(3);
  });
});

describe('one code path for every method', () => {
  it('Aioli beats stratified and static grid points that favour the wrong group, via the same runner', () => {
    const avg = (p: ReturnType<typeof stratifiedProvider>) =>
      runOnLinearLaw(p, new LinearMixingLaw({ aStep: ORACLE4_A })).law.averageLoss();
    const aioli = runOnLinearLaw(
      aioliProvider(
        aioliConfig({ ...SCHEDULE, sweeps: 4, stepsPerInterval: 4, oneHotFactor: 0.625, eta: 1 }),
      ),
      new LinearMixingLaw({ aStep: ORACLE4_A }),
    );
    expect(aioli.law.averageLoss()).toBeLessThan(avg(stratifiedProvider(SCHEDULE)));
    expect(aioli.law.averageLoss()).toBeLessThan(
      avg(staticMixtureProvider({ ...SCHEDULE, proportions: [0.2, 0.8] })),
    );
  });
});
