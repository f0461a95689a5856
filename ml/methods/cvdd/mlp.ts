// The MLP committee member of the CPU-scale CV-DD profile (specs/distill-committee-voting.md §7.2
// member D "MLP 196-64(BN, ReLU)-10", §7.3 smoke "MLP 49-16-10"): a heterogeneous, non-convolutional
// voter next to the ConvNets of ml/models/convnet.ts, written the same way (one flat float32 parameter
// vector, functional forward) so that committee code treats both families alike.
//
//   flatten x (HWC order) → for each hidden layer d: linear → BatchNorm1d → activation → linear head
//
// BatchNorm1d statistics are per feature over the batch (biased variance in the forward, PyTorch).
// Flat layout, canonical order: for d: fc{d}.w [in, hidden_d], fc{d}.b, bn{d}.gamma, bn{d}.beta
// (bn only with norm 'batchnorm'); head.w [last, classes], head.b [classes].
import * as tf from '@tensorflow/tfjs-core';
import type { BatchNormBatchStats, BatchNormStats, ConvNetOutput } from '../../models/convnet.js';
import { Rng, deriveSeed } from '../../train/rng.js';

export interface CommitteeMlpConfig {
  /** Input height, width, channels (NHWC images are flattened in HWC order). */
  h: number;
  w: number;
  c: number;
  classes: number;
  /** Widths of the hidden layers, e.g. [64]. */
  hidden: number[];
  norm: 'batchnorm' | 'none';
  /** 'softplus' exists for gradient checks (smooth), like the ConvNet's. */
  activation: 'relu' | 'softplus';
  normEps: number;
}

export const DEFAULT_COMMITTEE_MLP: CommitteeMlpConfig = {
  h: 14,
  w: 14,
  c: 1,
  classes: 10,
  hidden: [64],
  norm: 'batchnorm',
  activation: 'relu',
  normEps: 1e-5,
};

export function committeeMlpConfig(overrides: Partial<CommitteeMlpConfig> = {}): CommitteeMlpConfig {
  const config = { ...DEFAULT_COMMITTEE_MLP, ...overrides };
  for (const k of ['h', 'w', 'c', 'classes'] as const) {
    if (!(Number.isInteger(config[k]) && config[k] > 0))
      throw new RangeError(`committee MLP config: ${k} must be a positive integer, got ${config[k]}`);
  }
  if (!config.hidden.every((n) => Number.isInteger(n) && n > 0))
    throw new RangeError(
      `committee MLP config: hidden widths must be positive integers, got [${config.hidden}]`,
    );
  return config;
}

interface Slot {
  name: string;
  shape: number[];
  offset: number;
  size: number;
}

export function committeeMlpLayout(config: CommitteeMlpConfig): Slot[] {
  const slots: Slot[] = [];
  let offset = 0;
  const add = (name: string, shape: number[]): void => {
    const size = shape.reduce((a, b) => a * b, 1);
    slots.push({ name, shape, offset, size });
    offset += size;
  };
  let fanIn = config.h * config.w * config.c;
  config.hidden.forEach((width, d) => {
    add(`fc${d}.w`, [fanIn, width]);
    add(`fc${d}.b`, [width]);
    if (config.norm === 'batchnorm') {
      add(`bn${d}.gamma`, [width]);
      add(`bn${d}.beta`, [width]);
    }
    fanIn = width;
  });
  add('head.w', [fanIn, config.classes]);
  add('head.b', [config.classes]);
  return slots;
}

export function committeeMlpParamCount(config: CommitteeMlpConfig): number {
  const layout = committeeMlpLayout(config);
  const last = layout[layout.length - 1]!;
  return last.offset + last.size;
}

/** PyTorch nn.Linear default init U(±1/√fan_in) for weights and biases; BN gamma 1, beta 0. */
export function initCommitteeMlpParams(config: CommitteeMlpConfig, seed: number): tf.Tensor1D {
  const layout = committeeMlpLayout(config);
  const flat = new Float32Array(committeeMlpParamCount(config));
  for (const slot of layout) {
    const view = flat.subarray(slot.offset, slot.offset + slot.size);
    if (slot.name.endsWith('.gamma')) view.fill(1);
    else if (slot.name.endsWith('.beta')) view.fill(0);
    else {
      // Weight [in, out] and bias of the same layer share fan_in = the weight's first dimension.
      const layer = slot.name.split('.')[0]!;
      const weight = layout.find((s) => s.name === `${layer}.w`)!;
      const bound = 1 / Math.sqrt(weight.shape[0]!);
      const rng = new Rng(deriveSeed(seed, slot.name));
      for (let i = 0; i < view.length; i++) view[i] = rng.uniform(-bound, bound);
    }
  }
  return tf.tensor1d(flat, 'float32');
}

/** Running statistics mean 0 / variance 1 per BN layer (PyTorch's initial buffers); [] without BN. */
export function initCommitteeMlpBatchNormStats(config: CommitteeMlpConfig): BatchNormStats[] {
  if (config.norm !== 'batchnorm') return [];
  return config.hidden.map((width) => ({
    mean: tf.zeros([width]) as tf.Tensor1D,
    variance: tf.ones([width]) as tf.Tensor1D,
  }));
}

/** Inverse of `packBatchNormStats` (ml/models) for this MLP: per layer its mean then its variance. */
export function unpackCommitteeMlpBatchNormStats(
  config: CommitteeMlpConfig,
  packed: tf.Tensor,
): BatchNormStats[] {
  const widths = config.norm === 'batchnorm' ? config.hidden : [];
  const total = 2 * widths.reduce((a, b) => a + b, 0);
  if (packed.size !== total)
    throw new Error(
      `committee MLP BatchNorm stats: expected ${total} values (layers [${widths}] × 2), got ${packed.size}`,
    );
  let offset = 0;
  return widths.map((width) => {
    const mean = tf.slice(packed, [offset], [width]) as tf.Tensor1D;
    const variance = tf.slice(packed, [offset + width], [width]) as tf.Tensor1D;
    offset += 2 * width;
    return { mean, variance };
  });
}

export interface CommitteeMlpForwardOptions {
  /** Normalise with the batch's statistics (training mode / BSSL) instead of `runningStats`. */
  training?: boolean;
  runningStats?: BatchNormStats[];
}

/**
 * Logits [B, classes] and, per BN layer, the batch mean / biased variance of its INPUT (the linear
 * layer's output), in training and eval mode alike (the recovery loss needs them in eval mode).
 */
export function committeeMlpForwardWithStats(
  config: CommitteeMlpConfig,
  flat: tf.Tensor,
  x: tf.Tensor,
  opts: CommitteeMlpForwardOptions = {},
): ConvNetOutput {
  const n = committeeMlpParamCount(config);
  if (flat.rank !== 1 || flat.size !== n)
    throw new Error(`committee MLP params: expected a flat vector of ${n} values, got shape [${flat.shape}]`);
  if (x.rank !== 4 || x.shape[1] !== config.h || x.shape[2] !== config.w || x.shape[3] !== config.c)
    throw new Error(
      `committee MLP input: expected [B, ${config.h}, ${config.w}, ${config.c}], got [${x.shape}]`,
    );
  const training = opts.training ?? false;
  const batchNorm = config.norm === 'batchnorm';
  if (batchNorm && !training && (opts.runningStats?.length ?? 0) !== config.hidden.length)
    throw new Error(
      `committee MLP batchnorm in eval mode needs opts.runningStats for ${config.hidden.length} layers (or training: true)`,
    );
  return tf.tidy(() => {
    const p: Record<string, tf.Tensor> = {};
    for (const s of committeeMlpLayout(config))
      p[s.name] = tf.reshape(tf.slice(flat, [s.offset], [s.size]), s.shape);
    const batchStats: BatchNormBatchStats[] = [];
    let h: tf.Tensor2D = tf.reshape(x, [x.shape[0]!, config.h * config.w * config.c]);
    config.hidden.forEach((_width, d) => {
      h = tf.add(tf.matMul(h, p[`fc${d}.w`] as tf.Tensor2D), p[`fc${d}.b`]!);
      if (batchNorm) {
        const batch = tf.moments(h, [0]);
        batchStats.push({
          mean: batch.mean as tf.Tensor1D,
          variance: batch.variance as tf.Tensor1D,
          count: h.shape[0],
        });
        const stats = training ? batch : opts.runningStats![d]!;
        const normed = tf.mul(tf.sub(h, stats.mean), tf.rsqrt(tf.add(stats.variance, config.normEps)));
        h = tf.add(tf.mul(normed, p[`bn${d}.gamma`]!), p[`bn${d}.beta`]!);
      }
      // softplus(x) = relu(x) + log1p(e^{-|x|}) never overflows.
      h = config.activation === 'relu' ? tf.relu(h) : tf.add(tf.relu(h), tf.log1p(tf.exp(tf.neg(tf.abs(h)))));
    });
    const logits = tf.add(tf.matMul(h, p['head.w'] as tf.Tensor2D), p['head.b']!) as tf.Tensor2D;
    return { logits, batchStats } as unknown as tf.TensorContainer;
  }) as unknown as ConvNetOutput;
}
