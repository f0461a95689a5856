// Recovery (§5.2): oracle §8.3 (gradient vs finite differences), §8.4 (clamp), determinism and
// resumability in chunks, descent on a tiny committee, K = 1 = SRe²L, no leaked tensors.
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { convNetForwardWithStats } from '../../../ml/models/convnet.js';
import { softmaxCrossEntropy } from '../../../ml/ops/index.js';
import { applyRecoveryView, DEFAULT_RANDOM_RESIZED_CROP } from '../../../ml/methods/cvdd/augment.js';
import {
  type CommitteeMember,
  type RecoveryState,
  bnStatisticsLoss,
  clampToPixelRange,
  committeeRecoveryObjective,
  disposeRecoveryState,
  initRecoveryState,
  recoverSyntheticImages,
  recoveryLr,
  recoveryReport,
} from '../../../ml/methods/cvdd/index.js';
import { directionalFd, directionalGrad, expectNoLeak, relativeError } from '../ops/finite-differences.js';
import {
  CLASSES,
  committeeFromReference,
  disposeCommittee,
  maxAbsDiff,
  pixelImages,
  randomImages,
  tinyArchs,
  tinyConfig,
  trainedTinyCommittee,
} from './fixtures.js';

const LABELS = [0, 1, 2, 3];

function withCommittee(activation: 'relu' | 'softplus', body: (committee: CommitteeMember[]) => void): void {
  expectNoLeak(() => {
    const reference = pixelImages(32, 101);
    const committee = committeeFromReference(tinyArchs(activation), reference, [91, 88, 85]);
    reference.dispose();
    try {
      body(committee);
    } finally {
      disposeCommittee(committee);
    }
  });
}

describe('committee recovery objective: gradient w.r.t. pixels vs central differences (oracle 3)', () => {
  it('softplus members, random directions and a single pixel, with and without the augmented view', () => {
    withCommittee('softplus', (committee) => {
      const config = tinyConfig({ rBn: 0.1 });
      const x = randomImages(CLASSES, 7, 0.8);
      const targets = tf.tensor1d(LABELS, 'int32');
      const views = [
        null,
        { crop: { y0: 1, x0: 2, h: 6, w: 5 }, flip: true, shift: [2, 1] as [number, number] },
      ];
      for (const view of views) {
        const f = (xx: tf.Tensor): tf.Scalar =>
          tf.tidy(() => {
            const v = view ? applyRecoveryView(xx as tf.Tensor4D, view) : (xx as tf.Tensor4D);
            const o = committeeRecoveryObjective(v, targets, committee, [0.5, 0.3, 0.2], config);
            tf.dispose([o.ce, o.bn]);
            return o.total;
          });
        const pixel = tf.tidy(() =>
          tf.reshape(tf.oneHot(tf.tensor1d([2 * 64 + 3 * 8 + 5], 'int32'), 4 * 64), x.shape),
        );
        const directions = [pixel, randomImages(CLASSES, 300), randomImages(CLASSES, 301)];
        for (const u of directions) {
          const ad = directionalGrad(f, [x], [u]);
          const fd = directionalFd(f, [x], [u], 1e-2);
          expect(Math.abs(ad)).toBeGreaterThan(1e-5);
          expect(relativeError(ad, fd), `autodiff ${ad} vs finite differences ${fd}`).toBeLessThan(1e-2);
        }
        tf.dispose(directions);
      }
      tf.dispose([x, targets]);
    });
  });
});

describe('recoverSyntheticImages', () => {
  /** Slot state for labels 0..3 from U(0, 1) pixel noise, voted on by members 0 (ConvNet) and 2 (MLP). */
  const start = (seed: number): RecoveryState => {
    const x = pixelImages(CLASSES, 5);
    const state = initRecoveryState(
      { images: x, labels: LABELS, voters: [0, 2], weights: [0.6, 0.4], seed },
      tinyConfig(),
    );
    x.dispose();
    return state;
  };

  it('keeps every pixel in [(0−m)/s, (1−m)/s] after every step (oracle 4)', () => {
    withCommittee('relu', (committee) => {
      const config = tinyConfig({
        lr: 2,
        recoverAugment: { crop: DEFAULT_RANDOM_RESIZED_CROP, flip: true, jitter: 2 },
      });
      const lo = (0 - 0.1307) / 0.3081;
      const hi = (1 - 0.1307) / 0.3081;
      let state = start(1);
      for (let k = 0; k < 4; k++) {
        const next = recoverSyntheticImages(state, committee, config, 1).state;
        disposeRecoveryState(state);
        state = next;
        const v = state.images.dataSync();
        expect(Math.min(...v)).toBeGreaterThanOrEqual(lo - 1e-6);
        expect(Math.max(...v)).toBeLessThanOrEqual(hi + 1e-6);
        expect(v.some((p) => Math.abs(p - hi) < 1e-6 || Math.abs(p - lo) < 1e-6)).toBe(true);
      }
      disposeRecoveryState(state);
      const c = tf.tensor4d([-5, 0, 5, 1], [1, 2, 2, 1]);
      const clamped = clampToPixelRange(c, { mean: [0.1307], std: [0.3081] });
      expect(Array.from(clamped.dataSync()).map((v) => Number(v.toFixed(5)))).toEqual(
        [lo, 0, hi, 1].map((v) => Number(v.toFixed(5))),
      );
      tf.dispose([c, clamped]);
    });
  });

  it('is deterministic per seed and resumable: 1 + 1 iteration chunks equal 2 (bitwise)', () => {
    withCommittee('relu', (committee) => {
      const config = tinyConfig({
        recoverAugment: { crop: DEFAULT_RANDOM_RESIZED_CROP, flip: true, jitter: 2 },
      });
      const s0 = start(9);
      const whole = recoverSyntheticImages(s0, committee, config, 2);
      const first = recoverSyntheticImages(s0, committee, config, 1);
      const second = recoverSyntheticImages(first.state, committee, config, 1);
      expect(second.state.iteration).toBe(2);
      expect(maxAbsDiff(whole.state.images, second.state.images)).toBe(0);
      expect(maxAbsDiff(whole.state.adam.slots.m!, second.state.adam.slots.m!)).toBe(0);
      expect(maxAbsDiff(whole.state.adam.slots.v!, second.state.adam.slots.v!)).toBe(0);
      expect([...first.history, ...second.history]).toEqual(whole.history);
      // Same seed again: identical; another seed draws other views and ends elsewhere.
      const again = recoverSyntheticImages(s0, committee, config, 2);
      expect(maxAbsDiff(again.state.images, whole.state.images)).toBe(0);
      const other = recoverSyntheticImages({ ...s0, seed: 10 }, committee, config, 2);
      expect(maxAbsDiff(other.state.images, whole.state.images)).toBeGreaterThan(0);
      // The input state is the caller's: untouched and still usable.
      expect(s0.iteration).toBe(0);
      expect(s0.images.isDisposed).toBe(false);
      for (const s of [s0, whole.state, first.state, second.state, again.state, other.state])
        disposeRecoveryState(s);
    });
  });

  it('follows the cosine LR to 0 and refuses to run past the schedule', () => {
    const config = tinyConfig({ lr: 0.25, iterations: 4 });
    expect([0, 1, 2, 3].map((it) => recoveryLr(config, it))).toEqual([
      0.25,
      0.5 * (1 + Math.cos(Math.PI / 4)) * 0.25,
      0.125,
      0.5 * (1 + Math.cos((3 * Math.PI) / 4)) * 0.25,
    ]);
    withCommittee('relu', (committee) => {
      const s0 = start(2);
      expect(() => recoverSyntheticImages(s0, committee, config, 5)).toThrow(/exceed the schedule's 4/);
      disposeRecoveryState(s0);
    });
  });

  it('reduces the committee objective within a few iterations on a tiny trained committee', () => {
    expectNoLeak(() => {
      const committee = trainedTinyCommittee(1);
      const config = tinyConfig({ iterations: 30 });
      const s0 = start(4);
      const voters = s0.voters.map((i) => committee[i]!);
      const before = recoveryReport(s0.images, LABELS, voters, s0.weights, config);
      const { state, history } = recoverSyntheticImages(s0, committee, config, 30);
      const after = recoveryReport(state.images, LABELS, voters, s0.weights, config);
      expect(after.total).toBeLessThan(0.5 * before.total);
      expect(history.at(-1)!.loss).toBeLessThan(history[0]!.loss);
      after.ce.forEach((ce, i) => expect(ce).toBeLessThan(before.ce[i]!));
      after.bn.forEach((bn, i) => expect(bn).toBeLessThan(before.bn[i]!));
      disposeRecoveryState(s0);
      disposeRecoveryState(state);
      disposeCommittee(committee);
    });
  });

  it('K = 1 is the single-model (SRe²L) objective, and a weight-0 voter changes nothing', () => {
    withCommittee('relu', (committee) => {
      const config = tinyConfig();
      const x = randomImages(CLASSES, 21);
      const targets = tf.tensor1d(LABELS, 'int32');
      const member = committee[0]!;
      const [single, manual] = tf.tidy(() => {
        const o = committeeRecoveryObjective(x, targets, [member], [1], config);
        if (member.arch.family !== 'convnet') throw new Error('fixture: member 0 is a ConvNet');
        const out = convNetForwardWithStats(member.arch.config, member.params, x, {
          runningStats: member.runningStats,
        });
        const ce = tf.mean(softmaxCrossEntropy(out.logits, tf.oneHot(targets, CLASSES)));
        const bn = bnStatisticsLoss(out.batchStats, member.runningStats, { firstBnMultiplier: 10 });
        return [o.total.dataSync()[0]!, tf.add(ce, tf.mul(config.rBn, bn)).dataSync()[0]!];
      });
      expect(Math.abs(single - manual)).toBeLessThan(1e-6);

      const solo = initRecoveryState(
        { images: x, labels: LABELS, voters: [0], weights: [1], seed: 3 },
        config,
      );
      const pair = initRecoveryState(
        { images: x, labels: LABELS, voters: [0, 1], weights: [1, 0], seed: 3 },
        config,
      );
      const a = recoverSyntheticImages(solo, committee, config, 3);
      const b = recoverSyntheticImages(pair, committee, config, 3);
      const diff = maxAbsDiff(a.state.images, b.state.images);
      expect(diff).toBeLessThan(1e-6);
      for (const s of [solo, pair, a.state, b.state]) disposeRecoveryState(s);
      tf.dispose([x, targets]);
    });
  });

  it('leaks no tensors and names the iteration when the objective is not finite', () => {
    withCommittee('relu', (committee) => {
      const config = tinyConfig();
      const poisoned = tf.tidy(() => tf.mul(randomImages(CLASSES, 5), tf.scalar(NaN))) as tf.Tensor4D;
      const s = initRecoveryState(
        { images: poisoned, labels: LABELS, voters: [0], weights: [1], seed: 1 },
        config,
      );
      expect(() => recoverSyntheticImages(s, committee, config, 2)).toThrow(/not finite|NaN at iteration 0/);
      disposeRecoveryState(s);
      poisoned.dispose();
      const s0 = start(1);
      const zero = recoverSyntheticImages(s0, committee, config, 0);
      expect(zero.history).toEqual([]);
      disposeRecoveryState(zero.state);
      disposeRecoveryState(s0);
    });
  });
});
