// Gradient of Conv2DBackpropFilter, the kernel that computes dL/dW of a convolution. tfjs-core registers
// none, so any second derivative through a conv layer (e.g. d/dX of an inner SGD step on W) throws
// "gradient function not found for Conv2DBackpropFilter" (specs/distill-trajectory-matching.md §9.2).
//
// F = Conv2DBackpropFilter(x, dy), F[p,q,c,o] = sum_{b,i,j} x[b, s*i+p-pt, s*j+q-pl, c] * dy[b,i,j,o],
// is bilinear. From <conv(x, W), dy> = <W, F(x, dy)> = <x, Conv2DBackpropInput(dy, W)>, the upstream
// gradient G (shaped like the filter) gives
//   d<G,F>/d dy = conv2d(x, G)                        (same strides, padding, rounding)
//   d<G,F>/d x  = Conv2DBackpropInput(dy, filter = G)  (inputShape = x.shape; conv2d-grad.ts computes it)
// Both kernels have registered gradients (Conv2D's uses this one), so this holds to any order.
import * as tf from '@tensorflow/tfjs-core';
import { conv2DInputGrad } from './conv2d-grad.js';

/** Conv2DBackpropFilter: d/d dy = conv2d(x, G), d/d x = Conv2DBackpropInput(dy, G). */
export const conv2DBackpropFilterGradConfig: tf.GradConfig = {
  kernelName: tf.Conv2DBackpropFilter,
  inputsToSave: ['x', 'dy'],
  gradFunc: (g, saved, attrs) => {
    const [x, dy] = saved as [tf.Tensor4D, tf.Tensor4D];
    const G = g as tf.Tensor4D;
    const { strides, pad, dataFormat, dimRoundingMode } = attrs as unknown as tf.Conv2DBackpropFilterAttrs;
    return {
      x: () => conv2DInputGrad(dy, G, { strides, pad, dataFormat, dimRoundingMode }, x.shape),
      dy: () => tf.conv2d(x, G, strides, pad, dataFormat, 1, dimRoundingMode),
    };
  },
};
