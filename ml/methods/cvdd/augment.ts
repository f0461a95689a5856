// Pixel augmentations of CV-DD (Cui et al., 2025, "Dataset Distillation via Committee Voting";
// specs/distill-committee-voting.md §5.2 step 2, §5.3, §6), as seeded parameter draws (plain numbers
// that can be stored and replayed) plus differentiable appliers.
//
// Recovery view (recover.py): x~ = roll(Flip(RandomResizedCrop(x)), (u, v)). torchvision applies a
// transform to a whole batch tensor with ONE set of parameters, and torch.roll shifts the whole batch,
// so a recovery view is one crop, one flip and one shift for every image of the batch.
// Student / relabel batches (relabel.py + utils_fkd.py): a RandomResizedCrop and flip PER IMAGE, then
// CutMix over the batch (λ ~ Beta(1, 1), box side √(1−λ), random permutation; the teacher labels the
// mixed images). retort adds a per-image circular shift (spec §7.2: the measured MNIST runs used only a
// 0–2 px roll).
//
// Crop + resize: tfjs-core 4.22 has no CropAndResize gradient (spec §6), and its ResizeBilinearGrad
// ignores `halfPixelCenters` on both the cpu and tensorflow backends (the gradient is that of the legacy
// sampling grid), so resizing is done here as two matMuls with constant bilinear interpolation matrices:
// exactly PyTorch's F.interpolate(mode='bilinear', align_corners=False) of the integer crop (antialias
// is irrelevant: a RandomResizedCrop back to the input size only ever upsamples), differentiable
// through stock MatMul/Transpose/Reshape gradients.
import * as tf from '@tensorflow/tfjs-core';
import type { Rng } from '../../train/rng.js';

/** Integer crop box in source pixels (top row, left column, height, width). */
export interface CropBox {
  y0: number;
  x0: number;
  h: number;
  w: number;
}

export interface RandomResizedCropConfig {
  /** Area fraction range (torchvision default [0.08, 1]). */
  scale: [number, number];
  /** Aspect-ratio range w/h (torchvision default [3/4, 4/3]). */
  ratio: [number, number];
}

export const DEFAULT_RANDOM_RESIZED_CROP: RandomResizedCropConfig = {
  scale: [0.08, 1],
  ratio: [3 / 4, 4 / 3],
};

/**
 * torchvision RandomResizedCrop.get_params: up to 10 tries of (area fraction, log-uniform aspect),
 * then a centre crop clamped to the ratio range. Rounding is JS Math.round (Python rounds half to even:
 * an occasional 1-px difference in h or w, immaterial for augmentation).
 */
export function sampleResizedCropBox(
  rng: Rng,
  height: number,
  width: number,
  config: RandomResizedCropConfig,
): CropBox {
  const area = height * width;
  const [r0, r1] = config.ratio;
  for (let attempt = 0; attempt < 10; attempt++) {
    const target = area * rng.uniform(config.scale[0], config.scale[1]);
    const aspect = Math.exp(rng.uniform(Math.log(r0), Math.log(r1)));
    const w = Math.round(Math.sqrt(target * aspect));
    const h = Math.round(Math.sqrt(target / aspect));
    if (w > 0 && w <= width && h > 0 && h <= height)
      return { y0: rng.int(height - h + 1), x0: rng.int(width - w + 1), h, w };
  }
  const inRatio = width / height;
  let w = width;
  let h = height;
  if (inRatio < Math.min(r0, r1)) h = Math.round(w / Math.min(r0, r1));
  else if (inRatio > Math.max(r0, r1)) w = Math.round(h * Math.max(r0, r1));
  return { y0: Math.floor((height - h) / 2), x0: Math.floor((width - w) / 2), h, w };
}

/**
 * Row-major [out, size] matrix M such that M · v resamples v[start, start+len) onto `out` points with
 * PyTorch's align_corners=False rule: src = (i + ½)·len/out − ½, clamped at 0; neighbours ⌊src⌋ and
 * min(⌊src⌋+1, len−1) weighted by 1−frac, frac.
 */
export function bilinearResampleMatrix(size: number, start: number, len: number, out: number): Float32Array {
  if (!(start >= 0 && len > 0 && start + len <= size))
    throw new RangeError(`bilinearResampleMatrix: crop [${start}, ${start + len}) outside [0, ${size})`);
  const m = new Float32Array(out * size);
  const scale = len / out;
  for (let i = 0; i < out; i++) {
    const src = Math.max(0, (i + 0.5) * scale - 0.5);
    const i0 = Math.min(Math.floor(src), len - 1);
    const i1 = Math.min(i0 + 1, len - 1);
    const frac = src - i0;
    m[i * size + start + i0]! += 1 - frac;
    m[i * size + start + i1]! += frac;
  }
  return m;
}

/** Crops every image of x [B, H, W, C] to `box` and resizes bilinearly to outH × outW (differentiable). */
export function cropResize(x: tf.Tensor4D, box: CropBox, outH: number, outW: number): tf.Tensor4D {
  const [b, height, width, c] = x.shape;
  if (
    box.y0 === 0 &&
    box.x0 === 0 &&
    box.h === height &&
    box.w === width &&
    outH === height &&
    outW === width
  )
    return tf.clone(x) as tf.Tensor4D;
  return tf.tidy(() => {
    const ry = tf.tensor2d(bilinearResampleMatrix(height, box.y0, box.h, outH), [outH, height]);
    const rx = tf.tensor2d(bilinearResampleMatrix(width, box.x0, box.w, outW), [outW, width]);
    // Rows: [H, B·W·C] → Ry · → [outH, B, W, C]; then columns the same way with W leading.
    const rows = tf.matMul(ry, tf.reshape(tf.transpose(x, [1, 0, 2, 3]), [height, b * width * c]));
    const byCol = tf.reshape(tf.transpose(tf.reshape(rows, [outH, b, width, c]), [2, 1, 0, 3]), [
      width,
      b * outH * c,
    ]);
    const cols = tf.reshape(tf.matMul(rx, byCol), [outW, b, outH, c]);
    return tf.transpose(cols, [1, 2, 0, 3]) as tf.Tensor4D;
  });
}

/** torch.roll(x, (dy, dx), dims=(H, W)): out[i, j] = x[(i − dy) mod H, (j − dx) mod W]. Two slices + concat per axis. */
export function rollImages(x: tf.Tensor4D, dy: number, dx: number): tf.Tensor4D {
  return tf.tidy(() => {
    const [, height, width] = x.shape;
    const sy = ((dy % height) + height) % height;
    const sx = ((dx % width) + width) % width;
    let out = x;
    if (sy > 0) {
      const [top, bottom] = tf.split(out, [height - sy, sy], 1);
      out = tf.concat([bottom!, top!], 1) as tf.Tensor4D;
    }
    if (sx > 0) {
      const [left, right] = tf.split(out, [width - sx, sx], 2);
      out = tf.concat([right!, left!], 2) as tf.Tensor4D;
    }
    return out === x ? (tf.clone(x) as tf.Tensor4D) : out;
  });
}

// -----------------------------------------------------------------------------------------------
// Recovery views (one set of parameters for the whole batch, like torchvision on a batch tensor)

export interface RecoveryAugmentConfig {
  /** RandomResizedCrop before the shift (the code's `--apply-data-augmentation`); null = off. */
  crop: RandomResizedCropConfig | null;
  /** Horizontal flip with probability ½ (off for digits, spec §10). */
  flip: boolean;
  /** Shift u, v uniform in {0..jitter} (random.randint is inclusive), circular. */
  jitter: number;
}

export interface RecoveryView {
  crop: CropBox | null;
  flip: boolean;
  shift: [number, number];
}

export function sampleRecoveryView(
  rng: Rng,
  height: number,
  width: number,
  config: RecoveryAugmentConfig,
): RecoveryView {
  const crop = config.crop ? sampleResizedCropBox(rng, height, width, config.crop) : null;
  const flip = config.flip ? rng.next() < 0.5 : false;
  const shift: [number, number] = [rng.int(config.jitter + 1), rng.int(config.jitter + 1)];
  return { crop, flip, shift };
}

/** x~ = roll(flip(cropResize(x))) (differentiable w.r.t. x). */
export function applyRecoveryView(x: tf.Tensor4D, view: RecoveryView): tf.Tensor4D {
  return tf.tidy(() => {
    const [, height, width] = x.shape;
    let out = view.crop ? cropResize(x, view.crop, height, width) : x;
    if (view.flip) out = tf.reverse(out, 2);
    return rollImages(out, view.shift[0], view.shift[1]);
  });
}

// -----------------------------------------------------------------------------------------------
// Student / relabel batches (per-image parameters + CutMix), stored in precomputed mode (spec §2.4)

export interface BatchAugmentConfig {
  /** Per-image RandomResizedCrop; null = off (the measured MNIST profile). */
  crop: RandomResizedCropConfig | null;
  flip: boolean;
  /** Per-image circular shift in {0..roll} on both axes (retort, spec §7.2); 0 = off. */
  roll: number;
  /** CutMix with λ ~ Beta(1, 1) (the code's default alpha 1). */
  cutmix: boolean;
}

export interface CutMixParams {
  /** Image i takes the box from image perm[i]. */
  perm: number[];
  lambda: number;
  /** Box rows [y0, y1) and columns [x0, x1) (rand_bbox of utils_fkd.py). */
  box: [number, number, number, number];
}

/** Everything random about one student batch: enough to rebuild it bit-identically. */
export interface BatchAugmentation {
  crops: CropBox[] | null;
  flips: boolean[];
  shifts: [number, number][];
  mix: CutMixParams | null;
}

/**
 * Draws the parameters of one batch of `n` images. Seed it per (epoch, batch), e.g.
 * `new Rng(deriveSeed(seed, 'student-batch', step))`, so relabelling and the student see one stream.
 */
export function sampleBatchAugmentation(
  rng: Rng,
  n: number,
  height: number,
  width: number,
  config: BatchAugmentConfig,
): BatchAugmentation {
  const crops = config.crop
    ? Array.from({ length: n }, () => sampleResizedCropBox(rng, height, width, config.crop!))
    : null;
  const flips = Array.from({ length: n }, () => (config.flip ? rng.next() < 0.5 : false));
  const shifts = Array.from({ length: n }, (): [number, number] =>
    config.roll > 0 ? [rng.int(config.roll + 1), rng.int(config.roll + 1)] : [0, 0],
  );
  let mix: CutMixParams | null = null;
  if (config.cutmix && n > 1) {
    const perm = Array.from({ length: n }, (_x, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      [perm[i], perm[j]] = [perm[j]!, perm[i]!];
    }
    const lambda = rng.next();
    // rand_bbox: cut side = int(size·√(1−λ)); centre uniform; box = centre ± ⌊cut/2⌋, clipped.
    const cut = Math.sqrt(1 - lambda);
    const cutH = Math.floor(height * cut);
    const cutW = Math.floor(width * cut);
    const cy = rng.int(height);
    const cx = rng.int(width);
    const clip = (v: number, hi: number): number => Math.min(Math.max(v, 0), hi);
    const box: [number, number, number, number] = [
      clip(cy - Math.floor(cutH / 2), height),
      clip(cy + Math.floor(cutH / 2), height),
      clip(cx - Math.floor(cutW / 2), width),
      clip(cx + Math.floor(cutW / 2), width),
    ];
    mix = { perm, lambda, box };
  }
  return { crops, flips, shifts, mix };
}

/** Rebuilds the augmented batch from stored parameters (bit-identical for identical inputs). */
export function applyBatchAugmentation(images: tf.Tensor4D, aug: BatchAugmentation): tf.Tensor4D {
  const [n, height, width, c] = images.shape;
  if (aug.flips.length !== n || aug.shifts.length !== n || (aug.crops && aug.crops.length !== n))
    throw new Error(`applyBatchAugmentation: parameters for ${aug.flips.length} images, batch has ${n}`);
  return tf.tidy(() => {
    const out = aug.crops ? perImageViews(images, aug) : flipRollGather(images, aug);
    if (!aug.mix) return out;
    const [y0, y1, x0, x1] = aug.mix.box;
    if (y1 <= y0 || x1 <= x0) return out;
    const mask = new Uint8Array(n * height * width * c);
    for (let i = 0; i < n; i++)
      for (let y = y0; y < y1; y++)
        for (let x = x0; x < x1; x++)
          mask.fill(1, ((i * height + y) * width + x) * c, ((i * height + y) * width + x + 1) * c);
    const shuffled = tf.gather(out, tf.tensor1d(aug.mix.perm, 'int32'));
    return tf.where(tf.tensor4d(mask, [n, height, width, c], 'bool'), shuffled, out);
  });
}

/** Crop → flip → roll of every image separately (crops have per-image sizes). */
function perImageViews(images: tf.Tensor4D, aug: BatchAugmentation): tf.Tensor4D {
  const [n, height, width, c] = images.shape;
  const perImage = Array.from({ length: n }, (_x, i) => {
    let img = tf.slice(images, [i, 0, 0, 0], [1, height, width, c]);
    if (aug.crops) img = cropResize(img, aug.crops[i]!, height, width);
    if (aug.flips[i]) img = tf.reverse(img, 2);
    const [dy, dx] = aug.shifts[i]!;
    return dy || dx ? rollImages(img, dy, dx) : img;
  });
  return tf.concat(perImage, 0);
}

/**
 * Flip then roll of every image as ONE gather of pixels (no crops): out[i, y, x] = f_i[(y − dy) mod H,
 * (x − dx) mod W] with f_i the (flipped) image i — the same values as reverse + rollImages, in one op
 * instead of ~7 per image (the student loop runs this every step).
 */
function flipRollGather(images: tf.Tensor4D, aug: BatchAugmentation): tf.Tensor4D {
  const [n, height, width, c] = images.shape;
  const index = new Int32Array(n * height * width);
  for (let i = 0; i < n; i++) {
    const [dy, dx] = aug.shifts[i]!;
    for (let y = 0; y < height; y++) {
      const sy = (((y - dy) % height) + height) % height;
      for (let x = 0; x < width; x++) {
        const rx = (((x - dx) % width) + width) % width;
        const sx = aug.flips[i] ? width - 1 - rx : rx;
        index[(i * height + y) * width + x] = (i * height + sy) * width + sx;
      }
    }
  }
  return tf.tidy(() =>
    tf.reshape(tf.gather(tf.reshape(images, [n * height * width, c]), tf.tensor1d(index, 'int32')), [
      n,
      height,
      width,
      c,
    ]),
  );
}
