// The fused exact GELU (ml/ops/gelu.ts): same values and gradients as the stock composite, and the
// closed-form first and second derivatives checked against finite differences.
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { gelu, geluStock } from '../../../ml/ops/index.js';
import { randn, withTensors } from './finite-differences.js';
import { checkUnaryGradients } from './unary-gradient-checks.js';

const SQRT_2PI = Math.sqrt(2 * Math.PI);
/** Standard normal CDF in float64 (JavaScript has no erf): Simpson integration of the density. */
function cdf(x: number): number {
  // From −8 (Φ(−8) ≈ 6e-16) to x with 2,000 intervals: accurate to ~1e-10 here.
  const n = 2000;
  const a = -8;
  const h = (x - a) / n;
  let s = 0;
  for (let i = 0; i <= n; i++) {
    const t = a + i * h;
    const w = i === 0 || i === n ? 1 : i % 2 ? 4 : 2;
    s += w * Math.exp(-0.5 * t * t);
  }
  return (s * h) / 3 / SQRT_2PI;
}
const pdf = (x: number): number => Math.exp(-0.5 * x * x) / SQRT_2PI;

describe('gelu (ml/ops/gelu.ts)', () => {
  it('equals the stock composite in value and gradient', () => {
    withTensors(
      () => [randn([3, 7], 81, 2), randn([3, 7], 82)],
      (x, w) => {
        const fused = tf.tidy(() => Array.from(gelu(x!).dataSync()));
        const stock = tf.tidy(() => Array.from(geluStock(x!).dataSync()));
        fused.forEach((v, i) => expect(Math.abs(v - stock[i]!)).toBeLessThan(1e-6));
        const grad = (f: (t: tf.Tensor) => tf.Tensor) =>
          tf.tidy(() =>
            Array.from(
              tf
                .grad((t: tf.Tensor) => tf.sum(tf.mul(w!, f(t))))(x!)
                .dataSync(),
            ),
          );
        const gf = grad(gelu);
        const gs = grad(geluStock);
        gf.forEach((v, i) => expect(Math.abs(v - gs[i]!)).toBeLessThan(1e-5));
      },
    );
  });

  // x·Φ(x): first derivative Φ + x·φ, second 2φ − x²·φ (φ' = −x·φ).
  checkUnaryGradients({
    kernel: 'gelu',
    op: (x) => gelu(x),
    d1: (x) => cdf(x) + x * pdf(x),
    d2: (x) => (2 - x * x) * pdf(x),
    points: () => randn([3, 4], 83, 1.5),
  });
});
