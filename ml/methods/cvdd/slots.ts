// CV-DD §5.2: initialise a slot from random real images (one per class; spec §7.2 stand-in for
// RDED patches) and recover it; the single-model prior estimate.
import * as tf from '@tensorflow/tfjs-core';
import { gatherImages } from '../../train/batches.js';
import { disposeOptimizerState } from '../../train/optimizers.js';
import { Rng, deriveSeed, permutation } from '../../train/rng.js';
import { softmaxCrossEntropy } from '../../ops/index.js';
import { type CommitteeVotingConfig } from './config.js';
import { type CommitteeArch, type CommitteeMember, committeeForward, disposeStats } from './members.js';
import { recoverySlotPlan, relabelWeights } from './voting.js';
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

/**
 * Slot j's initial batch: the j-th initial image of every class (labels 0..classes−1) — a random real
 * image, or with `config.initDifficulty` easy / medium / hard the j-th of the class's committee-ranked
 * picks (`rankedInitIndices`; needs the committee).
 */
export function slotInitImages(
  real: ImageSet,
  classes: number,
  config: CommitteeVotingConfig,
  slot: number,
  seed: number,
  committee?: readonly CommitteeMember[],
): { images: tf.Tensor4D; labels: number[] } {
  const difficulty = config.initDifficulty ?? 'random';
  let all: Int32Array;
  if (difficulty === 'random')
    all = randomRealIndices(real.labels, classes, config.ipc, deriveSeed(seed, 'recover-init'));
  else {
    if (!committee?.length)
      throw new Error(
        `slotInitImages: initDifficulty "${difficulty}" ranks real images with the committee; none given`,
      );
    all = rankedInitIndices(real, classes, committee, config, seed);
  }
  const idx = all.slice(slot * classes, (slot + 1) * classes);
  return { images: gatherImages(real.pixels, real, idx), labels: Array.from(idx, (r) => real.labels[r]!) };
}

/**
 * RDED-style selection of the initial images (the code's `--patch-diff`; one whole image per patch,
 * RDED's factor 1 for small inputs): per class, `initCandidates` × IPC seeded random real images are
 * scored by the committee's cross-entropy on their own class (Σ_i w_i CE_i, relabel weights, members in
 * inference-mode BN) and sorted from easiest to hardest; 'easy' keeps the IPC lowest, 'hard' the IPC
 * highest, 'medium' the IPC around the median. Returns indices laid out like `randomRealIndices` (slot
 * j, class c at j·classes + c), slot order = rank order. With fewer candidates than IPC × initCandidates
 * in a class, that class's rows are all candidates.
 */
export function rankedInitIndices(
  real: ImageSet,
  classes: number,
  committee: readonly CommitteeMember[],
  config: CommitteeVotingConfig,
  seed: number,
): Int32Array {
  const { ipc } = config;
  const difficulty = config.initDifficulty ?? 'medium';
  const perClass = ipc * (config.initCandidates ?? 8);
  const candidates: number[][] = Array.from({ length: classes }, () => []);
  const byClass: number[][] = Array.from({ length: classes }, () => []);
  real.labels.forEach((y, i) => byClass[y]?.push(i));
  byClass.forEach((rows, c) => {
    if (rows.length < ipc) throw new RangeError(`IPC ${ipc} exceeds the ${rows.length} rows of class ${c}`);
    const order = permutation(rows.length, new Rng(deriveSeed(seed, 'recover-init-candidates', c)));
    for (let k = 0; k < Math.min(perClass, rows.length); k++) candidates[c]!.push(rows[order[k]!]!);
  });
  const flat = candidates.flat();
  const weights = relabelWeights(committee, config);
  const scores = tf.tidy(() => {
    const x = gatherImages(real.pixels, real, flat);
    const onehot = tf.oneHot(
      tf.tensor1d(
        flat.map((r) => real.labels[r]!),
        'int32',
      ),
      classes,
    );
    const perMember = committee.map((m, i) => {
      const out = committeeForward(m.arch, m.params, m.runningStats, x, 'running');
      disposeStats(out);
      return tf.mul(softmaxCrossEntropy(out.logits, onehot), weights[i]!);
    });
    return tf.addN(perMember);
  });
  const score = scores.dataSync();
  scores.dispose();
  const out = new Int32Array(ipc * classes);
  let offset = 0;
  candidates.forEach((rows, c) => {
    const ranked = rows
      .map((r, k) => ({ r, s: score[offset + k]! }))
      .sort((a, b) => a.s - b.s || a.r - b.r)
      .map((e) => e.r);
    offset += rows.length;
    const start =
      difficulty === 'easy'
        ? 0
        : difficulty === 'hard'
          ? ranked.length - ipc
          : Math.floor((ranked.length - ipc) / 2);
    for (let j = 0; j < ipc; j++) out[j * classes + c] = ranked[start + j]!;
  });
  return out;
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
  const init = slotInitImages(real, config.classes, config, slot, seed, committee);
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
