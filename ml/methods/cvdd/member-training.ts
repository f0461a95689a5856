// CV-DD §3: train one committee member (train-mode BN, Adam, epochs of seeded batches); its
// validation top-1 is its prior in percent (a held-out split of the train pool, so the test set stays
// unseen until post-evaluation).
import * as tf from '@tensorflow/tfjs-core';
import { type LrSchedule, constantSchedule } from '../rewarm.js';
import { BatchOrder, gatherImages, gatherLabels } from '../../train/batches.js';
import { type BatchNormStats } from '../../models/convnet.js';
import { type OptimizerState, disposeOptimizerState } from '../../train/optimizers.js';
import { deriveSeed } from '../../train/rng.js';
import { type StepInfo } from '../../train/loops.js';
import { type CommitteeVotingConfig } from './config.js';
import {
  type CommitteeArch,
  type CommitteeMember,
  committeeArchId,
  initCommitteeArch,
  evaluateTop1,
} from './members.js';
import { memberOptimizer, trainCommitteeMemberSteps } from './student.js';
import { type ImageSet, imageCount } from './image-set.js';

export interface MemberTrainingState {
  params: tf.Tensor1D;
  optState: OptimizerState<tf.Tensor1D>;
  runningStats: BatchNormStats[];
  /** Global steps done. */
  step: number;
}

export function initMemberTraining(arch: CommitteeArch, seed: number): MemberTrainingState {
  const { params, runningStats } = initCommitteeArch(arch, deriveSeed(seed, 'member-init'));
  return { params, optState: memberOptimizer().init(params), runningStats, step: 0 };
}

export function disposeMemberTraining(state: MemberTrainingState): void {
  tf.dispose([state.params, ...state.runningStats.flatMap((s) => [s.mean, s.variance])]);
  disposeOptimizerState(state.optState);
}

/** Steps per epoch and in total of a member's training on `n` rows (incomplete batches dropped). */
export function memberSchedule(
  n: number,
  config: Pick<CommitteeVotingConfig, 'memberBatchSize' | 'memberEpochs'>,
): { stepsPerEpoch: number; totalSteps: number } {
  const stepsPerEpoch = Math.floor(n / config.memberBatchSize);
  if (stepsPerEpoch === 0)
    throw new RangeError(`${n} training rows cannot fill one member batch of ${config.memberBatchSize}`);
  return { stepsPerEpoch, totalSteps: stepsPerEpoch * config.memberEpochs };
}

/** The member LR at global step s of `totalSteps` (§3: constant, or cosine annealing to 0). */
export function memberLrSchedule(
  config: Pick<CommitteeVotingConfig, 'memberLr' | 'memberLrSchedule'>,
  totalSteps: number,
): LrSchedule {
  if ((config.memberLrSchedule ?? 'constant') === 'constant') return constantSchedule(config.memberLr);
  return (step) =>
    0.5 * (1 + Math.cos((Math.PI * Math.min(step, totalSteps)) / totalSteps)) * config.memberLr;
}

/**
 * Runs `steps` more member training steps (Adam, lr `memberLr` per memberLrSchedule, train-mode BN with momentum
 * `bnMomentum`) from `state` on `train`; returns the new state (the input stays the caller's).
 */
export function trainMemberSteps(
  arch: CommitteeArch,
  state: MemberTrainingState,
  train: ImageSet,
  config: Pick<
    CommitteeVotingConfig,
    'memberBatchSize' | 'memberLr' | 'memberEpochs' | 'memberLrSchedule' | 'bnMomentum'
  >,
  seed: number,
  steps: number,
  onStep?: (info: StepInfo) => void,
): MemberTrainingState {
  const order = new BatchOrder({ n: imageCount(train), batchSize: config.memberBatchSize, seed });
  const { totalSteps } = memberSchedule(imageCount(train), config);
  const result = trainCommitteeMemberSteps({
    arch,
    params: state.params,
    optState: state.optState,
    runningStats: state.runningStats,
    optimizer: memberOptimizer(),
    startStep: state.step,
    steps,
    lr: memberLrSchedule(config, totalSteps),
    bnMomentum: config.bnMomentum,
    batchAt: (step) => {
      const idx = order.indicesAt(step);
      return { x: gatherImages(train.pixels, train, idx), y: gatherLabels(train.labels, idx) };
    },
    ...(onStep ? { onStep } : {}),
  });
  return {
    params: result.params,
    optState: result.optState,
    runningStats: result.runningStats,
    step: state.step + steps,
  };
}

/** Top-1 (fraction) of a model with inference-mode BN on a set. */
export function setAccuracy(
  arch: CommitteeArch,
  params: tf.Tensor,
  runningStats: BatchNormStats[],
  set: ImageSet,
): number {
  const x = tf.tensor4d(set.pixels, [imageCount(set), set.h, set.w, set.c]);
  try {
    return evaluateTop1(arch, params, runningStats, x, set.labels);
  } finally {
    x.dispose();
  }
}

/** Trains a member to the end in one call (bench, tests); prior = 100 × validation top-1. */
export function trainCommitteeMember(
  arch: CommitteeArch,
  train: ImageSet,
  val: ImageSet,
  config: CommitteeVotingConfig,
  seed: number,
  onStep?: (info: StepInfo) => void,
): { member: CommitteeMember; valAcc: number } {
  const { totalSteps } = memberSchedule(imageCount(train), config);
  const init = initMemberTraining(arch, seed);
  const done = trainMemberSteps(arch, init, train, config, seed, totalSteps, onStep);
  disposeMemberTraining(init);
  disposeOptimizerState(done.optState);
  const valAcc = setAccuracy(arch, done.params, done.runningStats, val);
  return {
    member: {
      id: committeeArchId(arch),
      arch,
      params: done.params,
      runningStats: done.runningStats,
      prior: 100 * valAcc,
    },
    valAcc,
  };
}

export function disposeCommitteeMembers(committee: readonly CommitteeMember[]): void {
  for (const m of committee) tf.dispose([m.params, ...m.runningStats.flatMap((s) => [s.mean, s.variance])]);
}
