// Layer norm over the last axis (PyTorch nn.LayerNorm(d): biased variance, affine γ, β of shape [d]) as
// ONE differentiable op with a hand-derived backward pass. Built from tf.moments and broadcasting
// primitives it costs ~10 kernels forward and ~20 backward (every broadcast adds a reduction to its
// gradient); here 7 forward and 11 backward.
//
// With x̂ = (x − μ)·r, r = (σ² + ε)^-½, g = dy·γ, means over the last axis (d values), sums over rows:
//   dβ = Σ dy      dγ = Σ dy·x̂      dx = r·(g − mean(g) − x̂·mean(g·x̂))
// Second order as in instance-norm.ts: while a tape records the backward pass, x̂ and r are recomputed
// from the saved input with primitives so the outer gradient sees every path.
import * as tf from '@tensorflow/tfjs-core';
import { tapeRecording } from './fused.js';

interface Standardized {
  /** x̂ = (x − μ)·r, shaped like x. */
  xhat: tf.Tensor;
  /** r = (σ² + ε)^-½, shaped like x with a last axis of 1. */
  rstd: tf.Tensor;
}

function standardize(x: tf.Tensor, eps: number): Standardized {
  const axis = x.rank - 1;
  const centered = tf.sub(x, tf.mean(x, axis, true));
  const rstd = tf.rsqrt(tf.add(tf.mean(tf.square(centered), axis, true), eps));
  return { xhat: tf.mul(centered, rstd), rstd };
}

function backward(dy: tf.Tensor, gamma: tf.Tensor, s: Standardized): [tf.Tensor, tf.Tensor, tf.Tensor] {
  const axis = dy.rank - 1;
  const rows = dy.shape.slice(0, axis).map((_, i) => i);
  const g = tf.mul(dy, gamma);
  const meanG = tf.mean(g, axis, true);
  const meanGXhat = tf.mean(tf.mul(g, s.xhat), axis, true);
  const dx = tf.mul(tf.sub(tf.sub(g, meanG), tf.mul(s.xhat, meanGXhat)), s.rstd);
  const dgamma = tf.sum(tf.mul(dy, s.xhat), rows);
  const dbeta = tf.sum(dy, rows);
  return [dx, dgamma, dbeta];
}

/** γ·(x − μ)/√(σ² + ε) + β over the last axis of x, γ and β of shape [d]. Differentiable to any order. */
export function layerNorm<T extends tf.Tensor>(x: T, gamma: tf.Tensor, beta: tf.Tensor, eps = 1e-5): T {
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xIn, gIn, bIn, save] = args as [tf.Tensor, tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    const s = standardize(xIn, eps);
    save([xIn, gIn, s.xhat, s.rstd]);
    return {
      value: tf.add(tf.mul(s.xhat, gIn), bIn),
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const [xSaved, gSaved, xhat, rstd] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
        const stats = tapeRecording() ? standardize(xSaved, eps) : { xhat, rstd };
        return backward(dy as tf.Tensor, gSaved, stats);
      },
    };
  });
  return op(x, gamma, beta) as T;
}

/** The same function from tf.moments and broadcasting primitives (the A/B reference). */
export function layerNormStock<T extends tf.Tensor>(x: T, gamma: tf.Tensor, beta: tf.Tensor, eps = 1e-5): T {
  return tf.tidy(() => {
    const { mean, variance } = tf.moments(x, x.rank - 1, true);
    return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps))), gamma), beta) as T;
  });
}
