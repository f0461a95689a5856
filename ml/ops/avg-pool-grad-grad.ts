// Gradient of AvgPoolGrad, the kernel that back-propagates through average pooling. tfjs-core registers
// none, so a second derivative through an avgPool layer throws "gradient function not found for
// AvgPoolGrad" (specs/distill-trajectory-matching.md §9.2).
//
// Average pooling is a linear map P, and AvgPoolGrad(dy, input) = P^T dy, where `input` only supplies the
// shape. So for upstream G: d<G, P^T dy>/d dy = P G = avgPool(G) with the same window, strides and
// padding, and the gradient for `input` is zero. AvgPool's own gradient is AvgPoolGrad, so this holds
// to any order.
//
// avgPool(G) is the transpose of AvgPoolGrad only where the backend's AvgPoolGrad is the transpose of
// its AvgPool. TensorFlow (tfjs-node) divides by the number of in-bounds elements in both. The pure-JS
// cpu backend (tfjs-backend-cpu 4.22) does so in AvgPool but divides by the full window area in
// AvgPoolGrad, so with padding ('same') its FIRST-order avgPool gradient is already wrong at the borders
// and no second-order gradient can be consistent with it; 'valid' pooling (Retort's ConvNet: 2x2,
// stride 2) is exact everywhere.
import * as tf from '@tensorflow/tfjs-core';

/** AvgPoolGrad: d/d dy = avgPool(G), d/d input = 0. */
export const avgPoolGradGradConfig: tf.GradConfig = {
  kernelName: tf.AvgPoolGrad,
  inputsToSave: [], // `input` only supplies a shape, which G (shaped like the output) has too
  gradFunc: (g, _saved, attrs) => {
    const G = g as tf.Tensor4D;
    const { filterSize, strides, pad } = attrs as unknown as tf.AvgPoolGradAttrs;
    return {
      dy: () => tf.avgPool(G, filterSize, strides, pad),
      input: () => tf.zerosLike(G),
    };
  },
};
