// Image sets as CV-DD stages see them: subsets, downsampling, the validation split, random real picks.
import { Rng, deriveSeed, permutation } from '../../train/rng.js';

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
