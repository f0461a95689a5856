import * as tf from '@tensorflow/tfjs-core';
import { describe } from 'vitest';
import { checkUnaryGradients } from './unary-gradient-checks.js';

describe('Elu gradient (ml/ops/elu-grad.ts)', () => {
  checkUnaryGradients({
    kernel: 'Elu',
    op: (x) => tf.elu(x),
    d1: (x) => (x > 0 ? 1 : Math.exp(x)),
    d2: (x) => (x > 0 ? 0 : Math.exp(x)),
    // Both signs, but away from the kink in elu'' at 0 so that finite differences do not straddle it.
    points: () =>
      tf.tidy(() => {
        const magnitude = tf.randomUniform([3, 4], 0.2, 2, 'float32', 4);
        const sign = tf.sign(tf.randomUniform([3, 4], -1, 1, 'float32', 5));
        return tf.mul(tf.where(tf.equal(sign, 0), tf.onesLike(sign), sign), magnitude);
      }),
  });
});
