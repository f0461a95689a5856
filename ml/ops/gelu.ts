// Exact GELU, x·Φ(x) with Φ(x) = ½(1 + erf(x/√2)) (PyTorch nn.GELU's default), as ONE differentiable op:
//   d/dx = Φ(x) + x·φ(x),   φ(x) = exp(−x²/2)/√(2π)
// The composite's stock gradient runs every multiply, add and the erf gradient (exp of a square) as
// separate full-size kernels; here the backward pass reuses Φ from the forward pass. While a tape
// records the backward pass (second order), Φ is recomputed from the saved input so the outer gradient
// sees its dependence on x (see instance-norm.ts).
import * as tf from '@tensorflow/tfjs-core';
import { tapeRecording } from './fused.js';

const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

/** Φ(x) = ½(1 + erf(x/√2)). */
function normalCdf(x: tf.Tensor): tf.Tensor {
  return tf.mul(tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1), 0.5);
}

/** x·Φ(x), differentiable to any order. */
export function gelu<T extends tf.Tensor>(x: T): T {
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xIn, save] = args as [tf.Tensor, tf.GradSaveFunc];
    const cdf = normalCdf(xIn);
    save([xIn, cdf]);
    return {
      value: tf.mul(xIn, cdf),
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const [xSaved, cdfSaved] = saved as [tf.Tensor, tf.Tensor];
        const phi = tapeRecording() ? normalCdf(xSaved) : cdfSaved;
        // x·φ(x) = x·exp(−x²/2)/√(2π)
        const xPdf = tf.mul(xSaved, tf.mul(tf.exp(tf.mul(tf.square(xSaved), -0.5)), INV_SQRT_2PI));
        return [tf.mul(dy as tf.Tensor, tf.add(phi, xPdf))];
      },
    };
  });
  return op(x) as T;
}

/** The same function from primitives and their stock gradients (the A/B reference). */
export function geluStock<T extends tf.Tensor>(x: T): T {
  return tf.tidy(() => tf.mul(tf.mul(0.5, x), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2)))) as T);
}
