import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { reluGrad, reluGradMask } from '../../../ml/ops/index.js';
import { reluGradConfig } from '../../../ml/ops/relu-grad.js';
import { randn, withTensors } from './finite-differences.js';
import { checkUnaryGradients } from './unary-gradient-checks.js';

/** Both signs, magnitudes in [0.2, 2): finite differences never straddle the kink at 0. */
const awayFromZero = () =>
  tf.tidy(() => {
    const magnitude = tf.randomUniform([3, 4], 0.2, 2, 'float32', 6);
    const sign = tf.sign(tf.randomUniform([3, 4], -1, 1, 'float32', 7));
    return tf.mul(tf.where(tf.equal(sign, 0), tf.onesLike(sign), sign), magnitude);
  });

describe('Relu gradient (ml/ops/relu-grad.ts)', () => {
  it('is the registered Relu gradient', () => {
    expect(tf.getGradient(tf.Relu)).toBe(reluGradConfig);
  });

  it('the backend kernel and the mask multiply agree exactly, zero at and below 0', () => {
    withTensors(
      () => [tf.tensor1d([-2, -0.5, 0, 1e-6, 3]), randn([5], 31)],
      (x, dy) => {
        // (+ 0 turns the mask product's -0 into 0.)
        const native = tf.tidy(() => Array.from(reluGrad(dy!, x!).dataSync(), (v) => v + 0));
        const mask = tf.tidy(() => Array.from(reluGradMask(dy!, x!).dataSync(), (v) => v + 0));
        const d = Array.from(dy!.dataSync());
        expect(native).toEqual(mask);
        expect(native).toEqual([0, 0, 0, d[3], d[4]]);
      },
    );
  });

  // relu(x)² has curvature 2·[x > 0], which reaches x only through the dy input of the ReLU
  // gradient: this checks ReluGrad's own gradient.
  checkUnaryGradients({
    kernel: 'Relu (through relu(x)²)',
    op: (x) => tf.square(tf.relu(x)),
    d1: (x) => (x > 0 ? 2 * x : 0),
    d2: (x) => (x > 0 ? 2 : 0),
    points: awayFromZero,
  });
});
