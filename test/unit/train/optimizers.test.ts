// SGD-with-momentum and AdamW steps against hand-computed numbers (PyTorch's update rules), global-norm
// clipping, the checkpoint form of optimizer state, and tensor hygiene.
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import {
  adamw,
  clipByGlobalNorm,
  decayMatricesOnly,
  deserializeOptimizerState,
  disposeOptimizerState,
  globalNorm,
  serializeOptimizerState,
  sgd,
} from '../../../ml/train/optimizers.js';
import { disposeTree } from '../../../ml/train/param-tree.js';
import { expectNoLeak } from '../ops/finite-differences.js';

function expectValues(t: tf.Tensor, want: number[], digits = 6): void {
  const got = Array.from(t.dataSync());
  expect(got).toHaveLength(want.length);
  got.forEach((v, i) => expect(v, `element ${i}`).toBeCloseTo(want[i]!, digits));
}

describe('sgd', () => {
  it('plain SGD: p ← p − lr·g, no slots', () => {
    expectNoLeak(() => {
      const opt = sgd();
      const p = tf.tensor1d([1, -2]);
      const g = tf.tensor1d([0.5, 0.5]);
      const s0 = opt.init(p);
      expect(Object.keys(s0.slots)).toEqual([]);
      const { params, state } = opt.step(p, g, s0, 0.1);
      expectValues(params, [0.95, -2.05]);
      expect(state.step).toBe(1);
      tf.dispose([p, g, params]);
    });
  });

  it('momentum 0.9 + weight decay 0.1, two steps (hand-computed)', () => {
    expectNoLeak(() => {
      const opt = sgd({ momentum: 0.9, weightDecay: 0.1 });
      const p0 = tf.tensor1d([1, -2]);
      const g = tf.tensor1d([0.5, 0.5]);
      const s0 = opt.init(p0);
      // step 1: d = g + 0.1·p = [0.6, 0.3]; v = d; p = p − 0.1·v = [0.94, −2.03]
      const r1 = opt.step(p0, g, s0, 0.1);
      expectValues(r1.params, [0.94, -2.03]);
      expectValues(r1.state.slots.velocity!, [0.6, 0.3]);
      // step 2: d = [0.594, 0.297]; v = 0.9·[0.6, 0.3] + d = [1.134, 0.567]; p = [0.8266, −2.0867]
      const r2 = opt.step(r1.params, g, r1.state, 0.1);
      expectValues(r2.params, [0.8266, -2.0867]);
      expectValues(r2.state.slots.velocity!, [1.134, 0.567]);
      expect(r2.state.step).toBe(2);
      tf.dispose([p0, g, r1.params, r2.params]);
      [s0, r1.state, r2.state].forEach(disposeOptimizerState);
    });
  });

  it('nesterov: p ← p − lr·(d + μ·v)', () => {
    expectNoLeak(() => {
      const opt = sgd({ momentum: 0.9, weightDecay: 0.1, nesterov: true });
      const p0 = tf.tensor1d([1, -2]);
      const g = tf.tensor1d([0.5, 0.5]);
      const s0 = opt.init(p0);
      const r1 = opt.step(p0, g, s0, 0.1); // d + 0.9·v = [1.14, 0.57]
      expectValues(r1.params, [0.886, -2.057]);
      tf.dispose([p0, g, r1.params]);
      disposeOptimizerState(s0);
      disposeOptimizerState(r1.state);
    });
  });
});

describe('adamw', () => {
  it('two steps with decoupled weight decay (hand-computed, torch.optim.AdamW)', () => {
    expectNoLeak(() => {
      const opt = adamw({ beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 });
      const p0 = tf.tensor1d([1, -2]);
      const g1 = tf.tensor1d([0.5, -1]);
      const g2 = tf.tensor1d([0.25, 1]);
      const s0 = opt.init(p0);
      // step 1: the bias-corrected first step moves each coordinate by ±lr: p·(1 − 0.001) ∓ 0.1
      const r1 = opt.step(p0, g1, s0, 0.1);
      expectValues(r1.params, [0.899000002, -1.898000001]);
      expectValues(r1.state.slots.m!, [0.05, -0.1]);
      expectValues(r1.state.slots.v!, [0.00025, 0.001], 8);
      const r2 = opt.step(r1.params, g2, r1.state, 0.1);
      expectValues(r2.params, [0.8048830405, -1.9013651588], 5);
      expectValues(r2.state.slots.m!, [0.07, 0.01]);
      expectValues(r2.state.slots.v!, [0.00031225, 0.001999], 8);
      expect(r2.state.step).toBe(2);
      tf.dispose([p0, g1, g2, r1.params, r2.params]);
      [s0, r1.state, r2.state].forEach(disposeOptimizerState);
    });
  });

  it('decays only what decayFilter selects (matrices, not biases)', () => {
    expectNoLeak(() => {
      const opt = adamw({ weightDecay: 0.5, decayFilter: decayMatricesOnly });
      const params = { w: tf.tensor2d([[2]]), b: tf.tensor1d([2]) };
      const zeros = { w: tf.zeros([1, 1]), b: tf.zeros([1]) };
      const s0 = opt.init(params);
      // Zero gradient: Adam's update is 0, so only weight decay moves the matrix: 2·(1 − 0.1·0.5) = 1.9.
      const r = opt.step(params, zeros, s0, 0.1);
      expectValues(r.params.w!, [1.9]);
      expectValues(r.params.b!, [2]);
      [params, zeros, r.params].forEach(disposeTree);
      disposeOptimizerState(s0);
      disposeOptimizerState(r.state);
    });
  });
});

describe('clipByGlobalNorm', () => {
  it('scales by maxNorm / ‖g‖ when above the threshold and reports the norm', () => {
    expectNoLeak(() => {
      const grads = { a: tf.tensor1d([3]), b: tf.tensor1d([4]) };
      const { grads: clipped, norm } = clipByGlobalNorm(grads, 1);
      expect(norm.dataSync()[0]).toBeCloseTo(5, 6);
      expectValues(clipped.a!, [0.6]);
      expectValues(clipped.b!, [0.8]);
      const same = clipByGlobalNorm(grads, 10);
      expectValues(same.grads.a!, [3]);
      const v = tf.tensor1d([1, 2, 2]);
      const n = globalNorm(v);
      expect(n.dataSync()[0]).toBeCloseTo(3, 6);
      tf.dispose([norm, same.norm, n, v]);
      [grads, clipped, same.grads].forEach(disposeTree);
    });
  });
});

describe('optimizer state checkpoint form', () => {
  it('round-trips named and flat trees and names what is missing', () => {
    expectNoLeak(() => {
      const opt = adamw();
      const named = { 'h0.w': tf.ones([2, 2]), 'h0.b': tf.ones([2]) };
      const grads = { 'h0.w': tf.fill([2, 2], 0.5), 'h0.b': tf.fill([2], -0.5) };
      const s0 = opt.init(named);
      const r = opt.step(named, grads, s0, 0.01);
      const saved = serializeOptimizerState(r.state);
      expect(Object.keys(saved.tensors)).toEqual(['m/h0.w', 'm/h0.b', 'v/h0.w', 'v/h0.b']);
      expect(saved.step).toBe(1);
      const restored = deserializeOptimizerState(opt, named, saved);
      expect(restored.step).toBe(1);
      expect(Array.from(restored.slots.m!['h0.b']!.dataSync())).toEqual(
        Array.from(r.state.slots.m!['h0.b']!.dataSync()),
      );
      expect(() =>
        deserializeOptimizerState(opt, named, { step: 1, tensors: { 'm/h0.w': saved.tensors['m/h0.w']! } }),
      ).toThrow(/"m\/h0.b" missing/);

      const flat = tf.zeros([3]);
      const sgdm = sgd({ momentum: 0.9 });
      const fs = sgdm.init(flat);
      expect(Object.keys(serializeOptimizerState(fs).tensors)).toEqual(['velocity']);
      const wrong = tf.zeros([4]);
      expect(() => deserializeOptimizerState(sgdm, wrong, serializeOptimizerState(fs))).toThrow(/shape/);
      wrong.dispose();

      [named, grads, r.params].forEach(disposeTree);
      [s0, r.state, fs].forEach(disposeOptimizerState);
      flat.dispose();
    });
  });
});
