// Oracle §8.1 (voting weights) and §5.1 (voters per slot) of specs/distill-committee-voting.md.
import { describe, expect, it } from 'vitest';
import {
  CIFAR10_PAPER_CONFIG,
  mnistCpuConfig,
  recoverySlotPlan,
  relabelWeights,
  slotVoters,
  votingWeights,
} from '../../../ml/methods/cvdd/index.js';

const prior = (temperature: number) => ({ type: 'prior' as const, temperature });

describe('votingWeights (§4.1: softmax of priors in percent over τ)', () => {
  it('sums to 1 and orders like the accuracies, for arbitrary priors', () => {
    const cases = [
      [93.5, 89.1, 91.7, 90.2],
      [12, 88, 47, 47.5, 99.9],
      [0.5, 100],
      [63, 65.3, 68.5, 67.6, 67.4],
    ];
    for (const priors of cases) {
      for (const tau of [1, 5, 10, 100]) {
        const w = votingWeights(priors, prior(tau));
        expect(Math.abs(w.reduce((a, b) => a + b, 0) - 1)).toBeLessThan(1e-6);
        for (let i = 0; i < priors.length; i++)
          for (let j = 0; j < priors.length; j++)
            if (priors[i]! > priors[j]!) expect(w[i]!, `τ=${tau}: w_${i} vs w_${j}`).toBeGreaterThan(w[j]!);
      }
    }
  });

  it('gives 1/|V| for equal priors and tends to uniform as τ grows', () => {
    expect(votingWeights([70, 70, 70], prior(5))).toEqual([1 / 3, 1 / 3, 1 / 3]);
    const w = votingWeights([10, 60, 95], prior(1e9));
    for (const v of w) expect(Math.abs(v - 1 / 3)).toBeLessThan(1e-7);
    expect(votingWeights([42], prior(5))).toEqual([1]);
  });

  it('reproduces the spec §4.1 CIFAR-10 examples to 3 decimals', () => {
    const round = (w: number[]) => w.map((v) => Number(v.toFixed(3)));
    expect(round(votingWeights([67.6, 67.4], prior(5)))).toEqual([0.51, 0.49]);
    expect(round(votingWeights([63, 65.3], prior(5)))).toEqual([0.387, 0.613]);
    expect(round(votingWeights([63, 65.3, 68.5, 67.6, 67.4], prior(10)))).toEqual([
      0.14, 0.177, 0.243, 0.222, 0.218,
    ]);
    // relabelWeights uses τ = relabelWeightTemperature (10) over the whole committee.
    const committee = [63, 65.3, 68.5, 67.6, 67.4].map((p) => ({ prior: p }));
    expect(round(relabelWeights(committee, CIFAR10_PAPER_CONFIG))).toEqual([
      0.14, 0.177, 0.243, 0.222, 0.218,
    ]);
  });

  it('supports the code’s equal and (seeded) random voter types', () => {
    expect(votingWeights([1, 2, 3, 4], { type: 'equal', temperature: 5 })).toEqual([0.25, 0.25, 0.25, 0.25]);
    const a = votingWeights([1, 2, 3], { type: 'random', temperature: 5, seed: 7 });
    expect(votingWeights([1, 2, 3], { type: 'random', temperature: 5, seed: 7 })).toEqual(a);
    expect(Math.abs(a.reduce((s, v) => s + v, 0) - 1)).toBeLessThan(1e-12);
    expect(a.every((v) => v > 0)).toBe(true);
  });

  it('rejects empty committees, bad temperatures and non-finite priors', () => {
    expect(() => votingWeights([], prior(5))).toThrow(/no voters/);
    expect(() => votingWeights([50], prior(0))).toThrow(/temperature/);
    expect(() => votingWeights([50, NaN], prior(5))).toThrow(/prior 1/);
  });
});

describe('slotVoters (§5.1)', () => {
  const priors5 = [63, 65.3, 68.5, 67.6, 67.4]; // R18, R50, SV2, MBV2, D121
  it('cycles the C(m, 2) pairs in the code’s IPC-10 order (recover.py setting 5)', () => {
    const config = { ipc: 10, votersPerSlot: 2, voterSelection: 'auto' as const };
    const pairs = Array.from({ length: 10 }, (_x, j) => slotVoters(j, priors5, config, 0));
    expect(pairs).toEqual([
      [0, 1],
      [0, 2],
      [0, 3],
      [0, 4],
      [1, 2],
      [1, 3],
      [1, 4],
      [2, 3],
      [2, 4],
      [3, 4],
    ]);
  });

  it('MNIST IPC 10 (4 members): the 6 pairs cycled; IPC 1: the two highest priors', () => {
    const priors = [93.5, 89.1, 91.7, 90.2];
    const ipc10 = mnistCpuConfig(10);
    expect(Array.from({ length: 10 }, (_x, j) => slotVoters(j, priors, ipc10, 0))).toEqual([
      [0, 1],
      [0, 2],
      [0, 3],
      [1, 2],
      [1, 3],
      [2, 3],
      [0, 1],
      [0, 2],
      [0, 3],
      [1, 2],
    ]);
    expect(slotVoters(0, priors, mnistCpuConfig(1), 0)).toEqual([0, 2]);
    expect(slotVoters(0, [50, 60, 60], { ipc: 1, votersPerSlot: 2, voterSelection: 'auto' }, 0)).toEqual([
      1, 2,
    ]);
  });

  it('IPC 50: seeded random pairs, deterministic per (seed, slot)', () => {
    const priors = [93.5, 89.1, 91.7, 90.2];
    const config = mnistCpuConfig(50);
    const a = Array.from({ length: 50 }, (_x, j) => slotVoters(j, priors, config, 3));
    expect(Array.from({ length: 50 }, (_x, j) => slotVoters(j, priors, config, 3))).toEqual(a);
    for (const pair of a) {
      expect(pair).toHaveLength(2);
      expect(pair[0]!).toBeLessThan(pair[1]!);
    }
    expect(new Set(a.map((p) => p.join('-'))).size).toBeGreaterThan(3);
  });

  it('K = 1 (SRe²L++): the single member votes with weight 1', () => {
    const plan = recoverySlotPlan(3, [{ prior: 77 }], mnistCpuConfig(10), 0);
    expect(plan).toEqual({ voters: [0], weights: [1] });
  });

  it('recoverySlotPlan weights the slot’s voters with τ = 5', () => {
    const committee = [63, 65.3, 68.5, 67.6, 67.4].map((p) => ({ prior: p }));
    const plan = recoverySlotPlan(7, committee, { ...CIFAR10_PAPER_CONFIG, ipc: 10 }, 0);
    expect(plan.voters).toEqual([2, 3]);
    expect(plan.weights.map((v) => Number(v.toFixed(3)))).toEqual(
      votingWeights([68.5, 67.6], prior(5)).map((v) => Number(v.toFixed(3))),
    );
  });
});
