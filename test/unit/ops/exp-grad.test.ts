import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { expectNoLeak, randu } from './finite-differences.js';
import { checkUnaryGradients } from './unary-gradient-checks.js';

describe('Exp gradient (ml/ops/exp-grad.ts)', () => {
  checkUnaryGradients({
    kernel: 'Exp',
    op: (x) => tf.exp(x),
    d1: Math.exp,
    d2: Math.exp,
    points: () => randu([3, 4], 1, -2, 2),
  });

  it('d2/dx2 of x*exp(x) at 0.5 is (x+2)e^x = 4.1218 (the stock gradient gives (x+1)e^x = 3.2974)', () => {
    expectNoLeak(() => {
      const f = (x: tf.Tensor) => tf.mul(x, tf.exp(x));
      const at = (g: (x: tf.Tensor) => tf.Tensor) => tf.tidy(() => g(tf.scalar(0.5)).dataSync()[0]!);
      const e = Math.exp(0.5);
      expect(Math.abs(at(tf.grad(f)) - 1.5 * e) / (1.5 * e)).toBeLessThan(1e-5);
      expect(Math.abs(at(tf.grad(tf.grad(f))) - 2.5 * e) / (2.5 * e)).toBeLessThan(1e-4);
      expect(at(tf.grad(tf.grad(f)))).toBeCloseTo(4.1218, 4);
      // The gradient is built from differentiable ops, so every order works: (x+3)e^x.
      expect(Math.abs(at(tf.grad(tf.grad(tf.grad(f)))) - 3.5 * e) / (3.5 * e)).toBeLessThan(1e-4);
    });
  });
});
