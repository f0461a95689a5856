// Conv2DBackpropFilter's gradient (ml/ops/conv2d-backprop-filter-grad.ts), for strides 1 and 2 and
// 'same'/'valid' padding (tfjs-node accepts no numeric padding): the adjoint identities it is derived
// from, its first-order use (Hessian-vector products of a conv layer) and its second-order use
// (differentiating the gradient it returns), all against finite differences
// (specs/distill-trajectory-matching.md §11.3).
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import {
  expectGradMatchesFd,
  expectHvpMatchesFd,
  inner,
  randn,
  relativeError,
  withTensors,
} from './finite-differences.js';

const X_SHAPE = [2, 5, 5, 2];
const W_SHAPE: [number, number, number, number] = [3, 3, 2, 3];

type Pad = 'same' | 'valid';
const cases: { strides: number; pad: Pad }[] = [
  { strides: 1, pad: 'same' },
  { strides: 2, pad: 'same' },
  { strides: 1, pad: 'valid' },
  { strides: 2, pad: 'valid' },
];

function filterGrad(x: tf.Tensor, dy: tf.Tensor, strides: number, pad: Pad): tf.Tensor4D {
  return tf
    .engine()
    .runKernel(
      tf.Conv2DBackpropFilter,
      { x, dy },
      { strides, pad, dataFormat: 'NHWC', filterShape: W_SHAPE },
    ) as tf.Tensor4D;
}

function dyShape(strides: number, pad: Pad): number[] {
  const out = pad === 'same' ? Math.ceil(5 / strides) : Math.floor((5 - 3) / strides) + 1;
  return [2, out, out, 3];
}

describe('Conv2DBackpropFilter gradient (ml/ops/conv2d-backprop-filter-grad.ts)', () => {
  for (const { strides, pad } of cases) {
    const label = `stride ${strides}, pad ${pad}`;
    const conv = (x: tf.Tensor, w: tf.Tensor) => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, strides, pad);
    const dys = dyShape(strides, pad);
    const setup = () => [
      randn(X_SHAPE, 101, 0.3),
      randn(dys, 102, 0.3),
      randn(W_SHAPE, 103, 0.3),
      randn(W_SHAPE, 104), // R: weights of the scalar objective
      randn(X_SHAPE, 105), // v directions
      randn(dys, 106),
      randn(W_SHAPE, 107),
      randn(X_SHAPE, 108), // u directions
      randn(dys, 109),
      randn(W_SHAPE, 110),
    ];

    it(`${label}: adjoint identities <conv(x,W), dy> = <W, F(x,dy)> = <x, Conv2DBackpropInput(dy,W)>`, () => {
      withTensors(setup, (x, dy, w) => {
        tf.tidy(() => {
          const a = inner([conv(x, w)], [dy]);
          const b = inner([w], [filterGrad(x, dy, strides, pad)]);
          const c = inner(
            [x],
            [
              tf.conv2dTranspose(
                dy as tf.Tensor4D,
                w as tf.Tensor4D,
                X_SHAPE as [number, number, number, number],
                strides,
                pad,
              ),
            ],
          );
          expect(relativeError(b, a)).toBeLessThan(1e-4);
          expect(relativeError(c, a)).toBeLessThan(1e-4);
        });
      });
    });

    it(`${label}: first order, d<R, F(x, dy)>/d(x, dy) matches finite differences`, () => {
      withTensors(setup, (x, dy, _w, R, _vx, _vdy, _vw, ux, udy) => {
        const f = (xx: tf.Tensor, dd: tf.Tensor) =>
          tf.sum(tf.mul(R, filterGrad(xx, dd, strides, pad))) as tf.Scalar;
        expectGradMatchesFd(f, [x, dy], [ux, udy], { tol: 1e-3 });
      });
    });

    it(`${label}: second order, Hessian-vector product of sum(R * tanh(F(x, dy))) matches finite differences`, () => {
      withTensors(setup, (x, dy, _w, R, vx, vdy, _vw, ux, udy) => {
        const f = (xx: tf.Tensor, dd: tf.Tensor) =>
          tf.sum(tf.mul(R, tf.tanh(filterGrad(xx, dd, strides, pad)))) as tf.Scalar;
        expectHvpMatchesFd(f, [x, dy], [vx, vdy], [ux, udy], { tol: 2e-3 });
      });
    });

    it(`${label}: a conv layer's mixed second derivative d/dx <v, dL/dW> matches finite differences`, () => {
      // The distillation case: an inner SGD step on W differentiated with respect to the input pixels.
      withTensors(setup, (x, dy, w, _R, vx, _vdy, vw, ux, _udy, uw) => {
        const loss = (xx: tf.Tensor, ww: tf.Tensor) => tf.sum(tf.mul(dy, tf.tanh(conv(xx, ww)))) as tf.Scalar;
        const zeroVx = tf.zerosLike(vx);
        const zeroUw = tf.zerosLike(uw);
        try {
          expectHvpMatchesFd(loss, [x, w], [zeroVx, vw], [ux, zeroUw], { tol: 2e-3 });
          expectHvpMatchesFd(loss, [x, w], [vx, vw], [ux, uw], { tol: 2e-3 });
        } finally {
          tf.dispose([zeroVx, zeroUw]);
        }
      });
    });
  }
});
