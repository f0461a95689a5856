// CV-DD (Cui et al. 2025, arXiv 2501.07575; specs/distill-committee-voting.md) — the pipeline stages
// around the math of committee-voting.ts, as plain functions over typed arrays and tensors, shared by
// the activities (activities/committee.ts) and the bench (bench/distill-cvdd.ts):
//   §3    train one committee member (train-mode BN, Adam, epochs of seeded batches), validation top-1
//         → its prior in percent (the spec's "test_acc" proxy, measured on a held-out validation split
//         of the train pool instead of the test set, so the test set stays unseen until post-eval);
//   §5.2  initialise a slot from random real images (one per class; spec §7.2's stand-in for RDED
//         patches) and recover it;
//   §5.4  post-evaluation: a fresh student trained on the distilled images with the KL loss against
//         committee soft labels produced ONLINE per augmented batch (BSSL, §5.3), or with plain cross-
//         entropy on hard labels (the random-real baseline); top-1 on the real test set.
// Seeds are explicit everywhere; the batch of global step s depends on (seed, s) only.
import * as tf from '@tensorflow/tfjs-core';
import { type LrSchedule, constantSchedule } from './rewarm.js';
import { BatchOrder, gatherImages, gatherLabels } from '../train/batches.js';
import { type BatchNormStats } from '../models/convnet.js';
import { type OptimizerState, disposeOptimizerState } from '../train/optimizers.js';
import { Rng, deriveSeed, permutation } from '../train/rng.js';
import { type StepInfo } from '../train/loops.js';
import { applyBatchAugmentation, sampleBatchAugmentation } from './committee-augment.js';
import {
  type CommitteeArch,
  type CommitteeMember,
  type CommitteeVotingConfig,
  type RecoveryReport,
  type RecoveryStep,
  committeeArchId,
  disposeRecoveryState,
  evaluateTop1,
  initCommitteeArch,
  initRecoveryState,
  memberOptimizer,
  recoverSyntheticImages,
  recoveryReport,
  recoverySlotPlan,
  relabelWeights,
  relabelWithCommittee,
  studentLrSchedule,
  studentOptimizer,
  trainCommitteeMemberSteps,
  trainStudentSteps,
} from './committee-voting.js';

/** Images as ml/ sees them: [N·h·w·c] HWC row-major pixels (normalised) and int labels. */
export interface ImageSet {
  pixels: Float32Array;
  labels: Int32Array;
  h: number;
  w: number;
  c: number;
}

export const imageCount = (set: ImageSet): number => set.labels.length;

/** The rows `indices` of a set (copies). */
export function subsetImages(set: ImageSet, indices: ArrayLike<number>): ImageSet {
  const size = set.h * set.w * set.c;
  const pixels = new Float32Array(indices.length * size);
  const labels = new Int32Array(indices.length);
  for (let i = 0; i < indices.length; i++) {
    const r = indices[i]!;
    pixels.set(set.pixels.subarray(r * size, (r + 1) * size), i * size);
    labels[i] = set.labels[r]!;
  }
  return { pixels, labels, h: set.h, w: set.w, c: set.c };
}

/** k×k average pooling of every image (spec §7.2: 28×28 → 14×14 with k = 2). */
export function downsampleImages(set: ImageSet, k: number): ImageSet {
  if (k === 1) return set;
  if (!(Number.isInteger(k) && k > 1 && set.h % k === 0 && set.w % k === 0))
    throw new RangeError(`downsampleImages: factor ${k} does not divide ${set.h}×${set.w}`);
  const { h, w, c } = set;
  const oh = h / k;
  const ow = w / k;
  const n = imageCount(set);
  const out = new Float32Array(n * oh * ow * c);
  const inv = 1 / (k * k);
  for (let i = 0; i < n; i++)
    for (let y = 0; y < oh; y++)
      for (let x = 0; x < ow; x++)
        for (let ch = 0; ch < c; ch++) {
          let s = 0;
          for (let dy = 0; dy < k; dy++)
            for (let dx = 0; dx < k; dx++) s += set.pixels[((i * h + y * k + dy) * w + x * k + dx) * c + ch]!;
          out[((i * oh + y) * ow + x) * c + ch] = s * inv;
        }
  return { pixels: out, labels: set.labels, h: oh, w: ow, c };
}

/** Row indices of each class, in table order. */
function rowsByClass(labels: Int32Array, classes: number): number[][] {
  const rows: number[][] = Array.from({ length: classes }, () => []);
  labels.forEach((y, i) => {
    if (!(y >= 0 && y < classes)) throw new RangeError(`label ${y} at row ${i} is outside [0, ${classes})`);
    rows[y]!.push(i);
  });
  return rows;
}

/**
 * A seeded, class-stratified hold-out: `perClass` rows of every class go to validation, the rest to
 * training. Throws a RangeError when a class has no more than `perClass` rows.
 */
export function validationSplit(
  labels: Int32Array,
  classes: number,
  perClass: number,
  seed: number,
): { train: Int32Array; val: Int32Array } {
  const train: number[] = [];
  const val: number[] = [];
  rowsByClass(labels, classes).forEach((rows, c) => {
    if (rows.length <= perClass)
      throw new RangeError(`class ${c} has ${rows.length} rows: too few for ${perClass} validation rows`);
    const order = permutation(rows.length, new Rng(deriveSeed(seed, 'validation', c)));
    order.forEach((j, k) => (k < perClass ? val : train).push(rows[j]!));
  });
  return {
    train: Int32Array.from(train.sort((a, b) => a - b)),
    val: Int32Array.from(val.sort((a, b) => a - b)),
  };
}

/**
 * `ipc` random real images per class (seeded): the random-real baseline, and in order of slot the
 * initial images of the recovery (slot j takes the j-th draw of every class).
 */
export function randomRealIndices(
  labels: Int32Array,
  classes: number,
  ipc: number,
  seed: number,
): Int32Array {
  const out = new Int32Array(ipc * classes);
  rowsByClass(labels, classes).forEach((rows, c) => {
    if (rows.length < ipc) throw new RangeError(`IPC ${ipc} exceeds the ${rows.length} rows of class ${c}`);
    const order = permutation(rows.length, new Rng(deriveSeed(seed, 'random-real', c)));
    for (let j = 0; j < ipc; j++) out[j * classes + c] = rows[order[j]!]!;
  });
  return out;
}

// -----------------------------------------------------------------------------------------------
// §3 committee members

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

// -----------------------------------------------------------------------------------------------
// §5.2 recovery of one slot

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

// -----------------------------------------------------------------------------------------------
// §5.4 post-evaluation

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

/** Mean and (sample, n − 1) standard deviation. */
export function meanStd(values: readonly number[]): { mean: number; std: number } {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const varSum = values.reduce((a, b) => a + (b - mean) ** 2, 0);
  return { mean, std: values.length > 1 ? Math.sqrt(varSum / (values.length - 1)) : 0 };
}
