// Checks shared by the elementwise-activation gradient tests: for f(x) = sum(w * op(x)), the gradient
// w * op'(x) and the Hessian-vector product w * op''(x) * v are known in closed form, so autodiff is
// compared element by element with a float64 reference, and also with finite differences.
import * as tf from '@tensorflow/tfjs-core';
import { expect, it } from 'vitest';
import { expectGradMatchesFd, expectHvpMatchesFd, randn, withTensors } from './finite-differences.js';

export interface UnaryCase {
  kernel: string;
  op: (x: tf.Tensor) => tf.Tensor;
  /** First and second derivatives of the scalar function, in float64. */
  d1: (x: number) => number;
  d2: (x: number) => number;
  /** Test points (shape [3, 4]). */
  points: () => tf.Tensor;
}

/** max |got - want| / max |want|, the element-wise error relative to the reference's scale. */
function scaledMaxError(got: ArrayLike<number>, want: number[]): number {
  let err = 0;
  let scale = 0;
  want.forEach((w, i) => {
    err = Math.max(err, Math.abs(got[i]! - w));
    scale = Math.max(scale, Math.abs(w));
  });
  return err / scale;
}

export function checkUnaryGradients(c: UnaryCase): void {
  const setup = () => [c.points(), randn([3, 4], 11), randn([3, 4], 12), randn([3, 4], 13)] as const;
  const objective = (w: tf.Tensor) => (x: tf.Tensor) => tf.sum(tf.mul(w, c.op(x))) as tf.Scalar;

  it(`${c.kernel}: first order matches w * op'(x) and finite differences`, () => {
    withTensors(
      () => [...setup()],
      (x, w, _v, u) => {
        const f = objective(w);
        const got = tf.tidy(() => tf.grad(f)(x).dataSync());
        const xs = Array.from(x.dataSync());
        const ws = Array.from(w.dataSync());
        expect(
          scaledMaxError(
            got,
            xs.map((xi, i) => ws[i]! * c.d1(xi)),
          ),
        ).toBeLessThan(1e-5);
        expectGradMatchesFd(f, [x], [u], { tol: 1e-3 });
      },
    );
  });

  it(`${c.kernel}: second order (Hessian-vector product) matches w * op''(x) * v and finite differences`, () => {
    withTensors(
      () => [...setup()],
      (x, w, v, u) => {
        const f = objective(w);
        const hvp = tf.tidy(() =>
          tf
            .grad((xx: tf.Tensor) => tf.sum(tf.mul(v, tf.grad(f)(xx))))(x)
            .dataSync(),
        );
        const xs = Array.from(x.dataSync());
        const ws = Array.from(w.dataSync());
        const vs = Array.from(v.dataSync());
        expect(
          scaledMaxError(
            hvp,
            xs.map((xi, i) => ws[i]! * c.d2(xi) * vs[i]!),
          ),
        ).toBeLessThan(1e-5);
        expectHvpMatchesFd(f, [x], [v], [u], { tol: 2e-3 });
      },
    );
  });
}
