// Gradients of the unrolled matching loss against central differences (spec §11.4) and the regression
// guard with the stock Exp gradient (§11.5). Smooth activation (softplus): with ReLU the inner gradients
// contain step functions and finite differences of L are meaningless.
import * as tf from '@tensorflow/tfjs-core';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type DistillState,
  type TrajectoryMatchingConfig,
  createDistillState,
  disposeDistillState,
  disposeSegmentGradients,
  initializeSyntheticSet,
  matchTrajectorySegment,
  planSegment,
  segmentCheckpoints,
  trajectoriesFromArrays,
  trajectoryMatchingLoss,
} from '../../../ml/methods/trajectory-matching/index.js';
import { registerSecondOrderGradients, setFusedOps } from '../../../ml/ops/index.js';
import { directionalFd, expectNoLeak, inner, randn, relativeError } from '../ops/finite-differences.js';
import { initParams, jitter, tinyConfig } from './fixtures.js';

/** Spec §11.4: W4 D2 ConvNet on 28×28 (pad 3), softplus, N = 3, 10 images; DATM soft labels on. */
const oracleConfig = tinyConfig({
  net: { h: 28, w: 28, c: 1, classes: 10, width: 4, depth: 2, activation: 'softplus', firstPadding: 'auto' },
  ipc: 1,
  batchSyn: null,
  syntheticSteps: 3,
  expertEpochs: 1,
  maxStartEpoch: 1,
  init: 'noise',
  softLabels: true,
  initialSynLr: 0.1,
});

function setup(config: TrajectoryMatchingConfig, seed: number) {
  const start = initParams(config.net, seed);
  const epochs = [start];
  // Targets close to the start, so N student steps move θ a sizeable fraction of ‖θ_0 − θ*‖ and L
  // responds to a single pixel well above float32 resolution.
  for (let e = 1; e <= config.expertEpochs; e++) epochs.push(jitter(epochs[e - 1]!, 0.01, seed + e));
  const experts = trajectoriesFromArrays([epochs]);
  const init = initializeSyntheticSet(
    { ...config, softLabels: false },
    { pixels: new Float32Array(0), labels: new Int32Array(0) },
    experts,
  );
  // Noise images; soft-label logits drawn at random (their init from experts is tested elsewhere).
  const logits = config.softLabels
    ? jitter(new Float32Array(init.classes.length * config.net.classes), 1, seed + 99)
    : null;
  const state = createDistillState(config, { ...init, labelLogits: logits });
  return { experts, state };
}

/** Relative errors of ∂L/∂(images, α param, labels) along directions, vs central differences at eps 1e-2 and 3e-3. */
const PIXELS = 'random pixel direction';
const ONE_PIXEL = 'one pixel (image 3, row 4, col 5)';
const ALPHA = 'α parameter';
const LABELS = 'soft-label logits';

function gradientErrors(
  config: TrajectoryMatchingConfig,
  seed: number,
  only: string[],
  epsList = [1e-2, 3e-3],
) {
  const { experts, state } = setup(config, seed);
  const plan = planSegment(config, experts, 0);
  const checkpoints = segmentCheckpoints(config, experts, plan);
  const lossOf = (images: tf.Tensor, synLr: tf.Tensor, labelLogits: tf.Tensor | null): tf.Scalar =>
    trajectoryMatchingLoss(
      config,
      {
        images: images as tf.Tensor4D,
        synLr: synLr as tf.Scalar,
        labelLogits: labelLogits as tf.Tensor2D | null,
        classes: state.classes,
      },
      checkpoints,
      plan,
    );
  const { grads } = matchTrajectorySegment(state, experts, config, 0);
  const [n, h, w] = state.images.shape;
  const dirs: Record<string, [tf.Tensor, tf.Tensor, tf.Tensor | null]> = {
    [PIXELS]: [
      randn(state.images.shape, seed + 1),
      tf.zeros([]),
      state.labelLogits && tf.zerosLike(state.labelLogits),
    ],
    [ONE_PIXEL]: [
      tf.tidy(() =>
        tf.reshape(tf.oneHot(tf.scalar((3 * h + 4) * w + 5, 'int32'), n * h * w), state.images.shape),
      ),
      tf.zeros([]),
      state.labelLogits && tf.zerosLike(state.labelLogits),
    ],
    [ALPHA]: [tf.zerosLike(state.images), tf.ones([]), state.labelLogits && tf.zerosLike(state.labelLogits)],
  };
  if (state.labelLogits)
    dirs[LABELS] = [tf.zerosLike(state.images), tf.zeros([]), randn(state.labelLogits.shape, seed + 2)];
  const errors: Record<string, { ad: number; errors: number[] }> = {};
  for (const [name, [du, da, dl]] of Object.entries(dirs)) {
    if (!only.includes(name)) {
      tf.dispose([du, da, ...(dl ? [dl] : [])]);
      continue;
    }
    const ad =
      inner([grads.images, grads.synLr], [du, da]) +
      (grads.labelLogits && dl ? inner([grads.labelLogits], [dl]) : 0);
    const f = (x: tf.Tensor, a: tf.Tensor, ...l: tf.Tensor[]) => lossOf(x, a, l[0] ?? null);
    const xs = [state.images, state.synLr, ...(state.labelLogits ? [state.labelLogits] : [])];
    const us = [du, da, ...(dl ? [dl] : [])];
    errors[name] = { ad, errors: epsList.map((eps) => relativeError(ad, directionalFd(f, xs, us, eps))) };
    tf.dispose(us);
  }
  disposeSegmentGradients(grads);
  disposeDistillState(state as DistillState);
  return errors;
}

/** The stock tfjs-core Exp gradient: reads the saved OUTPUT (wrong in second-order use, spec §9.2). */
const stockExpGrad: tf.GradConfig = {
  kernelName: tf.Exp,
  outputsToSave: [true],
  gradFunc: (dy, [y]) => ({ x: () => tf.mul(dy as tf.Tensor, y!) }),
};

describe('∂L/∂(pixels, α, soft labels) through N unrolled steps vs finite differences', () => {
  afterEach(() => {
    setFusedOps(true);
    registerSecondOrderGradients();
  });

  it('spec §11.4: 28×28 W4 D2 softplus, N 3, 10 images — pixels, log α, soft labels within 2e-2 at eps 1e-2 and 3e-3', () => {
    expectNoLeak(() => {
      const errors = gradientErrors(oracleConfig, 5, [PIXELS, ALPHA, LABELS]);
      console.log('§11.4 relative errors', JSON.stringify(errors));
      for (const { ad, errors: e } of Object.values(errors)) {
        expect(Math.abs(ad)).toBeGreaterThan(1e-3);
        for (const err of e) expect(err).toBeLessThan(2e-2);
      }
    });
  });

  it('one synthetic pixel: 8×8 W4 D2 softplus, N 3, DATM soft labels — within 2e-2 at eps 1e-2 and 3e-3', () => {
    // (At 28×28 a single pixel moves L by ~1e-6 per 1e-2, too close to float32 resolution to check.)
    const config = tinyConfig({
      net: { activation: 'softplus', depth: 2, width: 4 },
      batchSyn: null,
      maxStartEpoch: 1,
      init: 'noise',
      softLabels: true,
      initialSynLr: 0.2,
    });
    expectNoLeak(() => {
      const errors = gradientErrors(config, 3, [ONE_PIXEL]);
      console.log('one-pixel relative errors', JSON.stringify(errors));
      const { ad, errors: e } = errors[ONE_PIXEL]!;
      expect(Math.abs(ad)).toBeGreaterThan(1e-3);
      for (const err of e) expect(err).toBeLessThan(2e-2);
    });
  });

  it('with α optimised raw (linear) and AST options on (M 2, N 4, momentum, balance, intermediate, perturb) — within 2e-2 at eps 1e-2', () => {
    const config = tinyConfig({
      net: { activation: 'tanh', depth: 2, width: 4 },
      ipc: 2,
      batchSyn: 4,
      syntheticSteps: 4,
      expertEpochs: 2,
      maxStartEpoch: 1,
      init: 'noise',
      softLabels: true,
      synLrParametrisation: 'linear',
      initialSynLr: 0.1,
      ast: {
        balancedInnerLoss: true,
        intermediateMatching: 'adaptive',
        weightPerturb: 1,
        innerMomentum: 0.9,
      },
    });
    expectNoLeak(() => {
      const errors = gradientErrors(config, 8, [ONE_PIXEL, ALPHA, LABELS], [1e-2]);
      console.log('AST relative errors', JSON.stringify(errors));
      for (const { errors: e } of Object.values(errors)) for (const err of e) expect(err).toBeLessThan(2e-2);
    });
  });

  it('spec §11.5 regression guard: with the stock Exp gradient the same check fails by > 50%', () => {
    // With the stock composites: the fused cross-entropy recomputes its log-probabilities on the outer
    // tape, so it never differentiates Exp's gradient; the stock composite does, as any other chain
    // of exp-based primitives would.
    setFusedOps(false);
    registerSecondOrderGradients();
    tf.registerGradient(stockExpGrad);
    const errors = gradientErrors(oracleConfig, 5, [PIXELS, ALPHA], [1e-2]);
    console.log('stock-Exp relative errors', JSON.stringify(errors));
    for (const { errors: e } of Object.values(errors)) expect(Math.min(...e)).toBeGreaterThan(0.5);
  });
});
