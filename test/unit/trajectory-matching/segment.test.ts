// The matching loss and its sampling: spec §11 oracles 1 (exact zero; L = 1 at α = 0), 2 (scale
// invariance), 7 (no leaks), 8 (DATM window), and the code's minibatch order.
import { describe, expect, it } from 'vitest';
import {
  createDistillState,
  disposeDistillState,
  disposeSegmentGradients,
  initializeSyntheticSet,
  matchTrajectorySegment,
  planSegment,
  requiredCheckpoints,
  segmentCheckpoints,
  startEpochUpperBound,
  trajectoriesFromArrays,
  trajectoryMatchingConfig,
  trajectoryMatchingLoss,
  unrollStudent,
} from '../../../ml/methods/trajectory-matching/index.js';
import { expectNoLeak } from '../ops/finite-differences.js';
import { blobImages, initParams, jitter, tinyConfig } from './fixtures.js';

/** One expert, epochs 0 and 1, start always 0 (T+ = 1). */
function oneSegmentConfig(overrides = {}) {
  return tinyConfig({ maxStartEpoch: 1, ...overrides });
}

describe('matching loss (spec §11.1, §11.2)', () => {
  it('is exactly 0 when the target is the student run of the same N steps, for hard and soft labels', () => {
    for (const softLabels of [false, true]) {
      const config = oneSegmentConfig({ softLabels, init: 'real' });
      const real = blobImages(config.net, 4, 1);
      const start = initParams(config.net, 11);
      const probe = trajectoriesFromArrays([[start, jitter(start, 0.1, 12)]]);
      expectNoLeak(() => {
        const state = createDistillState(config, initializeSyntheticSet(config, real, probe));
        const plan = planSegment(config, probe, 0);
        const thetaN = unrollStudent(config, state, start, plan);
        const experts = trajectoriesFromArrays([[start, thetaN.dataSync().slice() as Float32Array]]);
        thetaN.dispose();
        const { loss, grads } = matchTrajectorySegment(state, experts, config, 0);
        expect(loss).toBe(0);
        // And the gradient of a zero-minimum vanishes exactly too (every path is multiplied by θ_N − θ*).
        expect(Math.max(...Array.from(grads.images.dataSync(), Math.abs))).toBe(0);
        disposeSegmentGradients(grads);
        disposeDistillState(state);
      });
    }
  });

  it('is exactly 1 when α = 0, and unchanged when the target offset is scaled (3 scales)', () => {
    const config = oneSegmentConfig({
      synLrParametrisation: 'linear',
      initialSynLr: 0,
      init: 'real',
      softLabels: false,
    });
    const real = blobImages(config.net, 4, 2);
    const start = initParams(config.net, 21);
    const offset = jitter(new Float32Array(start.length), 1, 22);
    expectNoLeak(() => {
      const probe = trajectoriesFromArrays([[start, start.map((v, i) => v + offset[i]!)]]);
      const state = createDistillState(config, initializeSyntheticSet(config, real, probe));
      for (const scale of [0.01, 1, 37]) {
        const experts = trajectoriesFromArrays([[start, start.map((v, i) => v + scale * offset[i]!)]]);
        const plan = planSegment(config, experts, 0);
        const l = trajectoryMatchingLoss(config, state, segmentCheckpoints(config, experts, plan), plan);
        expect(l.dataSync()[0]).toBe(1);
        l.dispose();
      }
      disposeDistillState(state);
    });
  });

  it('rejects a segment whose start and target coincide, and trajectories too short for T+ and M', () => {
    const config = oneSegmentConfig();
    const start = initParams(config.net, 31);
    const same = trajectoriesFromArrays([[start, start]]);
    expect(() => segmentCheckpoints(config, same, planSegment(config, same, 0))).toThrow(/identical/);
    const short = trajectoriesFromArrays([[start, start, start]]);
    expect(() => planSegment(tinyConfig({ maxStartEpoch: 3, expertEpochs: 1 }), short, 0)).toThrow(
      /end at epoch 2.*need epoch 3/,
    );
  });
});

describe('segment sampling', () => {
  const shape = { experts: 5, lastEpoch: 30 };

  it('DATM window (spec §11.8): T 10, T+ 20, I_exp 1000 gives U(0) 10, U(500) 15, U(5000) 20', () => {
    const config = trajectoryMatchingConfig({
      minStartEpoch: 0,
      initialMaxStartEpoch: 10,
      maxStartEpoch: 20,
      expansionEndIteration: 1000,
      sequentialGeneration: true,
    });
    expect([0, 500, 999, 1000, 5000].map((it) => startEpochUpperBound(config, it))).toEqual([
      10, 15, 19, 20, 20,
    ]);
    expect(startEpochUpperBound({ ...config, sequentialGeneration: false }, 0)).toBe(20);
  });

  it('start epochs stay in [T−, U(it)) and the window grows: early draws are easy, late ones reach T+ − 1', () => {
    const config = tinyConfig({
      minStartEpoch: 2,
      initialMaxStartEpoch: 5,
      maxStartEpoch: 12,
      expansionEndIteration: 100,
      sequentialGeneration: true,
    });
    const early = new Set<number>();
    const late = new Set<number>();
    const expertsSeen = new Set<number>();
    for (let it = 0; it < 400; it++) {
      const p = planSegment(config, shape, it);
      expect(p.upperBound).toBe(startEpochUpperBound(config, it));
      expect(p.startEpoch).toBeGreaterThanOrEqual(2);
      expect(p.startEpoch).toBeLessThan(p.upperBound);
      expertsSeen.add(p.expert);
      if (it < 15) early.add(p.startEpoch);
      if (it >= 100) late.add(p.startEpoch);
    }
    expect(Math.max(...early)).toBeLessThanOrEqual(5); // U ≤ 6 for it < 15
    expect(Math.max(...late)).toBe(11);
    expect(Math.min(...late)).toBe(2);
    expect(expertsSeen.size).toBe(5);
  });

  it('is a pure function of (seed, iteration); another seed gives other draws', () => {
    const config = tinyConfig();
    expect(planSegment(config, shape, 17)).toEqual(planSegment(config, shape, 17));
    const draws = (seed: number) =>
      Array.from({ length: 20 }, (_x, it) => planSegment({ ...config, seed }, shape, it).startEpoch).join();
    expect(draws(1)).not.toBe(draws(2));
  });

  it('minibatches are torch.split chunks of fresh permutations popped from the end (N_s 6, batch 4)', () => {
    const config = tinyConfig({ ipc: 2, batchSyn: 4, syntheticSteps: 5 });
    const p = planSegment(config, shape, 3);
    expect(p.batches.map((b) => b.length)).toEqual([2, 4, 2, 4, 2]);
    // Each pair (short chunk, long chunk) covers the 6 images once.
    for (const [a, b] of [
      [0, 1],
      [2, 3],
    ] as const)
      expect([...p.batches[a]!, ...p.batches[b]!].sort()).toEqual([0, 1, 2, 3, 4, 5]);
    const all = planSegment({ ...config, batchSyn: null }, shape, 3);
    for (const b of all.batches) expect([...b].sort()).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('requiredCheckpoints lists the (expert, epoch) rows a chunk of iterations reads', () => {
    const config = tinyConfig({ maxStartEpoch: 6, expertEpochs: 2 });
    const rows = requiredCheckpoints(config, shape, 10, 5);
    for (let it = 10; it < 15; it++) {
      const p = planSegment(config, shape, it);
      for (const e of [p.startEpoch, p.startEpoch + 2])
        expect(rows).toContainEqual({ expert: p.expert, epoch: e });
    }
    expect(new Set(rows.map((r) => `${r.expert}/${r.epoch}`)).size).toBe(rows.length);
  });
});
