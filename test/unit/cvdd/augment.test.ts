// Augmentations (ml/methods/cvdd/augment.ts): PyTorch-exact bilinear crop-resize, torch.roll, torchvision
// RandomResizedCrop parameters, CutMix boxes, and oracle §8.9 (stored parameters regenerate
// bit-identical student batches; online and precomputed logits agree).
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import {
  type BatchAugmentation,
  DEFAULT_RANDOM_RESIZED_CROP,
  applyBatchAugmentation,
  bilinearResampleMatrix,
  cropResize,
  rollImages,
  sampleBatchAugmentation,
  sampleRecoveryView,
  sampleResizedCropBox,
} from '../../../ml/methods/cvdd/augment.js';
import { relabelWithCommittee } from '../../../ml/methods/cvdd/index.js';
import { Rng, deriveSeed } from '../../../ml/train/rng.js';
import { expectGradMatchesFd, expectNoLeak } from '../ops/finite-differences.js';
import {
  committeeFromReference,
  disposeCommittee,
  maxAbsDiff,
  pixelImages,
  randomImages,
  tinyArchs,
  tinyConfig,
} from './fixtures.js';

describe('crop + bilinear resize (PyTorch align_corners=False)', () => {
  it('matches F.interpolate on known values and is the identity on a full-size crop', () => {
    expectNoLeak(() => {
      // F.interpolate([[0, 1]], size=4, mode='linear', align_corners=False) = [0, 0.25, 0.75, 1].
      expect(Array.from(bilinearResampleMatrix(2, 0, 2, 4))).toEqual([1, 0, 0.75, 0.25, 0.25, 0.75, 0, 1]);
      const x = tf.tensor4d([0, 1, 2, 3, 4, 5, 6, 7, 8], [1, 3, 3, 1]);
      // Crop rows 1..2, cols 0..1 ([[3, 4], [6, 7]]) and upsample to 4×4: separable [0, .25, .75, 1] weights.
      const up = cropResize(x, { y0: 1, x0: 0, h: 2, w: 2 }, 4, 4);
      const row = (a: number, b: number) => [a, a + 0.25 * (b - a), a + 0.75 * (b - a), b];
      const top = row(3, 4);
      const bottom = row(6, 7);
      const want = [0, 0.25, 0.75, 1].flatMap((t) => top.map((v, j) => v + t * (bottom[j]! - v)));
      Array.from(up.dataSync()).forEach((v, i) => expect(v).toBeCloseTo(want[i]!, 6));
      const same = cropResize(x, { y0: 0, x0: 0, h: 3, w: 3 }, 3, 3);
      expect(maxAbsDiff(same, x)).toBe(0);
      tf.dispose([x, up, same]);
    });
  });

  it('is differentiable: d/dx of a crop-resize-roll-flip view matches finite differences', () => {
    expectNoLeak(() => {
      const x = randomImages(2, 4);
      const w = randomImages(2, 5);
      const u = randomImages(2, 6);
      const f = (xx: tf.Tensor): tf.Scalar =>
        tf.tidy(() => {
          const v = rollImages(
            tf.reverse(cropResize(xx as tf.Tensor4D, { y0: 1, x0: 2, h: 5, w: 6 }, 8, 8), 2) as tf.Tensor4D,
            3,
            1,
          );
          return tf.sum(tf.mul(tf.square(v), w));
        });
      expectGradMatchesFd(f, [x], [u], { eps: 1e-2, tol: 1e-3 });
      tf.dispose([x, w, u]);
    });
  });
});

describe('rollImages (torch.roll over H, W)', () => {
  it('out[i, j] = x[(i − dy) mod H, (j − dx) mod W]', () => {
    expectNoLeak(() => {
      const x = tf.tensor4d(
        Array.from({ length: 2 * 3 * 4 * 2 }, (_x, i) => i),
        [2, 3, 4, 2],
      );
      const xv = x.dataSync();
      for (const [dy, dx] of [
        [0, 0],
        [1, 0],
        [2, 3],
        [4, -1],
      ] as const) {
        const r = rollImages(x, dy, dx);
        const rv = r.dataSync();
        for (let b = 0; b < 2; b++)
          for (let i = 0; i < 3; i++)
            for (let j = 0; j < 4; j++)
              for (let c = 0; c < 2; c++) {
                const si = (((i - dy) % 3) + 3) % 3;
                const sj = (((j - dx) % 4) + 4) % 4;
                expect(rv[((b * 3 + i) * 4 + j) * 2 + c]).toBe(xv[((b * 3 + si) * 4 + sj) * 2 + c]);
              }
        r.dispose();
      }
      x.dispose();
    });
  });
});

describe('random parameters', () => {
  it('RandomResizedCrop boxes lie inside the image with area in scale·H·W (up to rounding) and aspect in ratio', () => {
    const rng = new Rng(3);
    for (let k = 0; k < 500; k++) {
      const box = sampleResizedCropBox(rng, 14, 14, DEFAULT_RANDOM_RESIZED_CROP);
      expect(box.y0).toBeGreaterThanOrEqual(0);
      expect(box.x0).toBeGreaterThanOrEqual(0);
      expect(box.y0 + box.h).toBeLessThanOrEqual(14);
      expect(box.x0 + box.w).toBeLessThanOrEqual(14);
      expect(box.h * box.w).toBeGreaterThanOrEqual(1);
    }
    const narrow = sampleResizedCropBox(new Rng(1), 32, 32, { scale: [0.5, 0.5], ratio: [1, 1] });
    expect(narrow.h).toBe(23);
    expect(narrow.w).toBe(23);
  });

  it('recovery views: one shift in {0..jitter}², no crop or flip when disabled (MNIST profile)', () => {
    const seen = new Set<string>();
    for (let it = 0; it < 200; it++) {
      const v = sampleRecoveryView(new Rng(deriveSeed(1, 'recover-view', it)), 14, 14, {
        crop: null,
        flip: false,
        jitter: 2,
      });
      expect(v.crop).toBeNull();
      expect(v.flip).toBe(false);
      seen.add(v.shift.join(','));
    }
    expect(seen.size).toBe(9);
  });

  it('CutMix follows rand_bbox: side ⌊size·√(1−λ)⌋, centre ± half, clipped', () => {
    for (let seed = 0; seed < 50; seed++) {
      const aug = sampleBatchAugmentation(new Rng(seed), 6, 14, 14, {
        crop: null,
        flip: false,
        roll: 0,
        cutmix: true,
      });
      const { perm, lambda, box } = aug.mix!;
      expect([...perm].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5]);
      expect(lambda).toBeGreaterThanOrEqual(0);
      expect(lambda).toBeLessThan(1);
      const half = Math.floor(Math.floor(14 * Math.sqrt(1 - lambda)) / 2);
      expect(box[1] - box[0]).toBeLessThanOrEqual(2 * half);
      expect(box[3] - box[2]).toBeLessThanOrEqual(2 * half);
      expect(box[0]).toBeGreaterThanOrEqual(0);
      expect(box[1]).toBeLessThanOrEqual(14);
    }
  });
});

describe('oracle 9: replay of student batches', () => {
  it('stored parameters (JSON round trip) regenerate bit-identical batches; online and precomputed logits agree', () => {
    expectNoLeak(() => {
      const reference = pixelImages(32, 1);
      const committee = committeeFromReference(tinyArchs('relu'), reference, [90, 80, 70]);
      reference.dispose();
      const images = pixelImages(6, 8);
      const config = { crop: DEFAULT_RANDOM_RESIZED_CROP, flip: true, roll: 2, cutmix: true };
      const draw = (step: number) =>
        sampleBatchAugmentation(new Rng(deriveSeed(42, 'student-batch', step)), 6, 8, 8, config);
      for (const step of [0, 1, 7]) {
        const params = draw(step);
        expect(draw(step)).toEqual(params);
        const stored = JSON.parse(JSON.stringify(params)) as BatchAugmentation;
        const online = applyBatchAugmentation(images, params);
        const replayed = applyBatchAugmentation(images, stored);
        expect(maxAbsDiff(online, replayed)).toBe(0);
        const weights = [0.5, 0.3, 0.2];
        const a = relabelWithCommittee(online, committee, weights, tinyConfig());
        const b = relabelWithCommittee(replayed, committee, weights, tinyConfig());
        const err = maxAbsDiff(a.logits, b.logits);
        expect(err).toBeLessThan(1e-4);
        tf.dispose([online, replayed, a.logits, a.probabilities, b.logits, b.probabilities]);
      }
      // CutMix replaces exactly the box with the permuted image's pixels.
      const plain: BatchAugmentation = {
        crops: null,
        flips: Array(6).fill(false),
        shifts: Array(6).fill([0, 0]),
        mix: { perm: [1, 2, 3, 4, 5, 0], lambda: 0.5, box: [2, 5, 1, 4] },
      };
      const mixed = applyBatchAugmentation(images, plain);
      const m = mixed.dataSync();
      const src = images.dataSync();
      for (let i = 0; i < 6; i++)
        for (let y = 0; y < 8; y++)
          for (let x = 0; x < 8; x++) {
            const inBox = y >= 2 && y < 5 && x >= 1 && x < 4;
            const from = inBox ? plain.mix!.perm[i]! : i;
            expect(m[(i * 8 + y) * 8 + x]).toBe(src[(from * 8 + y) * 8 + x]);
          }
      expect(() => applyBatchAugmentation(images, { ...plain, flips: [false] })).toThrow(
        /parameters for 1 images, batch has 6/,
      );
      tf.dispose([images, mixed]);
      disposeCommittee(committee);
    });
  });
});
