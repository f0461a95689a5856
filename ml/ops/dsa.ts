// Differentiable siamese augmentation (DSA; Zhao & Bilen, "Dataset Condensation with Differentiable
// Siamese Augmentation", ICML 2021, §3.2–3.3), as MTT and DATM run it (mtt-distillation utils.py
// `DiffAugment` and `ParamDiffAug`; DATM ships the same functions).
//
// An augmentation call is split in two: `sampleDsa` draws its parameters from a seed as plain numbers
// (a `DsaDraw`, storable and replayable), and `applyDsa` applies a draw to an NHWC batch with tfjs ops.
// The siamese property is a shared draw: `sampleDsa(..., { shared: true })` draws ONE parameter set
// that `applyDsa` applies to every image of any batch, so the real and the synthetic branch augmented
// with one seed see the same transform (the code's `seed != -1` "batchmode"). Without `shared`, every
// image gets its own draw (the code's `seed = -1`, which is what MTT's student unroll and expert
// training call).
//
// Strategy (the code's `dsa_strategy`): names joined by '_'. With `mode: 'single'` (ParamDiffAug
// aug_mode 'S', the code's default) each call applies ONE transform picked uniformly from the
// strategy; 'every' (aug_mode 'M') applies them all in the strategy's order.
//   color   brightness x + (r − ½)·1, saturation (x − mean_c)·2r + mean_c, contrast (x − mean)·(r + ½) + mean
//   crop    integer translation by up to round(0.125·size) px with zero fill (pad 1, then clamp)
//   cutout  zero a round(0.5·size) square centred at a random pixel (clipped to the image)
//   flip    mirror the width with probability ½
//   scale   affine sx, sy ~ U(1/1.2, 1.2), bilinear, zero padding, align_corners = True
//   rotate  affine rotation by U(−15°, 15°) in normalised coordinates, same sampling
// Digits: DSA's own scripts use `color_crop_cutout_scale_rotate` for MNIST and SVHN ("flip
// augmentation is not good for digit datasets", DatasetCondensation README); MTT's default string adds
// flip. `DSA_DIGITS` is the former. The code has no noise transform in DSA (noise exists only in DC's
// non-differentiable `augment`), so there is none here.
//
// Differentiability: every transform is linear in the pixels, or affine with a per-image mean (color).
// The geometric ones are written as out = Σ_k w_k ⊙ gather(x, idx_k) with constant indices and
// bilinear weights: gather's gradient is unsortedSegmentSum, whose gradient is gather again, so the
// stock tfjs gradients differentiate to any order (what trajectory matching needs when it
// differentiates the student's backward pass). Cutout and color are mul/add/mean. Randomness lives in
// the draw only, never in a tensor op.
import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '../train/rng.js';

export const DSA_TRANSFORMS = ['color', 'crop', 'cutout', 'flip', 'scale', 'rotate'] as const;
export type DsaTransform = (typeof DSA_TRANSFORMS)[number];

/** A DSA strategy and its magnitudes (ParamDiffAug's fields; plain JSON data). */
export interface DsaConfig {
  /** Transform names joined by '_', e.g. 'color_crop_cutout_scale_rotate'. */
  strategy: string;
  /** 'single': one transform per call, picked uniformly (aug_mode 'S'); 'every': all, in order ('M'). */
  mode: 'single' | 'every';
  /** sx, sy ~ U(1/scale, scale) (`ratio_scale`). */
  scale: number;
  /** Rotation angle ~ U(−rotateDegrees, rotateDegrees) (`ratio_rotate`). */
  rotateDegrees: number;
  /** Largest translation as a fraction of the side, rounded to pixels (`ratio_crop_pad`). */
  cropPad: number;
  /** Side of the cutout square as a fraction of the side (`ratio_cutout`). */
  cutout: number;
  /** Brightness shift ~ (U − ½)·brightness. */
  brightness: number;
  /** Saturation factor ~ U·saturation (identity on 1-channel images). */
  saturation: number;
  /** Contrast factor ~ U + contrast. */
  contrast: number;
  /** Probability of mirroring (`prob_flip`). */
  flipProbability: number;
}

/** ParamDiffAug's magnitudes with MTT's default strategy (includes flip: not for digits). */
export const DSA_DEFAULT: DsaConfig = {
  strategy: 'color_crop_cutout_flip_scale_rotate',
  mode: 'single',
  scale: 1.2,
  rotateDegrees: 15,
  cropPad: 0.125,
  cutout: 0.5,
  brightness: 1,
  saturation: 2,
  contrast: 0.5,
  flipProbability: 0.5,
};

/** DSA for digit datasets (MNIST, SVHN): the default magnitudes without flip. */
export const DSA_DIGITS: DsaConfig = { ...DSA_DEFAULT, strategy: 'color_crop_cutout_scale_rotate' };

/** The strategy's transforms in order; throws a RangeError naming an unknown one. */
export function dsaTransforms(strategy: string): DsaTransform[] {
  const names = strategy.split('_');
  for (const name of names) {
    if (!(DSA_TRANSFORMS as readonly string[]).includes(name))
      throw new RangeError(
        `DSA strategy "${strategy}": unknown transform "${name}" (known: ${DSA_TRANSFORMS.join(', ')})`,
      );
  }
  return names as DsaTransform[];
}

/** Fills defaults and validates; throws a RangeError naming the field. */
export function dsaConfig(overrides: Partial<DsaConfig> = {}): DsaConfig {
  const config = { ...DSA_DIGITS, ...overrides };
  validateDsaConfig(config);
  return config;
}

export function validateDsaConfig(config: DsaConfig): void {
  const fail = (field: string, what: string, got: unknown): never => {
    throw new RangeError(`DSA config: ${field} must be ${what}, got ${String(got)}`);
  };
  dsaTransforms(config.strategy);
  if (config.mode !== 'single' && config.mode !== 'every') fail('mode', "'single' or 'every'", config.mode);
  if (!(config.scale >= 1 && Number.isFinite(config.scale)))
    fail('scale', 'a finite number ≥ 1', config.scale);
  const nonNeg = ['rotateDegrees', 'cropPad', 'cutout', 'brightness', 'saturation', 'contrast'] as const;
  for (const k of nonNeg)
    if (!(config[k] >= 0 && Number.isFinite(config[k]))) fail(k, 'a finite number ≥ 0', config[k]);
  if (!(config.flipProbability >= 0 && config.flipProbability <= 1))
    fail('flipProbability', 'in [0, 1]', config.flipProbability);
}

// -----------------------------------------------------------------------------------------------
// Draws: the random part, as plain numbers

/** One transform's parameters, one entry per draw (per image, or a single shared one). */
export type DsaStep =
  | { op: 'color'; brightness: number[]; saturation: number[]; contrast: number[] }
  /** out[i, j] = x[i + rows, j + cols], zero outside. */
  | { op: 'crop'; rows: number[]; cols: number[] }
  /** Zero rows [top, bottom] × columns [left, right] (inclusive, inside the image). */
  | { op: 'cutout'; top: number[]; bottom: number[]; left: number[]; right: number[] }
  | { op: 'flip'; flip: boolean[] }
  /** Source x = sx · x_out (width), y = sy · y_out (height), in align_corners normalised coordinates. */
  | { op: 'scale'; sx: number[]; sy: number[] }
  /** Source (x, y) = R(angle) (x_out, y_out) in normalised coordinates; angle in radians. */
  | { op: 'rotate'; angle: number[] };

/** The parameters of one augmentation call. */
export interface DsaDraw {
  /** Image size the draw was made for (crop and cutout sizes depend on it). */
  h: number;
  w: number;
  /** Number of parameter sets: the batch size, or 1 for a shared (siamese) draw that fits any batch. */
  draws: number;
  /** Transforms in the order they are applied. */
  steps: DsaStep[];
}

export interface DsaSampleOptions {
  /** One parameter set for the whole batch (and for any other batch augmented with this seed). */
  shared?: boolean;
}

/**
 * The parameters of one augmentation call from `seed`: for `images` images of h×w (ignored when
 * shared). A pure function of its arguments.
 */
export function sampleDsa(
  config: DsaConfig,
  size: { images: number; h: number; w: number },
  seed: number,
  opts: DsaSampleOptions = {},
): DsaDraw {
  const { h, w } = size;
  const draws = opts.shared ? 1 : size.images;
  if (!(Number.isInteger(draws) && draws > 0))
    throw new RangeError(`sampleDsa: images must be a positive integer, got ${size.images}`);
  const transforms = dsaTransforms(config.strategy);
  const rng = new Rng(seed);
  const chosen = config.mode === 'single' ? [transforms[rng.int(transforms.length)]!] : transforms;
  const each = <T>(f: () => T): T[] => Array.from({ length: draws }, f);
  const steps = chosen.map((op): DsaStep => {
    switch (op) {
      case 'color':
        return {
          op,
          brightness: each(() => (rng.next() - 0.5) * config.brightness),
          saturation: each(() => rng.next() * config.saturation),
          contrast: each(() => rng.next() + config.contrast),
        };
      case 'crop': {
        // Python int(size·ratio + 0.5) on a positive number: floor.
        const maxRows = Math.floor(h * config.cropPad + 0.5);
        const maxCols = Math.floor(w * config.cropPad + 0.5);
        return {
          op,
          rows: each(() => rng.int(2 * maxRows + 1) - maxRows),
          cols: each(() => rng.int(2 * maxCols + 1) - maxCols),
        };
      }
      case 'cutout': {
        // The code draws the centre from [0, size + 1 − side % 2) and clamps the square's indices to
        // the image: the zeroed block is the square clipped to the image (empty when side is 0).
        const sizeRows = Math.floor(h * config.cutout + 0.5);
        const sizeCols = Math.floor(w * config.cutout + 0.5);
        const box = (size: number, side: number) => {
          const centre = rng.int(size + 1 - (side % 2));
          const first = centre - Math.floor(side / 2);
          return [Math.max(0, first), Math.min(size - 1, first + side - 1)] as const;
        };
        const rows = each(() => box(h, sizeRows));
        const cols = each(() => box(w, sizeCols));
        return {
          op,
          top: rows.map((r) => r[0]),
          bottom: rows.map((r) => r[1]),
          left: cols.map((c) => c[0]),
          right: cols.map((c) => c[1]),
        };
      }
      case 'flip':
        return { op, flip: each(() => rng.next() < config.flipProbability) };
      case 'scale': {
        const r = config.scale;
        const factor = () => rng.next() * (r - 1 / r) + 1 / r;
        return { op, sx: each(factor), sy: each(factor) };
      }
      case 'rotate':
        return { op, angle: each(() => ((rng.next() - 0.5) * 2 * config.rotateDegrees * Math.PI) / 180) };
    }
  });
  return { h, w, draws, steps };
}

// -----------------------------------------------------------------------------------------------
// Applying a draw (differentiable w.r.t. the pixels, to any order)

/** Applies a draw to x [B, h, w, c]; the draw must have B parameter sets or a single shared one. */
export function applyDsa(x: tf.Tensor4D, draw: DsaDraw): tf.Tensor4D {
  const [b, h, w] = x.shape;
  if (h !== draw.h || w !== draw.w)
    throw new RangeError(`applyDsa: the draw is for ${draw.h}×${draw.w} images, got ${h}×${w}`);
  if (draw.draws !== 1 && draw.draws !== b)
    throw new RangeError(`applyDsa: the draw has ${draw.draws} parameter sets for a batch of ${b}`);
  return tf.tidy(() => draw.steps.reduce((y, step) => applyStep(y, step), x));
}

/** `applyDsa(x, sampleDsa(config, x's size, seed, opts))`. */
export function diffAugment(
  x: tf.Tensor4D,
  config: DsaConfig,
  seed: number,
  opts: DsaSampleOptions = {},
): tf.Tensor4D {
  const [images, h, w] = x.shape;
  return applyDsa(x, sampleDsa(config, { images, h, w }, seed, opts));
}

function applyStep(x: tf.Tensor4D, step: DsaStep): tf.Tensor4D {
  const [, h, w] = x.shape;
  switch (step.op) {
    case 'color':
      return applyColor(x, step);
    case 'cutout': {
      const n = step.top.length;
      const mask = new Float32Array(n * h * w).fill(1);
      for (let k = 0; k < n; k++)
        for (let i = step.top[k]!; i <= step.bottom[k]!; i++)
          for (let j = step.left[k]!; j <= step.right[k]!; j++) mask[(k * h + i) * w + j] = 0;
      return tf.mul(x, tf.tensor4d(mask, [n, h, w, 1]));
    }
    case 'crop':
      return resample(x, step.rows.length, (k) => (i, j) => [i + step.rows[k]!, j + step.cols[k]!]);
    case 'flip':
      return resample(x, step.flip.length, (k) => (i, j) => [i, step.flip[k] ? w - 1 - j : j]);
    case 'scale':
      return resample(x, step.sx.length, (k) => {
        const sx = step.sx[k]!;
        const sy = step.sy[k]!;
        return (i, j) => pixelOf(sy * normalisedOf(i, h), sx * normalisedOf(j, w), h, w);
      });
    case 'rotate':
      return resample(x, step.angle.length, (k) => {
        // F.affine_grid with [[cos, −sin, 0], [sin, cos, 0]]: source (x, y) = R (x_out, y_out).
        const cos = Math.cos(step.angle[k]!);
        const sin = Math.sin(step.angle[k]!);
        return (i, j) => {
          const xn = normalisedOf(j, w);
          const yn = normalisedOf(i, h);
          return pixelOf(sin * xn + cos * yn, cos * xn - sin * yn, h, w);
        };
      });
  }
}

/** Brightness, saturation and contrast in that order, each with its own factor per draw. */
function applyColor(x: tf.Tensor4D, step: Extract<DsaStep, { op: 'color' }>): tf.Tensor4D {
  const n = step.brightness.length;
  const perDraw = (v: number[]) => tf.tensor4d(v, [n, 1, 1, 1]);
  let y: tf.Tensor = tf.add(x, perDraw(step.brightness));
  // Saturation mixes each pixel with its channel mean: on one channel the mean is the pixel itself and
  // the transform is exactly the identity, so it is skipped.
  if (x.shape[3] > 1) {
    const m = tf.mean(y, 3, true);
    y = tf.add(tf.mul(tf.sub(y, m), perDraw(step.saturation)), m);
  }
  const m = tf.mean(y, [1, 2, 3], true);
  return tf.add(tf.mul(tf.sub(y, m), perDraw(step.contrast)), m) as tf.Tensor4D;
}

/** align_corners = True normalised coordinate in [−1, 1] of pixel index `i` along a side of `size`. */
function normalisedOf(i: number, size: number): number {
  return size > 1 ? (2 * i) / (size - 1) - 1 : 0;
}

/** Pixel coordinates [row, col] of a normalised point (y, x) (grid_sample with align_corners = True). */
function pixelOf(yn: number, xn: number, h: number, w: number): [number, number] {
  return [((yn + 1) / 2) * (h - 1), ((xn + 1) / 2) * (w - 1)];
}

/** Maps output pixel (i, j) to its (fractional) source pixel [row, col]. */
type SourceOf = (i: number, j: number) => [number, number];

/**
 * Bilinear resampling with zero padding: out[b, i, j] = Σ_{r,c} k(row − r) k(col − c) x[b, r, c] with the
 * hat kernel k(d) = max(0, 1 − |d|) and [row, col] = source(i, j) of image b's parameter set
 * (`sourceFor(k)`, k = b, or 0 when `draws` is 1). Integer sources (crop, flip) copy pixels exactly; a
 * source outside the image reads zeros, as grid_sample's padding_mode 'zeros' does.
 *
 * The double sum is separable per output pixel, so it runs as one batched matMul over columns and a
 * weighted sum over rows, both with constant weights (a few MFLOP at 28×28 and batch 100, and only
 * MatMul/Mul/Sum gradients, which differentiate to any order). A gather of the four taps would be the
 * same map, but tfjs-node's GatherV2 is an order of magnitude slower here.
 */
function resample(x: tf.Tensor4D, draws: number, sourceFor: (k: number) => SourceOf): tf.Tensor4D {
  const [b, h, w, c] = x.shape;
  const hw = h * w;
  const rowWeights = new Float32Array(b * hw * h); // [b, hw, h]
  const colWeights = new Float32Array(b * hw * w); // [b, hw, w]
  const hat = (weights: Float32Array, at: number, size: number, coordinate: number): void => {
    const lo = Math.floor(coordinate);
    const frac = coordinate - lo;
    if (lo >= 0 && lo < size) weights[at + lo] = 1 - frac;
    if (frac > 0 && lo + 1 >= 0 && lo + 1 < size) weights[at + lo + 1] = frac;
  };
  for (let img = 0; img < b; img++) {
    const source = sourceFor(draws === 1 ? 0 : img);
    for (let i = 0; i < h; i++) {
      for (let j = 0; j < w; j++) {
        const p = img * hw + i * w + j;
        const [row, col] = source(i, j);
        hat(rowWeights, p * h, h, row);
        hat(colWeights, p * w, w, col);
      }
    }
  }
  return tf.tidy(() => {
    // [b, w, h·c]: columns first, so one matMul contracts them for every output pixel.
    const byColumn = tf.reshape(tf.transpose(x, [0, 2, 1, 3]), [b, w, h * c]);
    const mixed = tf.matMul(tf.tensor3d(colWeights, [b, hw, w]), byColumn); // [b, hw, h·c]
    const weighted = tf.mul(tf.reshape(mixed, [b, hw, h, c]), tf.tensor4d(rowWeights, [b, hw, h, 1]));
    return tf.reshape(tf.sum(weighted, 2), [b, h, w, c]);
  });
}
