// Tanh, re-registered. The stock gradient dy * (1 - y^2) reads the saved OUTPUT y, whose tape path the
// engine drops in higher-order gradients (see exp-grad.ts): a second derivative through a tanh either
// loses terms or throws "Cannot compute gradient of y=f(x)" (specs/distill-trajectory-matching.md §9.2).
// Recomputing tanh(x) from the saved input keeps it.
import * as tf from '@tensorflow/tfjs-core';

/** Tanh: dx = dy * (1 - tanh(x)^2), from the saved input. */
export const tanhGradConfig: tf.GradConfig = {
  kernelName: tf.Tanh,
  inputsToSave: ['x'],
  gradFunc: (dy, saved) => {
    const [x] = saved as [tf.Tensor];
    return { x: () => tf.mul(dy as tf.Tensor, tf.sub(1, tf.square(tf.tanh(x)))) };
  },
};
