// Softmax cross-entropy whose derivatives of every order are exact, so it can sit inside an unrolled
// inner loop and be differentiated twice (specs/distill-trajectory-matching.md §9.2, "Rule"): log-softmax
// from primitives whose registered gradients are themselves differentiable (max, sub, exp, sum, log),
// and the cross-entropy as one fused op over it (below). The max shift cancels exactly in the
// gradient; its own gradient path needs the zero gradients of the comparison kernels.
import * as tf from '@tensorflow/tfjs-core';
import { fusedOpsEnabled, tapeRecording } from './fused.js';

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
 *
 * With fused ops on, ONE customGrad op whose backward pass is d/dz = dy·(softmax(z)·Σt − t) and
 * d/dt = −dy·log softmax(z), from the log-probabilities of the forward pass (the composite's stock
 * gradient runs every primitive's gradient in turn). While a tape records the backward pass (an outer
 * gradient through it, as trajectory matching takes), the log-probabilities are recomputed from the
 * saved logits with the primitives above so every path reaches the outer gradient (see
 * instance-norm.ts); that is why the primitives stay differentiable twice.
 */
export function softmaxCrossEntropy(logits: tf.Tensor, targets: tf.Tensor): tf.Tensor {
  return fusedOpsEnabled()
    ? fusedSoftmaxCrossEntropy(logits, targets)
    : softmaxCrossEntropyStock(logits, targets);
}

/** The composite with its stock gradients (the A/B reference). */
export function softmaxCrossEntropyStock(logits: tf.Tensor, targets: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.neg(tf.sum(tf.mul(targets, logSoftmax(logits)), logits.rank - 1)));
}

function fusedSoftmaxCrossEntropy(logits: tf.Tensor, targets: tf.Tensor): tf.Tensor {
  const axis = logits.rank - 1;
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [z, t, save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    const logp = logSoftmax(z);
    save([z, t, logp]);
    return {
      value: tf.neg(tf.sum(tf.mul(t, logp), axis)),
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const [zSaved, tSaved, logpSaved] = saved as [tf.Tensor, tf.Tensor, tf.Tensor];
        const lp = tapeRecording() ? logSoftmax(zSaved) : logpSaved;
        const g = tf.expandDims(dy as tf.Tensor, axis);
        const dz = tf.mul(g, tf.sub(tf.mul(tf.exp(lp), tf.sum(tSaved, axis, true)), tSaved));
        return [dz, tf.neg(tf.mul(g, lp))];
      },
    };
  });
  return op(logits, targets);
}
