// MaxPoolGrad's gradient (ml/ops/max-pool-grad-grad.ts): the gather at each window's argmax must be
// the exact adjoint of the MaxPoolGrad kernel, ties included; then its first- and second-order use
// against finite differences, on inputs whose window values are far enough apart that a
// finite-difference step never changes an argmax.
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { gatherAtWindowArgmax } from '../../../ml/ops/max-pool-grad-grad.js';
import {
  expectGradMatchesFd,
  expectHvpMatchesFd,
  inner,
  randn,
  relativeError,
  withTensors,
} from './finite-differences.js';

type Pad = 'same' | 'valid';
const X_SHAPE: [number, number, number, number] = [2, 6, 6, 2];
const cases: { filterSize: number; strides: number; pad: Pad }[] = [
  { filterSize: 2, strides: 2, pad: 'valid' },
  { filterSize: 3, strides: 1, pad: 'same' },
  { filterSize: 3, strides: 2, pad: 'same' },
];

/** Distinct values 0.1 apart in a seeded random order. */
function separated(seed: number): tf.Tensor4D {
  const n = X_SHAPE.reduce((a, b) => a * b, 1);
  const values = Array.from({ length: n }, (_, i) => (i - n / 2) * 0.1);
  let state = seed;
  for (let i = n - 1; i > 0; i--) {
    state = (state * 1103515245 + 12345) % 2147483648;
    const j = state % (i + 1);
    [values[i], values[j]] = [values[j]!, values[i]!];
  }
  return tf.tensor4d(values, X_SHAPE);
}

describe('MaxPoolGrad gradient (ml/ops/max-pool-grad-grad.ts)', () => {
  for (const { filterSize, strides, pad } of cases) {
    const label = `filter ${filterSize}, stride ${strides}, pad ${pad}`;
    const attrs = { filterSize, strides, pad };
    const pool = (x: tf.Tensor) => tf.maxPool(x as tf.Tensor4D, filterSize, strides, pad);
    const poolGrad = (dy: tf.Tensor, input: tf.Tensor) =>
      tf.engine().runKernel(tf.MaxPoolGrad, { dy, input, output: pool(input) }, attrs) as tf.Tensor4D;
    const out = pad === 'same' ? Math.ceil(6 / strides) : Math.floor((6 - filterSize) / strides) + 1;
    const dyShape = [2, out, out, 2];
    const setup = () => [
      separated(301),
      randn(dyShape, 302),
      randn(X_SHAPE, 303), // R / G
      randn(dyShape, 304), // v
      randn(dyShape, 305), // u
      randn(X_SHAPE, 306), // v on x
      randn(X_SHAPE, 307), // u on x
    ];

    const inputsWithTies: [string, () => tf.Tensor][] = [
      ['distinct values', () => separated(308)],
      ['rounded values (many ties)', () => tf.tidy(() => tf.round(randn(X_SHAPE, 309)))],
      ['all zeros (every window tied)', () => tf.zeros(X_SHAPE)],
    ];
    for (const [what, makeX] of inputsWithTies) {
      it(`${label}: <G, MaxPoolGrad(dy)> = <G at window argmax, dy> for ${what}`, () => {
        withTensors(
          () => [makeX(), randn(dyShape, 310), randn(X_SHAPE, 311)],
          (x, dy, G) => {
            tf.tidy(() => {
              const viaKernel = inner([G], [poolGrad(dy, x)]);
              const viaGather = inner(
                [gatherAtWindowArgmax(G as tf.Tensor4D, x as tf.Tensor4D, attrs)],
                [dy],
              );
              expect(relativeError(viaGather, viaKernel)).toBeLessThan(1e-5);
            });
          },
        );
      });
    }

    it(`${label}: first order, d<R, MaxPoolGrad(dy, x)>/d dy matches finite differences; d/dx is 0`, () => {
      withTensors(setup, (x, dy, R, _v, u, _vx, ux) => {
        const f = (dd: tf.Tensor, xx: tf.Tensor) => tf.sum(tf.mul(R, poolGrad(dd, xx))) as tf.Scalar;
        expectGradMatchesFd((dd) => f(dd, x), [dy], [u]);
        const dx = tf.tidy(() => Array.from(tf.grads(f)([dy, x])[1]!.dataSync()));
        expect(dx.every((value) => value === 0)).toBe(true);
        // and finite differences agree: small steps in x do not move any argmax
        const fdx = tf.tidy(() => {
          const step = tf.mul(ux, 0.01);
          return f(dy, tf.add(x, step)).dataSync()[0]! - f(dy, tf.sub(x, step)).dataSync()[0]!;
        });
        expect(fdx).toBe(0);
      });
    });

    it(`${label}: second order, Hessian-vector product of sum(R * tanh(MaxPoolGrad(dy))) matches finite differences`, () => {
      withTensors(setup, (x, dy, R, v, u) => {
        const f = (dd: tf.Tensor) => tf.sum(tf.mul(R, tf.tanh(poolGrad(dd, x)))) as tf.Scalar;
        expectHvpMatchesFd(f, [dy], [v], [u], { tol: 2e-3 });
      });
    });

    it(`${label}: a pooling layer's Hessian-vector product, sum(R * tanh(maxPool(x))), matches finite differences`, () => {
      withTensors(setup, (x, _dy, _R, _v, _u, vx, ux) => {
        const w = tf.tidy(() => randn(dyShape, 312));
        try {
          const f = (xx: tf.Tensor) => tf.sum(tf.mul(w, tf.tanh(pool(xx)))) as tf.Scalar;
          expectHvpMatchesFd(f, [x], [vx], [ux], { eps: 1e-2, tol: 2e-3 });
        } finally {
          w.dispose();
        }
      });
    });
  }
});
