import * as tf from '@tensorflow/tfjs-core';
import { describe } from 'vitest';
import { randu } from './finite-differences.js';
import { checkUnaryGradients } from './unary-gradient-checks.js';

describe('Tanh gradient (ml/ops/tanh-grad.ts)', () => {
  checkUnaryGradients({
    kernel: 'Tanh',
    op: (x) => tf.tanh(x),
    d1: (x) => 1 - Math.tanh(x) ** 2,
    d2: (x) => -2 * Math.tanh(x) * (1 - Math.tanh(x) ** 2),
    points: () => randu([3, 4], 3, -2, 2),
  });
});
