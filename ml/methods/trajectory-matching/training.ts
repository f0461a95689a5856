// The plain training around trajectory matching (specs/distill-trajectory-matching.md): the expert
// trajectories it matches (§4, MTT buffer.py) and the evaluation of a distilled or real subset by
// training fresh ConvNets on it (§8, MTT/DATM utils.py evaluate_synset). Both are the product's one
// training loop (`trainConvNetSteps`) with the profile's optimiser, LR and batch order.
//
//   expert k:   θ_{k,0} = init(seed);  θ_{k,e+1} = SGD epoch e on the real images (lr, batch, momentum,
//               weight decay of the profile; a fresh seeded shuffle per epoch; the short last batch is
//               kept, as PyTorch's DataLoader does by default)
//   evaluation: a fresh ConvNet, SGD momentum 0.9, weight decay 5e-4, lr = the learned α (distilled
//               sets) for `steps` steps, lr × 0.1 from step ⌊decayAt · steps⌋ (evaluate_synset:
//               lr_schedule = [Epoch // 2 + 1]); soft labels (DATM) train with the soft CE against
//               softmax(L); test accuracy and mean test CE of the final parameters.
//
// Pure over typed arrays (images HWC rows, normalised as the experts saw them); tensors stay inside.
import * as tf from '@tensorflow/tfjs-core';
import type { LrSchedule } from '../rewarm.js';
import { type ConvNetConfig, initConvNetParams, paramCount } from '../../models/convnet.js';
import { diffAugment, dsaConfig } from '../../ops/dsa.js';
import { BatchOrder, gatherImages, gatherLabels, gatherRows, gatherVectors } from '../../train/batches.js';
import { trainConvNetSteps } from '../../train/loops.js';
import { type OptimizerState, disposeOptimizerState, sgd } from '../../train/optimizers.js';
import { Rng, deriveSeed, sampleWithoutReplacement } from '../../train/rng.js';
import type { EvaluationProfile, ExpertTrainingProfile } from './presets.js';
import { argmaxRows, expertLogits } from './init.js';

/** Labelled images: `images` [N·h·w·c] HWC rows, `labels` [N] class ids (activities/mnist.ts's split fits). */
export interface ImageSet {
  images: Float32Array;
  labels: Int32Array;
}

/** A student's training set: hard labels, or (DATM) soft-label logits L [N·classes] used as softmax(L). */
export interface StudentTrainSet extends ImageSet {
  labelLogits?: Float32Array | null;
}

export interface NetOptions {
  /** ConvNet kernels (see ConvNetForwardOptions); default 'native'. */
  kernels?: 'native' | 'im2col';
}

function checkImageSet(what: string, set: ImageSet, net: ConvNetConfig): void {
  const size = net.h * net.w * net.c;
  if (set.images.length !== set.labels.length * size)
    throw new RangeError(
      `${what}: ${set.images.length} pixel values for ${set.labels.length} labels, expected ${size} (${net.h}·${net.w}·${net.c}) per image`,
    );
  if (set.labels.length === 0) throw new RangeError(`${what}: no images`);
  set.labels.forEach((y, i) => {
    if (!(Number.isInteger(y) && y >= 0 && y < net.classes))
      throw new RangeError(`${what}: row ${i} has label ${y}, expected 0..${net.classes - 1}`);
  });
}

/** Rows of each class, in data order. */
function rowsByClass(labels: Int32Array, classes: number): number[][] {
  const out: number[][] = Array.from({ length: classes }, () => []);
  labels.forEach((y, r) => out[y]!.push(r));
  return out;
}

/** Keeps the listed rows of a set (pixels and labels). */
export function selectRows(set: ImageSet, rows: ArrayLike<number>, rowSize: number): ImageSet {
  return { images: gatherRows(set.images, rowSize, rows), labels: gatherRows(set.labels, 1, rows) };
}

// -----------------------------------------------------------------------------------------------
// Baseline: a random real subset

/**
 * "Random real" (spec §8): `ipc` real images per class drawn without replacement with
 * deriveSeed(seed, 'random-real', c), class-major (the layout of a distilled set), hard labels.
 */
export function randomRealSubset(data: ImageSet, net: ConvNetConfig, ipc: number, seed: number): ImageSet {
  checkImageSet('random real subset', data, net);
  const byClass = rowsByClass(data.labels, net.classes);
  const rows: number[] = [];
  byClass.forEach((classRows, c) => {
    if (classRows.length < ipc)
      throw new RangeError(`random real subset: class ${c} has ${classRows.length} images, IPC is ${ipc}`);
    const pick = sampleWithoutReplacement(classRows.length, ipc, new Rng(deriveSeed(seed, 'random-real', c)));
    for (const j of pick) rows.push(classRows[j]!);
  });
  return selectRows(data, rows, net.h * net.w * net.c);
}

/** The first `perClass` rows of each class in data order (0 = all rows): what the experts train on. */
export function firstRowsPerClass(data: ImageSet, net: ConvNetConfig, perClass: number): ImageSet {
  if (perClass === 0) return data;
  const rows: number[] = [];
  rowsByClass(data.labels, net.classes).forEach((classRows, c) => {
    if (classRows.length < perClass)
      throw new RangeError(`expert data: class ${c} has ${classRows.length} images, need ${perClass}`);
    rows.push(...classRows.slice(0, perClass));
  });
  rows.sort((a, b) => a - b);
  return selectRows(data, rows, net.h * net.w * net.c);
}

// -----------------------------------------------------------------------------------------------
// Expert trajectories (spec §4)

export interface ExpertEpochInfo {
  /** SGD momentum buffer after the epoch (needed to resume when momentum > 0), else null. */
  velocity: Float32Array | null;
  /** Accuracy of θ_{k,e} on `test`, when a test set was given. */
  testAccuracy: number | null;
}

export interface TrainExpertOptions extends NetOptions {
  /** Resume after this many finished epochs (default 0 = start from the seeded init). */
  fromEpoch?: number;
  /** θ_{k,fromEpoch} (required when fromEpoch > 0). */
  fromParams?: Float32Array;
  /** The momentum buffer after epoch fromEpoch (required to resume when the profile's momentum > 0). */
  fromVelocity?: Float32Array;
  /** Scores every checkpoint (the trajectory table's test_acc). */
  test?: ImageSet;
  /** Called after every epoch e = fromEpoch+1..epochs with θ_{k,e} and the epoch's mean training loss. */
  onEpoch?: (epoch: number, flatParams: Float32Array, loss: number, info: ExpertEpochInfo) => void;
}

export interface ExpertTrajectory {
  /** params[i] = θ_{k, fromEpoch + i}, i = 0..epochs − fromEpoch (params[0] = the init or the resume point). */
  params: Float32Array[];
  firstEpoch: number;
  /** losses[i] = mean training loss of epoch fromEpoch + i + 1. */
  losses: number[];
  /** testAccuracy[i] of params[i] (empty without a test set). */
  testAccuracy: number[];
}

/**
 * One expert (spec §4, MTT buffer.py): `profile.epochs` epochs of SGD on the first
 * `profile.imagesPerClass` rows of each class of `data` (0 = all), from initConvNetParams(net, seed),
 * batches from a seeded shuffle per epoch. Epoch e runs global steps [e·B, (e+1)·B), so a run resumed
 * from epoch e's checkpoint equals the uninterrupted one bit for bit.
 */
export function trainExpertTrajectory(
  data: ImageSet,
  profile: ExpertTrainingProfile,
  net: ConvNetConfig,
  seed: number,
  opts: TrainExpertOptions = {},
): ExpertTrajectory {
  const { fromEpoch = 0, fromParams, fromVelocity, test, onEpoch, kernels } = opts;
  if (!(Number.isInteger(fromEpoch) && fromEpoch >= 0 && fromEpoch <= profile.epochs))
    throw new RangeError(
      `trainExpertTrajectory: fromEpoch must be in [0, ${profile.epochs}], got ${fromEpoch}`,
    );
  if (fromEpoch > 0 && !fromParams)
    throw new RangeError(`trainExpertTrajectory: fromEpoch ${fromEpoch} needs fromParams`);
  if (fromEpoch > 0 && profile.momentum > 0 && !fromVelocity)
    throw new RangeError(
      `trainExpertTrajectory: resuming with momentum ${profile.momentum} needs fromVelocity`,
    );
  const p = paramCount(net);
  if (fromParams && fromParams.length !== p)
    throw new RangeError(
      `trainExpertTrajectory: fromParams has ${fromParams.length} values, the ConvNet ${p}`,
    );
  if (fromVelocity && fromVelocity.length !== p)
    throw new RangeError(
      `trainExpertTrajectory: fromVelocity has ${fromVelocity.length} values, the ConvNet ${p}`,
    );
  checkImageSet('expert data', data, net);
  if (test) checkImageSet('expert test set', test, net);

  const train = firstRowsPerClass(data, net, profile.imagesPerClass);
  const dsa = profile.dsa ? dsaConfig(profile.dsa) : false;
  const order = new BatchOrder({
    n: train.labels.length,
    batchSize: Math.min(profile.batch, train.labels.length),
    seed: deriveSeed(seed, 'expert-batches'),
    dropLast: false,
  });
  const optimizer = sgd({ momentum: profile.momentum, weightDecay: profile.weightDecay });
  let params =
    fromEpoch === 0 && !fromParams ? initConvNetParams(net, seed) : tf.tensor1d(fromParams!, 'float32');
  let optState: OptimizerState<tf.Tensor1D> =
    profile.momentum > 0 && fromVelocity
      ? { step: fromEpoch * order.batchesPerEpoch, slots: { velocity: tf.tensor1d(fromVelocity, 'float32') } }
      : optimizer.init(params);
  const accuracyOf = (theta: Float32Array): number | null =>
    test ? evaluateConvNet(net, theta, test, { kernels }).accuracy : null;

  const first = params.dataSync().slice() as Float32Array;
  const result: ExpertTrajectory = { params: [first], firstEpoch: fromEpoch, losses: [], testAccuracy: [] };
  const acc0 = accuracyOf(first);
  if (acc0 !== null) result.testAccuracy.push(acc0);
  try {
    for (let e = fromEpoch; e < profile.epochs; e++) {
      const r = trainConvNetSteps({
        config: net,
        params,
        optimizer,
        optState,
        startStep: e * order.batchesPerEpoch,
        steps: order.batchesPerEpoch,
        lr: () => profile.lr,
        kernels,
        batchAt: (s) => {
          const idx = order.indicesAt(s);
          const x = gatherImages(train.images, net, idx);
          // Seeded by the global step, so a resumed expert augments exactly as the uninterrupted one.
          const xb = dsa ? diffAugment(x, dsa, deriveSeed(seed, 'expert-dsa', s)) : x;
          return { x: xb, y: gatherLabels(train.labels, idx) };
        },
      });
      params.dispose();
      disposeOptimizerState(optState);
      params = r.params;
      optState = r.optState;
      const theta = params.dataSync().slice() as Float32Array;
      const loss = r.losses.reduce((a, b) => a + b, 0) / r.losses.length;
      const velocity = optState.slots.velocity
        ? (optState.slots.velocity.dataSync().slice() as Float32Array)
        : null;
      const testAccuracy = accuracyOf(theta);
      result.params.push(theta);
      result.losses.push(loss);
      if (testAccuracy !== null) result.testAccuracy.push(testAccuracy);
      onEpoch?.(e + 1, theta, loss, { velocity, testAccuracy });
    }
  } finally {
    params.dispose();
    disposeOptimizerState(optState);
  }
  return result;
}

// -----------------------------------------------------------------------------------------------
// Evaluation (spec §8)

export interface ClassifierMetrics {
  /** Fraction of rows whose argmax logit is the label. */
  accuracy: number;
  /** Mean cross-entropy against the hard labels. */
  loss: number;
}

/** Accuracy and mean CE of ConvNet parameters θ on a labelled set, evaluated in chunks. */
export function evaluateConvNet(
  net: ConvNetConfig,
  params: Float32Array,
  set: ImageSet,
  opts: NetOptions & { chunk?: number } = {},
): ClassifierMetrics {
  const logits = expertLogits(
    { net, initChunk: opts.chunk ?? 500, kernels: opts.kernels ?? 'native' },
    params,
    set.images,
  );
  const k = net.classes;
  const predicted = argmaxRows(logits, k);
  let correct = 0;
  let loss = 0;
  for (let i = 0; i < set.labels.length; i++) {
    const y = set.labels[i]!;
    if (predicted[i] === y) correct++;
    let max = -Infinity;
    for (let j = 0; j < k; j++) max = Math.max(max, logits[i * k + j]!);
    let sum = 0;
    for (let j = 0; j < k; j++) sum += Math.exp(logits[i * k + j]! - max);
    loss += Math.log(sum) + max - logits[i * k + y]!;
  }
  return { accuracy: correct / set.labels.length, loss: loss / set.labels.length };
}

/** softmax of each row of logits [N·k] (float64 accumulation). */
function softmaxRows(logits: Float32Array, k: number): Float32Array {
  const out = new Float32Array(logits.length);
  for (let i = 0; i < logits.length / k; i++) {
    let max = -Infinity;
    for (let j = 0; j < k; j++) max = Math.max(max, logits[i * k + j]!);
    let sum = 0;
    for (let j = 0; j < k; j++) sum += Math.exp(logits[i * k + j]! - max);
    for (let j = 0; j < k; j++) out[i * k + j] = Math.exp(logits[i * k + j]! - max) / sum;
  }
  return out;
}

/** The evaluation LR schedule: lr, then lr × 0.1 from step ⌊decayAt · steps⌋. */
export function evaluationSchedule(profile: EvaluationProfile, steps: number, lr: number): LrSchedule {
  const decayStep = Math.floor(profile.decayAt * steps);
  return (s) => (s < decayStep ? lr : lr * 0.1);
}

export interface StudentEvaluation extends ClassifierMetrics {
  /** Steps trained (profile.steps, or 1000 epochs' worth when it is 0). */
  steps: number;
  /** Training loss of the last step. */
  trainLoss: number;
}

/**
 * Trains ONE fresh ConvNet (initConvNetParams(net, seed)) on `trainSet` with the evaluation profile
 * (spec §8) at learning rate `lr` and returns its test accuracy and loss. Run it for seeds 0..R−1 and
 * report mean ± population std (numpy default) over the students.
 */
export function trainAndEvaluateStudent(
  trainSet: StudentTrainSet,
  test: ImageSet,
  profile: EvaluationProfile,
  net: ConvNetConfig,
  seed: number,
  lr: number,
  opts: NetOptions = {},
): StudentEvaluation {
  checkImageSet('student training set', trainSet, net);
  checkImageSet('student test set', test, net);
  if (!(lr > 0 && Number.isFinite(lr)))
    throw new RangeError(`trainAndEvaluateStudent: lr must be > 0, got ${lr}`);
  const n = trainSet.labels.length;
  const soft = trainSet.labelLogits ? softmaxRows(trainSet.labelLogits, net.classes) : null;
  if (soft && soft.length !== n * net.classes)
    throw new RangeError(
      `student training set: labelLogits has ${soft.length} values, expected ${n}·${net.classes}`,
    );
  const batch = Math.min(profile.batch, n);
  const order = new BatchOrder({
    n,
    batchSize: batch,
    seed: deriveSeed(seed, 'student-batches'),
    dropLast: false,
  });
  const steps = profile.steps > 0 ? profile.steps : 1000 * order.batchesPerEpoch;
  const optimizer = sgd({ momentum: profile.momentum, weightDecay: profile.weightDecay });
  const init = initConvNetParams(net, seed);
  const optState = optimizer.init(init);
  const r = trainConvNetSteps({
    config: net,
    params: init,
    optimizer,
    optState,
    startStep: 0,
    steps,
    lr: evaluationSchedule(profile, steps, lr),
    kernels: opts.kernels,
    batchAt: (s) => {
      const idx = order.indicesAt(s);
      const x = gatherImages(trainSet.images, net, idx);
      return { x, y: soft ? gatherVectors(soft, net.classes, idx) : gatherLabels(trainSet.labels, idx) };
    },
  });
  const theta = r.params.dataSync().slice() as Float32Array;
  tf.dispose([init, r.params]);
  disposeOptimizerState(optState);
  disposeOptimizerState(r.optState);
  return { ...evaluateConvNet(net, theta, test, opts), steps, trainLoss: r.losses[r.losses.length - 1]! };
}
