// Instance norm (PyTorch GroupNorm(C, C) on NHWC: per sample and channel over H, W; biased variance;
// affine) as ONE differentiable op with a hand-derived backward pass. Built from tf.moments and
// broadcasting primitives it costs ~10 kernels forward and ~20 backward; here the forward runs 6
// full-size kernels and the backward 7, with no broadcast-gradient reductions.
//
// With x̂ = (x − μ)·r, r = (σ² + ε)^-½, N = H·W, sums over H, W:
//   dβ = Σ_{b,h,w} dy      dγ = Σ_{b,h,w} dy·x̂
//   dx = γ·r·(dy − Σdy/N − x̂·Σ(dy·x̂)/N)
// Second order: the engine saves tensors by cloning them with a tape node from the saved tensor to its
// clone. Saved INPUTS therefore stay connected to the outer tape, while x − μ and r, computed inside the
// op where nothing is recorded, are constants to an outer gradient (the failure exp-grad.ts
// describes). So when a tape records the backward pass (trajectory matching differentiates through
// it), the same formula is evaluated from the saved x and γ with primitives and the outer gradient sees
// every path; otherwise the forward pass's x − μ and r are reused. (Closing over x instead of saving it
// would not do: the caller's tf.tidy disposes it before the backward pass runs.)
import * as tf from '@tensorflow/tfjs-core';
import { tapeRecording } from './fused.js';

interface Standardized {
  /** x − μ, shaped like x. */
  centered: tf.Tensor4D;
  /** r = (σ² + ε)^-½, [B, 1, 1, C]. */
  rstd: tf.Tensor4D;
}

function standardize(x: tf.Tensor4D, eps: number): Standardized {
  const centered = tf.sub(x, tf.mean(x, [1, 2], true)) as tf.Tensor4D;
  const rstd = tf.rsqrt(tf.add(tf.mean(tf.square(centered), [1, 2], true), eps)) as tf.Tensor4D;
  return { centered, rstd };
}

/** γ·x̂ + β = (x − μ)·(γ·r) + β: the per-(b, c) scale is applied once, x̂ is never materialised. */
function affineOut(s: Standardized, gamma: tf.Tensor, beta: tf.Tensor): tf.Tensor4D {
  return tf.add(tf.mul(s.centered, tf.mul(gamma, s.rstd)), beta) as tf.Tensor4D;
}

/** The backward pass above, from x − μ and r (tensors on the tape or not); x̂ = (x − μ)·r. */
function backward(dy: tf.Tensor4D, gamma: tf.Tensor, s: Standardized): [tf.Tensor, tf.Tensor, tf.Tensor] {
  const n = dy.shape[1] * dy.shape[2];
  const sumDyXhat = tf.mul(tf.sum(tf.mul(dy, s.centered), [1, 2], true), s.rstd);
  const sumDy = tf.sum(dy, [1, 2], true);
  const scale = tf.mul(gamma, s.rstd); // γ·r, [B, 1, 1, C]
  // dx = scale·dy + (x − μ)·(−scale·r·Σ(dy·x̂)/N) + (−scale·Σdy/N): two per-(b, c) coefficients, three
  // full passes.
  const k1 = tf.mul(tf.mul(scale, s.rstd), tf.mul(sumDyXhat, -1 / n));
  const k0 = tf.mul(scale, tf.mul(sumDy, -1 / n));
  const dx = tf.add(tf.add(tf.mul(scale, dy), tf.mul(s.centered, k1)), k0);
  const channels = gamma.shape;
  const dgamma = tf.reshape(tf.sum(sumDyXhat, [0, 1, 2]), channels);
  const dbeta = tf.reshape(tf.sum(sumDy, [0, 1, 2]), channels);
  return [dx, dgamma, dbeta];
}

/**
 * γ·(x − μ)/√(σ² + ε) + β for NHWC x with per-(sample, channel) statistics over H, W, and γ, β of
 * shape [C]. Differentiable to any order in x, γ, β.
 */
export function instanceNorm(x: tf.Tensor4D, gamma: tf.Tensor, beta: tf.Tensor, eps = 1e-5): tf.Tensor4D {
  // customGrad's callback receives the inputs then the save function, typed as one rest parameter.
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xIn, gIn, bIn, save] = args as [tf.Tensor4D, tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    const s = standardize(xIn, eps);
    save([xIn, gIn, s.centered, s.rstd]);
    return {
      value: affineOut(s, gIn, bIn),
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const [xSaved, gSaved, centered, rstd] = saved as [tf.Tensor4D, tf.Tensor, tf.Tensor4D, tf.Tensor4D];
        const stats = tapeRecording() ? standardize(xSaved, eps) : { centered, rstd };
        return backward(dy as tf.Tensor4D, gSaved, stats);
      },
    };
  });
  return op(x, gamma, beta) as tf.Tensor4D;
}

/** The same function from broadcasting primitives and their stock gradients (the A/B reference). */
export function instanceNormStock(
  x: tf.Tensor4D,
  gamma: tf.Tensor,
  beta: tf.Tensor,
  eps = 1e-5,
): tf.Tensor4D {
  return tf.tidy(() => {
    const { mean, variance } = tf.moments(x, [1, 2], true);
    return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps))), gamma), beta);
  });
}
