import * as tf from '@tensorflow/tfjs-core';
import { describe } from 'vitest';
import { randu } from './finite-differences.js';
import { checkUnaryGradients } from './unary-gradient-checks.js';

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

describe('Sigmoid gradient (ml/ops/sigmoid-grad.ts)', () => {
  checkUnaryGradients({
    kernel: 'Sigmoid',
    op: (x) => tf.sigmoid(x),
    d1: (x) => sigmoid(x) * (1 - sigmoid(x)),
    d2: (x) => sigmoid(x) * (1 - sigmoid(x)) * (1 - 2 * sigmoid(x)),
    points: () => randu([3, 4], 2, -3, 3),
  });
});
