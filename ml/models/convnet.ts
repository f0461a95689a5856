// The MTT "ConvNet" student (Cazenavette et al., CVPR 2022, networks.py ConvNet; spec
// distill-trajectory-matching.md §3), written functionally (§9.3): all parameters live in ONE flat
// float32 vector, because a trajectory row stores exactly that vector and trajectory matching
// differentiates unrolled SGD steps on it w.r.t. the synthetic images.
//
//   block d = 0..depth-1:  conv 3×3 (+bias) → norm → activation → avg-pool 2×2 (stride 2, floor)
//                          (before instance norm the bias cancels; see convNetForward)
//   head:                  flatten (HWC order) → linear to `classes` logits
//
// Norms: 'instancenorm' (MTT default; PyTorch GroupNorm(W, W): per sample and channel over H,W, biased
// variance, eps 1e-5, affine), 'batchnorm' (the CV-DD committee, distill-committee-voting.md §3/§6:
// batch statistics in training mode, running statistics in eval mode), 'none'.
//
// Flat layout (spec §2.2, canonical order, each tensor row-major):
//   for d: conv{d}.w [3,3,Cin,W] (HWIO), conv{d}.b [W], norm{d}.gamma [W], norm{d}.beta [W]
//   fc.w [F,K], fc.b [K]          with F = h'·w'·W flattened in HWC order
// (PyTorch stores conv OIHW, dense [out,in] and flattens CHW: importing its buffers needs permutes.)
import * as tf from '@tensorflow/tfjs-core';
import { fusedOpsEnabled, instanceNorm as fusedInstanceNorm, instanceNormStock } from '../ops/index.js';
import { Rng, deriveSeed } from '../train/rng.js';

export type ConvNetNorm = 'instancenorm' | 'batchnorm' | 'none';
/**
 * 'relu' is the method's activation. The smooth ones exist for gradient checks (with ReLU the inner
 * gradients contain step functions, so finite differences of an unrolled loss are meaningless, spec
 * §11.4); they are built from exp/log/abs only so that their gradients stay twice differentiable
 * (spec §9.2 "Rule": tf.tanh / tf.sigmoid save their outputs and break second-order gradients).
 */
export type ConvNetActivation = 'relu' | 'softplus' | 'tanh';

export interface ConvNetConfig {
  /** Input height, width, channels (NHWC). */
  h: number;
  w: number;
  c: number;
  classes: number;
  /** Channels of every conv ("net_width"). */
  width: number;
  /** Number of conv blocks ("net_depth"): 3 for 32×32 / 28×28, 4 for 64×64, 5 for 128×128. */
  depth: number;
  norm: ConvNetNorm;
  activation: ConvNetActivation;
  /**
   * Zero padding of the first conv. 'auto' = 3 for a 1-channel 28×28 input (MTT pads MNIST to 32×32 in
   * its first block) and 1 otherwise (the CPU-scale 14×14 profile of spec §10.2 uses padding 1).
   * Later blocks always use padding 1.
   */
  firstPadding: number | 'auto';
  /** Epsilon of instance/batch norm (PyTorch default). */
  normEps: number;
}

export const DEFAULT_CONVNET: ConvNetConfig = {
  h: 28,
  w: 28,
  c: 1,
  classes: 10,
  width: 128,
  depth: 3,
  norm: 'instancenorm',
  activation: 'relu',
  firstPadding: 'auto',
  normEps: 1e-5,
};

/** Fills defaults and checks that every block still has at least a 1×1 map to pool. */
export function convNetConfig(overrides: Partial<ConvNetConfig> = {}): ConvNetConfig {
  const config = { ...DEFAULT_CONVNET, ...overrides };
  for (const k of ['h', 'w', 'c', 'classes', 'width', 'depth'] as const) {
    if (!(Number.isInteger(config[k]) && config[k] > 0))
      throw new RangeError(`ConvNet config: ${k} must be a positive integer, got ${config[k]}`);
  }
  const pad = config.firstPadding;
  if (pad !== 'auto' && !(Number.isInteger(pad) && pad >= 0)) {
    throw new RangeError(`ConvNet config: firstPadding must be 'auto' or a non-negative integer, got ${pad}`);
  }
  featureShape(config); // throws if the spatial size collapses
  return config;
}

function blockPadding(config: ConvNetConfig, d: number): number {
  if (d > 0) return 1;
  if (config.firstPadding !== 'auto') return config.firstPadding;
  return config.c === 1 && config.h === 28 && config.w === 28 ? 3 : 1;
}

/** Spatial size and channels after all blocks (what the linear head sees). */
export function featureShape(config: ConvNetConfig): { h: number; w: number; channels: number } {
  let h = config.h;
  let w = config.w;
  for (let d = 0; d < config.depth; d++) {
    const p = blockPadding(config, d);
    h = Math.floor((h + 2 * p - 2) / 2);
    w = Math.floor((w + 2 * p - 2) / 2);
    if (h < 1 || w < 1) {
      throw new RangeError(
        `ConvNet ${config.h}×${config.w} with depth ${config.depth}: block ${d} leaves a ${h}×${w} map; use fewer blocks`,
      );
    }
  }
  return { h, w, channels: config.width };
}

// -----------------------------------------------------------------------------------------------
// Flat parameter layout

export interface ParamSlot {
  name: string;
  shape: number[];
  /** Offset into the flat vector. */
  offset: number;
  size: number;
}

/** Names, shapes and offsets of every tensor in the flat vector, in canonical order. */
export function convNetLayout(config: ConvNetConfig): ParamSlot[] {
  const slots: ParamSlot[] = [];
  let offset = 0;
  const add = (name: string, shape: number[]): void => {
    const size = shape.reduce((a, b) => a * b, 1);
    slots.push({ name, shape, offset, size });
    offset += size;
  };
  let cin = config.c;
  for (let d = 0; d < config.depth; d++) {
    add(`conv${d}.w`, [3, 3, cin, config.width]);
    add(`conv${d}.b`, [config.width]);
    if (config.norm !== 'none') {
      add(`norm${d}.gamma`, [config.width]);
      add(`norm${d}.beta`, [config.width]);
    }
    cin = config.width;
  }
  const f = featureShape(config);
  add('fc.w', [f.h * f.w * f.channels, config.classes]);
  add('fc.b', [config.classes]);
  return slots;
}

export function paramCount(config: ConvNetConfig): number {
  const layout = convNetLayout(config);
  const last = layout[layout.length - 1]!;
  return last.offset + last.size;
}

/**
 * PyTorch default init (spec §3): conv and linear weights and biases ~ U(-1/√fan_in, 1/√fan_in)
 * (kaiming_uniform with a = √5 reduces to this bound), norm gamma 1, beta 0. Each tensor draws from
 * its own sub-stream `deriveSeed(seed, name)`, so the values do not depend on the backend.
 */
export function initConvNetParams(config: ConvNetConfig, seed: number): tf.Tensor1D {
  const layout = convNetLayout(config);
  const f = featureShape(config);
  // fan_in of the layer a weight or bias belongs to: 3·3·Cin for a conv, F for the linear head.
  const fanIn = (name: string): number =>
    name.startsWith('fc.')
      ? f.h * f.w * f.channels
      : 9 * (name.startsWith('conv0.') ? config.c : config.width);
  const flat = new Float32Array(paramCount(config));
  for (const slot of layout) {
    const view = flat.subarray(slot.offset, slot.offset + slot.size);
    if (slot.name.endsWith('.gamma')) view.fill(1);
    else if (slot.name.endsWith('.beta')) view.fill(0);
    else {
      const bound = 1 / Math.sqrt(fanIn(slot.name));
      const rng = new Rng(deriveSeed(seed, slot.name));
      for (let i = 0; i < view.length; i++) view[i] = rng.uniform(-bound, bound);
    }
  }
  return tf.tensor1d(flat, 'float32');
}

/** Named views of the flat vector (differentiable slices; new tensors the caller owns). */
export function unflattenConvNetParams(config: ConvNetConfig, flat: tf.Tensor): Record<string, tf.Tensor> {
  checkFlat(config, flat);
  const out: Record<string, tf.Tensor> = {};
  for (const s of convNetLayout(config))
    out[s.name] = tf.tidy(() => tf.reshape(tf.slice(flat, [s.offset], [s.size]), s.shape));
  return out;
}

/** Inverse of `unflattenConvNetParams`: concatenates named tensors in canonical order. */
export function flattenConvNetParams(config: ConvNetConfig, named: Record<string, tf.Tensor>): tf.Tensor1D {
  return tf.tidy(
    () =>
      tf.concat(
        convNetLayout(config).map((s) => {
          const t = named[s.name];
          if (!t) throw new Error(`ConvNet params: "${s.name}" missing`);
          if (!tf.util.arraysEqual(t.shape, s.shape))
            throw new Error(`ConvNet params: "${s.name}" has shape [${t.shape}], expected [${s.shape}]`);
          return tf.reshape(t, [-1]);
        }),
      ) as tf.Tensor1D,
  );
}

function checkFlat(config: ConvNetConfig, flat: tf.Tensor): void {
  const n = paramCount(config);
  if (flat.rank !== 1 || flat.size !== n)
    throw new Error(`ConvNet params: expected a flat vector of ${n} values, got shape [${flat.shape}]`);
}

// -----------------------------------------------------------------------------------------------
// BatchNorm statistics (committee members)

/** Per-channel running statistics of one BatchNorm layer. */
export interface BatchNormStats {
  mean: tf.Tensor1D;
  variance: tf.Tensor1D;
}

/** Statistics of the INPUT of one BatchNorm layer over batch and spatial positions (biased variance). */
export interface BatchNormBatchStats extends BatchNormStats {
  /** Number of values each channel's statistics average over (B·H·W), for the unbiased correction. */
  count: number;
}

/** Fresh running statistics (mean 0, variance 1: PyTorch's initial buffers). */
export function initBatchNormStats(config: ConvNetConfig): BatchNormStats[] {
  if (config.norm !== 'batchnorm') return [];
  return Array.from({ length: config.depth }, () => ({
    mean: tf.zeros([config.width]) as tf.Tensor1D,
    variance: tf.ones([config.width]) as tf.Tensor1D,
  }));
}

/**
 * PyTorch's running-statistics update (momentum 0.1 by default; spec committee §7.2 "unbiased running
 * variance as in PyTorch"): r ← (1−m)·r + m·batch, with the batch variance multiplied by n/(n−1).
 */
export function updateBatchNormStats(
  running: BatchNormStats[],
  batch: BatchNormBatchStats[],
  momentum = 0.1,
): BatchNormStats[] {
  if (running.length !== batch.length)
    throw new Error(`updateBatchNormStats: ${running.length} running vs ${batch.length} batch layers`);
  return tf.tidy(() =>
    running.map((r, l) => {
      const b = batch[l]!;
      const unbiased = tf.mul(b.variance, b.count / Math.max(1, b.count - 1));
      return {
        mean: tf.add(tf.mul(1 - momentum, r.mean), tf.mul(momentum, b.mean)) as tf.Tensor1D,
        variance: tf.add(tf.mul(1 - momentum, r.variance), tf.mul(momentum, unbiased)) as tf.Tensor1D,
      };
    }),
  );
}

/** One vector for storage (committee `bn_stats`): for each layer in order, its mean then its variance. */
export function packBatchNormStats(stats: BatchNormStats[]): tf.Tensor1D {
  if (stats.length === 0) return tf.tensor1d([], 'float32');
  return tf.tidy(() => tf.concat(stats.flatMap((s) => [s.mean, s.variance])) as tf.Tensor1D);
}

export function unpackBatchNormStats(config: ConvNetConfig, packed: tf.Tensor): BatchNormStats[] {
  const layers = config.norm === 'batchnorm' ? config.depth : 0;
  const w = config.width;
  if (packed.size !== 2 * layers * w)
    throw new Error(
      `BatchNorm stats: expected ${2 * layers * w} values (${layers} layers × 2 × ${w}), got ${packed.size}`,
    );
  return Array.from({ length: layers }, (_x, l) => ({
    mean: tf.slice(packed, [2 * l * w], [w]) as tf.Tensor1D,
    variance: tf.slice(packed, [(2 * l + 1) * w], [w]) as tf.Tensor1D,
  }));
}

// -----------------------------------------------------------------------------------------------
// Forward

export interface ConvNetForwardOptions {
  /** BatchNorm only: normalise with the current batch's statistics (training mode). Default false. */
  training?: boolean;
  /** BatchNorm eval mode: the running statistics to normalise with (one entry per block). */
  runningStats?: BatchNormStats[];
  /**
   * 'native' (default): tf.conv2d / tf.avgPool — fastest on tfjs-node; second-order gradients need the
   * Conv2DBackpropFilter / AvgPoolGrad registrations of ml/ops (spec §9.2).
   * 'im2col': pad + 9 slices + matMul, and reshape + mean pooling (spec §9.3) — every kernel has stock
   * differentiable gradients, and it runs on backends without conv gradients (wasm).
   */
  kernels?: 'native' | 'im2col';
}

export interface ConvNetOutput {
  logits: tf.Tensor2D;
  /** BatchNorm nets: statistics of each BN layer's input for this batch (empty for other norms). */
  batchStats: BatchNormBatchStats[];
}

/** Logits [B, classes] for images x [B, h, w, c]; differentiable w.r.t. both `flatParams` and `x`. */
export function convNetForward(
  config: ConvNetConfig,
  flatParams: tf.Tensor,
  x: tf.Tensor,
  opts: ConvNetForwardOptions = {},
): tf.Tensor2D {
  return tf.tidy(() => {
    const { logits, batchStats } = forward(config, flatParams, x, opts, false);
    tf.dispose(batchStats.flatMap((s) => [s.mean, s.variance]));
    return logits;
  });
}

/**
 * Like `convNetForward`, and also returns each BatchNorm layer's batch mean/variance of its input,
 * in training AND eval mode: training callers feed them to `updateBatchNormStats`; the committee's
 * recovery loss matches them to the running statistics (committee spec §5.2 step 3).
 */
export function convNetForwardWithStats(
  config: ConvNetConfig,
  flatParams: tf.Tensor,
  x: tf.Tensor,
  opts: ConvNetForwardOptions = {},
): ConvNetOutput {
  return tf.tidy(
    () => forward(config, flatParams, x, opts, true) as unknown as tf.TensorContainer,
  ) as unknown as ConvNetOutput;
}

function forward(
  config: ConvNetConfig,
  flat: tf.Tensor,
  x: tf.Tensor,
  opts: ConvNetForwardOptions,
  wantStats: boolean,
): ConvNetOutput {
  checkFlat(config, flat);
  if (x.rank !== 4 || x.shape[1] !== config.h || x.shape[2] !== config.w || x.shape[3] !== config.c) {
    throw new Error(`ConvNet input: expected [B, ${config.h}, ${config.w}, ${config.c}], got [${x.shape}]`);
  }
  const training = opts.training ?? false;
  if (config.norm === 'batchnorm' && !training && (opts.runningStats?.length ?? 0) !== config.depth) {
    throw new Error(
      `ConvNet batchnorm in eval mode needs opts.runningStats for ${config.depth} layers (or pass training: true)`,
    );
  }
  const kernels = opts.kernels ?? 'native';
  const p = unflattenConvNetParams(config, flat);
  const batchStats: BatchNormBatchStats[] = [];

  let h = x as tf.Tensor4D;
  for (let d = 0; d < config.depth; d++) {
    const conv = conv3x3(h, p[`conv${d}.w`] as tf.Tensor4D, blockPadding(config, d), kernels);
    const bias = p[`conv${d}.b`]!;
    const gamma = p[`norm${d}.gamma`];
    const beta = p[`norm${d}.beta`];
    if (config.norm === 'instancenorm') {
      // GroupNorm(W, W): statistics per sample and channel over H, W. It subtracts each (sample,
      // channel) mean, so the conv bias cancels exactly: the fused path skips it (same output, a bias
      // gradient of exactly 0, one Add and one broadcast-gradient Sum fewer); the stock path keeps
      // PyTorch's arithmetic.
      const pre = fusedOpsEnabled() ? conv : tf.add(conv, bias);
      h = instanceNorm(pre as tf.Tensor4D, gamma!, beta!, config.normEps);
    } else if (config.norm === 'batchnorm' && (training || !fusedOpsEnabled())) {
      const pre = tf.add(conv, bias) as tf.Tensor4D;
      const batch = training || wantStats ? tf.moments(pre, [0, 1, 2]) : undefined;
      if (batch && wantStats) batchStats.push(batchStatsOf(batch, pre));
      const stats = training ? batch! : opts.runningStats![d]!;
      h = affine(normalize(pre, stats.mean, stats.variance, config.normEps), gamma!, beta!);
    } else if (config.norm === 'batchnorm') {
      // Eval mode, fused: with running statistics (m, v) the norm is a per-channel affine map, so
      // conv + bias → normalise → γ, β folds into conv·s + t, s = γ/√(v + ε), t = β + (bias − m)·s:
      // two full-size kernels instead of five. The batch statistics of the norm's input (conv + bias)
      // are those of conv with the bias added to the mean.
      if (wantStats) {
        const batch = tf.moments(conv, [0, 1, 2]);
        batchStats.push(batchStatsOf({ mean: tf.add(batch.mean, bias), variance: batch.variance }, conv));
      }
      const running = opts.runningStats![d]!;
      const scale = tf.mul(gamma!, tf.rsqrt(tf.add(running.variance, config.normEps)));
      const shift = tf.add(beta!, tf.mul(tf.sub(bias, running.mean), scale));
      h = tf.add(tf.mul(conv, scale), shift) as tf.Tensor4D;
    } else {
      h = tf.add(conv, bias) as tf.Tensor4D;
    }
    h = activate(h, config.activation);
    h = avgPool2x2(h, kernels);
  }
  const [b, fh, fw, fc] = h.shape;
  const logits = tf.add(
    tf.matMul(tf.reshape(h, [b, fh * fw * fc]), p['fc.w'] as tf.Tensor2D),
    p['fc.b']!,
  ) as tf.Tensor2D;
  return { logits, batchStats };
}

function batchStatsOf(batch: { mean: tf.Tensor; variance: tf.Tensor }, h: tf.Tensor4D): BatchNormBatchStats {
  return {
    mean: batch.mean as tf.Tensor1D,
    variance: batch.variance as tf.Tensor1D,
    count: h.shape[0] * h.shape[1] * h.shape[2],
  };
}

function normalize(h: tf.Tensor4D, mean: tf.Tensor, variance: tf.Tensor, eps: number): tf.Tensor4D {
  return tf.mul(tf.sub(h, mean), tf.rsqrt(tf.add(variance, eps)));
}

function affine(h: tf.Tensor4D, gamma: tf.Tensor, beta: tf.Tensor): tf.Tensor4D {
  return tf.add(tf.mul(h, gamma), beta);
}

/**
 * Instance norm of NHWC features: per sample and channel over H, W; biased variance; affine. The fused
 * op of ml/ops (one hand-derived backward pass, any order), or the stock primitives when the process
 * runs with fused ops off (`RETORT_STOCK_OPS=1`, for A/B).
 */
export function instanceNorm(h: tf.Tensor4D, gamma: tf.Tensor, beta: tf.Tensor, eps = 1e-5): tf.Tensor4D {
  return fusedOpsEnabled() ? fusedInstanceNorm(h, gamma, beta, eps) : instanceNormStock(h, gamma, beta, eps);
}

function activate(h: tf.Tensor4D, activation: ConvNetActivation): tf.Tensor4D {
  switch (activation) {
    case 'relu':
      return tf.relu(h);
    case 'softplus':
      // log(1 + e^x) = relu(x) + log1p(e^{-|x|}): never overflows.
      return tf.add(tf.relu(h), tf.log1p(tf.exp(tf.neg(tf.abs(h)))));
    case 'tanh': {
      // tanh(x) = sign(x)·(1 − e^{-2|x|}) / (1 + e^{-2|x|}).
      const e = tf.exp(tf.mul(-2, tf.abs(h)));
      return tf.mul(tf.sign(h), tf.div(tf.sub(1, e), tf.add(1, e)));
    }
  }
}

function conv3x3(h: tf.Tensor4D, w: tf.Tensor4D, pad: number, kernels: 'native' | 'im2col'): tf.Tensor4D {
  if (kernels === 'native') {
    // tfjs-node's Conv2D rejects numeric padding (spec §9.4): 'same' is padding 1 for a 3×3 stride-1
    // kernel; any other padding is an explicit zero pad followed by 'valid'.
    if (pad === 1) return tf.conv2d(h, w, 1, 'same');
    return tf.conv2d(zeroPad(h, pad), w, 1, 'valid');
  }
  // im2col (spec §9.3): the 9 shifted views stacked on channels in (row, col, channel) order match the
  // HWIO filter reshaped to [9·Cin, Cout].
  const padded = zeroPad(h, pad);
  const [b, hp, wp, c] = padded.shape;
  const ho = hp - 2;
  const wo = wp - 2;
  const views: tf.Tensor4D[] = [];
  for (let i = 0; i < 3; i++)
    for (let j = 0; j < 3; j++) views.push(tf.slice(padded, [0, i, j, 0], [b, ho, wo, c]));
  const cols = tf.reshape(tf.concat(views, 3), [b * ho * wo, 9 * c]);
  const cout = w.shape[3];
  return tf.reshape(tf.matMul(cols, tf.reshape(w, [9 * c, cout])), [b, ho, wo, cout]);
}

function zeroPad(h: tf.Tensor4D, pad: number): tf.Tensor4D {
  return pad === 0
    ? h
    : tf.pad(h, [
        [0, 0],
        [pad, pad],
        [pad, pad],
        [0, 0],
      ]);
}

function avgPool2x2(h: tf.Tensor4D, kernels: 'native' | 'im2col'): tf.Tensor4D {
  if (kernels === 'native') return tf.avgPool(h, 2, 2, 'valid');
  // Crop to even size (floor, like PyTorch), then average each 2×2 window via reshape + mean.
  const [b, hh, ww, c] = h.shape;
  const h2 = Math.floor(hh / 2);
  const w2 = Math.floor(ww / 2);
  const cropped = hh % 2 || ww % 2 ? tf.slice(h, [0, 0, 0, 0], [b, 2 * h2, 2 * w2, c]) : h;
  return tf.mean(tf.reshape(cropped, [b, h2, 2, w2, 2, c]), [2, 4]) as tf.Tensor4D;
}
