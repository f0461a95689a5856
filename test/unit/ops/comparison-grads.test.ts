// Comparison and logical kernels get zero gradients (ml/ops/comparison-grads.ts). Their real use is
// second derivatives through the stock Max, Min, Maximum, Minimum and Select gradients, which build
// masks from them: those are checked here against closed forms and finite differences.
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { expectGradMatchesFd, expectHvpMatchesFd, randn, withTensors } from './finite-differences.js';

const comparisons: [string, (a: tf.Tensor, b: tf.Tensor) => tf.Tensor][] = [
  ['Equal', tf.equal],
  ['NotEqual', tf.notEqual],
  ['Greater', tf.greater],
  ['GreaterEqual', tf.greaterEqual],
  ['Less', tf.less],
  ['LessEqual', tf.lessEqual],
];

/** Distinct values at least 0.1 apart (a seeded shuffle of a grid), so small steps never reorder them. */
function separated(shape: number[], seed: number): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const values = Array.from({ length: n }, (_, i) => (i - n / 2) * 0.1);
  let state = seed;
  for (let i = n - 1; i > 0; i--) {
    state = (state * 1103515245 + 12345) % 2147483648;
    const j = state % (i + 1);
    [values[i], values[j]] = [values[j]!, values[i]!];
  }
  return tf.tensor(values, shape);
}

function hvp(f: (x: tf.Tensor) => tf.Scalar, x: tf.Tensor, v: tf.Tensor): Float32Array {
  return tf.tidy(
    () =>
      tf
        .grad((xx: tf.Tensor) => tf.sum(tf.mul(v, tf.grad(f)(xx))))(x)
        .dataSync() as Float32Array,
  );
}

function expectClose(got: ArrayLike<number>, want: number[], tol = 1e-5): void {
  const scale = Math.max(...want.map(Math.abs));
  expect(Math.max(...want.map((w, i) => Math.abs(got[i]! - w))) / scale).toBeLessThan(tol);
}

describe('comparison and logical kernels: zero gradients (ml/ops/comparison-grads.ts)', () => {
  for (const [kernel, op] of comparisons) {
    it(`${kernel}: gradient is float32 zeros shaped like each (broadcast) input`, () => {
      withTensors(
        () => [randn([2, 3], 41), randn([3], 42)],
        (a, b) => {
          const [ga, gb] = tf.tidy(() =>
            tf
              .grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(x, tf.cast(op(x, y), 'float32'))))([a, b])
              .map((g) => ({
                shape: g.shape,
                dtype: g.dtype,
                values: Array.from(g.dataSync()),
              })),
          );
          expect(gb).toEqual({ shape: [3], dtype: 'float32', values: [0, 0, 0] });
          expect(ga!.shape).toEqual([2, 3]);
          // d/da of a * [a op b] is the mask itself; the comparison contributes nothing.
          const mask = tf.tidy(() => Array.from(tf.cast(op(a, b), 'float32').dataSync()));
          expect(ga!.values).toEqual(mask);
        },
      );
    });
  }

  it('LogicalAnd, LogicalOr, LogicalNot: zero gradients', () => {
    withTensors(
      () => [randn([2, 3], 43)],
      (x) => {
        const f = (xx: tf.Tensor) => {
          const inside = tf.logicalAnd(tf.greater(xx, -0.5), tf.less(xx, 0.5));
          const outside = tf.logicalOr(tf.logicalNot(inside), tf.equal(xx, 0));
          return tf.sum(tf.add(tf.cast(inside, 'float32'), tf.cast(outside, 'float32'))) as tf.Scalar;
        };
        expect(tf.tidy(() => Array.from(tf.grad(f)(x).dataSync()))).toEqual([0, 0, 0, 0, 0, 0]);
      },
    );
  });

  it('Max / Min (stock gradients, Equal mask): second order matches closed form and finite differences', () => {
    withTensors(
      () => [separated([3, 4], 7), randn([3], 44), randn([3], 45), randn([3, 4], 46), randn([3, 4], 47)],
      (x, w1, w2, v, u) => {
        // f = sum_r w1_r max_r(x)^2 + w2_r min_r(x)^2: Hv is 2 w v at each row's argmax and argmin.
        const f = (xx: tf.Tensor) =>
          tf.add(
            tf.sum(tf.mul(w1, tf.square(tf.max(xx, 1)))),
            tf.sum(tf.mul(w2, tf.square(tf.min(xx, 1)))),
          ) as tf.Scalar;
        const xs = Array.from(x.dataSync());
        const vs = Array.from(v.dataSync());
        const want = new Array<number>(12).fill(0);
        for (let r = 0; r < 3; r++) {
          const row = xs.slice(4 * r, 4 * r + 4);
          const iMax = 4 * r + row.indexOf(Math.max(...row));
          const iMin = 4 * r + row.indexOf(Math.min(...row));
          want[iMax] = 2 * w1.dataSync()[r]! * vs[iMax]!;
          want[iMin] = 2 * w2.dataSync()[r]! * vs[iMin]!;
        }
        expectClose(hvp(f, x, v), want);
        expectGradMatchesFd(f, [x], [u]);
        expectHvpMatchesFd(f, [x], [v], [u], { tol: 2e-3 });
      },
    );
  });

  it('Maximum / Minimum (stock gradients, GreaterEqual/Less/LessEqual/Greater masks): second order', () => {
    withTensors(
      () => [separated([3, 4], 8), randn([3, 4], 48), randn([3, 4], 49), randn([3, 4], 50)],
      (x, w, v, u) => {
        // Thresholds at +-0.05 sit between grid points (multiples of 0.1).
        const f = (xx: tf.Tensor) =>
          tf.sum(
            tf.mul(w, tf.add(tf.square(tf.maximum(xx, 0.05)), tf.pow(tf.minimum(xx, -0.05), 3))),
          ) as tf.Scalar;
        const xs = Array.from(x.dataSync());
        const ws = Array.from(w.dataSync());
        const vs = Array.from(v.dataSync());
        const want = xs.map((xi, i) => ws[i]! * vs[i]! * ((xi > 0.05 ? 2 : 0) + (xi < -0.05 ? 6 * xi : 0)));
        expectClose(hvp(f, x, v), want);
        expectHvpMatchesFd(f, [x], [v], [u], { tol: 2e-3 });
      },
    );
  });

  it('Select (tf.where; its gradient uses LogicalNot): second order', () => {
    withTensors(
      () => [separated([3, 4], 9), randn([3, 4], 51), randn([3, 4], 52), randn([3, 4], 53)],
      (x, w, v, u) => {
        const f = (xx: tf.Tensor) =>
          tf.sum(
            tf.mul(w, tf.where(tf.greater(xx, 0.05), tf.square(xx), tf.mul(xx, tf.square(xx)))),
          ) as tf.Scalar;
        const xs = Array.from(x.dataSync());
        const ws = Array.from(w.dataSync());
        const vs = Array.from(v.dataSync());
        expectClose(
          hvp(f, x, v),
          xs.map((xi, i) => ws[i]! * vs[i]! * (xi > 0.05 ? 2 : 6 * xi)),
        );
        expectHvpMatchesFd(f, [x], [v], [u], { tol: 2e-3 });
      },
    );
  });
});
