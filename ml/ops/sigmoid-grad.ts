// Sigmoid, re-registered. The stock gradient dy * y * (1 - y) reads the saved OUTPUT y, whose tape
// path the engine drops in higher-order gradients (see exp-grad.ts): a second derivative through a
// sigmoid either loses terms or throws "Cannot compute gradient of y=f(x)"
// (specs/distill-trajectory-matching.md §9.2). Recomputing sigmoid(x) from the saved input keeps it.
import * as tf from '@tensorflow/tfjs-core';

/** Sigmoid: dx = dy * s * (1 - s), s = sigmoid(x) from the saved input. */
export const sigmoidGradConfig: tf.GradConfig = {
  kernelName: tf.Sigmoid,
  inputsToSave: ['x'],
  gradFunc: (dy, saved) => {
    const [x] = saved as [tf.Tensor];
    return {
      x: () => {
        const s = tf.sigmoid(x);
        return tf.mul(dy as tf.Tensor, tf.mul(s, tf.sub(1, s)));
      },
    };
  },
};
