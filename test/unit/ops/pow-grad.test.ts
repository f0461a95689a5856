import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { expectGradMatchesFd, expectHvpMatchesFd, randn, randu, withTensors } from './finite-differences.js';

function expectClose(got: ArrayLike<number>, want: number[], tol = 1e-5): void {
  const scale = Math.max(...want.map(Math.abs));
  expect(Math.max(...want.map((w, i) => Math.abs(got[i]! - w))) / scale).toBeLessThan(tol);
}

describe('Pow gradient (ml/ops/pow-grad.ts)', () => {
  const setup = () => [
    randu([3, 4], 61, 0.5, 2),
    randu([3, 4], 62, 0.5, 2.5),
    randn([3, 4], 63),
    randn([3, 4], 64),
    randn([3, 4], 65),
    randn([3, 4], 66),
    randn([3, 4], 67),
  ];
  const objective = (R: tf.Tensor) => (a: tf.Tensor, b: tf.Tensor) =>
    tf.sum(tf.mul(R, tf.pow(a, b))) as tf.Scalar;

  it('first order in base and exponent matches closed form and finite differences', () => {
    withTensors(setup, (a, b, R, _va, _vb, ua, ub) => {
      const f = objective(R);
      const [ga, gb] = tf.tidy(() =>
        tf
          .grads(f)([a, b])
          .map((g) => g.dataSync()),
      );
      const as = Array.from(a.dataSync());
      const bs = Array.from(b.dataSync());
      const Rs = Array.from(R.dataSync());
      expectClose(
        ga!,
        as.map((ai, i) => Rs[i]! * bs[i]! * ai ** (bs[i]! - 1)),
      );
      expectClose(
        gb!,
        as.map((ai, i) => Rs[i]! * ai ** bs[i]! * Math.log(ai)),
      );
      expectGradMatchesFd(f, [a, b], [ua, ub]);
    });
  });

  it('second order in base and exponent matches closed form and finite differences', () => {
    // The stock gradient drops the terms through the saved output a^b in the exponent path.
    withTensors(setup, (a, b, R, va, vb, ua, ub) => {
      const f = objective(R);
      const [ha, hb] = tf.tidy(() =>
        tf
          .grads((aa: tf.Tensor, bb: tf.Tensor) => {
            const [ga, gb] = tf.grads(f)([aa, bb]);
            return tf.add(tf.sum(tf.mul(va, ga!)), tf.sum(tf.mul(vb, gb!)));
          })([a, b])
          .map((g) => g.dataSync()),
      );
      const [as, bs, Rs, vas, vbs] = [a, b, R, va, vb].map((t) => Array.from(t.dataSync())) as number[][];
      const faa = as!.map((x, i) => Rs![i]! * bs![i]! * (bs![i]! - 1) * x ** (bs![i]! - 2));
      const fab = as!.map((x, i) => Rs![i]! * x ** (bs![i]! - 1) * (1 + bs![i]! * Math.log(x)));
      const fbb = as!.map((x, i) => Rs![i]! * x ** bs![i]! * Math.log(x) ** 2);
      expectClose(
        ha!,
        faa.map((h, i) => h * vas![i]! + fab[i]! * vbs![i]!),
      );
      expectClose(
        hb!,
        fab.map((h, i) => h * vas![i]! + fbb[i]! * vbs![i]!),
      );
      expectHvpMatchesFd(f, [a, b], [va, vb], [ua, ub], { tol: 2e-3 });
    });
  });

  it('broadcast exponent: second order matches finite differences', () => {
    withTensors(
      () => [
        randu([3, 4], 68, 0.5, 2),
        randu([4], 69, 0.5, 2.5),
        randn([3, 4], 70),
        randn([3, 4], 71),
        randn([4], 72),
        randn([3, 4], 73),
        randn([4], 74),
      ],
      (a, b, R, va, vb, ua, ub) => {
        expectHvpMatchesFd(objective(R), [a, b], [va, vb], [ua, ub], { tol: 2e-3 });
      },
    );
  });

  it('non-positive bases give finite second derivatives (exponent gradient 0 there, as in tfjs-core)', () => {
    withTensors(
      () => [tf.tensor1d([-1.5, 0, 2]), tf.tensor1d([2, 2, 2])],
      (a, b) => {
        const f = (aa: tf.Tensor, bb: tf.Tensor) => tf.sum(tf.pow(aa, bb)) as tf.Scalar;
        const [ga, gb] = tf.tidy(() =>
          tf
            .grads(f)([a, b])
            .map((g) => Array.from(g.dataSync())),
        );
        expect(ga).toEqual([-3, 0, 4]);
        expect(gb![0]).toBe(0);
        expect(gb![2]).toBeCloseTo(4 * Math.log(2), 5);
        const second = tf.tidy(() =>
          tf
            .grads((aa: tf.Tensor, bb: tf.Tensor) => tf.sum(tf.grads(f)([aa, bb])[1]!))([a, b])
            .map((g) => Array.from(g.dataSync())),
        );
        for (const g of second) for (const value of g) expect(Number.isFinite(value)).toBe(true);
      },
    );
  });
});
