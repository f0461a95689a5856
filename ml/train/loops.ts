// Training steps you can read in one screen. `trainSteps` is the one loop; `trainConvNetSteps` and
// `trainLmSteps` only say which loss it minimises. A call runs steps [startStep, startStep + steps)
// from the given params and optimizer state and returns the new ones, so an activity can run a chunk,
// checkpoint, and a retry can resume at the same global step with identical results: the LR and the
// batch are looked up by GLOBAL step (rewarm spec §8 horizon independence, §10).
//
// Ownership: the inputs (params, optimizer state, buffers) stay the caller's and are never disposed;
// every intermediate generation is; the returned tensors belong to the caller. Each step runs inside
// tf.tidy, so batch tensors, activations and gradients are freed before the next one.
import * as tf from '@tensorflow/tfjs-core';
import { softmaxCrossEntropy } from '../ops/index.js';
import type { LrSchedule } from './schedule.js';
import {
  type BatchNormStats,
  type ConvNetConfig,
  type ConvNetForwardOptions,
  convNetForward,
  convNetForwardWithStats,
  updateBatchNormStats,
} from '../models/convnet.js';
import { type LmConfig, type LmParams, lmLoss } from '../models/lm.js';
import {
  type Optimizer,
  type OptimizerState,
  clipByGlobalNorm,
  disposeOptimizerState,
} from './optimizers.js';
import { type NamedTensors, type ParamTree, disposeTree, fromLeaves, leaves } from './param-tree.js';

export interface StepInfo {
  step: number;
  loss: number;
  lr: number;
  /** Global gradient norm before clipping (only when clipping is on). */
  gradNorm?: number;
}

/** What a loss function returns: the scalar to minimise and, optionally, updated non-trainable buffers. */
export interface LossResult {
  loss: tf.Scalar;
  /** New values of non-trainable state (e.g. BatchNorm running statistics), replacing the old ones. */
  buffers?: NamedTensors;
}

export interface TrainStepsInput<P extends ParamTree, B> {
  params: P;
  optimizer: Optimizer;
  optState: OptimizerState<P>;
  /** Global index of the first update: the LR schedule and `batchAt` are evaluated at global steps. */
  startStep: number;
  steps: number;
  lr: LrSchedule;
  /** Builds the batch for a global step; its tensors are created inside the step's tidy and freed there. */
  batchAt: (step: number) => B;
  loss: (params: P, batch: B, buffers: NamedTensors) => tf.Scalar | LossResult;
  /** Non-trainable state threaded through the steps (default none). */
  buffers?: NamedTensors;
  /** Clip gradients to this global L2 norm before the update (rewarm spec §2: 1.0). */
  clipNorm?: number;
  /** Called after every step with plain numbers (heartbeats, progress). */
  onStep?: (info: StepInfo) => void;
}

export interface TrainStepsResult<P extends ParamTree> {
  params: P;
  optState: OptimizerState<P>;
  buffers: NamedTensors;
  /** Loss of each step, evaluated at the params before that step's update. */
  losses: number[];
}

/** tf.tidy for a plain object of tensors (tf's TensorContainer type has no room for our interfaces). */
function tidyObject<T>(fn: () => T): T {
  return tf.tidy(() => fn() as unknown as tf.TensorContainer) as unknown as T;
}

export function trainSteps<P extends ParamTree, B>(input: TrainStepsInput<P, B>): TrainStepsResult<P> {
  const { optimizer, startStep, steps, lr: schedule, batchAt, loss, clipNorm, onStep } = input;
  let params = input.params;
  let optState = input.optState;
  let buffers: NamedTensors = input.buffers ?? {};
  const losses: number[] = [];
  // Whether the current generation was made here (and so may be freed here) or is the caller's input.
  let ownParams = false;
  let ownBuffers = false;

  for (let step = startStep; step < startStep + steps; step++) {
    const lr = schedule(step);
    const before = { params, optState, buffers };
    const out = tidyObject(() => {
      const batch = batchAt(step);
      let newBuffers: NamedTensors | undefined;
      const lossOf = (...list: tf.Tensor[]): tf.Scalar => {
        const r = loss(fromLeaves(before.params, list), batch, before.buffers);
        if (r instanceof tf.Tensor) return r;
        // Buffers are produced inside tf.valueAndGrads' own tidy: keep them, they are freed below.
        if (r.buffers)
          newBuffers = Object.fromEntries(Object.entries(r.buffers).map(([k, t]) => [k, tf.keep(t)]));
        return r.loss;
      };
      const { value, grads: gradList } = tf.valueAndGrads(lossOf)(leaves(before.params));
      let grads = fromLeaves(before.params, gradList);
      let gradNorm: tf.Scalar | undefined;
      if (clipNorm !== undefined) ({ grads, norm: gradNorm } = clipByGlobalNorm(grads, clipNorm));
      const next = optimizer.step(before.params, grads, before.optState, lr);
      return { params: next.params, optState: next.state, newBuffers, value, gradNorm };
    });

    if (ownParams) {
      disposeTree(before.params);
      disposeOptimizerState(before.optState);
    }
    params = out.params;
    optState = out.optState;
    ownParams = true;
    if (out.newBuffers) {
      if (ownBuffers) tf.dispose(Object.values(before.buffers));
      buffers = out.newBuffers;
      ownBuffers = true;
    }

    const info: StepInfo = { step, loss: out.value.dataSync()[0]!, lr };
    if (out.gradNorm) info.gradNorm = out.gradNorm.dataSync()[0]!;
    tf.dispose([out.value, ...(out.gradNorm ? [out.gradNorm] : [])]);
    losses.push(info.loss);
    if (!Number.isFinite(info.loss)) {
      // Fail loudly, naming the step (DESIGN.md §8: NaN tensors → a clear failure, no partial artifacts).
      disposeTree(params);
      disposeOptimizerState(optState);
      if (ownBuffers) tf.dispose(Object.values(buffers));
      throw new Error(`training diverged: loss is ${info.loss} at step ${step} (lr ${lr})`);
    }
    onStep?.(info);
  }
  return { params, optState, buffers, losses };
}

// -----------------------------------------------------------------------------------------------
// ConvNet: cross-entropy on hard labels (int32 [B]) or target distributions (float32 [B, K]).

export interface ConvNetBatch {
  x: tf.Tensor4D;
  /** int32 class ids [B], or float32 target probabilities [B, classes]. */
  y: tf.Tensor;
}

export interface ConvNetStepsInput extends Omit<
  TrainStepsInput<tf.Tensor1D, ConvNetBatch>,
  'loss' | 'buffers' | 'params' | 'optState'
> {
  config: ConvNetConfig;
  params: tf.Tensor1D;
  optState: OptimizerState<tf.Tensor1D>;
  /** BatchNorm nets: running statistics to update (PyTorch momentum `bnMomentum`, default 0.1). */
  runningStats?: BatchNormStats[];
  bnMomentum?: number;
  kernels?: ConvNetForwardOptions['kernels'];
}

export interface ConvNetStepsResult {
  params: tf.Tensor1D;
  optState: OptimizerState<tf.Tensor1D>;
  /** Updated BatchNorm running statistics (empty for other norms). */
  runningStats: BatchNormStats[];
  losses: number[];
}

/** Mean cross-entropy of logits against int32 labels or a target distribution. */
export function classificationLoss(logits: tf.Tensor2D, y: tf.Tensor): tf.Scalar {
  return tf.tidy(() => {
    const targets = y.dtype === 'int32' ? tf.oneHot(y as tf.Tensor1D, logits.shape[1]) : y;
    return tf.mean(softmaxCrossEntropy(logits, targets)) as tf.Scalar;
  });
}

export function trainConvNetSteps(input: ConvNetStepsInput): ConvNetStepsResult {
  const { config, runningStats = [], bnMomentum = 0.1, kernels, ...rest } = input;
  const batchNorm = config.norm === 'batchnorm';
  if (batchNorm && runningStats.length !== config.depth) {
    throw new Error(
      `trainConvNetSteps: batchnorm ConvNet needs runningStats for ${config.depth} layers (initBatchNormStats)`,
    );
  }
  const result = trainSteps<tf.Tensor1D, ConvNetBatch>({
    ...rest,
    buffers: statsToBuffers(runningStats),
    loss: (params, { x, y }, buffers) => {
      if (!batchNorm) return classificationLoss(convNetForward(config, params, x, { kernels }), y);
      // Training-mode BatchNorm: normalise with this batch's statistics and fold them into the running
      // statistics (the new buffers do not feed the loss, so no gradient flows through them).
      const { logits, batchStats } = convNetForwardWithStats(config, params, x, { training: true, kernels });
      const updated = updateBatchNormStats(buffersToStats(buffers, config.depth), batchStats, bnMomentum);
      return { loss: classificationLoss(logits, y), buffers: statsToBuffers(updated) };
    },
  });
  return {
    params: result.params,
    optState: result.optState,
    runningStats: buffersToStats(result.buffers, batchNorm ? config.depth : 0),
    losses: result.losses,
  };
}

/** BatchNorm running statistics as named non-trainable buffers (`bn<l>.mean`, `bn<l>.variance`). */
export function statsToBuffers(stats: readonly BatchNormStats[]): NamedTensors {
  const out: NamedTensors = {};
  stats.forEach((s, l) => {
    out[`bn${l}.mean`] = s.mean;
    out[`bn${l}.variance`] = s.variance;
  });
  return out;
}

/** Inverse of `statsToBuffers`. */
export function buffersToStats(buffers: NamedTensors, layers: number): BatchNormStats[] {
  return Array.from({ length: layers }, (_x, l) => ({
    mean: buffers[`bn${l}.mean`] as tf.Tensor1D,
    variance: buffers[`bn${l}.variance`] as tf.Tensor1D,
  }));
}

// -----------------------------------------------------------------------------------------------
// Byte-level LM: mean next-token cross-entropy on int32 token windows [B, T].

export interface LmStepsInput extends Omit<TrainStepsInput<LmParams, tf.Tensor2D>, 'loss' | 'buffers'> {
  config: LmConfig;
}

export interface LmStepsResult {
  params: LmParams;
  optState: OptimizerState<LmParams>;
  losses: number[];
}

export function trainLmSteps(input: LmStepsInput): LmStepsResult {
  const { config, ...rest } = input;
  const result = trainSteps<LmParams, tf.Tensor2D>({
    ...rest,
    loss: (params, ids) => lmLoss(config, params, ids),
  });
  return { params: result.params, optState: result.optState, losses: result.losses };
}
