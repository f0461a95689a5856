// Training loops: determinism, resumption at a global step, BatchNorm running statistics, the LM
// overfitting one batch, divergence errors, and no leaked tensors.
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { constantSchedule, rewarmedCosineSchedule } from '../../../ml/methods/rewarm.js';
import {
  type ConvNetConfig,
  convNetConfig,
  convNetForwardWithStats,
  initBatchNormStats,
  initConvNetParams,
  updateBatchNormStats,
} from '../../../ml/models/convnet.js';
import { initLmParams, lmConfig, lmLoss } from '../../../ml/models/lm.js';
import { BatchOrder, gatherImages, gatherLabels, gatherTokenWindows } from '../../../ml/train/batches.js';
import { type StepInfo, trainConvNetSteps, trainLmSteps, trainSteps } from '../../../ml/train/loops.js';
import { type OptimizerState, adamw, disposeOptimizerState, sgd } from '../../../ml/train/optimizers.js';
import { disposeTree } from '../../../ml/train/param-tree.js';
import { Rng } from '../../../ml/train/rng.js';
import { expectNoLeak } from '../ops/finite-differences.js';

/** A small synthetic image set whose label is the brightest quadrant (learnable in a few steps). */
function toyImages(n: number, seed: number): { pixels: Float32Array; labels: Int32Array } {
  const rng = new Rng(seed);
  const pixels = new Float32Array(n * 8 * 8);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const label = rng.int(4);
    labels[i] = label;
    for (let r = 0; r < 8; r++) {
      for (let c = 0; c < 8; c++) {
        const quadrant = (r < 4 ? 0 : 2) + (c < 4 ? 0 : 1);
        pixels[i * 64 + r * 8 + c] = rng.normal(quadrant === label ? 1 : 0, 0.5);
      }
    }
  }
  return { pixels, labels };
}

const conv: ConvNetConfig = convNetConfig({ h: 8, w: 8, c: 1, classes: 4, width: 4, depth: 2 });
const data = toyImages(64, 1);
const order = new BatchOrder({ n: 64, batchSize: 16, seed: 9 });
const convBatchAt = (step: number) => {
  const idx = order.indicesAt(step);
  return { x: gatherImages(data.pixels, { h: 8, w: 8, c: 1 }, idx), y: gatherLabels(data.labels, idx) };
};

function runConv(
  config: ConvNetConfig,
  startStep: number,
  steps: number,
  params: tf.Tensor1D,
  optState?: OptimizerState<tf.Tensor1D>,
) {
  const optimizer = sgd({ momentum: 0.9, weightDecay: 5e-4 });
  const state = optState ?? optimizer.init(params);
  const result = trainConvNetSteps({
    config,
    params,
    optimizer,
    optState: state,
    startStep,
    steps,
    lr: constantSchedule(0.05),
    batchAt: convBatchAt,
  });
  if (!optState) disposeOptimizerState(state);
  return result;
}

describe('trainConvNetSteps', () => {
  it('is deterministic: same seed → bit-identical params after N steps; loss decreases; no leaks', () => {
    expectNoLeak(() => {
      const p0 = initConvNetParams(conv, 42);
      const a = runConv(conv, 0, 12, p0);
      const b = runConv(conv, 0, 12, p0);
      expect(Array.from(a.params.dataSync())).toEqual(Array.from(b.params.dataSync()));
      expect(a.losses).toEqual(b.losses);
      expect(a.losses).toHaveLength(12);
      const head = (a.losses[0]! + a.losses[1]!) / 2;
      const tail = (a.losses[10]! + a.losses[11]!) / 2;
      expect(tail).toBeLessThan(head);
      const fresh = initConvNetParams(conv, 42);
      expect(Array.from(p0.dataSync())).toEqual(Array.from(fresh.dataSync())); // the caller's params are untouched
      fresh.dispose();
      for (const r of [a, b]) {
        r.params.dispose();
        disposeOptimizerState(r.optState);
      }
      p0.dispose();
    });
  });

  it('resumes at a global step: 5 + 7 steps equal 12 steps bit-identically', () => {
    expectNoLeak(() => {
      const p0 = initConvNetParams(conv, 43);
      const whole = runConv(conv, 0, 12, p0);
      const first = runConv(conv, 0, 5, p0);
      const second = runConv(conv, 5, 7, first.params, first.optState);
      expect(Array.from(second.params.dataSync())).toEqual(Array.from(whole.params.dataSync()));
      expect([...first.losses, ...second.losses]).toEqual(whole.losses);
      expect(second.optState.step).toBe(12);
      for (const r of [whole, first, second]) {
        r.params.dispose();
        disposeOptimizerState(r.optState);
      }
      p0.dispose();
    });
  });

  it('batchnorm: updates running statistics with the batch statistics at the pre-step params', () => {
    expectNoLeak(() => {
      const bn = convNetConfig({ ...conv, norm: 'batchnorm' });
      const p0 = initConvNetParams(bn, 44);
      const running0 = initBatchNormStats(bn);
      const opt = adamw({ weightDecay: 0 });
      const s0 = opt.init(p0);
      const r = trainConvNetSteps({
        config: bn,
        params: p0,
        optimizer: opt,
        optState: s0,
        startStep: 0,
        steps: 1,
        lr: constantSchedule(1e-3),
        batchAt: convBatchAt,
        runningStats: running0,
      });
      // Expected: PyTorch update from the batch statistics of step 0's batch at p0.
      const batch0 = convBatchAt(0);
      const out0 = convNetForwardWithStats(bn, p0, batch0.x, { training: true });
      const want = updateBatchNormStats(running0, out0.batchStats);
      tf.dispose([batch0.x, batch0.y, out0.logits, ...out0.batchStats.flatMap((s) => [s.mean, s.variance])]);
      expect(r.runningStats).toHaveLength(2);
      for (let l = 0; l < 2; l++) {
        for (const k of ['mean', 'variance'] as const) {
          const diff = tf.tidy(
            () => tf.max(tf.abs(tf.sub(r.runningStats[l]![k], want[l]![k]))).dataSync()[0]!,
          );
          expect(diff, `layer ${l} ${k}`).toBeLessThan(1e-6);
        }
      }
      expect(() =>
        trainConvNetSteps({
          config: bn,
          params: p0,
          optimizer: opt,
          optState: s0,
          startStep: 0,
          steps: 1,
          lr: constantSchedule(1e-3),
          batchAt: convBatchAt,
        }),
      ).toThrow(/runningStats/);
      tf.dispose([
        p0,
        r.params,
        ...[running0, want, r.runningStats].flat().flatMap((s) => [s.mean, s.variance]),
      ]);
      disposeOptimizerState(s0);
      disposeOptimizerState(r.optState);
    });
  });

  it('trains on soft labels (target distributions) too', () => {
    expectNoLeak(() => {
      const p0 = initConvNetParams(conv, 45);
      const s0 = sgd().init(p0);
      const r = trainConvNetSteps({
        config: conv,
        params: p0,
        optimizer: sgd(),
        optState: s0,
        startStep: 0,
        steps: 2,
        lr: constantSchedule(0.01),
        batchAt: (step) => {
          const { x, y } = convBatchAt(step);
          return { x, y: tf.mul(tf.oneHot(y, 4), 1) };
        },
      });
      expect(r.losses.every(Number.isFinite)).toBe(true);
      tf.dispose([p0, r.params]);
    });
  });
});

describe('trainLmSteps', () => {
  const lm = lmConfig({ layers: 1, dModel: 32, heads: 2, ctx: 16 });
  const text = 'the quick brown fox jumps over the lazy dog; the quick brown fox jumps!';
  const tokens = Int32Array.from(
    Array.from(text)
      .slice(0, 64)
      .map((ch) => ch.charCodeAt(0)),
  );
  const windows = tokens.slice(0, 4 * 16); // 4 windows of ctx 16
  const batchAt = () => gatherTokenWindows(windows, 16, [0, 1, 2, 3]);

  it('overfits one tiny batch in a few dozen AdamW steps (re-warmed cosine, clipping)', () => {
    expectNoLeak(() => {
      const p0 = initLmParams(lm, 1);
      const opt = adamw({ beta1: 0.9, beta2: 0.95, weightDecay: 0.1 });
      const s0 = opt.init(p0);
      const infos: StepInfo[] = [];
      const lr = rewarmedCosineSchedule({ totalSteps: 40, warmupFraction: 0.05, maxLr: 1e-2 });
      const r = trainLmSteps({
        config: lm,
        params: p0,
        optimizer: opt,
        optState: s0,
        startStep: 0,
        steps: 40,
        lr,
        batchAt,
        clipNorm: 1,
        onStep: (i) => infos.push(i),
      });
      expect(r.losses[0]).toBeCloseTo(Math.log(256), 0);
      expect(r.losses.at(-1)!).toBeLessThan(0.5 * r.losses[0]!);
      expect(infos.map((i) => i.step)).toEqual(Array.from({ length: 40 }, (_x, i) => i));
      expect(infos[5]!.lr).toBe(lr(5));
      expect(infos.every((i) => i.gradNorm !== undefined && i.gradNorm > 0)).toBe(true);
      // The returned params reproduce a lower loss than the initial ones.
      const ids = batchAt();
      const after = lmLoss(lm, r.params, ids);
      expect(after.dataSync()[0]!).toBeLessThan(r.losses[0]!);
      tf.dispose([ids, after]);
      disposeTree(p0);
      disposeTree(r.params);
      disposeOptimizerState(s0);
      disposeOptimizerState(r.optState);
    });
  });

  it('is deterministic: same seed → bit-identical params after N steps', () => {
    expectNoLeak(() => {
      const run = () => {
        const p0 = initLmParams(lm, 2);
        const opt = adamw();
        const s0 = opt.init(p0);
        const r = trainLmSteps({
          config: lm,
          params: p0,
          optimizer: opt,
          optState: s0,
          startStep: 0,
          steps: 4,
          lr: constantSchedule(3e-3),
          batchAt,
        });
        const flat = Object.values(r.params).flatMap((t) => Array.from(t.dataSync()));
        disposeTree(p0);
        disposeTree(r.params);
        disposeOptimizerState(s0);
        disposeOptimizerState(r.optState);
        return { flat, losses: r.losses };
      };
      const a = run();
      const b = run();
      expect(a.flat).toEqual(b.flat);
      expect(a.losses).toEqual(b.losses);
    });
  });
});

describe('trainSteps', () => {
  it('throws naming the step when the loss is not finite, without leaking', () => {
    expectNoLeak(() => {
      const p0 = tf.tensor1d([1, 2]);
      const s0 = sgd().init(p0);
      expect(() =>
        trainSteps({
          params: p0,
          optimizer: sgd(),
          optState: s0,
          startStep: 0,
          steps: 5,
          lr: constantSchedule(0.1),
          batchAt: (step) => tf.scalar(step === 2 ? NaN : 1),
          loss: (p, scale) => tf.mul(tf.sum(tf.square(p)), scale) as tf.Scalar,
        }),
      ).toThrow(/loss is NaN at step 2/);
      p0.dispose();
    });
  });
});
