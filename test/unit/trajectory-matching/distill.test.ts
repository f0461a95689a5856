// The outer loop: determinism per seed and iteration (1 + 1 iterations = 2, also through a checkpoint
// of the state as plain arrays), no leaked tensors (spec §11.7), DATM's update gate, divergence errors,
// and a few iterations on a tiny problem reducing the matching loss.
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import {
  type DistillState,
  type ExpertTrajectories,
  type TrajectoryMatchingConfig,
  createDistillState,
  disposeDistillState,
  disposeSegmentGradients,
  distillIterations,
  distillStateFromArrays,
  distillStateTensors,
  distillStateToArrays,
  initializeSyntheticSet,
  matchTrajectorySegment,
  synLrValue,
  trajectoriesFromArrays,
} from '../../../ml/methods/trajectory-matching/index.js';
import { expectNoLeak } from '../ops/finite-differences.js';
import { blobImages, tinyConfig, trainExperts, values } from './fixtures.js';

const base = tinyConfig({ ipc: 2, syntheticSteps: 3, maxStartEpoch: 3, batchSyn: 4 });
const real = blobImages(base.net, 20, 5);
const experts = trainExperts(base.net, real, { experts: 2, epochs: 4, lr: 0.05, batch: 12, seed: 6 });

const datm = tinyConfig({
  ipc: 2,
  softLabels: true,
  init: 'samples_predicted_correctly',
  sequentialGeneration: true,
  initialMaxStartEpoch: 1,
  maxStartEpoch: 3,
  expansionEndIteration: 4,
  updateThreshold: 1.5,
});
const mtt = tinyConfig({ ipc: 2, softLabels: false, init: 'real', updateThreshold: null });

function fresh(config: TrajectoryMatchingConfig, trajectories: ExpertTrajectories = experts): DistillState {
  return createDistillState(config, initializeSyntheticSet(config, real, trajectories));
}

function snapshot(s: DistillState) {
  return {
    images: values(s.images),
    labels: values(s.labelLogits),
    synLr: values(s.synLr),
    velocity: [values(s.velocity.images), values(s.velocity.labelLogits), values(s.velocity.synLr)],
    iteration: s.iteration,
  };
}

describe('distillIterations', () => {
  for (const [name, config] of [
    ['DATM', datm],
    ['MTT', mtt],
  ] as const) {
    it(`${name}: same seed → bit-identical state after 2 iterations; 1 + 1 iterations (through a checkpoint) = 2`, () => {
      expectNoLeak(() => {
        const s0 = fresh(config);
        const a = distillIterations(s0, experts, config, 2);
        const b = distillIterations(s0, experts, config, 2);
        expect(snapshot(a.state)).toEqual(snapshot(b.state));
        expect(a.log).toEqual(b.log);
        expect(a.state.iteration).toBe(2);
        expect(snapshot(a.state).images).not.toEqual(values(s0.images)); // something was learned

        const one = distillIterations(s0, experts, config, 1);
        const resumed = distillStateFromArrays(config, distillStateToArrays(one.state));
        const two = distillIterations(resumed, experts, config, 1);
        expect(snapshot(two.state)).toEqual(snapshot(a.state));
        expect([...one.log, ...two.log]).toEqual(a.log);

        const other = distillIterations(s0, experts, { ...config, seed: config.seed + 1 }, 2);
        expect(snapshot(other.state).images).not.toEqual(snapshot(a.state).images);
        for (const s of [s0, a.state, b.state, one.state, resumed, two.state, other.state])
          disposeDistillState(s);
      });
    });
  }

  it('leaks no tensor across an iteration: only the new state remains, the input state is untouched', () => {
    const s0 = fresh(datm);
    disposeDistillState(distillIterations(s0, experts, datm, 1).state); // warm-up (backend caches)
    const before = tf.memory().numTensors;
    const inputBefore = snapshot(s0);
    const { state } = distillIterations(s0, experts, datm, 3);
    expect(tf.memory().numTensors).toBe(before + distillStateTensors(state).length);
    expect(snapshot(s0)).toEqual(inputBefore);
    disposeDistillState(state);
    expect(tf.memory().numTensors).toBe(before);
    const r = matchTrajectorySegment(s0, experts, datm, 0);
    expect(tf.memory().numTensors).toBe(before + 3); // ∂L/∂X, ∂L/∂α, ∂L/∂labels
    disposeSegmentGradients(r.grads);
    disposeDistillState(s0);
  });

  it('DATM gate: L > threshold skips the update (velocities too) but logs the iteration and consumes its draws', () => {
    expectNoLeak(() => {
      const s0 = fresh(datm);
      const gated = { ...datm, updateThreshold: 1e-6 };
      const { state, log } = distillIterations(s0, experts, gated, 3);
      expect(log.map((r) => r.skipped)).toEqual([true, true, true]);
      expect(log.map((r) => r.iteration)).toEqual([0, 1, 2]);
      expect({ ...snapshot(state), iteration: 0 }).toEqual(snapshot(s0));
      // The draws of iteration 3 do not depend on the skipped ones.
      const after = distillIterations(state, experts, datm, 1);
      const direct = distillIterations({ ...s0, iteration: 3 }, experts, datm, 1);
      expect(snapshot(after.state)).toEqual(snapshot(direct.state));
      for (const s of [s0, state, after.state, direct.state]) disposeDistillState(s);
    });
  });

  it('logs the window: upper bound grows from T to T+ and every start epoch lies below it', () => {
    expectNoLeak(() => {
      const s0 = fresh(datm);
      const { state, log } = distillIterations(s0, experts, { ...datm, updateThreshold: null }, 6);
      expect(log.map((r) => r.upperBound)).toEqual([1, 1, 2, 2, 3, 3]);
      for (const r of log) expect(r.startEpoch).toBeLessThan(r.upperBound);
      expect(log[0]!.synLr).toBeCloseTo(0.05, 6);
      for (const s of [s0, state]) disposeDistillState(s);
    });
  });

  it('throws a clear error when the loss is not finite, and frees what it made', () => {
    const broken = trajectoriesFromArrays([
      Array.from({ length: experts.lastEpoch + 1 }, (_x, e) =>
        experts.params(0, e).map((v, i) => (i === 0 && e === 1 ? NaN : v)),
      ),
    ]);
    const config = { ...mtt, maxStartEpoch: 1 };
    const s0 = fresh(config, experts);
    const before = tf.memory().numTensors;
    expect(() => distillIterations(s0, broken, config, 2)).toThrow(
      /diverged: loss is NaN at iteration 0 \(expert 0, start epoch 0/,
    );
    expect(tf.memory().numTensors).toBe(before);
    disposeDistillState(s0);
  });

  it('a few iterations on a tiny problem reduce the matching loss (fixed evaluation segments)', () => {
    const config = tinyConfig({
      ipc: 2,
      syntheticSteps: 3,
      maxStartEpoch: 3,
      batchSyn: null,
      init: 'real',
      softLabels: true,
      updateThreshold: null,
      lrImages: 10,
      lrSynLr: 0.05,
      initialSynLr: 0.02,
    });
    expectNoLeak(() => {
      const s0 = fresh(config);
      const evalIterations = [1000, 1001, 1002, 1003];
      const meanLoss = (s: DistillState) => {
        const ls = evalIterations.map((it) => {
          const r = matchTrajectorySegment(s, experts, config, it);
          disposeSegmentGradients(r.grads);
          return r.loss;
        });
        return ls.reduce((a, b) => a + b, 0) / ls.length;
      };
      const { state, log } = distillIterations(s0, experts, config, 15);
      const before = meanLoss(s0);
      const after = meanLoss(state);
      console.log(
        `matching loss ${before.toFixed(4)} → ${after.toFixed(4)}; α ${synLrValue(config, s0.synLr).toFixed(4)} → ${synLrValue(config, state.synLr).toFixed(4)}; ` +
          `log first ${log.slice(0, 3).map((r) => r.loss.toFixed(3))} last ${log.slice(-3).map((r) => r.loss.toFixed(3))}`,
      );
      expect(after).toBeLessThan(0.9 * before);
      for (const s of [s0, state]) disposeDistillState(s);
    });
  });
});
