// AvgPoolGrad's gradient (ml/ops/avg-pool-grad-grad.ts): the adjoint identity it is derived from, its
// first-order use and its second-order use, against finite differences. Padded cases are skipped on the
// pure-JS cpu backend, whose own AvgPoolGrad is not the transpose of its AvgPool at padded borders (see
// the note in ml/ops/avg-pool-grad-grad.ts).
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it as vitestIt } from 'vitest';
import {
  expectGradMatchesFd,
  expectHvpMatchesFd,
  inner,
  randn,
  relativeError,
  withTensors,
} from './finite-differences.js';

type Pad = 'same' | 'valid';
const X_SHAPE = [2, 6, 6, 3];
const cases: { filterSize: number; strides: number; pad: Pad }[] = [
  { filterSize: 2, strides: 2, pad: 'valid' },
  { filterSize: 3, strides: 1, pad: 'same' },
  { filterSize: 3, strides: 2, pad: 'same' },
];

describe('AvgPoolGrad gradient (ml/ops/avg-pool-grad-grad.ts)', () => {
  for (const { filterSize, strides, pad } of cases) {
    const it = pad === 'same' && tf.getBackend() === 'cpu' ? vitestIt.skip : vitestIt;
    const label = `filter ${filterSize}, stride ${strides}, pad ${pad}`;
    const pool = (x: tf.Tensor) => tf.avgPool(x as tf.Tensor4D, filterSize, strides, pad);
    const poolGrad = (dy: tf.Tensor, input: tf.Tensor) =>
      tf.engine().runKernel(tf.AvgPoolGrad, { dy, input }, { filterSize, strides, pad }) as tf.Tensor4D;
    const out = pad === 'same' ? Math.ceil(6 / strides) : Math.floor((6 - filterSize) / strides) + 1;
    const dyShape = [2, out, out, 3];
    const setup = () => [
      randn(X_SHAPE, 201),
      randn(dyShape, 202),
      randn(X_SHAPE, 203), // R
      randn(dyShape, 204), // v
      randn(dyShape, 205), // u
      randn(X_SHAPE, 206), // v on x
      randn(X_SHAPE, 207), // u on x
    ];

    it(`${label}: adjoint identity <avgPool(x), dy> = <x, AvgPoolGrad(dy)>`, () => {
      withTensors(setup, (x, dy) => {
        const [lhs, rhs] = tf.tidy(() => [inner([x], [poolGrad(dy, x)]), inner([pool(x)], [dy])]);
        expect(relativeError(lhs!, rhs!)).toBeLessThan(1e-5);
      });
    });

    it(`${label}: first order, d<R, AvgPoolGrad(dy, x)>/d dy matches finite differences; d/dx is 0`, () => {
      withTensors(setup, (x, dy, R, _v, u) => {
        const f = (dd: tf.Tensor, xx: tf.Tensor) => tf.sum(tf.mul(R, poolGrad(dd, xx))) as tf.Scalar;
        expectGradMatchesFd((dd) => f(dd, x), [dy], [u]);
        const dx = tf.tidy(() => Array.from(tf.grads(f)([dy, x])[1]!.dataSync()));
        expect(dx.every((value) => value === 0)).toBe(true);
      });
    });

    it(`${label}: second order, Hessian-vector product of sum(R * tanh(AvgPoolGrad(dy))) matches finite differences`, () => {
      withTensors(setup, (x, dy, R, v, u) => {
        const f = (dd: tf.Tensor) => tf.sum(tf.mul(R, tf.tanh(poolGrad(dd, x)))) as tf.Scalar;
        expectHvpMatchesFd(f, [dy], [v], [u], { tol: 2e-3 });
      });
    });

    it(`${label}: a pooling layer's Hessian-vector product, sum(R * sigmoid(avgPool(x))), matches finite differences`, () => {
      withTensors(setup, (x, _dy, _R, _v, _u, vx, ux) => {
        const w = tf.tidy(() => pool(randn(X_SHAPE, 208)));
        try {
          // Scaled so that the pooled values reach where sigmoid'' is large (|z| ~ 1.3).
          const f = (xx: tf.Tensor) => tf.sum(tf.mul(w, tf.sigmoid(tf.mul(pool(xx), 3)))) as tf.Scalar;
          expectHvpMatchesFd(f, [x], [vx], [ux], { tol: 2e-3 });
        } finally {
          w.dispose();
        }
      });
    });
  }
});
