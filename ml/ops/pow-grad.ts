// Pow, re-registered. The stock gradient for the exponent, dy * y * log(a), reads the saved OUTPUT
// y = a^b, whose tape path is dropped in higher-order gradients (see exp-grad.ts;
// specs/distill-trajectory-matching.md §9.2), so second derivatives involving a learned exponent are
// wrong. Here y is recomputed from the saved inputs. As in tfjs-core, the exponent gradient is 0 where
// a <= 0; it is log(where(a > 0, a, 1)), so no NaN reaches a second derivative there.
import * as tf from '@tensorflow/tfjs-core';

/** Sums `grad` (shaped like the broadcast output) back down to `shape`. */
function unbroadcast(grad: tf.Tensor, shape: number[]): tf.Tensor {
  const axes = tf.broadcast_util.getReductionAxes(shape, grad.shape);
  return tf.reshape(axes.length > 0 ? tf.sum(grad, axes) : grad, shape);
}

/** Pow: da = dy * b * a^(b-1), db = dy * a^b * log(a) (0 where a <= 0). */
export const powGradConfig: tf.GradConfig = {
  kernelName: tf.Pow,
  inputsToSave: ['a', 'b'],
  gradFunc: (dy, saved) => {
    const [a, b] = saved as [tf.Tensor, tf.Tensor];
    const g = dy as tf.Tensor;
    return {
      a: () => {
        const exponent = tf.cast(b, 'float32');
        return unbroadcast(tf.mul(g, tf.mul(exponent, tf.pow(a, tf.sub(exponent, 1)))), a.shape);
      },
      b: () => {
        const logA = tf.log(tf.where(tf.greater(a, 0), a, tf.onesLike(a))); // log(1) = 0 where a <= 0
        return unbroadcast(tf.mul(g, tf.mul(tf.pow(a, b), logA)), b.shape);
      },
    };
  },
};
