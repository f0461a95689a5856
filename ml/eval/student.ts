// The one student evaluator of every distillation method and baseline (DESIGN.md §1 `ml/eval/`, §8
// "Evaluation protocol"): a fresh student is trained on a set ALONE until its training loss has
// plateaued, then its top-1 on the real test set is measured. Every arm (random real, random real
// relabelled by the teacher, MTT, DATM, CV-DD) goes through this function with the same students,
// optimiser and stopping rule, so the labels and images — not the training budget — get the credit.
//
//   loss       hard labels: cross-entropy;  soft labels p (probabilities at temperature T, as the exported
//              table stores them): T²·KL(p ‖ softmax(s / T)) = T²·(CE(p, softmax(s/T)) − H(p)), which
//              reaches 0 when the student reproduces p (a CE against soft targets cannot go below H(p),
//              so CE would make "converged" depend on the labels' entropy). The T² factor (Hinton et al.
//              2015) keeps the loss on the scale of a T = 1 loss, so one loss floor means "converged"
//              for every temperature (at T = 20 a bare KL is ~400× smaller and would stop at once).
//   optimiser  AdamW (lr 3e-3, decoupled weight decay 5e-4), batches of min(batch, N) drawn by a seeded
//              per-epoch shuffle. Augmentation is off by default (the set alone is evaluated); with
//              `augment` every batch goes through DSA with a per-step seed, as the trajectory-matching
//              papers train their evaluation students — every arm then gets the same augmentation.
//   stopping   every `window` steps the mean training loss of the window is compared with the previous
//              window's: an improvement below `relTolerance` × previous (or a loss below `lossFloor`) is a
//              plateau. The first plateau divides the LR by 10 (`lrDecay`), the next one stops; `maxSteps`
//              caps the run. The result names which rule stopped it and the final training loss (mean of
//              the last window), which callers must report: a student that stops far above 0 is a bug
//              in the protocol, not a property of the set.
//
// BatchNorm students normalise with batch statistics while training and with running statistics
// (PyTorch momentum 0.1) at test time; instance-norm ConvNets and MLPs have no running state.
import * as tf from '@tensorflow/tfjs-core';
import {
  type BatchNormStats,
  type ConvNetOutput,
  convNetConfig,
  updateBatchNormStats,
} from '../models/convnet.js';
import { committeeMlpConfig } from '../methods/cvdd/mlp.js';
import { type CommitteeArch, committeeForward, initCommitteeArch } from '../methods/cvdd/members.js';
import { type DsaConfig, diffAugment } from '../ops/dsa.js';
import { softmaxCrossEntropy } from '../ops/index.js';
import { BatchOrder, gatherImages, gatherLabels, gatherVectors } from '../train/batches.js';
import { buffersToStats, statsToBuffers, trainSteps } from '../train/loops.js';
import { adamw, disposeOptimizerState, type OptimizerState } from '../train/optimizers.js';
import { deriveSeed } from '../train/rng.js';

/** A student architecture: a ConvNet (any norm) or an MLP, both over one flat parameter vector. */
export type StudentArch = CommitteeArch;

/** "convnet-in-w128-d3", "convnet-bn-w16-d2", "mlp-128". */
export function studentArchId(arch: StudentArch): string {
  if (arch.family === 'convnet') {
    const norm = { instancenorm: 'in', batchnorm: 'bn', none: 'plain' }[arch.config.norm];
    return `convnet-${norm}-w${arch.config.width}-d${arch.config.depth}`;
  }
  return `mlp${arch.config.norm === 'batchnorm' ? 'bn' : ''}-${arch.config.hidden.join('-')}`;
}

export interface ImageShape {
  h: number;
  w: number;
  c: number;
  classes: number;
}

/**
 * The cross-architecture students of the protocol (ConvNet W128 D3 instance norm — MTT's
 * evaluation net —, a BatchNorm ConvNet — CV-DD's §7.2 student W16 D2 — and an MLP without norm).
 * `width` overrides the instance-norm ConvNet's width (quick profiles on 2 cores).
 */
export function protocolStudents(shape: ImageShape, opts: { convWidth?: number } = {}): StudentArch[] {
  const base = { h: shape.h, w: shape.w, c: shape.c, classes: shape.classes };
  return [
    {
      family: 'convnet',
      config: convNetConfig({ ...base, width: opts.convWidth ?? 128, depth: 3, norm: 'instancenorm' }),
    },
    {
      family: 'convnet',
      config: convNetConfig({ ...base, width: 16, depth: 2, norm: 'batchnorm', firstPadding: 1 }),
    },
    { family: 'mlp', config: committeeMlpConfig({ ...base, hidden: [128], norm: 'none' }) },
  ];
}

/** What a student trains on: normalised HWC pixels, class ids and, for soft-label sets, probabilities. */
export interface StudentTrainSet {
  /** [N·h·w·c] HWC rows, in the normalisation the test set uses. */
  pixels: Float32Array;
  /** [N] class ids (the argmax of the soft labels for soft sets, or the class the image was made for). */
  labels: Int32Array;
  /** Soft labels: probabilities [N·classes] (rows sum to 1) at `temperature`; absent / null = hard labels. */
  soft?: { probabilities: Float32Array; temperature: number } | null;
}

export interface StudentTestSet {
  pixels: Float32Array;
  labels: Int32Array;
}

export interface StudentProtocol {
  lr: number;
  weightDecay: number;
  batch: number;
  /** Steps between plateau checks. */
  window: number;
  /** A window improving the loss by less than this fraction of the previous window's is a plateau. */
  relTolerance: number;
  /** A window mean below this is converged whatever its improvement. */
  lossFloor: number;
  /** LR factor at the first plateau (1 = stop at the first plateau). */
  lrDecay: number;
  minSteps: number;
  maxSteps: number;
  /**
   * DSA on every training batch (per-image parameters, seed deriveSeed(seed, 'student-dsa', step)),
   * or false. Soft labels stay those of the un-augmented image.
   */
  augment: DsaConfig | false;
}

export const DEFAULT_STUDENT_PROTOCOL: StudentProtocol = {
  lr: 3e-3,
  weightDecay: 5e-4,
  batch: 64,
  window: 25,
  relTolerance: 0.02,
  lossFloor: 0.01,
  lrDecay: 0.1,
  minSteps: 100,
  maxSteps: 3000,
  augment: false,
};

export type StopReason = 'plateau' | 'loss-floor' | 'max-steps';

export interface StudentResult {
  /** Top-1 on the test set (fraction). */
  testAccuracy: number;
  /** Mean cross-entropy on the test set. */
  testLoss: number;
  /** Top-1 on its own training set (hard labels / argmax of the soft labels), eval mode. */
  trainAccuracy: number;
  /** Mean training loss (CE, or T²·KL for soft labels) over the last window. */
  finalTrainLoss: number;
  steps: number;
  stop: StopReason;
  /** Mean loss of every window, in order (a learning curve for reports). */
  windows: number[];
}

type StudentState = ReturnType<typeof initCommitteeArch>;

/** Logits (and BN statistics): batch statistics while training, running statistics otherwise. */
const forward = (
  arch: StudentArch,
  params: tf.Tensor,
  x: tf.Tensor4D,
  training: boolean,
  runningStats: BatchNormStats[],
): ConvNetOutput => committeeForward(arch, params, runningStats, x, training ? 'batch' : 'running');

/** Top-1 (fraction) and mean cross-entropy against the hard labels of a trained student, eval mode. */
export function studentScores(
  arch: StudentArch,
  state: StudentState,
  set: StudentTestSet,
  chunk = 500,
): { accuracy: number; loss: number } {
  const shape = arch.config;
  const n = set.labels.length;
  let correct = 0;
  let lossSum = 0;
  for (let start = 0; start < n; start += chunk) {
    const size = Math.min(chunk, n - start);
    const [pred, ce] = tf.tidy(() => {
      const x = tf.tensor4d(
        set.pixels.subarray(
          start * shape.h * shape.w * shape.c,
          (start + size) * shape.h * shape.w * shape.c,
        ),
        [size, shape.h, shape.w, shape.c],
      );
      const out = forward(arch, state.params, x, false, state.runningStats);
      tf.dispose(out.batchStats.flatMap((s) => [s.mean, s.variance]));
      const y = tf.oneHot(tf.tensor1d(set.labels.subarray(start, start + size), 'int32'), shape.classes);
      return [tf.argMax(out.logits, 1), tf.sum(softmaxCrossEntropy(out.logits, y))];
    });
    const p = pred.dataSync();
    lossSum += ce.dataSync()[0]!;
    tf.dispose([pred, ce]);
    for (let i = 0; i < size; i++) if (p[i] === set.labels[start + i]) correct++;
  }
  return n ? { accuracy: correct / n, loss: lossSum / n } : { accuracy: 0, loss: 0 };
}

/** Top-1 (fraction) of a trained student over a set, eval mode, in chunks. */
export function studentAccuracy(
  arch: StudentArch,
  state: StudentState,
  set: StudentTestSet,
  chunk = 500,
): number {
  return studentScores(arch, state, set, chunk).accuracy;
}

function checkSet(what: string, arch: StudentArch, set: StudentTestSet): void {
  const { h, w, c } = arch.config;
  if (set.labels.length === 0) throw new RangeError(`${what}: no images`);
  if (set.pixels.length !== set.labels.length * h * w * c)
    throw new RangeError(
      `${what}: ${set.pixels.length} pixel values for ${set.labels.length} labels, expected ${h}·${w}·${c} per image`,
    );
  set.labels.forEach((y, i) => {
    if (!(Number.isInteger(y) && y >= 0 && y < arch.config.classes))
      throw new RangeError(`${what}: row ${i} has label ${y}, expected 0..${arch.config.classes - 1}`);
  });
}

/** Σ_k p log p of every row (the constant that turns the soft CE into a KL). */
function negativeEntropies(p: Float32Array, k: number): Float32Array {
  const out = new Float32Array(p.length / k);
  for (let i = 0; i < out.length; i++) {
    let s = 0;
    for (let j = 0; j < k; j++) {
      const v = p[i * k + j]!;
      if (v > 0) s += v * Math.log(v);
    }
    out[i] = s;
  }
  return out;
}

/**
 * Trains ONE fresh student (init seed deriveSeed(seed, 'student-init'), batch order
 * deriveSeed(seed, 'student-batches')) on `train` until its loss plateaus (see the file comment) and
 * tests it on `test`. Deterministic for a backend and seed; leaks no tensors.
 */
export function trainStudent(
  arch: StudentArch,
  train: StudentTrainSet,
  test: StudentTestSet,
  seed: number,
  protocol: StudentProtocol = DEFAULT_STUDENT_PROTOCOL,
): StudentResult {
  checkSet('student training set', arch, train);
  checkSet('student test set', arch, test);
  const k = arch.config.classes;
  const n = train.labels.length;
  const soft = train.soft ?? null;
  if (soft) {
    if (soft.probabilities.length !== n * k)
      throw new RangeError(
        `student training set: ${soft.probabilities.length} soft-label values, expected ${n}·${k}`,
      );
    if (!(soft.temperature > 0))
      throw new RangeError(`soft-label temperature must be > 0, got ${soft.temperature}`);
  }
  const negEnt = soft ? negativeEntropies(soft.probabilities, k) : null;
  const order = new BatchOrder({
    n,
    batchSize: Math.min(protocol.batch, n),
    seed: deriveSeed(seed, 'student-batches'),
    dropLast: false,
  });
  const optimizer = adamw({ weightDecay: protocol.weightDecay });
  const init = initCommitteeArch(arch, deriveSeed(seed, 'student-init'));
  const layers = init.runningStats.length;
  let params = init.params;
  let buffers = statsToBuffers(init.runningStats);
  let optState: OptimizerState<tf.Tensor1D> = optimizer.init(params);
  let lr = protocol.lr;
  let decayed = protocol.lrDecay >= 1;
  const windows: number[] = [];
  let stop: StopReason = 'max-steps';
  let step = 0;
  try {
    while (step < protocol.maxSteps) {
      const steps = Math.min(protocol.window, protocol.maxSteps - step);
      const r = trainSteps<tf.Tensor1D, { x: tf.Tensor4D; y: tf.Tensor; negEnt: number }>({
        params,
        optimizer,
        optState,
        startStep: step,
        steps,
        lr: () => lr,
        buffers,
        batchAt: (s) => {
          const idx = order.indicesAt(s);
          const raw = gatherImages(train.pixels, arch.config, idx);
          const x = protocol.augment
            ? diffAugment(raw, protocol.augment, deriveSeed(seed, 'student-dsa', s))
            : raw;
          if (!soft) return { x, y: gatherLabels(train.labels, idx), negEnt: 0 };
          let ne = 0;
          for (const i of idx) ne += negEnt![i]!;
          return { x, y: gatherVectors(soft.probabilities, k, idx), negEnt: ne / idx.length };
        },
        loss: (p, { x, y, negEnt: ne }, bufs) => {
          const stats = buffersToStats(bufs, layers);
          const out = forward(arch, p, x, true, stats);
          const updated = layers ? updateBatchNormStats(stats, out.batchStats) : [];
          tf.dispose(out.batchStats.flatMap((s) => [s.mean, s.variance]));
          const loss = soft
            ? tf.mul(
                tf.add(tf.mean(softmaxCrossEntropy(tf.div(out.logits, soft.temperature), y)), ne),
                soft.temperature ** 2,
              )
            : tf.mean(softmaxCrossEntropy(out.logits, tf.oneHot(y as tf.Tensor1D, k)));
          return { loss: loss as tf.Scalar, buffers: statsToBuffers(updated) };
        },
      });
      // The previous generation (trainSteps never frees its inputs; the init is freed in `finally`).
      if (params !== init.params) params.dispose();
      if (step > 0) tf.dispose(Object.values(buffers));
      disposeOptimizerState(optState);
      params = r.params;
      optState = r.optState;
      buffers = layers ? r.buffers : {};
      step += steps;
      const mean = r.losses.reduce((a, b) => a + b, 0) / r.losses.length;
      const prev = windows[windows.length - 1];
      windows.push(mean);
      if (step < protocol.minSteps) continue;
      if (mean < protocol.lossFloor) {
        stop = 'loss-floor';
        break;
      }
      if (prev !== undefined && prev - mean < protocol.relTolerance * prev) {
        if (decayed) {
          stop = 'plateau';
          break;
        }
        lr *= protocol.lrDecay;
        decayed = true;
      }
    }
    const state = { params, runningStats: buffersToStats(buffers, layers) };
    const scores = studentScores(arch, state, test);
    return {
      testAccuracy: scores.accuracy,
      testLoss: scores.loss,
      trainAccuracy: studentAccuracy(arch, state, train),
      finalTrainLoss: windows[windows.length - 1]!,
      steps: step,
      stop,
      windows,
    };
  } finally {
    // Disposing twice is a no-op, so the init generation may coincide with the current one.
    tf.dispose([params, init.params, ...Object.values(buffers)]);
    tf.dispose(init.runningStats.flatMap((s) => [s.mean, s.variance]));
    disposeOptimizerState(optState);
  }
}
