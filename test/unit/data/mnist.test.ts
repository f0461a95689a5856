import { describe, expect, it } from 'vitest';
import { MNIST_NORMALIZATION, loadMnist, mnistClassCounts } from '../../../activities/mnist.js';

function classHistogram(labels: Int32Array): number[] {
  const h = new Array<number>(10).fill(0);
  for (const y of labels) h[y]! += 1;
  return h;
}

describe('loadMnist (bundled mnist digits)', () => {
  it('has the 10,000 real digits of the package', () => {
    const counts = mnistClassCounts();
    expect(counts.reduce((a, b) => a + b, 0)).toBe(10_000);
    expect(Math.min(...counts)).toBe(863);
  });

  it('is deterministic per seed and differs across seeds', () => {
    const a = loadMnist({ seed: 3, trainPerClass: 20, testCount: 50 });
    const b = loadMnist({ seed: 3, trainPerClass: 20, testCount: 50 });
    const c = loadMnist({ seed: 4, trainPerClass: 20, testCount: 50 });
    expect(b.train.ids).toEqual(a.train.ids);
    expect(b.train.images).toEqual(a.train.images);
    expect(b.test.ids).toEqual(a.test.ids);
    expect(c.train.ids).not.toEqual(a.train.ids);
  });

  it('splits train and test disjointly, stratified by class, with consistent rows', () => {
    const d = loadMnist({ seed: 11 });
    expect(d).toMatchObject({ h: 28, w: 28, c: 1, classes: 10 });
    expect(d.train.labels.length).toBe(8000);
    expect(classHistogram(d.train.labels)).toEqual(new Array(10).fill(800));
    expect(d.test.labels.length).toBe(2000);
    expect(classHistogram(d.test.labels)).toEqual(mnistClassCounts().map((n) => n - 800));
    const train = new Set(d.train.ids);
    expect(train.size).toBe(8000);
    expect(d.test.ids.some((id) => train.has(id))).toBe(false);
    // Not class-sorted: the first 100 rows hold several classes.
    expect(new Set(d.train.labels.subarray(0, 100)).size).toBeGreaterThan(5);
    // Each row's pixels are the normalised digit with that id, and its label is the id's class.
    const raw = loadMnist({ seed: 11, normalize: false });
    expect(raw.train.ids).toEqual(d.train.ids);
    const { mean, std } = MNIST_NORMALIZATION;
    for (const i of [0, 1234, 7999]) {
      const px = raw.train.images.subarray(i * 784, (i + 1) * 784);
      expect(Math.min(...px)).toBeGreaterThanOrEqual(0);
      expect(Math.max(...px)).toBeLessThanOrEqual(1);
      expect(Math.max(...px)).toBeGreaterThan(0.5);
      expect(d.train.images[i * 784 + 300]).toBeCloseTo((px[300]! - mean[0]) / std[0], 5);
    }
    const offsets = [0];
    for (const n of mnistClassCounts()) offsets.push(offsets.at(-1)! + n);
    d.train.ids.forEach((id, i) => {
      const y = d.train.labels[i]!;
      if (!(id >= offsets[y]! && id < offsets[y + 1]!))
        throw new Error(`row ${i}: id ${id} is not class ${y}`);
    });
  });

  it('downsamples by f×f averages of the raw pixels before normalising', () => {
    const raw = loadMnist({ seed: 2, trainPerClass: 10, testCount: 10, normalize: false });
    const small = loadMnist({ seed: 2, trainPerClass: 10, testCount: 10, downsample: 2 });
    expect(small).toMatchObject({ h: 14, w: 14, c: 1 });
    expect(small.train.images.length).toBe(100 * 196);
    expect(small.train.ids).toEqual(raw.train.ids);
    const px = (i: number, r: number, q: number): number => raw.train.images[i * 784 + r * 28 + q]!;
    for (const i of [0, 7, 99]) {
      let strokes = 0;
      for (let r = 0; r < 14; r++)
        for (let q = 0; q < 14; q++) {
          const avg =
            (px(i, 2 * r, 2 * q) +
              px(i, 2 * r, 2 * q + 1) +
              px(i, 2 * r + 1, 2 * q) +
              px(i, 2 * r + 1, 2 * q + 1)) /
            4;
          if (avg > 0.1) strokes++;
          expect(small.train.images[i * 196 + r * 14 + q]).toBeCloseTo((avg - 0.1307) / 0.3081, 5);
        }
      expect(strokes).toBeGreaterThan(5); // the comparison covered stroke pixels, not only background
    }
    expect(() => loadMnist({ seed: 0, downsample: 3 })).toThrow(/downsample/);
  });

  it('takes testCount rows in proportion to the class pools', () => {
    const d = loadMnist({ seed: 0, trainPerClass: 100, testCount: 1000 });
    const pools = mnistClassCounts().map((n) => n - 100);
    const total = pools.reduce((a, b) => a + b, 0);
    const h = classHistogram(d.test.labels);
    expect(h.reduce((a, b) => a + b, 0)).toBe(1000);
    h.forEach((n, c) => expect(Math.abs(n - (pools[c]! * 1000) / total)).toBeLessThan(1));
  });

  it('rejects splits the data cannot supply, naming the option', () => {
    expect(() => loadMnist({ seed: 0, trainPerClass: 863 })).toThrow(/trainPerClass/);
    expect(() => loadMnist({ seed: 0, trainPerClass: 800, testCount: 5000 })).toThrow(/testCount/);
    expect(() => loadMnist({ seed: 0.5 })).toThrow(/seed/);
  });
});
