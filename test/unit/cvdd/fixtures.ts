// Tiny committees for the CV-DD unit tests (8×8×1 inputs, widths 3–6) whose running statistics come
// from a reference batch, so BN terms are of realistic size without training anything.
import * as tf from '@tensorflow/tfjs-core';
import { convNetConfig } from '../../../ml/models/convnet.js';
import { committeeMlpConfig } from '../../../ml/methods/cvdd/mlp.js';
import {
  type CommitteeArch,
  type CommitteeMember,
  committeeArchId,
  committeeForward,
  initCommitteeArch,
  evaluateTop1,
  memberOptimizer,
  mnistCpuConfig,
  trainCommitteeMemberSteps,
  type CommitteeVotingConfig,
} from '../../../ml/methods/cvdd/index.js';
import { constantSchedule } from '../../../ml/methods/rewarm.js';
import { disposeOptimizerState } from '../../../ml/train/optimizers.js';
import { Rng } from '../../../ml/train/rng.js';

export const SIDE = 8;
export const CLASSES = 4;

export function tinyArchs(activation: 'relu' | 'softplus' = 'softplus'): CommitteeArch[] {
  const cnn = (width: number, depth: number): CommitteeArch => ({
    family: 'convnet',
    config: convNetConfig({
      h: SIDE,
      w: SIDE,
      c: 1,
      classes: CLASSES,
      width,
      depth,
      norm: 'batchnorm',
      activation,
      firstPadding: 1,
    }),
  });
  return [
    cnn(4, 2),
    cnn(6, 1),
    {
      family: 'mlp',
      config: committeeMlpConfig({ h: SIDE, w: SIDE, c: 1, classes: CLASSES, hidden: [6], activation }),
    },
  ];
}

/** N(0, 1) images [n, 8, 8, 1] from a seed. */
export function randomImages(n: number, seed: number, scale = 1): tf.Tensor4D {
  return tf.tidy(
    () => tf.mul(tf.randomNormal([n, SIDE, SIDE, 1], 0, 1, 'float32', seed), scale) as tf.Tensor4D,
  );
}

/**
 * Members with fresh parameters whose running statistics are the batch statistics of `reference`
 * under a train-mode forward (the oracle-2 construction when `reference` is the batch under test).
 */
export function committeeFromReference(
  archs: CommitteeArch[],
  reference: tf.Tensor4D,
  priors: number[],
  seed = 1,
): CommitteeMember[] {
  return archs.map((arch, i) => {
    const { params, runningStats } = initCommitteeArch(arch, seed + i);
    tf.dispose(runningStats.flatMap((s) => [s.mean, s.variance]));
    const out = committeeForward(arch, params, [], reference, 'batch');
    out.logits.dispose();
    return {
      id: committeeArchId(arch),
      arch,
      params,
      runningStats: out.batchStats.map((s) => ({ mean: s.mean, variance: s.variance })),
      prior: priors[i] ?? 50,
    };
  });
}

/** Images with pixels U(0, 1), MNIST-normalised: what real inputs and real-image inits look like. */
export function pixelImages(n: number, seed: number): tf.Tensor4D {
  return tf.tidy(
    () =>
      tf.div(
        tf.sub(tf.randomUniform([n, SIDE, SIDE, 1], 0, 1, 'float32', seed), 0.1307),
        0.3081,
      ) as tf.Tensor4D,
  );
}

export function disposeCommittee(committee: CommitteeMember[]): void {
  for (const m of committee) tf.dispose([m.params, ...m.runningStats.flatMap((s) => [s.mean, s.variance])]);
}

/** A config for the 8×8 tests: MNIST normalisation, small iteration budget. */
export function tinyConfig(overrides: Partial<CommitteeVotingConfig> = {}): CommitteeVotingConfig {
  // Every BN member's term in the objective (the MNIST profile's default leaves the MLP's out).
  return mnistCpuConfig(10, {
    classes: CLASSES,
    iterations: 20,
    bnTermFamilies: ['convnet', 'mlp'],
    ...overrides,
  });
}

export function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);
}

/**
 * A learnable 4-class toy task on 8×8: pixels U(0, 0.6), plus 0.4 in the quadrant named by the label;
 * MNIST-normalised. Returns images [n, 8, 8, 1] and labels.
 */
export function quadrantTask(n: number, seed: number): { x: tf.Tensor4D; labels: Int32Array } {
  const rng = new Rng(seed);
  const labels = new Int32Array(n);
  const pixels = new Float32Array(n * SIDE * SIDE);
  for (let i = 0; i < n; i++) {
    const label = rng.int(CLASSES);
    labels[i] = label;
    for (let r = 0; r < SIDE; r++)
      for (let c = 0; c < SIDE; c++) {
        const q = (r < SIDE / 2 ? 0 : 2) + (c < SIDE / 2 ? 0 : 1);
        const v = rng.uniform(0, 0.6) + (q === label ? 0.4 : 0);
        pixels[(i * SIDE + r) * SIDE + c] = (v - 0.1307) / 0.3081;
      }
  }
  return { x: tf.tensor4d(pixels, [n, SIDE, SIDE, 1]), labels };
}

/**
 * Members trained for `steps` Adam steps (batch 32, lr 1e-2) on the quadrant task with train-mode BN
 * (running statistics from training, momentum 0.1); prior = held-out accuracy in percent.
 */
export function trainedTinyCommittee(
  seed = 1,
  steps = 30,
  activation: 'relu' | 'softplus' = 'relu',
): CommitteeMember[] {
  const train = quadrantTask(512, seed);
  const test = quadrantTask(256, seed + 1000);
  const labelsTensor = tf.tensor1d(train.labels, 'int32');
  const committee = tinyArchs(activation).map((arch, i) => {
    const init = initCommitteeArch(arch, seed + i);
    const optimizer = memberOptimizer();
    const optState = optimizer.init(init.params);
    const trained = trainCommitteeMemberSteps({
      arch,
      params: init.params,
      optState,
      runningStats: init.runningStats,
      optimizer,
      startStep: 0,
      steps,
      lr: constantSchedule(1e-2),
      batchAt: (step) => {
        const start = (step * 32) % 512;
        return {
          x: tf.slice(train.x, [start, 0, 0, 0], [32, -1, -1, -1]),
          y: tf.slice(labelsTensor, [start], [32]),
        };
      },
    });
    tf.dispose([init.params, ...init.runningStats.flatMap((s) => [s.mean, s.variance])]);
    disposeOptimizerState(optState);
    disposeOptimizerState(trained.optState);
    const accuracy = evaluateTop1(arch, trained.params, trained.runningStats, test.x, test.labels);
    return {
      id: committeeArchId(arch),
      arch,
      params: trained.params,
      runningStats: trained.runningStats,
      prior: 100 * accuracy,
    };
  });
  tf.dispose([train.x, test.x, labelsTensor]);
  return committee;
}
