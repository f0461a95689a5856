// Gradient of MaxPoolGrad, the kernel that back-propagates through max pooling. tfjs-core registers
// none, so a second derivative through a maxPool layer throws "gradient function not found for
// MaxPoolGrad" (specs/distill-trajectory-matching.md §9.2).
//
// With the argmax of every window fixed, max pooling is a linear selection map M, (M z)[w] =
// z[argmax_w], and MaxPoolGrad(dy, input, output) = M^T dy. So for upstream G (shaped like `input`):
//   d/d dy = M G, G gathered at each window's argmax;
//   d/d input = d/d output = 0 (the argmax is piecewise constant in the input; the gradient holds
//   almost everywhere, i.e. away from ties between window elements).
// M G is built from differentiable kernels only (PadV2, Slice, Reshape, Pack, ArgMax, OneHot, Mul,
// Sum) so that it can itself be differentiated: each window offset (p, q) is a strided view taken by
// slicing and reshaping, padded positions hold -Infinity (as in MaxPool), and among equal values the
// first in row-major window order wins, which is how TensorFlow's MaxPoolGrad breaks ties.
import * as tf from '@tensorflow/tfjs-core';

/** Views of `t` at every window offset, stacked on a new last axis: [B, outH, outW, C, fh * fw]. */
function windowElements(t: tf.Tensor4D, info: tf.backend_util.Conv2DInfo, padValue: number): tf.Tensor5D {
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, strideHeight, strideWidth } = info;
  const { filterHeight, filterWidth, padInfo } = info;
  // Each view starts at row p and spans strideHeight * outHeight rows, so pad at least that far.
  const bottom = Math.max(0, filterHeight - 1 + strideHeight * outHeight - padInfo.top - inHeight);
  const right = Math.max(0, filterWidth - 1 + strideWidth * outWidth - padInfo.left - inWidth);
  const padded = tf.pad(
    t,
    [
      [0, 0],
      [padInfo.top, bottom],
      [padInfo.left, right],
      [0, 0],
    ],
    padValue,
  );
  const views: tf.Tensor4D[] = [];
  for (let p = 0; p < filterHeight; p++) {
    for (let q = 0; q < filterWidth; q++) {
      const block = tf.slice(
        padded,
        [0, p, q, 0],
        [batchSize, strideHeight * outHeight, strideWidth * outWidth, inChannels],
      );
      const strided = tf.reshape(block, [
        batchSize,
        outHeight,
        strideHeight,
        outWidth,
        strideWidth,
        inChannels,
      ]);
      const picked = tf.slice(
        strided,
        [0, 0, 0, 0, 0, 0],
        [batchSize, outHeight, 1, outWidth, 1, inChannels],
      );
      views.push(tf.reshape(picked, [batchSize, outHeight, outWidth, inChannels]));
    }
  }
  return tf.stack(views, 4) as tf.Tensor5D;
}

function poolInfo(input: tf.Tensor4D, attrs: tf.MaxPoolGradAttrs): tf.backend_util.Conv2DInfo {
  const { filterSize, strides, pad, dimRoundingMode } = attrs;
  return tf.backend_util.computePool2DInfo(input.shape, filterSize, strides, 1, pad, dimRoundingMode);
}

/** M G: the upstream gradient G (shaped like `input`) read at the argmax of each pooling window. */
export function gatherAtWindowArgmax(
  G: tf.Tensor4D,
  input: tf.Tensor4D,
  attrs: tf.MaxPoolGradAttrs,
): tf.Tensor4D {
  return tf.tidy(() => {
    const info = poolInfo(input, attrs);
    const argmax = tf.argMax(windowElements(input, info, -Infinity), 4);
    const selector = tf.oneHot(argmax, info.filterHeight * info.filterWidth, 1, 0, 'float32');
    return tf.sum(tf.mul(windowElements(G, info, 0), selector), 4) as tf.Tensor4D;
  });
}

/** MaxPoolGrad: d/d dy = G at each window's argmax, d/d input = d/d output = 0 (a.e.). */
export const maxPoolGradGradConfig: tf.GradConfig = {
  kernelName: tf.MaxPoolGrad,
  inputsToSave: ['input'],
  gradFunc: (g, saved, attrs) => {
    const [input] = saved as [tf.Tensor4D];
    const G = g as tf.Tensor4D;
    const poolAttrs = attrs as unknown as tf.MaxPoolGradAttrs;
    return {
      dy: () => gatherAtWindowArgmax(G, input, poolAttrs),
      input: () => tf.zerosLike(G),
      output: () => {
        const { batchSize, outHeight, outWidth, outChannels } = poolInfo(input, poolAttrs);
        return tf.zeros([batchSize, outHeight, outWidth, outChannels]);
      },
    };
  },
};
