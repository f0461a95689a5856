// The MTT ConvNet (distill-trajectory-matching.md §3, §9.3) and its BatchNorm variant for the CV-DD
// committee (distill-committee-voting.md §3, §6).
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import {
  type ConvNetConfig,
  convNetConfig,
  convNetForward,
  convNetForwardWithStats,
  convNetLayout,
  featureShape,
  flattenConvNetParams,
  initBatchNormStats,
  initConvNetParams,
  instanceNorm,
  packBatchNormStats,
  paramCount,
  unflattenConvNetParams,
  unpackBatchNormStats,
  updateBatchNormStats,
} from '../../../ml/models/convnet.js';
import { classificationLoss } from '../../../ml/train/loops.js';
import {
  expectGradMatchesFd,
  expectHvpMatchesFd,
  expectNoLeak,
  randn,
  withStockOps,
} from '../ops/finite-differences.js';

const tiny = convNetConfig({ h: 8, w: 8, c: 2, classes: 3, width: 4, depth: 2 });

/** Random direction with N(0, scale²) entries: 0.1 for parameters (init bounds are ~0.1–0.3), 1 for pixels. */
function direction(shape: number[], seed: number, scale: number): tf.Tensor {
  return randn(shape, seed, scale);
}

function labels(b: number, classes: number): tf.Tensor1D {
  return tf.tensor1d(
    Array.from({ length: b }, (_x, i) => i % classes),
    'int32',
  );
}

describe('ConvNet layout and init', () => {
  it('matches the spec parameter counts (MNIST W128 D3 pad 3; 14×14 W8 D2 = 1,426, §10.2)', () => {
    const mtt = convNetConfig({});
    expect(featureShape(mtt)).toEqual({ h: 4, w: 4, channels: 128 }); // 28 → pad 3 → 32 → 16 → 8 → 4
    expect(paramCount(mtt)).toBe(
      9 * 1 * 128 + 128 + 256 + 2 * (9 * 128 * 128 + 128 + 256) + 4 * 4 * 128 * 10 + 10,
    );
    expect(paramCount(convNetConfig({ h: 14, w: 14, width: 8, depth: 2 }))).toBe(1426);
    const cifar = convNetConfig({ h: 32, w: 32, c: 3 });
    expect(paramCount(cifar)).toBe(320_010); // "about 320k" (spec §2.2)
    expect(convNetLayout(tiny).map((s) => s.name)).toEqual([
      'conv0.w',
      'conv0.b',
      'norm0.gamma',
      'norm0.beta',
      'conv1.w',
      'conv1.b',
      'norm1.gamma',
      'norm1.beta',
      'fc.w',
      'fc.b',
    ]);
    expect(convNetLayout({ ...tiny, norm: 'none' }).map((s) => s.name)).toEqual([
      'conv0.w',
      'conv0.b',
      'conv1.w',
      'conv1.b',
      'fc.w',
      'fc.b',
    ]);
    expect(convNetLayout(tiny)[0]).toEqual({ name: 'conv0.w', shape: [3, 3, 2, 4], offset: 0, size: 72 });
    expect(() => convNetConfig({ h: 4, w: 4, depth: 3 })).toThrow(/fewer blocks/);
  });

  it('initialises PyTorch-style (U(±1/√fan_in), gamma 1, beta 0), deterministically per seed', () => {
    expectNoLeak(() => {
      const config = convNetConfig({ h: 8, w: 8, c: 2, classes: 3, width: 16, depth: 2 });
      const flat = initConvNetParams(config, 3);
      const named = unflattenConvNetParams(config, flat);
      const values = (n: string): Float32Array => named[n]!.dataSync() as Float32Array;
      expect(Array.from(values('norm0.gamma'))).toEqual(new Array(16).fill(1));
      expect(Array.from(values('norm1.beta'))).toEqual(new Array(16).fill(0));
      const bound1 = 1 / Math.sqrt(9 * 16);
      const w1 = values('conv1.w');
      expect(Math.max(...w1.map(Math.abs))).toBeLessThanOrEqual(bound1);
      const std = Math.sqrt(w1.reduce((a, v) => a + v * v, 0) / w1.length);
      expect(std / (bound1 / Math.sqrt(3))).toBeCloseTo(1, 1); // variance of U(-b, b) is b²/3
      expect(Math.max(...values('fc.b').map(Math.abs))).toBeLessThanOrEqual(1 / Math.sqrt(2 * 2 * 16));
      const again = initConvNetParams(config, 3);
      const other = initConvNetParams(config, 4);
      expect(Array.from(again.dataSync())).toEqual(Array.from(flat.dataSync()));
      expect(Array.from(other.dataSync())).not.toEqual(Array.from(flat.dataSync()));
      tf.dispose([flat, again, other, ...Object.values(named)]);
    });
  });

  it('round-trips flat ↔ named parameters bit-identically', () => {
    expectNoLeak(() => {
      const flat = initConvNetParams(tiny, 1);
      const named = unflattenConvNetParams(tiny, flat);
      expect(named['conv1.w']!.shape).toEqual([3, 3, 4, 4]);
      expect(named['fc.w']!.shape).toEqual([16, 3]);
      const back = flattenConvNetParams(tiny, named);
      expect(Array.from(back.dataSync())).toEqual(Array.from(flat.dataSync()));
      const { 'fc.b': _drop, ...missing } = named;
      expect(() => flattenConvNetParams(tiny, missing)).toThrow(/"fc.b" missing/);
      tf.dispose([flat, back, ...Object.values(named)]);
    });
  });
});

describe('ConvNet forward', () => {
  it('gives logits [B, classes] for MNIST 28×28×1 (padded to 32×32) and other shapes, without leaks', () => {
    expectNoLeak(() => {
      for (const config of [
        convNetConfig({ width: 8 }),
        convNetConfig({ h: 14, w: 14, width: 8, depth: 2 }),
        convNetConfig({ h: 7, w: 7, width: 4, depth: 1 }),
        convNetConfig({ h: 32, w: 32, c: 3, width: 8, norm: 'none' }),
      ]) {
        const params = initConvNetParams(config, 0);
        const x = randn([3, config.h, config.w, config.c], 1);
        const logits = convNetForward(config, params, x);
        expect(logits.shape).toEqual([3, config.classes]);
        expect(Array.from(logits.dataSync()).every(Number.isFinite)).toBe(true);
        tf.dispose([params, x, logits]);
      }
    });
  });

  it('rejects inputs and parameter vectors of the wrong shape, naming both', () => {
    expectNoLeak(() => {
      const params = initConvNetParams(tiny, 0);
      const x = tf.zeros([1, 8, 8, 3]);
      expect(() => convNetForward(tiny, params, x)).toThrow(/expected \[B, 8, 8, 2\], got \[1,8,8,3\]/);
      const short = tf.zeros([10]);
      const ok = tf.zeros([1, 8, 8, 2]);
      expect(() => convNetForward(tiny, short, ok)).toThrow(/flat vector of \d+ values/);
      tf.dispose([params, x, short, ok]);
    });
  });

  it('im2col kernels (spec §9.3) match tf.conv2d / tf.avgPool, with padding 3 and odd sizes', () => {
    expectNoLeak(() => {
      for (const config of [
        convNetConfig({ width: 4, depth: 2 }),
        convNetConfig({ h: 7, w: 9, c: 3, width: 5, depth: 2 }),
      ]) {
        const params = initConvNetParams(config, 2);
        const x = randn([2, config.h, config.w, config.c], 3);
        const a = convNetForward(config, params, x);
        const b = convNetForward(config, params, x, { kernels: 'im2col' });
        const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);
        expect(diff).toBeLessThan(1e-4);
        tf.dispose([params, x, a, b]);
      }
    });
  });
});

describe('instance norm', () => {
  it('normalises each sample and channel over H, W (biased variance), then applies gamma/beta', () => {
    expectNoLeak(() => {
      const h = tf.tidy(() => tf.add(tf.mul(randn([2, 5, 5, 3], 4), 3), 7) as tf.Tensor4D);
      const gamma = tf.tensor1d([1, 2, 0.5]);
      const beta = tf.tensor1d([0, -1, 4]);
      const y = instanceNorm(h, gamma, beta);
      const { mean, variance } = tf.moments(y, [1, 2]);
      const m = mean.arraySync() as number[][];
      const v = variance.arraySync() as number[][];
      for (let b = 0; b < 2; b++) {
        [0, -1, 4].forEach((want, c) => expect(m[b]![c]).toBeCloseTo(want, 4));
        [1, 4, 0.25].forEach((want, c) => expect(v[b]![c]).toBeCloseTo(want, 3));
      }
      tf.dispose([h, gamma, beta, y, mean, variance]);
    });
  });

  it('makes the logits independent of the conv biases (the per-channel mean is removed)', () => {
    expectNoLeak(() => {
      const params = initConvNetParams(tiny, 5);
      const x = randn([2, 8, 8, 2], 6);
      const named = unflattenConvNetParams(tiny, params);
      const b0 = tf.add(named['conv0.b']!, 3);
      const b1 = tf.sub(named['conv1.b']!, 2);
      const shifted = flattenConvNetParams(tiny, { ...named, 'conv0.b': b0, 'conv1.b': b1 });
      const a = convNetForward(tiny, params, x);
      const b = convNetForward(tiny, shifted, x);
      const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);
      expect(diff).toBeLessThan(1e-4);
      tf.dispose([params, x, b0, b1, shifted, a, b, ...Object.values(named)]);
    });
  });

  it('fused ops skip the cancelled bias: stock logits and gradients, the bias gradient exactly 0', () => {
    expectNoLeak(() => {
      const params = initConvNetParams(tiny, 7);
      const x = randn([3, 8, 8, 2], 8);
      const labels = tf.tidy(() => tf.oneHot(tf.tensor1d([0, 2, 1], 'int32'), 3));
      const run = () =>
        tf.tidy(() => {
          const { value, grads } = tf.valueAndGrads((p: tf.Tensor) =>
            tf.losses.softmaxCrossEntropy(labels, convNetForward(tiny, p, x)),
          )([params]);
          return { loss: value.dataSync()[0]!, grad: Array.from(grads[0]!.dataSync()) };
        });
      const fused = run();
      const stock = withStockOps(run);
      expect(Math.abs(fused.loss - stock.loss)).toBeLessThan(1e-5);
      const layout = convNetLayout(tiny);
      let biasEntries = 0;
      for (const entry of layout) {
        const slice = (g: number[]) => g.slice(entry.offset, entry.offset + entry.size);
        if (/^conv\d+\.b$/.test(entry.name)) {
          biasEntries += entry.size;
          expect(slice(fused.grad).every((v) => v === 0)).toBe(true);
          for (const v of slice(stock.grad)) expect(Math.abs(v)).toBeLessThan(1e-5);
        } else {
          const f = slice(fused.grad);
          const st = slice(stock.grad);
          const scale = Math.max(...st.map(Math.abs));
          expect(scale).toBeGreaterThan(1e-4);
          for (let i = 0; i < f.length; i++)
            expect(Math.abs(f[i]! - st[i]!)).toBeLessThan(1e-4 * scale + 1e-6);
        }
      }
      expect(biasEntries).toBe(2 * tiny.width);
      tf.dispose([params, x, labels]);
    });
  });
});

describe('batch norm (committee members)', () => {
  const bn: ConvNetConfig = convNetConfig({ ...tiny, norm: 'batchnorm' });

  it('returns each layer’s batch mean/variance of its input in training mode', () => {
    expectNoLeak(() => {
      const params = initConvNetParams(bn, 7);
      const x = randn([3, 8, 8, 2], 8);
      const { logits, batchStats } = convNetForwardWithStats(bn, params, x, { training: true });
      expect(logits.shape).toEqual([3, 3]);
      expect(batchStats.map((s) => [s.mean.shape, s.variance.shape, s.count])).toEqual([
        [[4], [4], 3 * 8 * 8],
        [[4], [4], 3 * 4 * 4],
      ]);
      // Layer 0's input is conv0(x) + b: recompute it directly.
      const named = unflattenConvNetParams(bn, params);
      const want = tf.tidy(() =>
        tf.moments(
          tf.add(tf.conv2d(x as tf.Tensor4D, named['conv0.w'] as tf.Tensor4D, 1, 'same'), named['conv0.b']!),
          [0, 1, 2],
        ),
      );
      const close = (a: tf.Tensor, b: tf.Tensor): number =>
        tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);
      expect(close(batchStats[0]!.mean, want.mean)).toBeLessThan(1e-5);
      expect(close(batchStats[0]!.variance, want.variance)).toBeLessThan(1e-5);

      // Eval mode with running stats equal to this batch's statistics reproduces the training logits.
      const evalLogits = convNetForward(bn, params, x, { runningStats: batchStats });
      expect(close(evalLogits, logits)).toBeLessThan(1e-4);
      // Eval mode also reports the batch statistics (needed by the BN-matching recovery loss).
      const evalOut = convNetForwardWithStats(bn, params, x, { runningStats: batchStats });
      expect(close(evalOut.batchStats[1]!.variance, batchStats[1]!.variance)).toBeLessThan(1e-5);
      expect(close(evalOut.batchStats[0]!.mean, batchStats[0]!.mean)).toBeLessThan(1e-5);
      expect(() => convNetForward(bn, params, x)).toThrow(/runningStats/);

      tf.dispose([
        params,
        x,
        logits,
        evalLogits,
        want.mean,
        want.variance,
        evalOut.logits,
        ...Object.values(named),
      ]);
      tf.dispose([...batchStats, ...evalOut.batchStats].flatMap((s) => [s.mean, s.variance]));
    });
  });

  it('eval mode: the fused per-channel fold gives the stock logits, statistics and d/dx', () => {
    expectNoLeak(() => {
      const params = initConvNetParams(bn, 9);
      const x = randn([3, 8, 8, 2], 10);
      const running = [0, 1].map((d) => ({
        mean: randn([4], 20 + d, 0.5) as tf.Tensor1D,
        variance: tf.tidy(() => tf.add(tf.abs(randn([4], 30 + d)), 0.2)) as tf.Tensor1D,
      }));
      const run = () =>
        tf.tidy(() => {
          const f = (xx: tf.Tensor) => {
            const { logits, batchStats } = convNetForwardWithStats(bn, params, xx, { runningStats: running });
            const bnLoss = tf.addN(batchStats.map((st) => tf.sum(tf.add(st.mean, st.variance))));
            return tf.add(tf.sum(tf.square(logits)), bnLoss) as tf.Scalar;
          };
          const { value, grad } = tf.valueAndGrad(f)(x);
          return [value.dataSync()[0]!, ...Array.from(grad.dataSync())];
        });
      const fused = run();
      const stock = withStockOps(run);
      const scale = Math.max(...stock.map(Math.abs));
      expect(scale).toBeGreaterThan(0.1);
      fused.forEach((v, i) => expect(Math.abs(v - stock[i]!)).toBeLessThan(1e-4 * scale));
      tf.dispose([params, x, ...running.flatMap((r) => [r.mean, r.variance])]);
    });
  });

  it('updates running statistics like PyTorch (momentum 0.1, unbiased variance) and packs them', () => {
    expectNoLeak(() => {
      const running = initBatchNormStats(bn);
      const batch = [0, 1].map(() => ({
        mean: tf.fill([4], 2) as tf.Tensor1D,
        variance: tf.fill([4], 3) as tf.Tensor1D,
        count: 4,
      }));
      const next = updateBatchNormStats(running, batch);
      expect(Array.from(next[0]!.mean.dataSync())[0]).toBeCloseTo(0.2, 6);
      expect(Array.from(next[0]!.variance.dataSync())[0]).toBeCloseTo(0.9 + 0.1 * 3 * (4 / 3), 6);
      const packed = packBatchNormStats(next);
      expect(packed.shape).toEqual([2 * 2 * 4]);
      const unpacked = unpackBatchNormStats(bn, packed);
      expect(Array.from(unpacked[1]!.variance.dataSync())).toEqual(Array.from(next[1]!.variance.dataSync()));
      expect(() => unpackBatchNormStats(convNetConfig({ ...bn, depth: 1 }), packed)).toThrow(
        /expected 8 values/,
      );
      tf.dispose([packed, ...[running, batch, next, unpacked].flat().flatMap((s) => [s.mean, s.variance])]);
    });
  });
});

describe('ConvNet gradients vs central finite differences (smooth activations, float32)', () => {
  const cases: [string, ConvNetConfig, 'native' | 'im2col', boolean][] = [
    ['softplus, instancenorm, native', convNetConfig({ ...tiny, activation: 'softplus' }), 'native', false],
    ['tanh, instancenorm, im2col', convNetConfig({ ...tiny, activation: 'tanh' }), 'im2col', false],
    [
      'softplus, batchnorm (train mode), native',
      convNetConfig({ ...tiny, activation: 'softplus', norm: 'batchnorm' }),
      'native',
      true,
    ],
    [
      'softplus, no norm, 28×28 pad 3',
      convNetConfig({ width: 3, depth: 2, activation: 'softplus', norm: 'none' }),
      'native',
      false,
    ],
  ];
  for (const [name, config, kernels, training] of cases) {
    it(`d loss / d params and d loss / d x: ${name}`, () => {
      expectNoLeak(() => {
        const params = initConvNetParams(config, 11);
        const x = randn([4, config.h, config.w, config.c], 12);
        const y = labels(4, config.classes);
        const loss = (p: tf.Tensor, xx: tf.Tensor): tf.Scalar =>
          classificationLoss(convNetForward(config, p, xx, { kernels, training }), y);
        for (const seed of [1, 2]) {
          const dp = direction(params.shape, 100 + seed, 0.1);
          const dx = direction(x.shape, 200 + seed, 1);
          const zp = tf.zerosLike(params);
          const zx = tf.zerosLike(x);
          expectGradMatchesFd(loss, [params, x], [dp, zx], { eps: 4e-2, tol: 1e-2, minMagnitude: 1e-4 });
          expectGradMatchesFd(loss, [params, x], [zp, dx], { eps: 4e-2, tol: 1e-2, minMagnitude: 1e-4 });
          tf.dispose([dp, dx, zp, zx]);
        }
        tf.dispose([params, x, y]);
      });
    });
  }

  // Trajectory matching differentiates an SGD step on the params w.r.t. the images: the mixed second
  // derivative d/dx <v, d loss / d params>. im2col needs only stock gradients plus ml/ops' Exp fix;
  // native needs ml/ops' Conv2DBackpropFilter and AvgPoolGrad gradients (spec §9.2).
  for (const kernels of ['im2col', 'native'] as const) {
    it(`second order: d/dx <v, d loss / d params> (${kernels} kernels, softplus)`, () => {
      expectNoLeak(() => {
        const config = convNetConfig({ ...tiny, activation: 'softplus' });
        const params = initConvNetParams(config, 21);
        const x = randn([3, 8, 8, 2], 22);
        const y = labels(3, 3);
        const v = direction(params.shape, 23, 0.1);
        const dx = direction(x.shape, 24, 1);
        const f = (p: tf.Tensor, xx: tf.Tensor): tf.Scalar =>
          classificationLoss(convNetForward(config, p, xx, { kernels }), y);
        // h(p, x) = <v, ∂f/∂p> + <0, ∂f/∂x>; its derivative along (0, dx) is the mixed term.
        const zx = tf.zerosLike(x);
        const zp = tf.zerosLike(params);
        expectHvpMatchesFd(f, [params, x], [v, zx], [zp, dx], { eps: 1e-2, tol: 1e-2, minMagnitude: 1e-5 });
        tf.dispose([params, x, y, v, dx, zx, zp]);
      });
    });
  }
});
