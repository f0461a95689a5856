// CV-DD post-evaluation (spec §5.4): the KL loss, the student and member optimisers and their
// training steps with BatchNorm running statistics.
import * as tf from '@tensorflow/tfjs-core';
import type { LrSchedule } from '../rewarm.js';
import { type BatchNormStats, updateBatchNormStats } from '../../models/convnet.js';
import { logSoftmax, softmaxCrossEntropy } from '../../ops/index.js';
import {
  buffersToStats,
  statsToBuffers,
  trainConvNetSteps,
  trainSteps,
  type StepInfo,
} from '../../train/loops.js';
import { type Optimizer, type OptimizerState, adamw } from '../../train/optimizers.js';
import { type CommitteeVotingConfig } from './config.js';
import { type CommitteeArch, committeeForward } from './members.js';

/**
 * KL(softmax(z/T) ‖ softmax(s/T)) summed over classes, averaged over the batch (nn.KLDivLoss
 * 'batchmean'), without the T² factor (train_fkd.py). d/ds = (softmax(s/T) − softmax(z/T)) / (T·B).
 */
export function klDistillationLoss(
  studentLogits: tf.Tensor2D,
  teacherLogits: tf.Tensor2D,
  temperature: number,
): tf.Scalar {
  if (!tf.util.arraysEqual(studentLogits.shape, teacherLogits.shape))
    throw new Error(
      `klDistillationLoss: student [${studentLogits.shape}] vs teacher [${teacherLogits.shape}]`,
    );
  return tf.tidy(() => {
    const logP = logSoftmax(tf.div(teacherLogits, temperature));
    const logQ = logSoftmax(tf.div(studentLogits, temperature));
    return tf.div(tf.sum(tf.mul(tf.exp(logP), tf.sub(logP, logQ))), studentLogits.shape[0]) as tf.Scalar;
  });
}

/** Per-epoch cosine factor ½(1 + cos(π·e/(E·η))) of train_fkd.py's LambdaLR (0 past E), by global step. */
export function studentLrSchedule(opts: {
  lr: number;
  epochs: number;
  stepsPerEpoch: number;
  eta?: number;
}): LrSchedule {
  const eta = opts.eta ?? 1;
  return (step: number): number => {
    const epoch = Math.floor(step / opts.stepsPerEpoch);
    return epoch <= opts.epochs ? opts.lr * 0.5 * (1 + Math.cos((Math.PI * epoch) / (opts.epochs * eta))) : 0;
  };
}

/** AdamW (decoupled weight decay) of the student (§5.4: lr 1e-3, wd 0.01, PyTorch default betas). */
export function studentOptimizer(config: CommitteeVotingConfig): Optimizer {
  return adamw({ weightDecay: config.studentWeightDecay });
}

/** Adam without weight decay for committee members (§7.2 "Adam 1e-3"). */
export function memberOptimizer(): Optimizer {
  return adamw({ weightDecay: 0 });
}

interface BatchNormTrainInput<B> {
  arch: CommitteeArch;
  params: tf.Tensor1D;
  optState: OptimizerState<tf.Tensor1D>;
  runningStats: BatchNormStats[];
  optimizer: Optimizer;
  startStep: number;
  steps: number;
  lr: LrSchedule;
  batchAt: (step: number) => B;
  bnMomentum?: number;
  onStep?: (info: StepInfo) => void;
}

export interface BatchNormTrainResult {
  params: tf.Tensor1D;
  optState: OptimizerState<tf.Tensor1D>;
  runningStats: BatchNormStats[];
  losses: number[];
}

/**
 * trainSteps for any committee arch with train-mode BN: the batch is cut into `microBatches` equal
 * parts, each forwarded with its own statistics and folded into the running statistics in turn, and the
 * loss is the mean of the parts' losses (gradient accumulation with loss / accum_steps, train_fkd.py).
 */
function trainWithBatchNorm<B>(
  input: BatchNormTrainInput<B>,
  microBatches: number,
  split: (batch: B, start: number, size: number) => tf.Tensor4D,
  lossOf: (logits: tf.Tensor2D, batch: B, start: number, size: number) => tf.Scalar,
  batchSize: (batch: B) => number,
): BatchNormTrainResult {
  const { arch, runningStats, bnMomentum = 0.1, ...rest } = input;
  const layers = runningStats.length;
  const result = trainSteps<tf.Tensor1D, B>({
    ...rest,
    buffers: statsToBuffers(runningStats),
    loss: (params, batch, buffers) => {
      const n = batchSize(batch);
      if (n % microBatches !== 0)
        throw new Error(`batch of ${n} does not split into ${microBatches} micro-batches`);
      const size = n / microBatches;
      let stats = buffersToStats(buffers, layers);
      const losses: tf.Scalar[] = [];
      for (let mb = 0; mb < microBatches; mb++) {
        const start = mb * size;
        const out = committeeForward(arch, params, stats, split(batch, start, size), 'batch');
        if (layers) stats = updateBatchNormStats(stats, out.batchStats, bnMomentum);
        losses.push(lossOf(out.logits, batch, start, size));
      }
      const loss = (losses.length === 1 ? losses[0]! : tf.div(tf.addN(losses), microBatches)) as tf.Scalar;
      return { loss, buffers: statsToBuffers(stats) };
    },
  });
  return {
    params: result.params,
    optState: result.optState,
    runningStats: buffersToStats(result.buffers, layers),
    losses: result.losses,
  };
}

const sliceRows = <T extends tf.Tensor>(t: T, start: number, size: number): T =>
  tf.slice(t, [start, ...t.shape.slice(1).map(() => 0)], [size, ...t.shape.slice(1).map(() => -1)]) as T;

/** Trains one committee member with hard (int32 [B]) labels; ConvNets go through trainConvNetSteps. */
export function trainCommitteeMemberSteps(
  input: BatchNormTrainInput<{ x: tf.Tensor4D; y: tf.Tensor1D }>,
): BatchNormTrainResult {
  const { arch, runningStats, bnMomentum, ...rest } = input;
  if (arch.family === 'convnet') {
    return trainConvNetSteps({
      ...rest,
      config: arch.config,
      runningStats,
      ...(bnMomentum === undefined ? {} : { bnMomentum }),
    });
  }
  return trainWithBatchNorm(
    input,
    1,
    (b) => b.x,
    (logits, b) => tf.mean(softmaxCrossEntropy(logits, tf.oneHot(b.y, logits.shape[1]))) as tf.Scalar,
    (b) => b.x.shape[0],
  );
}

export interface StudentBatch {
  /** Augmented (and mixed) images, exactly those the teacher labelled. */
  x: tf.Tensor4D;
  /** Committee soft-label logits z [B, K] (SoftLabels.logits). */
  teacherLogits: tf.Tensor2D;
}

/** Student steps on committee soft labels with the KL loss of §5.4 (micro-batches as the code's accumulation). */
export function trainStudentSteps(
  input: BatchNormTrainInput<StudentBatch> & { temperature: number; microBatches?: number },
): BatchNormTrainResult {
  const { temperature, microBatches = 1, ...rest } = input;
  return trainWithBatchNorm(
    rest,
    microBatches,
    (b, start, size) => (microBatches === 1 ? b.x : sliceRows(b.x, start, size)),
    (logits, b, start, size) =>
      klDistillationLoss(
        logits,
        microBatches === 1 ? b.teacherLogits : sliceRows(b.teacherLogits, start, size),
        temperature,
      ),
    (b) => b.x.shape[0],
  );
}
