// DSA in trajectory matching (ml/ops/dsa.ts through the config's `dsa` flag): the student unroll
// augments every minibatch with a fresh per-image draw from the plan's seed for that step, the matching
// loss stays differentiable w.r.t. the pixels through the augmentation (finite differences), experts
// train on augmented batches reproducibly (also when resumed), and planDistillation gives the experts
// the distillation's setting.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { createImageActivities } from '../../../activities/images.js';
import {
  type ExpertTrainingProfile,
  type ImageSet,
  createDistillState,
  disposeDistillState,
  disposeSegmentGradients,
  initializeSyntheticSet,
  matchTrajectorySegment,
  mnistProfile,
  planSegment,
  segmentCheckpoints,
  trainExpertTrajectory,
  trajectoriesFromArrays,
  trajectoryMatchingConfig,
  trajectoryMatchingLoss,
  unrollStudent,
} from '../../../ml/methods/trajectory-matching/index.js';
import { convNetConfig, convNetForward } from '../../../ml/models/convnet.js';
import { DSA_DIGITS, diffAugment, softmaxCrossEntropy } from '../../../ml/ops/index.js';
import { ArtifactStore } from '../../../storage/artifacts.js';
import { FileStore } from '../../../storage/file-store.js';
import { directionalFd, expectNoLeak, inner, randn, relativeError } from '../ops/finite-differences.js';
import { blobImages, initParams, jitter, tinyConfig } from './fixtures.js';

describe('trajectory-matching config: dsa', () => {
  it('is off by default; {} is the digit strategy; overrides merge; bad strategies are refused', () => {
    expect(trajectoryMatchingConfig().dsa).toBe(false);
    expect(trajectoryMatchingConfig({ dsa: {} }).dsa).toEqual(DSA_DIGITS);
    expect(trajectoryMatchingConfig({ dsa: { strategy: 'crop_scale', mode: 'every' } }).dsa).toEqual({
      ...DSA_DIGITS,
      strategy: 'crop_scale',
      mode: 'every',
    });
    expect(() => trajectoryMatchingConfig({ dsa: { strategy: 'crop_noise' } })).toThrow(
      /unknown transform "noise"/,
    );
  });

  it('mnistProfile({ dsa }) gives the experts the distillation setting; without it neither augments', () => {
    const on = mnistProfile(1, 'mtt', 'cpu-14', { dsa: {} });
    expect(on.distill.dsa).toEqual(DSA_DIGITS);
    expect(on.experts.dsa).toEqual(DSA_DIGITS);
    const off = mnistProfile(1, 'mtt', 'cpu-14');
    expect(off.distill.dsa).toBe(false);
    expect(off.experts.dsa).toBeUndefined();
  });
});

describe('student unroll with DSA', () => {
  const config = tinyConfig({ maxStartEpoch: 1, init: 'real', softLabels: false, dsa: {} });
  const real = blobImages(config.net, 4, 1);
  const start = initParams(config.net, 11);
  const experts = trajectoriesFromArrays([[start, jitter(start, 0.1, 12)]]);

  it('augments each step with its own per-image draw from the plan: equals a hand-written unroll', () => {
    expectNoLeak(() => {
      const state = createDistillState(config, initializeSyntheticSet(config, real, experts));
      const plan = planSegment(config, experts, 0);
      expect(new Set(plan.augmentSeeds).size).toBe(config.syntheticSteps);
      const got = unrollStudent(config, state, start, plan);
      const plain = unrollStudent({ ...config, dsa: false }, state, start, plan);
      const want = tf.tidy(() => {
        const targets = tf.oneHot(tf.tensor1d(state.classes, 'int32'), config.net.classes, 1, 0, 'float32');
        const alpha = tf.exp(state.synLr);
        let theta: tf.Tensor = tf.tensor1d(start);
        plan.batches.forEach((batch, n) => {
          const index = tf.tensor1d(batch, 'int32');
          const xb = diffAugment(tf.gather(state.images, index), DSA_DIGITS, plan.augmentSeeds[n]!);
          const yb = tf.gather(targets, index);
          const g = tf.grad((p: tf.Tensor) =>
            tf.mean(softmaxCrossEntropy(convNetForward(config.net, p, xb), yb)),
          )(theta);
          theta = tf.sub(theta, tf.mul(alpha, g));
        });
        return theta;
      });
      const [g, p, w] = [got, plain, want].map((t) => Array.from(t.dataSync()));
      const gap = (a: number[], b: number[]) => Math.max(...a.map((v, i) => Math.abs(v - b[i]!)));
      expect(gap(g!, w!)).toBeLessThan(1e-6);
      expect(gap(g!, p!)).toBeGreaterThan(1e-4);
      tf.dispose([got, plain, want]);
      disposeDistillState(state);
    });
  });

  it('∂L/∂pixels through the augmented unroll matches finite differences (softplus, every transform)', () => {
    const smooth = tinyConfig({
      net: { activation: 'softplus', depth: 2, width: 4 },
      batchSyn: null,
      maxStartEpoch: 1,
      init: 'noise',
      softLabels: false,
      initialSynLr: 0.2,
      dsa: { mode: 'every' },
    });
    const s0 = initParams(smooth.net, 3);
    const trajectories = trajectoriesFromArrays([[s0, jitter(s0, 0.01, 4)]]);
    expectNoLeak(() => {
      const init = initializeSyntheticSet(
        smooth,
        { pixels: new Float32Array(0), labels: new Int32Array(0) },
        trajectories,
      );
      const state = createDistillState(smooth, init);
      const plan = planSegment(smooth, trajectories, 0);
      const checkpoints = segmentCheckpoints(smooth, trajectories, plan);
      const { grads } = matchTrajectorySegment(state, trajectories, smooth, 0);
      const u = randn(state.images.shape, 5);
      const ad = inner([grads.images], [u]);
      const loss = (x: tf.Tensor) =>
        trajectoryMatchingLoss(smooth, { ...state, images: x as tf.Tensor4D }, checkpoints, plan);
      expect(Math.abs(ad)).toBeGreaterThan(1e-3);
      for (const eps of [1e-2, 3e-3])
        expect(relativeError(ad, directionalFd(loss, [state.images], [u], eps))).toBeLessThan(2e-2);
      u.dispose();
      disposeSegmentGradients(grads);
      disposeDistillState(state);
    });
  });
});

describe('experts with DSA', () => {
  const net = convNetConfig({ h: 8, w: 8, c: 1, classes: 3, width: 4, depth: 1 });
  const blobs = blobImages(net, 24, 1);
  const train: ImageSet = { images: blobs.pixels, labels: blobs.labels };
  const profile: ExpertTrainingProfile = {
    count: 1,
    epochs: 3,
    imagesPerClass: 16,
    lr: 0.05,
    batch: 10,
    momentum: 0,
    weightDecay: 0,
    dsa: DSA_DIGITS,
  };

  it('train on augmented batches: deterministic, different from plain, and a resumed run equals the whole one', () => {
    expectNoLeak(() => {
      const a = trainExpertTrajectory(train, profile, net, 5);
      const b = trainExpertTrajectory(train, profile, net, 5);
      const plain = trainExpertTrajectory(train, { ...profile, dsa: false }, net, 5);
      expect(a.params).toEqual(b.params);
      expect(a.params[0]).toEqual(plain.params[0]);
      expect(a.params[1]).not.toEqual(plain.params[1]);
      const resumed = trainExpertTrajectory(train, profile, net, 5, {
        fromEpoch: 1,
        fromParams: a.params[1],
      });
      expect(resumed.params).toEqual(a.params.slice(1));
      expect(resumed.losses).toEqual(a.losses.slice(1));
    });
  });
});

describe('planDistillation with dsa', () => {
  const plan = createImageActivities({
    artifacts: new ArtifactStore(new FileStore(mkdtempSync(join(tmpdir(), 'plan-dsa-')))),
  }).planDistillation;
  const input = {
    method: 'mtt' as const,
    ipc: 1,
    data: { h: 14, w: 14, c: 1, classes: 10 },
    preset: 'cpu-14' as const,
  };

  it('resolves distill.dsa over the digit defaults and hands the same setting to the experts', async () => {
    const p = await plan({ ...input, distill: { dsa: { rotateDegrees: 10 } } });
    const want = { ...DSA_DIGITS, rotateDegrees: 10 };
    expect(p.distill.dsa).toEqual(want);
    expect(p.experts.dsa).toEqual(want);
    const off = await plan(input);
    expect(off.distill.dsa).toBe(false);
    expect(off.experts.dsa).toBeUndefined();
  });
});
