import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { expectGradMatchesFd, expectHvpMatchesFd, randn, withTensors } from './finite-differences.js';

const ROWS = 3;
const COLS = 5;

/** Row-wise softmax in float64. */
function softmaxRows(z: number[]): number[] {
  const out: number[] = [];
  for (let r = 0; r < ROWS; r++) {
    const row = z.slice(r * COLS, (r + 1) * COLS);
    const m = Math.max(...row);
    const e = row.map((v) => Math.exp(v - m));
    const s = e.reduce((a, b) => a + b, 0);
    out.push(...e.map((v) => v / s));
  }
  return out;
}

/** Gradient of f(z) = sum(R * softmax(z)) in float64: per row p * (R - <p, R>). */
function gradReference(z: number[], R: number[]): number[] {
  const p = softmaxRows(z);
  const out: number[] = [];
  for (let r = 0; r < ROWS; r++) {
    let pr = 0;
    for (let c = 0; c < COLS; c++) pr += p[r * COLS + c]! * R[r * COLS + c]!;
    for (let c = 0; c < COLS; c++) out.push(p[r * COLS + c]! * (R[r * COLS + c]! - pr));
  }
  return out;
}

/** Hessian-vector product in float64 by central differences of the float64 gradient (error ~1e-10). */
function hvpReference(z: number[], R: number[], v: number[]): number[] {
  const h = 1e-5;
  const plus = gradReference(
    z.map((zi, i) => zi + h * v[i]!),
    R,
  );
  const minus = gradReference(
    z.map((zi, i) => zi - h * v[i]!),
    R,
  );
  return plus.map((g, i) => (g - minus[i]!) / (2 * h));
}

function maxScaledError(got: ArrayLike<number>, want: number[]): number {
  const scale = Math.max(...want.map(Math.abs));
  return Math.max(...want.map((w, i) => Math.abs(got[i]! - w))) / scale;
}

describe('Softmax gradient (ml/ops/softmax-grad.ts)', () => {
  const setup = () => [
    randn([ROWS, COLS], 21, 2),
    randn([ROWS, COLS], 22),
    randn([ROWS, COLS], 23),
    randn([ROWS, COLS], 24),
  ];
  const objective = (R: tf.Tensor) => (z: tf.Tensor) => tf.sum(tf.mul(R, tf.softmax(z))) as tf.Scalar;

  it('first order matches the float64 reference and finite differences', () => {
    withTensors(setup, (z, R, _v, u) => {
      const f = objective(R);
      const got = tf.tidy(() => tf.grad(f)(z).dataSync());
      expect(
        maxScaledError(got, gradReference(Array.from(z.dataSync()), Array.from(R.dataSync()))),
      ).toBeLessThan(1e-5);
      expectGradMatchesFd(f, [z], [u]);
    });
  });

  it('second order (Hessian-vector product) matches the float64 reference and finite differences', () => {
    withTensors(setup, (z, R, v, u) => {
      const f = objective(R);
      const hvp = tf.tidy(() =>
        tf
          .grad((zz: tf.Tensor) => tf.sum(tf.mul(v, tf.grad(f)(zz))))(z)
          .dataSync(),
      );
      const want = hvpReference(Array.from(z.dataSync()), Array.from(R.dataSync()), Array.from(v.dataSync()));
      expect(maxScaledError(hvp, want)).toBeLessThan(1e-5);
      expectHvpMatchesFd(f, [z], [v], [u], { tol: 2e-3 });
    });
  });

  it('a cross-entropy built on tf.softmax has the curvature sum(t) * (p*v - p<p,v>)', () => {
    // The stock Softmax gradient drops these terms silently (specs/distill-trajectory-matching.md §9.2).
    withTensors(setup, (z, _R, v) => {
      const t = tf.tidy(() => tf.softmax(randn([ROWS, COLS], 25)));
      const ce = (zz: tf.Tensor) => tf.neg(tf.sum(tf.mul(t, tf.log(tf.softmax(zz))))) as tf.Scalar;
      const hvp = tf.tidy(() =>
        tf
          .grad((zz: tf.Tensor) => tf.sum(tf.mul(v, tf.grad(ce)(zz))))(z)
          .dataSync(),
      );
      const p = softmaxRows(Array.from(z.dataSync()));
      const vs = Array.from(v.dataSync());
      const want: number[] = [];
      for (let r = 0; r < ROWS; r++) {
        let pv = 0;
        for (let c = 0; c < COLS; c++) pv += p[r * COLS + c]! * vs[r * COLS + c]!;
        for (let c = 0; c < COLS; c++) want.push(p[r * COLS + c]! * (vs[r * COLS + c]! - pv)); // sum(t) = 1
      }
      t.dispose();
      expect(maxScaledError(hvp, want)).toBeLessThan(1e-5);
    });
  });
});
