// Elu, re-registered. The stock gradient runs the EluGrad kernel on the saved OUTPUT y: EluGrad has no
// gradient of its own, and the path through y is dropped in higher-order gradients anyway (see
// exp-grad.ts; specs/distill-trajectory-matching.md §9.2). elu'(x) = 1 for x > 0 and e^x otherwise,
// which is exp(min(x, 0)) everywhere: one expression with no branch, so no inf * 0 for large x.
import * as tf from '@tensorflow/tfjs-core';

/** Elu: dx = dy * exp(min(x, 0)), from the saved input. */
export const eluGradConfig: tf.GradConfig = {
  kernelName: tf.Elu,
  inputsToSave: ['x'],
  gradFunc: (dy, saved) => {
    const [x] = saved as [tf.Tensor];
    return { x: () => tf.mul(dy as tf.Tensor, tf.exp(tf.minimum(x, 0))) };
  },
};
