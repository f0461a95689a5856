// registerSecondOrderGradients (ml/ops/index.ts) installs every override, after the backend's stock
// gradients, and can be called again without effect.
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import {
  FUSED_GRADIENTS,
  SECOND_ORDER_GRADIENTS,
  registerSecondOrderGradients,
  setFusedOps,
} from '../../../ml/ops/index.js';

describe('registerSecondOrderGradients (ml/ops/index.ts)', () => {
  it('registers one gradient per kernel, each in force after backend start-up', () => {
    const names = SECOND_ORDER_GRADIENTS.map((config) => config.kernelName);
    expect(new Set(names).size).toBe(names.length);
    expect(names).toEqual(
      expect.arrayContaining([
        'Conv2DBackpropFilter',
        'AvgPoolGrad',
        'MaxPoolGrad',
        'Exp',
        'Sigmoid',
        'Tanh',
        'Softmax',
        'Elu',
        'Pow',
        'Equal',
        'NotEqual',
        'Greater',
        'GreaterEqual',
        'Less',
        'LessEqual',
        'LogicalAnd',
        'LogicalOr',
        'LogicalNot',
      ]),
    );
    for (const config of SECOND_ORDER_GRADIENTS) expect(tf.getGradient(config.kernelName)).toBe(config);
  });

  it('no override reads a saved output (the tape path the engine drops in higher-order gradients)', () => {
    for (const config of SECOND_ORDER_GRADIENTS) expect(config.outputsToSave ?? []).toEqual([]);
  });

  it('is idempotent', () => {
    registerSecondOrderGradients();
    registerSecondOrderGradients();
    for (const config of SECOND_ORDER_GRADIENTS) expect(tf.getGradient(config.kernelName)).toBe(config);
  });

  it('with fused ops off, the stock gradients the fused ones replace are back (and on again after)', () => {
    const fusedRelu = tf.getGradient(tf.Relu);
    expect(FUSED_GRADIENTS).toContain(fusedRelu);
    try {
      setFusedOps(false);
      registerSecondOrderGradients();
      expect(tf.getGradient(tf.Relu)).not.toBe(fusedRelu);
      expect(tf.getGradient(tf.Relu)?.kernelName).toBe(tf.Relu);
    } finally {
      setFusedOps(true);
      registerSecondOrderGradients();
    }
    expect(tf.getGradient(tf.Relu)).toBe(fusedRelu);
  });
});
