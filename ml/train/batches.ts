// Deterministic data order and minibatch assembly. The order is a pure function of (seed, epoch), and
// `batchIndicesAt(step)` is addressable by global step, so a training chunk resumed from a checkpoint
// at step s sees exactly the batches an uninterrupted run would have seen (rewarm spec §8: "identical
// seeds and data order → identical metrics"; DESIGN.md §8 fault tests).
//
// ml/ never touches Arrow: activities hand over plain typed arrays (token windows as Int32Array
// [N·ctx], pixels as Float32Array [N·h·w·c], labels as Int32Array [N]) and these helpers copy the
// selected rows into tensors.
import * as tf from '@tensorflow/tfjs-core';
import { Rng, deriveSeed, permutation } from './rng.js';

/** The permutation of 0..n-1 used for `epoch` under `seed`. */
export function epochPermutation(n: number, seed: number, epoch: number): Int32Array {
  return permutation(n, new Rng(deriveSeed(seed, 'epoch', epoch)));
}

export interface BatchOrderConfig {
  /** Number of rows in the training set. */
  n: number;
  batchSize: number;
  seed: number;
  /**
   * Drop the incomplete last batch of each epoch (default true): every batch then has the same shape,
   * which keeps step costs uniform and matches PyTorch `drop_last=True` loaders.
   */
  dropLast?: boolean;
}

/** All batches of one epoch, as index arrays into the training set. */
export function epochBatches(
  { n, batchSize, seed, dropLast = true }: BatchOrderConfig,
  epoch: number,
): Int32Array[] {
  const perm = epochPermutation(n, seed, epoch);
  const out: Int32Array[] = [];
  for (let start = 0; start < n; start += batchSize) {
    const end = Math.min(start + batchSize, n);
    if (dropLast && end - start < batchSize) break;
    out.push(perm.slice(start, end));
  }
  return out;
}

/**
 * Step-addressable batch order: `indicesAt(s)` is batch `s mod B` of epoch `floor(s / B)` where B is
 * the number of batches per epoch. Caches the current epoch's permutation.
 */
export class BatchOrder {
  readonly batchesPerEpoch: number;
  private cachedEpoch = -1;
  private cachedPerm: Int32Array = new Int32Array(0);

  constructor(readonly config: BatchOrderConfig) {
    const { n, batchSize, dropLast = true } = config;
    if (!(Number.isInteger(batchSize) && batchSize > 0))
      throw new RangeError(`BatchOrder: batchSize must be a positive integer, got ${batchSize}`);
    this.batchesPerEpoch = dropLast ? Math.floor(n / batchSize) : Math.ceil(n / batchSize);
    if (this.batchesPerEpoch === 0)
      throw new RangeError(`BatchOrder: n=${n} rows cannot fill one batch of ${batchSize} (dropLast)`);
  }

  epochOf(step: number): number {
    return Math.floor(step / this.batchesPerEpoch);
  }

  indicesAt(step: number): Int32Array {
    const epoch = this.epochOf(step);
    if (epoch !== this.cachedEpoch) {
      this.cachedPerm = epochPermutation(this.config.n, this.config.seed, epoch);
      this.cachedEpoch = epoch;
    }
    const start = (step - epoch * this.batchesPerEpoch) * this.config.batchSize;
    return this.cachedPerm.slice(start, Math.min(start + this.config.batchSize, this.config.n));
  }
}

type RowArray = Float32Array | Int32Array;

/** Copies rows `indices` (each `rowLength` long) out of a flat row-major array. */
export function gatherRows<T extends RowArray>(data: T, rowLength: number, indices: ArrayLike<number>): T {
  const rows = data.length / rowLength;
  if (!Number.isInteger(rows))
    throw new RangeError(
      `gatherRows: data length ${data.length} is not a multiple of row length ${rowLength}`,
    );
  const out = new (data.constructor as new (n: number) => T)(indices.length * rowLength);
  for (let i = 0; i < indices.length; i++) {
    const r = indices[i]!;
    if (!(r >= 0 && r < rows)) throw new RangeError(`gatherRows: row index ${r} out of range [0, ${rows})`);
    out.set(data.subarray(r * rowLength, (r + 1) * rowLength), i * rowLength);
  }
  return out;
}

/** Token windows [N·ctx] → int32 tensor [B, ctx] of the selected rows. */
export function gatherTokenWindows(tokens: Int32Array, ctx: number, indices: ArrayLike<number>): tf.Tensor2D {
  return tf.tensor2d(gatherRows(tokens, ctx, indices), [indices.length, ctx], 'int32');
}

export interface ImageShape {
  h: number;
  w: number;
  c: number;
}

/** Pixels [N·h·w·c] (HWC row-major, DESIGN.md §2) → float32 tensor [B, h, w, c]. */
export function gatherImages(
  pixels: Float32Array,
  { h, w, c }: ImageShape,
  indices: ArrayLike<number>,
): tf.Tensor4D {
  return tf.tensor4d(gatherRows(pixels, h * w * c, indices), [indices.length, h, w, c], 'float32');
}

/** Labels [N] → int32 tensor [B]. */
export function gatherLabels(labels: Int32Array, indices: ArrayLike<number>): tf.Tensor1D {
  return tf.tensor1d(gatherRows(labels, 1, indices), 'int32');
}

/** Soft labels / per-row vectors [N·k] → float32 tensor [B, k]. */
export function gatherVectors(values: Float32Array, k: number, indices: ArrayLike<number>): tf.Tensor2D {
  return tf.tensor2d(gatherRows(values, k, indices), [indices.length, k], 'float32');
}
