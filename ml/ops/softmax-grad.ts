// Softmax, re-registered. The stock gradient y * (dy - sum(y * dy)) reads the saved OUTPUT y, whose
// tape path the engine drops in higher-order gradients (see exp-grad.ts); a softmax cross-entropy
// inside an unrolled loop then loses its curvature terms silently
// (specs/distill-trajectory-matching.md §9.2). Recomputing softmax(logits) from the saved input keeps it.
import * as tf from '@tensorflow/tfjs-core';

/** Softmax: dx = y * dy - y * sum(y * dy, dim), y = softmax(logits) from the saved input. */
export const softmaxGradConfig: tf.GradConfig = {
  kernelName: tf.Softmax,
  inputsToSave: ['logits'],
  gradFunc: (dy, saved, attrs) => {
    const [logits] = saved as [tf.Tensor];
    const { dim } = attrs as unknown as tf.SoftmaxAttrs;
    return {
      logits: () => {
        const y = tf.softmax(logits, dim);
        const yDy = tf.mul(y, dy as tf.Tensor);
        return tf.sub(yDy, tf.mul(tf.sum(yDy, dim, true), y));
      },
    };
  },
};
