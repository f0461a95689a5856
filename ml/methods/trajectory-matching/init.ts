// Initialisation of the synthetic set for trajectory matching (MTT, Cazenavette et al., CVPR 2022;
// DATM, Guo et al., ICLR 2024; specs/distill-trajectory-matching.md §6.2, §6.3):
//
//   images  'real': IPC random real images per class (MTT `pix_init real`);
//           'samples_predicted_correctly' (DATM §6.2): per class, scan the real images in a random
//           order in chunks of 256 and keep the first IPC that the label checkpoint of expert 0
//           classifies correctly, moving on to expert 1, 2, … if a class runs out;
//           'noise': N(0, 1) pixels.
//   labels  DATM §6.3 soft labels: L_i = mean over experts k with argmax f(x_i; θ_{k,last}) = y_i of
//           f(x_i; θ_{k,last}) — logits, averaged only over the experts that classify x_i correctly.
//
// Pure over typed arrays: real images come in as HWC rows (DESIGN.md §2), results go out the same way,
// so an activity can store them before the tensors of the distillation exist.
import * as tf from '@tensorflow/tfjs-core';
import { convNetForward } from '../../models/convnet.js';
import { Rng, deriveSeed, permutation } from '../../train/rng.js';
import { type ExpertTrajectories, type TrajectoryMatchingConfig, syntheticSetSize } from './config.js';

/** Labelled images: `pixels` holds rows of h·w·c floats (HWC, normalised as the experts saw them). */
export interface LabelledImages {
  pixels: Float32Array;
  labels: Int32Array;
}

export interface SyntheticInitialisation {
  /** N_s images, class-major (IPC of class 0, then class 1, …). */
  pixels: Float32Array;
  /** y_i: the class each image is for. */
  classes: Int32Array;
  /** Row of `real` each image was copied from (−1 for noise). */
  sourceRows: Int32Array;
  /** DATM soft labels: N_s × classes logits; null with hard labels. */
  labelLogits: Float32Array | null;
}

/** Images (and, for DATM, soft labels) to start the distillation from. Seeded by config.seed. */
export function initializeSyntheticSet(
  config: TrajectoryMatchingConfig,
  real: LabelledImages,
  experts: ExpertTrajectories,
): SyntheticInitialisation {
  const images = selectInitialImages(config, real, experts);
  const labelLogits = config.softLabels
    ? initialSoftLabels(config, images.pixels, images.classes, experts).logits
    : null;
  return { ...images, labelLogits };
}

/** The checkpoint that labels (`Label_Model_Timestamp`; −1 = last epoch). */
export function labelEpoch(config: TrajectoryMatchingConfig, experts: ExpertTrajectories): number {
  const e =
    config.labelExpertEpoch < 0 ? experts.lastEpoch + 1 + config.labelExpertEpoch : config.labelExpertEpoch;
  if (!(e >= 0 && e <= experts.lastEpoch))
    throw new RangeError(
      `labelExpertEpoch ${config.labelExpertEpoch}: experts have epochs 0..${experts.lastEpoch}`,
    );
  return e;
}

export function selectInitialImages(
  config: TrajectoryMatchingConfig,
  real: LabelledImages,
  experts: ExpertTrajectories,
): Omit<SyntheticInitialisation, 'labelLogits'> {
  const { net, ipc } = config;
  const size = net.h * net.w * net.c;
  const n = syntheticSetSize(config);
  const pixels = new Float32Array(n * size);
  const classes = new Int32Array(n);
  const sourceRows = new Int32Array(n).fill(-1);
  for (let i = 0; i < n; i++) classes[i] = Math.floor(i / ipc);

  if (config.init === 'noise') {
    const rng = new Rng(deriveSeed(config.seed, 'init-noise'));
    for (let i = 0; i < pixels.length; i++) pixels[i] = rng.normal();
    return { pixels, classes, sourceRows };
  }
  checkRealImages(real, size, net.classes);
  const byClass = rowsByClass(real.labels, net.classes);
  for (let c = 0; c < net.classes; c++) {
    const rows = byClass[c]!;
    // A random order of the class's rows (DATM `get_images(c, all)`), one stream per class.
    const order = Array.from(
      permutation(rows.length, new Rng(deriveSeed(config.seed, 'init-order', c))),
      (j) => rows[j]!,
    );
    const picked =
      config.init === 'real'
        ? order.slice(0, ipc)
        : firstCorrectlyClassified(config, real, experts, c, order);
    if (picked.length < ipc)
      throw new RangeError(`initial images: class ${c} has ${rows.length} real images, IPC is ${ipc}`);
    picked.forEach((row, j) => {
      const i = c * ipc + j;
      sourceRows[i] = row;
      pixels.set(real.pixels.subarray(row * size, (row + 1) * size), i * size);
    });
  }
  return { pixels, classes, sourceRows };
}

/**
 * DATM §6.2: walk `order` in chunks of `initChunk` and keep the first IPC rows the label checkpoint of
 * expert e classifies as `c`, e = 0, 1, … (the code restarts the scan with the next expert, keeping the
 * rows already picked, when a class runs out).
 */
function firstCorrectlyClassified(
  config: TrajectoryMatchingConfig,
  real: LabelledImages,
  experts: ExpertTrajectories,
  c: number,
  order: number[],
): number[] {
  const { net, ipc, initChunk } = config;
  const size = net.h * net.w * net.c;
  const epoch = labelEpoch(config, experts);
  const picked: number[] = [];
  const taken = new Set<number>();
  for (let k = 0; k < experts.experts && picked.length < ipc; k++) {
    const params = experts.params(k, epoch);
    for (let start = 0; start < order.length && picked.length < ipc; start += initChunk) {
      const rows = order.slice(start, start + initChunk);
      const chunk = new Float32Array(rows.length * size);
      rows.forEach((r, j) => chunk.set(real.pixels.subarray(r * size, (r + 1) * size), j * size));
      const predicted = argmaxRows(expertLogits(config, params, chunk), net.classes);
      rows.forEach((r, j) => {
        if (predicted[j] === c && picked.length < ipc && !taken.has(r)) {
          picked.push(r);
          taken.add(r);
        }
      });
    }
  }
  if (picked.length < ipc) {
    throw new RangeError(
      `initial images (samples_predicted_correctly): only ${picked.length} of ${order.length} class-${c} images ` +
        `are classified correctly by any of the ${experts.experts} experts at epoch ${epoch}; IPC is ${ipc}`,
    );
  }
  return picked;
}

export interface SoftLabelInitialisation {
  /** N_s × classes logits. */
  logits: Float32Array;
  /** For each image, how many experts' logits were averaged into its label. */
  correctExperts: Int32Array;
}

/**
 * DATM §6.3 soft labels from every expert's label checkpoint. With `samples_predicted_correctly` init
 * each image's logits are averaged over the experts that classify it correctly (never over a wrong
 * one); an image no expert gets right is an error (the code would divide 0 by 0). With 'real'/'noise'
 * init the DATM code labels with expert 0's logits as they are — followed here (`correctExperts` then
 * reports 1 or 0).
 */
export function initialSoftLabels(
  config: TrajectoryMatchingConfig,
  pixels: Float32Array,
  classes: Int32Array,
  experts: ExpertTrajectories,
): SoftLabelInitialisation {
  const k = config.net.classes;
  const n = classes.length;
  const epoch = labelEpoch(config, experts);
  const sum = new Float64Array(n * k);
  const correctExperts = new Int32Array(n);
  const onlyCorrect = config.init === 'samples_predicted_correctly';
  const labellers = onlyCorrect ? experts.experts : 1;
  for (let e = 0; e < labellers; e++) {
    const logits = expertLogits(config, experts.params(e, epoch), pixels);
    const predicted = argmaxRows(logits, k);
    for (let i = 0; i < n; i++) {
      const correct = predicted[i] === classes[i];
      if (onlyCorrect && !correct) continue;
      if (correct) correctExperts[i]! += 1;
      for (let j = 0; j < k; j++) sum[i * k + j]! += logits[i * k + j]!;
    }
  }
  const out = new Float32Array(n * k);
  for (let i = 0; i < n; i++) {
    const count = onlyCorrect ? correctExperts[i]! : 1;
    if (count === 0) {
      throw new RangeError(
        `soft labels: synthetic image ${i} (class ${classes[i]}) is misclassified by all ${experts.experts} experts at epoch ${epoch}`,
      );
    }
    for (let j = 0; j < k; j++) out[i * k + j] = sum[i * k + j]! / count;
  }
  return { logits: out, correctExperts };
}

/** Logits f(x; θ) for rows of `pixels`, evaluated in chunks of `config.initChunk`. */
export function expertLogits(
  config: Pick<TrajectoryMatchingConfig, 'net' | 'initChunk' | 'kernels'>,
  params: Float32Array,
  pixels: Float32Array,
): Float32Array {
  const { net } = config;
  const size = net.h * net.w * net.c;
  const n = pixels.length / size;
  const out = new Float32Array(n * net.classes);
  const theta = tf.tensor1d(params, 'float32');
  try {
    for (let start = 0; start < n; start += config.initChunk) {
      const rows = Math.min(config.initChunk, n - start);
      const logits = tf.tidy(() =>
        convNetForward(
          net,
          theta,
          tf.tensor4d(pixels.subarray(start * size, (start + rows) * size), [rows, net.h, net.w, net.c]),
          { kernels: config.kernels },
        ),
      );
      out.set(logits.dataSync(), start * net.classes);
      logits.dispose();
    }
  } finally {
    theta.dispose();
  }
  return out;
}

/** Index of the largest entry of each row (first one on ties, like numpy/torch argmax). */
export function argmaxRows(values: Float32Array, k: number): Int32Array {
  const n = values.length / k;
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let j = 1; j < k; j++) if (values[i * k + j]! > values[i * k + best]!) best = j;
    out[i] = best;
  }
  return out;
}

function rowsByClass(labels: Int32Array, classes: number): number[][] {
  const out: number[][] = Array.from({ length: classes }, () => []);
  labels.forEach((y, r) => {
    if (!(y >= 0 && y < classes))
      throw new RangeError(`real images: row ${r} has label ${y}, expected 0..${classes - 1}`);
    out[y]!.push(r);
  });
  return out;
}

function checkRealImages(real: LabelledImages, size: number, classes: number): void {
  if (real.pixels.length !== real.labels.length * size) {
    throw new RangeError(
      `real images: ${real.pixels.length} pixel values for ${real.labels.length} labels, expected ${size} per image`,
    );
  }
  if (real.labels.length === 0) throw new RangeError(`real images: empty (need ${classes} classes)`);
}
