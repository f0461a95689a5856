// Softmax cross-entropy built only from primitives whose registered gradients are themselves
// differentiable (max, sub, exp, sum, log), so it can sit inside an unrolled inner loop and be
// differentiated twice (specs/distill-trajectory-matching.md §9.2, "Rule"). The max shift cancels
// exactly in the gradient; its own gradient path needs the zero gradients of the comparison kernels.
import * as tf from '@tensorflow/tfjs-core';

/** log softmax along the last axis: x - max(x) - log(sum(exp(x - max(x)))). */
export function logSoftmax(logits: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const axis = logits.rank - 1;
    const shift = tf.max(logits, axis, true);
    const z = tf.sub(logits, shift);
    return tf.sub(z, tf.log(tf.sum(tf.exp(z), axis, true)));
  });
}

/**
 * Per-example cross-entropy -sum(p * log softmax(logits)) for target distributions `targets`
 * (one-hot or soft labels) of the same shape as `logits`. Returns shape logits.shape[:-1].
 */
export function softmaxCrossEntropy(logits: tf.Tensor, targets: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.neg(tf.sum(tf.mul(targets, logSoftmax(logits)), logits.rank - 1)));
}
