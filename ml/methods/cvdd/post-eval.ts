// CV-DD §5.4 post-evaluation: a fresh student trained on the distilled images with the KL loss against
// committee soft labels produced online per augmented batch (BSSL, §5.3), or with cross-entropy on hard
// labels (the random-real baseline); top-1 on the real test set. The batch of step s depends on (seed, s).
import * as tf from '@tensorflow/tfjs-core';
import { BatchOrder, gatherImages, gatherLabels } from '../../train/batches.js';
import { disposeOptimizerState } from '../../train/optimizers.js';
import { Rng, deriveSeed } from '../../train/rng.js';
import { type StepInfo } from '../../train/loops.js';
import { applyBatchAugmentation, sampleBatchAugmentation } from './augment.js';
import { type CommitteeVotingConfig } from './config.js';
import { type CommitteeArch, type CommitteeMember, initCommitteeArch } from './members.js';
import { relabelWeights } from './voting.js';
import { relabelWithCommittee } from './relabel.js';
import {
  studentLrSchedule,
  studentOptimizer,
  trainCommitteeMemberSteps,
  trainStudentSteps,
} from './student.js';
import { type ImageSet, imageCount } from './image-set.js';
import { setAccuracy } from './member-training.js';

export interface PostEvalInput {
  /** The distilled (or random real) images and their classes. */
  train: ImageSet;
  /** Committee soft labels (BSSL per config.relabelBnMode), or null: hard labels with cross-entropy. */
  teacher: readonly CommitteeMember[] | null;
  student: CommitteeArch;
  config: CommitteeVotingConfig;
  test: ImageSet;
  seed: number;
  onStep?: (info: StepInfo) => void;
  /** Steps per synchronous stretch; `between` runs after each (activities heartbeat and yield there). */
  chunkSteps?: number;
  between?: (stepsDone: number, totalSteps: number) => Promise<void>;
}

export interface PostEvalResult {
  testAcc: number;
  steps: number;
  finalLoss: number;
}

/**
 * Trains a fresh student for `studentEpochs` on `train` (batches of `studentBatchSize`, incomplete
 * batches dropped, per-image augmentation of config.studentAugment drawn from (seed, step)); with a
 * teacher, every augmented batch is relabelled by the whole committee (weights softmax(prior/τ_relabel))
 * and the loss is KL at T = klTemperature over `studentMicroBatches` micro-batches; without, the loss is
 * cross-entropy on the (CutMix-mixed) one-hot labels. Returns top-1 on `test` with running BN statistics.
 * Chunking (`chunkSteps`) never changes the result: batches and LR are looked up by global step.
 */
export async function postEvaluate(input: PostEvalInput): Promise<PostEvalResult> {
  const { train, teacher, student, config, test, seed } = input;
  const n = imageCount(train);
  const batchSize = Math.min(config.studentBatchSize, n);
  const order = new BatchOrder({ n, batchSize, seed: deriveSeed(seed, 'student-order') });
  const totalSteps = order.batchesPerEpoch * config.studentEpochs;
  const lr = studentLrSchedule({
    lr: config.studentLr,
    epochs: config.studentEpochs,
    stepsPerEpoch: order.batchesPerEpoch,
    eta: config.studentCosineEta,
  });
  const optimizer = studentOptimizer(config);
  const weights = teacher ? relabelWeights(teacher, config, seed) : [];
  const augmented = (step: number) => {
    const idx = order.indicesAt(step);
    const aug = sampleBatchAugmentation(
      new Rng(deriveSeed(seed, 'student-batch', step)),
      idx.length,
      train.h,
      train.w,
      config.studentAugment,
    );
    return { x: applyBatchAugmentation(gatherImages(train.pixels, train, idx), aug), idx, mix: aug.mix };
  };
  const microBatches = batchSize % config.studentMicroBatches === 0 ? config.studentMicroBatches : 1;
  const init = initCommitteeArch(student, deriveSeed(seed, 'student-init'));
  let state = { params: init.params, optState: optimizer.init(init.params), runningStats: init.runningStats };
  const disposeState = (s: typeof state) => {
    tf.dispose([s.params, ...s.runningStats.flatMap((r) => [r.mean, r.variance])]);
    disposeOptimizerState(s.optState);
  };
  const chunk = input.chunkSteps ?? totalSteps;
  let finalLoss = NaN;
  for (let start = 0; start < totalSteps; start += chunk) {
    const common = {
      arch: student,
      params: state.params,
      optState: state.optState,
      runningStats: state.runningStats,
      optimizer,
      startStep: start,
      steps: Math.min(chunk, totalSteps - start),
      lr,
      bnMomentum: config.bnMomentum,
      ...(input.onStep ? { onStep: input.onStep } : {}),
    };
    let result;
    try {
      result = teacher
        ? trainStudentSteps({
            ...common,
            temperature: config.klTemperature,
            microBatches,
            batchAt: (step) => {
              const { x } = augmented(step);
              const soft = relabelWithCommittee(x, teacher, weights, config);
              soft.probabilities.dispose();
              return { x, teacherLogits: soft.logits };
            },
          })
        : trainCommitteeMemberSteps({
            ...common,
            batchAt: (step) => {
              const { x, idx, mix } = augmented(step);
              const y = gatherLabels(train.labels, idx);
              if (!mix) return { x, y };
              // CutMix with hard labels: the area-weighted mix of the two one-hot labels (utils_fkd.py).
              const [y0, y1, x0, x1] = mix.box;
              const a = ((y1 - y0) * (x1 - x0)) / (train.h * train.w);
              const onehot = tf.oneHot(y, config.classes);
              const other = tf.gather(onehot, tf.tensor1d(mix.perm, 'int32'));
              return { x, y: tf.add(tf.mul(onehot, 1 - a), tf.mul(other, a)) as unknown as tf.Tensor1D };
            },
          });
    } catch (err) {
      disposeState(state);
      throw err;
    }
    disposeState(state);
    state = { params: result.params, optState: result.optState, runningStats: result.runningStats };
    finalLoss = result.losses[result.losses.length - 1] ?? finalLoss;
    if (input.between) await input.between(Math.min(start + chunk, totalSteps), totalSteps);
  }
  try {
    return {
      testAcc: setAccuracy(student, state.params, state.runningStats, test),
      steps: totalSteps,
      finalLoss,
    };
  } finally {
    disposeState(state);
  }
}
