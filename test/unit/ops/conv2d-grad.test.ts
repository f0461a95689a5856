// Conv2D's gradient (ml/ops/conv2d-grad.ts): the input gradient as a forward convolution with the
// flipped filter, for 'same' and 'valid' padding, checked against tfjs's Conv2DBackpropInput kernel,
// against finite differences to first and second order, and falling back to the kernel for strides 2.
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { conv2DGradConfig, conv2DInputGrad } from '../../../ml/ops/conv2d-grad.js';
import {
  expectGradMatchesFd,
  expectHvpMatchesFd,
  randn,
  withStockOps,
  withTensors,
} from './finite-differences.js';

const X_SHAPE: [number, number, number, number] = [2, 6, 6, 2];
const W_SHAPE: [number, number, number, number] = [3, 3, 2, 3];

type Pad = 'same' | 'valid';
const cases: { strides: number; pad: Pad }[] = [
  { strides: 1, pad: 'same' },
  { strides: 1, pad: 'valid' },
  { strides: 2, pad: 'same' },
];

function dyShape(strides: number, pad: Pad): number[] {
  const out = pad === 'same' ? Math.ceil(6 / strides) : Math.floor((6 - 3) / strides) + 1;
  return [2, out, out, 3];
}

function kernelInputGrad(dy: tf.Tensor, w: tf.Tensor, strides: number, pad: Pad): tf.Tensor {
  return tf
    .engine()
    .runKernel(
      tf.Conv2DBackpropInput,
      { dy, filter: w },
      { strides, pad, dataFormat: 'NHWC', inputShape: X_SHAPE },
    ) as tf.Tensor;
}

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);
}

describe('Conv2D gradient (ml/ops/conv2d-grad.ts)', () => {
  it('is the registered Conv2D gradient while fused ops are on', () => {
    expect(tf.getGradient(tf.Conv2D)).toBe(conv2DGradConfig);
  });

  for (const { strides, pad } of cases) {
    const label = `stride ${strides}, pad ${pad}`;
    const conv = (x: tf.Tensor, w: tf.Tensor) => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, strides, pad);
    const dys = dyShape(strides, pad);
    const setup = () => [
      randn(X_SHAPE, 201, 0.5),
      randn(W_SHAPE, 202, 0.5),
      randn(dys, 203),
      randn(X_SHAPE, 204), // directions
      randn(W_SHAPE, 205),
      randn(X_SHAPE, 206),
      randn(W_SHAPE, 207),
    ];

    it(`${label}: dL/dx equals the Conv2DBackpropInput kernel's, fused and stock`, () => {
      withTensors(setup, (_x, w, dy) => {
        const want = kernelInputGrad(dy!, w!, strides, pad);
        const fused = conv2DInputGrad(
          dy as tf.Tensor4D,
          w as tf.Tensor4D,
          { strides, pad, dataFormat: 'NHWC' },
          X_SHAPE,
        );
        const stock = withStockOps(() =>
          conv2DInputGrad(dy as tf.Tensor4D, w as tf.Tensor4D, { strides, pad, dataFormat: 'NHWC' }, X_SHAPE),
        );
        expect(maxAbsDiff(stock, want)).toBe(0);
        stock.dispose();
        const scale = tf.tidy(() => tf.max(tf.abs(want)).dataSync()[0]!);
        expect(scale).toBeGreaterThan(0.1);
        expect(maxAbsDiff(fused, want)).toBeLessThan(1e-5 * scale);
        tf.dispose([want, fused]);
      });
    });

    it(`${label}: first order, d/d(x, W) of sum(dy * tanh(conv(x, W))) matches finite differences`, () => {
      withTensors(setup, (x, w, dy, ux, uw) => {
        const f = (xx: tf.Tensor, ww: tf.Tensor) => tf.sum(tf.mul(dy!, tf.tanh(conv(xx, ww)))) as tf.Scalar;
        expectGradMatchesFd(f, [x!, w!], [ux!, uw!], { tol: 1e-3 });
      });
    });

    it(`${label}: second order, Hessian-vector products in (x, W) match finite differences`, () => {
      // The distillation case: d/dx of <v, dL/dW> (an inner SGD step differentiated in the pixels), and
      // the full mixed product, both through this gradient's own gradient.
      withTensors(setup, (x, w, dy, vx, vw, ux, uw) => {
        const loss = (xx: tf.Tensor, ww: tf.Tensor) =>
          tf.sum(tf.mul(dy!, tf.tanh(conv(xx, ww)))) as tf.Scalar;
        const zeroVx = tf.zerosLike(vx!);
        try {
          expectHvpMatchesFd(loss, [x!, w!], [zeroVx, vw!], [ux!, uw!], { tol: 2e-3 });
          expectHvpMatchesFd(loss, [x!, w!], [vx!, vw!], [ux!, uw!], { tol: 2e-3 });
        } finally {
          zeroVx.dispose();
        }
      });
    });
  }
});
