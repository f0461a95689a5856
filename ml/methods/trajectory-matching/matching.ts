// The unrolled student and the normalised parameter-matching loss (spec §5.3, §5.4, AST §7).
import * as tf from '@tensorflow/tfjs-core';
import { convNetForward } from '../../models/convnet.js';
import { logSoftmax, softmaxCrossEntropy } from '../../ops/index.js';
import { type SyntheticSet } from './state.js';
import {
  type SegmentPlan,
  planSegment,
  type SegmentCheckpoints,
  segmentCheckpoints,
  innerLossScale,
} from './segment.js';
import { type TrajectoryMatchingConfig, type ExpertTrajectories } from './config.js';

export interface MatchOptions {
  /**
   * Differentiable augmentation A_n applied to each student minibatch (spec §5.3; DSA). Must be built
   * from ops with twice-differentiable gradients and must draw its randomness from `seed` only.
   */
  augment?: (x: tf.Tensor4D, seed: number) => tf.Tensor4D;
}

/** softmax(L) (DATM) or one-hot(y) (MTT): the inner loss's target distribution for every synthetic image. */
function labelTargets(
  config: TrajectoryMatchingConfig,
  classes: Int32Array,
  labelLogits: tf.Tensor | null,
): tf.Tensor2D {
  // exp(logSoftmax) instead of tf.softmax: built from primitives whose gradients stay differentiable.
  if (labelLogits) return tf.exp(logSoftmax(labelLogits)) as tf.Tensor2D;
  return tf.oneHot(tf.tensor1d(classes, 'int32'), config.net.classes, 1, 0, 'float32') as tf.Tensor2D;
}

/** α from its parameter. */
function stepSize(config: TrajectoryMatchingConfig, synLr: tf.Tensor): tf.Tensor {
  return config.synLrParametrisation === 'log' ? tf.exp(synLr) : synLr;
}

/**
 * θ_N after N student steps from `start` on the plan's minibatches, calling `onStep(n, θ_n)` after each
 * step n = 1..N. Differentiable w.r.t. images, targets and α when called under a gradient tape.
 */
function unroll(
  config: TrajectoryMatchingConfig,
  start: tf.Tensor1D,
  images: tf.Tensor4D,
  targets: tf.Tensor2D,
  alpha: tf.Tensor,
  plan: SegmentPlan,
  opts: MatchOptions,
  onStep?: (n: number, theta: tf.Tensor1D) => void,
): tf.Tensor1D {
  const scale = innerLossScale(config, plan.startEpoch);
  const mom = config.ast.innerMomentum;
  let theta = start;
  let velocity: tf.Tensor | null = null;
  for (let n = 0; n < plan.batches.length; n++) {
    const index = tf.tensor1d(plan.batches[n]!, 'int32');
    const picked = tf.gather(images, index);
    const xb = opts.augment ? opts.augment(picked, plan.augmentSeeds[n]!) : picked;
    const yb = tf.gather(targets, index);
    // Inner CE from ml/ops (max/sub/exp/sum/log only): its gradient is itself differentiable (spec §9.2).
    const innerLoss = (p: tf.Tensor): tf.Scalar => {
      const ce = tf.mean(
        softmaxCrossEntropy(convNetForward(config.net, p, xb, { kernels: config.kernels }), yb),
      );
      return (scale === 1 ? ce : tf.mul(ce, scale)) as tf.Scalar;
    };
    const g = tf.grad(innerLoss)(theta);
    // AST code: b ← μ·b + g (b₀ = g); plain SGD when μ = 0.
    velocity = mom > 0 && velocity ? tf.add(tf.mul(mom, velocity), g) : g;
    theta = tf.sub(theta, tf.mul(alpha, velocity)) as tf.Tensor1D;
    onStep?.(n + 1, theta);
  }
  return theta;
}

function squaredDistanceTensor(a: tf.Tensor, b: tf.Tensor): tf.Scalar {
  return tf.sum(tf.squaredDifference(a, b)) as tf.Scalar;
}

/**
 * The matching loss L of one segment (MTT eq. 2, plus AST's intermediate terms when on), as a scalar
 * tensor differentiable w.r.t. `images`, `labelLogits` and `synLr`.
 */
export function trajectoryMatchingLoss(
  config: TrajectoryMatchingConfig,
  synthetic: SyntheticSet,
  checkpoints: SegmentCheckpoints,
  plan: SegmentPlan,
  opts: MatchOptions = {},
): tf.Scalar {
  return tf.tidy(() => {
    const start = tf.tensor1d(checkpoints.start, 'float32');
    const target = tf.tensor1d(checkpoints.target, 'float32');
    const middles = checkpoints.intermediate.map((m) => tf.tensor1d(m, 'float32'));
    const targets = labelTargets(config, synthetic.classes, synthetic.labelLogits);
    const alpha = stepSize(config, synthetic.synLr);
    // AST: after n_i = ⌊N/M⌋·i steps, compare with θ*_{t+i}; β_i = 1 (agg) or i/M (adaptive).
    const stride = Math.floor(config.syntheticSteps / config.expertEpochs);
    const extra: tf.Scalar[] = [];
    const thetaN = unroll(config, start, synthetic.images, targets, alpha, plan, opts, (n, theta) => {
      const i = n / stride;
      if (middles.length === 0 || !Number.isInteger(i) || i < 1 || i > middles.length) return;
      const beta = config.ast.intermediateMatching === 'adaptive' ? i / config.expertEpochs : 1;
      const middle = middles[i - 1]!;
      extra.push(
        tf.mul(
          beta,
          tf.div(squaredDistanceTensor(theta, middle), squaredDistanceTensor(start, middle)),
        ) as tf.Scalar,
      );
    });
    // MTT divides both distances by the parameter count; it cancels in the ratio.
    const loss = tf.div(squaredDistanceTensor(thetaN, target), squaredDistanceTensor(start, target));
    return (extra.length ? tf.addN([loss, ...extra]) : loss) as tf.Scalar;
  });
}

/**
 * θ_N without a gradient tape: the student the matching loss compares (tests build exact targets with
 * it; evaluation tools can inspect it). Caller owns the result.
 */
export function unrollStudent(
  config: TrajectoryMatchingConfig,
  synthetic: SyntheticSet,
  start: Float32Array,
  plan: SegmentPlan,
  opts: MatchOptions = {},
): tf.Tensor1D {
  return tf.tidy(() =>
    unroll(
      config,
      tf.tensor1d(start, 'float32'),
      synthetic.images,
      labelTargets(config, synthetic.classes, synthetic.labelLogits),
      stepSize(config, synthetic.synLr),
      plan,
      opts,
    ),
  );
}

export interface SegmentGradients {
  images: tf.Tensor4D;
  /** null with hard labels. */
  labelLogits: tf.Tensor2D | null;
  synLr: tf.Scalar;
}

export function disposeSegmentGradients(grads: SegmentGradients): void {
  tf.dispose([grads.images, grads.synLr, ...(grads.labelLogits ? [grads.labelLogits] : [])]);
}

export interface SegmentResult {
  plan: SegmentPlan;
  loss: number;
  /** ∂L/∂X, ∂L/∂L (soft labels), ∂L/∂(α's parameter); the caller owns them. */
  grads: SegmentGradients;
}

/**
 * One outer iteration's matching: sample (expert, start epoch) in the current window and the
 * minibatches, unroll N student steps, and differentiate L w.r.t. images, soft labels and α in one
 * `tf.valueAndGrads` over the unrolled graph.
 */
export function matchTrajectorySegment(
  synthetic: SyntheticSet,
  experts: ExpertTrajectories,
  config: TrajectoryMatchingConfig,
  iteration: number,
  opts: MatchOptions = {},
): SegmentResult {
  const plan = planSegment(config, experts, iteration);
  const checkpoints = segmentCheckpoints(config, experts, plan);
  const soft = synthetic.labelLogits !== null;
  const out = tf.tidy(() => {
    const f = (...xs: tf.Tensor[]): tf.Scalar =>
      trajectoryMatchingLoss(
        config,
        {
          images: xs[0] as tf.Tensor4D,
          synLr: xs[1] as tf.Scalar,
          labelLogits: soft ? (xs[2] as tf.Tensor2D) : null,
          classes: synthetic.classes,
        },
        checkpoints,
        plan,
        opts,
      );
    const inputs: tf.Tensor[] = [synthetic.images, synthetic.synLr];
    if (synthetic.labelLogits) inputs.push(synthetic.labelLogits);
    return tf.valueAndGrads(f)(inputs);
  });
  const loss = out.value.dataSync()[0]!;
  out.value.dispose();
  return {
    plan,
    loss,
    grads: {
      images: out.grads[0] as tf.Tensor4D,
      synLr: out.grads[1] as tf.Scalar,
      labelLogits: soft ? (out.grads[2] as tf.Tensor2D) : null,
    },
  };
}
