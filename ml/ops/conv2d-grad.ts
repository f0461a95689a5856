// Conv2D's gradient with the input gradient computed as a FORWARD convolution. For stride 1,
// dilation 1, NHWC and an odd square k×k kernel,
//   dL/dx = conv2d(dy, W'),   W'[p, q, o, c] = W[k−1−p, k−1−q, c, o]   (flipped, in/out swapped)
// with 'same' padding for a 'same' forward pass and a full (k−1) zero border around dy for 'valid'.
// TensorFlow's Conv2D kernel runs this at forward-pass speed; its Conv2DBackpropInput kernel, for the
// same arithmetic, does not. The filter gradient is Conv2DBackpropFilter as in tfjs-core. Everything
// here is conv2d, pad, reverse and transpose, each with a registered gradient, so the result is
// differentiable to any order (conv2d's gradient is this config again). Other strides, dilations,
// layouts or kernel shapes take tfjs-core's path (Conv2DBackpropInput).
import * as tf from '@tensorflow/tfjs-core';
import { fusedOpsEnabled } from './fused.js';

const allOnes = (v: unknown): boolean =>
  v === undefined || v === 1 || (Array.isArray(v) && v.every((e) => e === 1));

interface ConvAttrs {
  strides: tf.Conv2DAttrs['strides'];
  pad: tf.Conv2DAttrs['pad'];
  dataFormat?: tf.Conv2DAttrs['dataFormat'];
  dimRoundingMode?: tf.Conv2DAttrs['dimRoundingMode'];
  dilations?: tf.Conv2DAttrs['dilations'];
}

/** Whether dL/dx of this convolution can be the forward convolution above. */
function byForwardConv(filter: tf.Tensor4D, attrs: ConvAttrs): boolean {
  const [kh, kw] = filter.shape;
  const { strides, dilations, pad, dataFormat } = attrs;
  return (
    fusedOpsEnabled() &&
    kh === kw &&
    kh % 2 === 1 &&
    allOnes(strides) &&
    allOnes(dilations) &&
    (dataFormat ?? 'NHWC') === 'NHWC' &&
    (pad === 'same' || pad === 'valid')
  );
}

/**
 * dL/dx of y = conv2d(x, filter) given dy (what Conv2DBackpropInput computes): a forward convolution
 * with the flipped filter where that applies and fused ops are on, else the Conv2DBackpropInput kernel.
 */
export function conv2DInputGrad(
  dy: tf.Tensor4D,
  filter: tf.Tensor4D,
  attrs: ConvAttrs,
  inputShape: [number, number, number, number],
): tf.Tensor4D {
  if (!byForwardConv(filter, attrs)) {
    const { strides, pad, dataFormat, dimRoundingMode } = attrs;
    return tf.engine().runKernel(tf.Conv2DBackpropInput, { dy, filter }, {
      strides,
      pad,
      dataFormat,
      dimRoundingMode,
      inputShape,
    } as unknown as tf.NamedAttrMap) as tf.Tensor4D;
  }
  return tf.tidy(() => {
    const flipped = tf.transpose(tf.reverse(filter, [0, 1]), [0, 1, 3, 2]) as tf.Tensor4D;
    if (attrs.pad === 'same') return tf.conv2d(dy, flipped, 1, 'same');
    const border = filter.shape[0] - 1;
    const padded = tf.pad(dy, [
      [0, 0],
      [border, border],
      [border, border],
      [0, 0],
    ]) as tf.Tensor4D;
    return tf.conv2d(padded, flipped, 1, 'valid');
  });
}

/** Conv2D: dx = conv2DInputGrad(dy, W), dW = Conv2DBackpropFilter(x, dy). */
export const conv2DGradConfig: tf.GradConfig = {
  kernelName: tf.Conv2D,
  inputsToSave: ['x', 'filter'],
  gradFunc: (g, saved, rawAttrs) => {
    const [x, filter] = saved as [tf.Tensor4D, tf.Tensor4D];
    const dy = g as tf.Tensor4D;
    const attrs = rawAttrs as unknown as tf.Conv2DAttrs;
    const { strides, pad, dataFormat, dimRoundingMode, dilations } = attrs;
    if (!allOnes(dilations))
      throw new Error(`Conv2D gradient: dilations must be 1, got ${String(dilations)}`);
    return {
      x: () => conv2DInputGrad(dy, filter, attrs, x.shape),
      filter: () =>
        tf.engine().runKernel(tf.Conv2DBackpropFilter, { x, dy }, {
          strides,
          pad,
          dataFormat,
          dimRoundingMode,
          filterShape: filter.shape,
        } as unknown as tf.NamedAttrMap) as tf.Tensor4D,
    };
  },
};
