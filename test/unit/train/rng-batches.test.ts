// Seeded randomness and deterministic, step-addressable batches.
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import {
  BatchOrder,
  epochBatches,
  gatherImages,
  gatherLabels,
  gatherRows,
  gatherTokenWindows,
  gatherVectors,
} from '../../../ml/train/batches.js';
import {
  Rng,
  deriveSeed,
  permutation,
  sampleCategorical,
  sampleWithReplacement,
  sampleWithoutReplacement,
  shuffleInPlace,
} from '../../../ml/train/rng.js';
import { expectNoLeak } from '../ops/finite-differences.js';

const draws = (rng: Rng, n: number): number[] => Array.from({ length: n }, () => rng.nextUint32());

describe('Rng', () => {
  it('is a pure function of the seed and resumable from its state', () => {
    expect(draws(new Rng(7), 5)).toEqual(draws(new Rng(7), 5));
    expect(draws(new Rng(7), 5)).not.toEqual(draws(new Rng(8), 5));
    const a = new Rng(42);
    draws(a, 10);
    const b = Rng.fromState(a.state);
    expect(draws(a, 5)).toEqual(draws(b, 5));
  });

  it('produces roughly uniform and normal draws', () => {
    const rng = new Rng(1);
    const n = 20_000;
    const u = Array.from({ length: n }, () => rng.next());
    expect(Math.min(...u)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...u)).toBeLessThan(1);
    expect(u.reduce((a, b) => a + b, 0) / n).toBeCloseTo(0.5, 1);
    const z = Array.from({ length: n }, () => rng.normal());
    const mean = z.reduce((a, b) => a + b, 0) / n;
    const variance = z.reduce((a, b) => a + (b - mean) ** 2, 0) / n;
    expect(Math.abs(mean)).toBeLessThan(0.03);
    expect(Math.abs(variance - 1)).toBeLessThan(0.05);
    const counts = new Array<number>(7).fill(0);
    for (let i = 0; i < 7000; i++) counts[rng.int(7)]!++;
    for (const c of counts) expect(Math.abs(c - 1000)).toBeLessThan(150);
  });

  it('derives distinct, reproducible sub-seeds', () => {
    expect(deriveSeed(3, 'expert', 0)).toBe(deriveSeed(3, 'expert', 0));
    const seeds = new Set([
      deriveSeed(3, 'expert', 0),
      deriveSeed(3, 'expert', 1),
      deriveSeed(4, 'expert', 0),
      deriveSeed(3, 'epoch', 0),
      deriveSeed(3),
    ]);
    expect(seeds.size).toBe(5);
  });

  it('shuffles into permutations and samples without replacement', () => {
    const rng = new Rng(5);
    const p = permutation(50, rng);
    expect(Array.from(p).sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_x, i) => i));
    expect(Array.from(p)).not.toEqual(Array.from({ length: 50 }, (_x, i) => i));
    const arr = ['a', 'b', 'c', 'd'];
    expect([...shuffleInPlace([...arr], new Rng(9))].sort()).toEqual(arr);
    const s = sampleWithoutReplacement(20, 20, rng);
    expect(new Set(s).size).toBe(20);
    expect(() => sampleWithoutReplacement(3, 4, rng)).toThrow(/exceeds/);
    const r = sampleWithReplacement(3, 100, rng);
    expect(Math.max(...r)).toBeLessThan(3);
  });

  it('samples categories in proportion to their weights', () => {
    const rng = new Rng(11);
    const counts = [0, 0, 0];
    for (let i = 0; i < 10_000; i++) counts[sampleCategorical([1, 0, 3], rng)]!++;
    expect(counts[1]).toBe(0);
    expect(counts[2]! / 10_000).toBeCloseTo(0.75, 1);
    expect(() => sampleCategorical([0, 0], rng)).toThrow(/sum to 0/);
  });
});

describe('batches', () => {
  it('epoch batches cover the data once, differ across epochs, and drop the ragged tail', () => {
    const cfg = { n: 10, batchSize: 3, seed: 1 };
    const e0 = epochBatches(cfg, 0);
    expect(e0.map((b) => b.length)).toEqual([3, 3, 3]);
    expect(new Set(e0.flatMap((b) => Array.from(b))).size).toBe(9);
    expect(epochBatches(cfg, 0)).toEqual(e0);
    expect(epochBatches(cfg, 1)).not.toEqual(e0);
    expect(epochBatches({ ...cfg, dropLast: false }, 0).map((b) => b.length)).toEqual([3, 3, 3, 1]);
  });

  it('BatchOrder.indicesAt(step) equals the epoch listing, from any starting step', () => {
    const cfg = { n: 10, batchSize: 3, seed: 4 };
    const order = new BatchOrder(cfg);
    expect(order.batchesPerEpoch).toBe(3);
    const listed = [0, 1, 2].flatMap((e) => epochBatches(cfg, e));
    const fresh = new BatchOrder(cfg); // a resumed run: starts at step 7 with an empty cache
    expect(fresh.indicesAt(7)).toEqual(listed[7]);
    listed.forEach((b, s) => expect(order.indicesAt(s)).toEqual(b));
    expect(() => new BatchOrder({ n: 2, batchSize: 3, seed: 0 })).toThrow(/cannot fill/);
  });

  it('gathers rows of typed arrays into tensors without leaking', () => {
    expectNoLeak(() => {
      const tokens = Int32Array.from({ length: 4 * 3 }, (_x, i) => i); // 4 windows of ctx 3
      const ids = gatherTokenWindows(tokens, 3, [2, 0]);
      expect(ids.dtype).toBe('int32');
      expect(ids.arraySync()).toEqual([
        [6, 7, 8],
        [0, 1, 2],
      ]);
      const pixels = Float32Array.from({ length: 3 * 2 * 2 * 1 }, (_x, i) => i / 10);
      const x = gatherImages(pixels, { h: 2, w: 2, c: 1 }, [1]);
      expect(x.shape).toEqual([1, 2, 2, 1]);
      expect(Array.from(x.dataSync())).toEqual(Array.from(pixels.subarray(4, 8)));
      const y = gatherLabels(Int32Array.from([5, 6, 7]), [2, 2, 0]);
      expect(Array.from(y.dataSync())).toEqual([7, 7, 5]);
      const soft = gatherVectors(Float32Array.from([0.1, 0.9, 0.8, 0.2]), 2, [1]);
      expect(soft.shape).toEqual([1, 2]);
      tf.dispose([ids, x, y, soft]);
      expect(() => gatherRows(tokens, 3, [4])).toThrow(/out of range/);
      expect(() => gatherRows(tokens, 5, [0])).toThrow(/multiple/);
    });
  });
});
