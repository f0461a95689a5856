// Differentiable siamese augmentation (ml/ops/dsa.ts): each transform against a hand-computed result,
// the seeded draws (determinism, ranges, the strategy's transforms only), the siamese property (one
// seed = one transform on batches of any size and content), and first- and second-order gradients
// w.r.t. the pixels against finite differences, including through an unrolled SGD step as trajectory
// matching uses it.
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import {
  DSA_DIGITS,
  type DsaConfig,
  type DsaDraw,
  type DsaStep,
  type DsaTransform,
  applyDsa,
  diffAugment,
  dsaConfig,
  sampleDsa,
} from '../../../ml/ops/dsa.js';
import { softmaxCrossEntropy } from '../../../ml/ops/index.js';
import {
  expectGradMatchesFd,
  expectHvpMatchesFd,
  expectNoLeak,
  randn,
  withTensors,
} from './finite-differences.js';

/** A [b, h, w, c] batch whose value at (n, i, j, ch) is 1000n + 100ch + 10i + j (every pixel distinct). */
function ramp(b: number, h: number, w: number, c = 1): tf.Tensor4D {
  const v = new Float32Array(b * h * w * c);
  for (let n = 0; n < b; n++)
    for (let i = 0; i < h; i++)
      for (let j = 0; j < w; j++)
        for (let ch = 0; ch < c; ch++) v[((n * h + i) * w + j) * c + ch] = 1000 * n + 100 * ch + 10 * i + j;
  return tf.tensor4d(v, [b, h, w, c]);
}

function draw(h: number, w: number, step: DsaStep, draws = 1): DsaDraw {
  return { h, w, draws, steps: [step] };
}

/** Applies a draw to one image and returns it as nested arrays [h][w] (channel 0). */
function applied(x: tf.Tensor4D, d: DsaDraw): number[][] {
  return tf.tidy(() => {
    const y = applyDsa(x, d);
    return (y.arraySync() as number[][][][])[0]!.map((row) => row.map((px) => px[0]!));
  });
}

function pixel(i: number, j: number, h: number, w: number): number {
  return i >= 0 && i < h && j >= 0 && j < w ? 10 * i + j : 0;
}

function expectClose(got: number[][], want: number[][], digits = 4): void {
  got.forEach((row, i) =>
    row.forEach((v, j) => expect(v, `pixel (${i}, ${j})`).toBeCloseTo(want[i]![j]!, digits)),
  );
}

function maxAbsDifference(a: number[][][], b: number[][][]): number {
  const x = a.flat(2);
  const y = b.flat(2);
  expect(x.length).toBe(y.length);
  return Math.max(...x.map((v, i) => Math.abs(v - y[i]!)));
}

function grid(h: number, w: number, f: (i: number, j: number) => number): number[][] {
  return Array.from({ length: h }, (_r, i) => Array.from({ length: w }, (_c, j) => f(i, j)));
}

describe('DSA transforms (ml/ops/dsa.ts)', () => {
  it('crop translates by whole pixels with zero fill', () => {
    withTensors(
      () => [ramp(1, 6, 7)],
      (x) => {
        const got = applied(x as tf.Tensor4D, draw(6, 7, { op: 'crop', rows: [1], cols: [-2] }));
        expect(got).toEqual(grid(6, 7, (i, j) => pixel(i + 1, j - 2, 6, 7)));
      },
    );
  });

  it('flip mirrors the width; no flip is the identity', () => {
    withTensors(
      () => [ramp(1, 5, 6)],
      (x) => {
        expect(applied(x as tf.Tensor4D, draw(5, 6, { op: 'flip', flip: [true] }))).toEqual(
          grid(5, 6, (i, j) => pixel(i, 5 - j, 5, 6)),
        );
        expect(applied(x as tf.Tensor4D, draw(5, 6, { op: 'flip', flip: [false] }))).toEqual(
          grid(5, 6, (i, j) => pixel(i, j, 5, 6)),
        );
      },
    );
  });

  it('cutout zeroes exactly its box', () => {
    withTensors(
      () => [ramp(1, 6, 6)],
      (x) => {
        const step: DsaStep = { op: 'cutout', top: [2], bottom: [4], left: [0], right: [1] };
        expect(applied(x as tf.Tensor4D, draw(6, 6, step))).toEqual(
          grid(6, 6, (i, j) => (i >= 2 && i <= 4 && j <= 1 ? 0 : pixel(i, j, 6, 6))),
        );
      },
    );
  });

  it('scale samples x_out·s (align_corners): s = 1 is the identity, s = 2 takes every other pixel', () => {
    withTensors(
      () => [ramp(1, 5, 5)],
      (x) => {
        const x4 = x as tf.Tensor4D;
        expectClose(
          applied(x4, draw(5, 5, { op: 'scale', sx: [1], sy: [1] })),
          grid(5, 5, (i, j) => pixel(i, j, 5, 5)),
        );
        // Normalised source 2·x_n lands on pixel 2j − 2: inside for j = 1..3, zero padding outside.
        expectClose(
          applied(x4, draw(5, 5, { op: 'scale', sx: [2], sy: [2] })),
          grid(5, 5, (i, j) =>
            i >= 1 && i <= 3 && j >= 1 && j <= 3 ? pixel(2 * i - 2, 2 * j - 2, 5, 5) : 0,
          ),
        );
        // sx = 1.5 along the width only: column 1 samples halfway between columns 0 and 1 of a
        // 5-wide image (x_n = −0.5 → −0.75 → pixel 0.5).
        const half = applied(x4, draw(5, 5, { op: 'scale', sx: [1.5], sy: [1] }));
        expect(half[3]![1]).toBeCloseTo((pixel(3, 0, 5, 5) + pixel(3, 1, 5, 5)) / 2, 4);
      },
    );
  });

  it('rotate by 90° is the exact quarter turn of F.affine_grid: out[i][j] = in[j][n − 1 − i]', () => {
    withTensors(
      () => [ramp(1, 5, 5)],
      (x) => {
        const got = applied(x as tf.Tensor4D, draw(5, 5, { op: 'rotate', angle: [Math.PI / 2] }));
        expectClose(
          got,
          grid(5, 5, (i, j) => pixel(j, 4 - i, 5, 5)),
        );
      },
    );
  });

  it('color: brightness, saturation (per pixel over channels) and contrast (per image) in that order', () => {
    withTensors(
      () => [randn([2, 3, 4, 3], 31)],
      (x) => {
        const step: DsaStep = {
          op: 'color',
          brightness: [0.3, -0.2],
          saturation: [1.5, 0.4],
          contrast: [0.7, 1.2],
        };
        const got = tf.tidy(() => applyDsa(x as tf.Tensor4D, draw(3, 4, step, 2)).arraySync());
        const xs = (x as tf.Tensor4D).arraySync();
        xs.forEach((img, n) => {
          const b = img.map((row) => row.map((px) => px.map((v) => v + step.brightness[n]!)));
          const s = b.map((row) =>
            row.map((px) => {
              const m = px.reduce((a, v) => a + v, 0) / px.length;
              return px.map((v) => (v - m) * step.saturation[n]! + m);
            }),
          );
          const flat = s.flat(2);
          const m = flat.reduce((a, v) => a + v, 0) / flat.length;
          s.forEach((row, i) =>
            row.forEach((px, j) =>
              px.forEach((v, ch) =>
                expect(got[n]![i]![j]![ch]!).toBeCloseTo((v - m) * step.contrast[n]! + m, 4),
              ),
            ),
          );
        });
      },
    );
  });
});

describe('DSA draws', () => {
  const size = { images: 4, h: 28, w: 28 };

  it('are a pure function of the seed; different seeds give different draws', () => {
    expect(sampleDsa(DSA_DIGITS, size, 7)).toEqual(sampleDsa(DSA_DIGITS, size, 7));
    const distinct = new Set([1, 2, 3, 4, 5, 6].map((s) => JSON.stringify(sampleDsa(DSA_DIGITS, size, s))));
    expect(distinct.size).toBe(6);
  });

  it("'single' picks one transform of the strategy per call, every one of them over seeds, never flip for digits", () => {
    const seen = new Map<DsaTransform, number>();
    for (let seed = 0; seed < 200; seed++) {
      const d = sampleDsa(DSA_DIGITS, size, seed);
      expect(d.steps).toHaveLength(1);
      seen.set(d.steps[0]!.op, (seen.get(d.steps[0]!.op) ?? 0) + 1);
    }
    expect([...seen.keys()].sort()).toEqual(['color', 'crop', 'cutout', 'rotate', 'scale']);
    for (const count of seen.values()) expect(count).toBeGreaterThan(20);
  });

  it("'every' applies the whole strategy in order, with ParamDiffAug's ranges at 28×28 and 14×14", () => {
    const every: DsaConfig = {
      ...DSA_DIGITS,
      strategy: 'color_crop_cutout_flip_scale_rotate',
      mode: 'every',
    };
    for (const side of [28, 14]) {
      const d = sampleDsa(every, { images: 500, h: side, w: side }, 11);
      expect(d.steps.map((s) => s.op)).toEqual(['color', 'crop', 'cutout', 'flip', 'scale', 'rotate']);
      const [color, crop, cutout, flip, scale, rotate] = d.steps as [
        Extract<DsaStep, { op: 'color' }>,
        Extract<DsaStep, { op: 'crop' }>,
        Extract<DsaStep, { op: 'cutout' }>,
        Extract<DsaStep, { op: 'flip' }>,
        Extract<DsaStep, { op: 'scale' }>,
        Extract<DsaStep, { op: 'rotate' }>,
      ];
      const within = (v: number[], lo: number, hi: number) => {
        expect(Math.min(...v)).toBeGreaterThanOrEqual(lo);
        expect(Math.max(...v)).toBeLessThanOrEqual(hi);
      };
      within(color.brightness, -0.5, 0.5);
      within(color.saturation, 0, 2);
      within(color.contrast, 0.5, 1.5);
      // int(side · 0.125 + 0.5): 4 px at 28, 2 px at 14, both ends reached.
      const shift = side === 28 ? 4 : 2;
      expect(Math.min(...crop.rows, ...crop.cols)).toBe(-shift);
      expect(Math.max(...crop.rows, ...crop.cols)).toBe(shift);
      // A square of int(side · 0.5 + 0.5) = side/2 clipped to the image.
      cutout.top.forEach((t, k) => {
        expect(cutout.bottom[k]! - t + 1).toBeLessThanOrEqual(side / 2);
        expect(t).toBeGreaterThanOrEqual(0);
        expect(cutout.bottom[k]!).toBeLessThan(side);
      });
      expect(cutout.top.some((t, k) => cutout.bottom[k]! - t + 1 === side / 2)).toBe(true);
      const flips = flip.flip.filter(Boolean).length;
      expect(flips).toBeGreaterThan(200);
      expect(flips).toBeLessThan(300);
      within([...scale.sx, ...scale.sy], 1 / 1.2, 1.2);
      within(rotate.angle, (-15 * Math.PI) / 180, (15 * Math.PI) / 180);
    }
  });

  it('a shared draw has one parameter set whatever the batch size', () => {
    const a = sampleDsa(DSA_DIGITS, { images: 3, h: 14, w: 14 }, 5, { shared: true });
    const b = sampleDsa(DSA_DIGITS, { images: 50, h: 14, w: 14 }, 5, { shared: true });
    expect(a.draws).toBe(1);
    expect(a).toEqual(b);
  });

  it('rejects unknown transforms, bad magnitudes and draws that do not fit the batch', () => {
    expect(() => dsaConfig({ strategy: 'color_noise' })).toThrow(/unknown transform "noise"/);
    expect(() => dsaConfig({ scale: 0.5 })).toThrow(/scale/);
    expect(() => dsaConfig({ flipProbability: 2 })).toThrow(/flipProbability/);
    withTensors(
      () => [ramp(3, 6, 6)],
      (x) => {
        const d = sampleDsa(DSA_DIGITS, { images: 2, h: 6, w: 6 }, 1);
        expect(() => applyDsa(x as tf.Tensor4D, d)).toThrow(/2 parameter sets for a batch of 3/);
        const other = sampleDsa(DSA_DIGITS, { images: 3, h: 7, w: 6 }, 1);
        expect(() => applyDsa(x as tf.Tensor4D, other)).toThrow(/7×6/);
      },
    );
  });
});

describe('DSA siamese property: one seed, one transform on both branches', () => {
  const every: DsaConfig = { ...DSA_DIGITS, mode: 'every' };
  // 'every' exercises all five digit transforms in one call; the single-transform seeds cover each alone.
  const cases: [string, DsaConfig, number][] = [
    ['every transform', every, 3],
    ...[0, 1, 2, 3, 4, 5, 6, 7].map((seed): [string, DsaConfig, number] => [
      `single, seed ${seed} (${sampleDsa(DSA_DIGITS, { images: 1, h: 9, w: 9 }, seed).steps[0]!.op})`,
      DSA_DIGITS,
      seed,
    ]),
  ];
  for (const [label, config, seed] of cases) {
    it(`${label}: real and synthetic batches of different sizes get the transform each image gets alone`, () => {
      withTensors(
        () => [randn([5, 9, 9, 1], 41), randn([2, 9, 9, 1], 42)],
        (real, synthetic) => {
          for (const batch of [real, synthetic] as tf.Tensor4D[]) {
            const together = tf.tidy(() => diffAugment(batch, config, seed, { shared: true }).arraySync());
            for (let n = 0; n < batch.shape[0]; n++) {
              const alone = tf.tidy(() =>
                diffAugment(tf.slice(batch, n, 1), config, seed, { shared: true }).arraySync(),
              );
              // Equal up to float32 roundoff: a batched matMul may sum in another order.
              expect(maxAbsDifference(together[n]!, alone[0]!)).toBeLessThan(1e-5);
            }
          }
        },
      );
    });
  }

  it('different seeds give different transforms; per-image draws transform equal images differently', () => {
    withTensors(
      () => [tf.tidy(() => tf.tile(randn([1, 9, 9, 1], 43), [6, 1, 1, 1]))],
      (copies) => {
        const x = copies as tf.Tensor4D;
        // Image 0 under six seeds, and the six images under one per-image draw: all pairwise far apart.
        const bySeed = [0, 1, 2, 3, 4, 5].map((seed) =>
          tf.tidy(() => diffAugment(x, every, seed, { shared: true }).arraySync()[0]!),
        );
        const perImage = tf.tidy(() => diffAugment(x, every, 9).arraySync());
        for (const images of [bySeed, perImage])
          images.forEach((a, i) =>
            images.slice(i + 1).forEach((b) => expect(maxAbsDifference(a, b)).toBeGreaterThan(0.1)),
          );
        const shared = tf.tidy(() => diffAugment(x, every, 9, { shared: true }).arraySync());
        shared.forEach((img) => expect(maxAbsDifference(img, shared[0]!)).toBeLessThan(1e-5));
      },
    );
  });

  it('is deterministic and leaves no tensor behind', () => {
    withTensors(
      () => [randn([4, 14, 14, 1], 44)],
      (x) => {
        expectNoLeak(() => {
          const a = diffAugment(x as tf.Tensor4D, every, 21);
          const b = diffAugment(x as tf.Tensor4D, every, 21);
          expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
          const g = tf.grad((xx: tf.Tensor) => tf.sum(tf.square(diffAugment(xx as tf.Tensor4D, every, 21))))(
            x,
          );
          tf.dispose([a, b, g]);
        });
      },
    );
  });
});

describe('DSA gradients w.r.t. the pixels', () => {
  const SHAPE = [2, 7, 7, 2];
  const setup = () => [
    tf.tidy(() => tf.mul(randn(SHAPE, 51), 0.7)),
    randn(SHAPE, 52), // R
    randn(SHAPE, 53), // v
    randn(SHAPE, 54), // u
  ];
  const steps: [string, DsaStep][] = [
    ['color', { op: 'color', brightness: [0.3, -0.2], saturation: [1.5, 0.4], contrast: [0.7, 1.2] }],
    ['crop', { op: 'crop', rows: [1, -2], cols: [0, 2] }],
    ['cutout', { op: 'cutout', top: [1, 0], bottom: [3, 6], left: [2, 5], right: [5, 6] }],
    ['flip', { op: 'flip', flip: [true, false] }],
    ['scale', { op: 'scale', sx: [1.13, 0.87], sy: [0.91, 1.18] }],
    ['rotate', { op: 'rotate', angle: [0.21, -0.17] }],
  ];
  for (const [name, step] of steps) {
    const d = draw(7, 7, step, 2);
    const augment = (x: tf.Tensor) => applyDsa(x as tf.Tensor4D, d);
    // Scaled so that tanh'' is far from zero where the augmented pixels land.
    const f = (R: tf.Tensor) => (x: tf.Tensor) =>
      tf.sum(tf.mul(R, tf.tanh(tf.mul(augment(x), 1.5)))) as tf.Scalar;

    it(`${name}: first order matches finite differences`, () => {
      withTensors(setup, (x, R, _v, u) => {
        expectGradMatchesFd(f(R!), [x!], [u!]);
      });
    });

    it(`${name}: second order (Hessian-vector product) matches finite differences`, () => {
      withTensors(setup, (x, R, v, u) => {
        expectHvpMatchesFd(f(R!), [x!], [v!], [u!], { tol: 2e-3 });
      });
    });
  }

  it('through an unrolled SGD step: d/dX of a matching loss on θ − α∇θ CE(f(DSA(X)); θ) matches finite differences', () => {
    // A tiny conv → tanh → dense student; each of the two steps draws its own augmentation.
    const config: DsaConfig = { ...DSA_DIGITS, mode: 'every' };
    withTensors(
      () => [
        tf.tidy(() => tf.mul(randn([3, 6, 6, 1], 61), 0.8)),
        tf.tidy(() => tf.oneHot(tf.tensor1d([0, 1, 2], 'int32'), 3, 1, 0, 'float32')),
        randn([3, 3, 1, 2], 62, 0.5),
        randn([72, 3], 63, 0.3),
        randn([3, 3, 1, 2], 64, 0.5),
        randn([72, 3], 65, 0.3),
        randn([3, 6, 6, 1], 66),
      ],
      (x, labels, w0, d0, w1, d1, u) => {
        const logits = (w: tf.Tensor, d: tf.Tensor, xb: tf.Tensor) =>
          tf.matMul(
            tf.reshape(tf.tanh(tf.conv2d(xb as tf.Tensor4D, w as tf.Tensor4D, 1, 'same')), [3, 72]),
            d as tf.Tensor2D,
          );
        const loss = (xx: tf.Tensor): tf.Scalar => {
          let theta = [w0!, d0!];
          for (const seed of [101, 102]) {
            const xb = diffAugment(xx as tf.Tensor4D, config, seed);
            const g = tf.grads(
              (w: tf.Tensor, d: tf.Tensor) =>
                tf.mean(softmaxCrossEntropy(logits(w, d, xb), labels!)) as tf.Scalar,
            )(theta);
            theta = theta.map((t, i) => tf.sub(t, tf.mul(g[i]!, 0.5)));
          }
          return tf.addN([
            tf.sum(tf.square(tf.sub(theta[0]!, w1!))),
            tf.sum(tf.square(tf.sub(theta[1]!, d1!))),
          ]) as tf.Scalar;
        };
        expectGradMatchesFd(loss, [x!], [u!], { tol: 2e-3, minMagnitude: 1e-4 });
      },
    );
  });
});
