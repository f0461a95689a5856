// Exp, re-registered. The stock gradient multiplies dy by the saved OUTPUT y = exp(x). The engine saves
// tensors by cloning them inside the kernel call, so the clone's tape node precedes the node that
// produced y; the tape filter drops it, and in a second derivative every path through y is lost:
// d2/dx2 of x*exp(x) comes out as (x+1)e^x instead of (x+2)e^x, silently
// (specs/distill-trajectory-matching.md §9.2). Saving the input and recomputing exp(x) keeps the path.
import * as tf from '@tensorflow/tfjs-core';

/** Exp: dx = dy * exp(x), from the saved input. */
export const expGradConfig: tf.GradConfig = {
  kernelName: tf.Exp,
  inputsToSave: ['x'],
  gradFunc: (dy, saved) => {
    const [x] = saved as [tf.Tensor];
    return { x: () => tf.mul(dy as tf.Tensor, tf.exp(x)) };
  },
};
