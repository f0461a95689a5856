import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { activeBackend, backendSelfTest } from '../../workers/backend.js';

describe('compute backend', () => {
  it('runs on the backend RETORT_TF_BACKEND asks for (native in CI)', () => {
    const want = process.env.RETORT_TF_BACKEND;
    const info = activeBackend();
    expect(info).toBeDefined();
    if (want && want !== 'auto') expect(info!.name).toBe(want);
  });

  it('passes the start-up self-test (matmul, conv2d gradients) without leaking tensors', () => {
    const before = tf.memory().numTensors;
    expect(() => backendSelfTest()).not.toThrow();
    expect(tf.memory().numTensors).toBe(before);
  });
});
