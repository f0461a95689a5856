// CV-DD §5.2: initialise a slot from random real images (one per class; spec §7.2 stand-in for
// RDED patches) and recover it; the single-model prior estimate.
import * as tf from '@tensorflow/tfjs-core';
import { gatherImages } from '../../train/batches.js';
import { disposeOptimizerState } from '../../train/optimizers.js';
import { deriveSeed } from '../../train/rng.js';
import { type CommitteeVotingConfig } from './config.js';
import { type CommitteeArch, type CommitteeMember } from './members.js';
import { recoverySlotPlan } from './voting.js';
import {
  type RecoveryStep,
  initRecoveryState,
  disposeRecoveryState,
  recoverSyntheticImages,
  type RecoveryReport,
  recoveryReport,
} from './recovery.js';
import { type ImageSet, randomRealIndices } from './image-set.js';
import { type PostEvalInput, postEvaluate } from './post-eval.js';

/** Seed of slot j's own stream (views), independent of the other slots (§10: slots are independent). */
export const slotSeed = (seed: number, slot: number): number => deriveSeed(seed, 'slot', slot);

/** Slot j's initial batch: the j-th random real image of every class (labels 0..classes−1). */
export function slotInitImages(
  real: ImageSet,
  classes: number,
  config: Pick<CommitteeVotingConfig, 'ipc'>,
  slot: number,
  seed: number,
): { images: tf.Tensor4D; labels: number[] } {
  const idx = randomRealIndices(real.labels, classes, config.ipc, deriveSeed(seed, 'recover-init')).slice(
    slot * classes,
    (slot + 1) * classes,
  );
  return { images: gatherImages(real.pixels, real, idx), labels: Array.from(idx, (r) => real.labels[r]!) };
}

export interface RecoveredSlot {
  images: tf.Tensor4D;
  labels: number[];
  voters: number[];
  weights: number[];
  first: RecoveryStep;
  last: RecoveryStep;
  /** Objective, per-voter CE / BN terms and accuracy at the final (un-augmented) images. */
  report: RecoveryReport;
}

/** Recovers slot `slot` in one call (bench, tests; activities run the same in checkpointed chunks). */
export function recoverSlot(
  committee: readonly CommitteeMember[],
  real: ImageSet,
  config: CommitteeVotingConfig,
  slot: number,
  seed: number,
  onIteration?: (step: RecoveryStep) => void,
): RecoveredSlot {
  const plan = recoverySlotPlan(slot, committee, config, seed);
  const init = slotInitImages(real, config.classes, config, slot, seed);
  const state = initRecoveryState(
    {
      images: init.images,
      labels: init.labels,
      voters: plan.voters,
      weights: plan.weights,
      seed: slotSeed(seed, slot),
    },
    config,
  );
  init.images.dispose();
  const { state: done, history } = recoverSyntheticImages(
    state,
    committee,
    config,
    config.iterations,
    onIteration,
  );
  disposeRecoveryState(state);
  const voters = plan.voters.map((i) => committee[i]!);
  const report = recoveryReport(done.images, init.labels, voters, plan.weights, config);
  disposeOptimizerState(done.adam);
  return {
    images: done.images,
    labels: init.labels,
    voters: plan.voters,
    weights: plan.weights,
    first: history[0]!,
    last: history[history.length - 1]!,
    report,
  };
}

/**
 * §4.2 prior performance, as the paper estimates it: the whole pipeline run once with `member` ALONE
 * (K = 1: it recovers every slot and relabels), a fresh student trained on that set, and its top-1 in
 * percent — here on the held-out validation split, so the test set stays unseen (the code hard-codes the
 * numbers it got on the test set). The student and seeds are the post-evaluation's own.
 */
export async function estimateSingleModelPrior(input: {
  member: CommitteeMember;
  train: ImageSet;
  val: ImageSet;
  student: CommitteeArch;
  config: CommitteeVotingConfig;
  seed: number;
  /** Runs after every recovered slot (activities heartbeat and check cancellation there). */
  afterSlot?: (slotsDone: number, slots: number) => Promise<void>;
  between?: PostEvalInput['between'];
}): Promise<{ prior: number; valAcc: number }> {
  const { train, config } = input;
  const solo = { ...input.member, prior: 100 };
  const size = train.h * train.w * train.c;
  const pixels = new Float32Array(config.ipc * config.classes * size);
  const labels: number[] = [];
  for (let slot = 0; slot < config.ipc; slot++) {
    const r = recoverSlot([solo], train, config, slot, input.seed);
    pixels.set(r.images.dataSync() as Float32Array, labels.length * size);
    labels.push(...r.labels);
    r.images.dispose();
    await input.afterSlot?.(slot + 1, config.ipc);
  }
  const set: ImageSet = { pixels, labels: Int32Array.from(labels), h: train.h, w: train.w, c: train.c };
  const r = await postEvaluate({
    train: set,
    teacher: [solo],
    student: input.student,
    config: input.config,
    test: input.val,
    seed: deriveSeed(input.seed, 'prior-student'),
    ...(input.between ? { between: input.between, chunkSteps: 50 } : {}),
  });
  return { prior: 100 * r.testAcc, valAcc: r.testAcc };
}
