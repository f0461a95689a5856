// Relabelling and post-evaluation (§5.3, §5.4): oracles §8.6 (BSSL vs eval-mode labels), §8.7 (soft
// labels are the weighted sum of member logits), §8.8 (KL value and gradient), soft labels are valid
// distributions, and the student / member training loops.
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { updateBatchNormStats } from '../../../ml/models/convnet.js';
import {
  committeeForward,
  initCommitteeArch,
  klDistillationLoss,
  memberOptimizer,
  relabelWithCommittee,
  softLabelDistribution,
  studentLrSchedule,
  studentOptimizer,
  trainCommitteeMemberSteps,
  trainStudentSteps,
} from '../../../ml/methods/cvdd/index.js';
import { constantSchedule } from '../../../ml/methods/rewarm.js';
import { disposeOptimizerState } from '../../../ml/train/optimizers.js';
import { expectNoLeak } from '../ops/finite-differences.js';
import {
  CLASSES,
  committeeFromReference,
  disposeCommittee,
  maxAbsDiff,
  pixelImages,
  quadrantTask,
  tinyArchs,
  tinyConfig,
} from './fixtures.js';

const WEIGHTS = [0.5, 0.3, 0.2];

describe('relabelWithCommittee', () => {
  it('oracle 7: z is the w-weighted sum of member logits (eval mode and BSSL halves); one member gives its logits', () => {
    expectNoLeak(() => {
      const reference = pixelImages(32, 1);
      const committee = committeeFromReference(tinyArchs('relu'), reference, [90, 80, 70]);
      reference.dispose();
      const x = pixelImages(6, 2);
      for (const mode of ['running', 'batch'] as const) {
        const config = tinyConfig({ relabelBnMode: mode, bsslGroups: 2 });
        const got = relabelWithCommittee(x, committee, WEIGHTS, config);
        const want = tf.tidy(() =>
          tf.addN(
            committee.map((m, i) => {
              const logits =
                mode === 'running'
                  ? committeeForward(m.arch, m.params, m.runningStats, x, 'running').logits
                  : tf.concat(
                      [0, 3].map(
                        (s) =>
                          committeeForward(
                            m.arch,
                            m.params,
                            [],
                            tf.slice(x, [s, 0, 0, 0], [3, -1, -1, -1]),
                            'batch',
                          ).logits,
                      ),
                    );
              return tf.mul(logits, WEIGHTS[i]!);
            }),
          ),
        );
        const err = maxAbsDiff(got.logits, want);
        expect(err).toBeLessThan(1e-6);
        const one = relabelWithCommittee(x, [committee[1]!], [1], config);
        const own = tf.tidy(() =>
          mode === 'running'
            ? committeeForward(
                committee[1]!.arch,
                committee[1]!.params,
                committee[1]!.runningStats,
                x,
                'running',
              ).logits
            : tf.concat(
                [0, 3].map(
                  (s) =>
                    committeeForward(
                      committee[1]!.arch,
                      committee[1]!.params,
                      [],
                      tf.slice(x, [s, 0, 0, 0], [3, -1, -1, -1]),
                      'batch',
                    ).logits,
                ),
              ),
        );
        expect(maxAbsDiff(one.logits, own)).toBe(0);
        tf.dispose([got.logits, got.probabilities, want, one.logits, one.probabilities, own]);
      }
      x.dispose();
      disposeCommittee(committee);
    });
  });

  it('soft labels are valid distributions (non-negative, rows sum to 1), even for extreme logits', () => {
    expectNoLeak(() => {
      const reference = pixelImages(32, 1);
      const committee = committeeFromReference(tinyArchs('relu'), reference, [90, 80, 70]);
      reference.dispose();
      const x = pixelImages(8, 3);
      let worst = 0;
      for (const [mode, temperature] of [
        ['batch', 20],
        ['running', 20],
        ['batch', 1],
        ['batch', 0.01],
      ] as const) {
        const { logits, probabilities } = relabelWithCommittee(
          x,
          committee,
          WEIGHTS,
          tinyConfig({ relabelBnMode: mode, klTemperature: temperature }),
        );
        expect(probabilities.shape).toEqual([8, CLASSES]);
        const p = probabilities.dataSync();
        for (let i = 0; i < 8; i++) {
          let sum = 0;
          for (let k = 0; k < CLASSES; k++) {
            const v = p[i * CLASSES + k]!;
            expect(v).toBeGreaterThanOrEqual(0);
            expect(Number.isFinite(v)).toBe(true);
            sum += v;
          }
          worst = Math.max(worst, Math.abs(sum - 1));
        }
        tf.dispose([logits, probabilities]);
      }
      const extreme = tf.tensor2d([
        [1e4, -1e4, 0, 3],
        [-1e30, 0, 0, 0],
      ]);
      const q = softLabelDistribution(extreme, 0.5);
      const qv = q.dataSync();
      expect(Array.from(qv).every((v) => v >= 0 && Number.isFinite(v))).toBe(true);
      worst = Math.max(
        worst,
        Math.abs(qv[0]! + qv[1]! + qv[2]! + qv[3]! - 1),
        Math.abs(qv[4]! + qv[5]! + qv[6]! + qv[7]! - 1),
      );
      expect(worst).toBeLessThan(1e-6);
      tf.dispose([x, extreme, q]);
      disposeCommittee(committee);
    });
  });

  it('oracle 6: with the batch’s own statistics as running statistics, BSSL and eval-mode labels coincide; elsewhere they differ', () => {
    expectNoLeak(() => {
      const x0 = pixelImages(CLASSES, 5);
      const committee = committeeFromReference(tinyArchs('relu'), x0, [90, 80, 70]);
      const label = (x: tf.Tensor4D, mode: 'batch' | 'running') =>
        relabelWithCommittee(x, committee, WEIGHTS, tinyConfig({ relabelBnMode: mode, bsslGroups: 1 }));
      const a = label(x0, 'batch');
      const b = label(x0, 'running');
      const same = maxAbsDiff(a.logits, b.logits);
      const other = pixelImages(CLASSES, 6);
      const c = label(other, 'batch');
      const d = label(other, 'running');
      const differ = maxAbsDiff(c.logits, d.logits);
      expect(same).toBeLessThan(1e-4);
      expect(differ).toBeGreaterThan(1e-2);
      tf.dispose([
        x0,
        other,
        a.logits,
        a.probabilities,
        b.logits,
        b.probabilities,
        c.logits,
        c.probabilities,
        d.logits,
        d.probabilities,
      ]);
      disposeCommittee(committee);
    });
  });
});

describe('klDistillationLoss (§5.4: batchmean KL at temperature T, no T²)', () => {
  it('oracle 8: zero at s = z, non-negative, and d/ds = (softmax(s/T) − softmax(z/T)) / (T·B)', () => {
    expectNoLeak(() => {
      const z = tf.tidy(() => tf.mul(tf.randomNormal([5, CLASSES], 0, 1, 'float32', 1), 20) as tf.Tensor2D);
      const s = tf.tidy(() => tf.mul(tf.randomNormal([5, CLASSES], 0, 1, 'float32', 2), 20) as tf.Tensor2D);
      for (const T of [1, 3, 20]) {
        const zero = klDistillationLoss(z, z, T);
        expect(Math.abs(zero.dataSync()[0]!)).toBeLessThan(1e-6);
        const value = klDistillationLoss(s, z, T);
        const manual = tf.tidy(() => {
          const p = tf.softmax(tf.div(z, T));
          const q = tf.softmax(tf.div(s, T));
          return tf.div(tf.sum(tf.mul(p, tf.sub(tf.log(p), tf.log(q)))), 5);
        });
        expect(value.dataSync()[0]!).toBeGreaterThan(0);
        expect(Math.abs(value.dataSync()[0]! - manual.dataSync()[0]!)).toBeLessThan(1e-5);
        const grad = tf.grad((ss: tf.Tensor) => klDistillationLoss(ss as tf.Tensor2D, z, T))(s);
        const want = tf.tidy(() => tf.div(tf.sub(tf.softmax(tf.div(s, T)), tf.softmax(tf.div(z, T))), T * 5));
        const err = maxAbsDiff(grad, want);
        expect(err).toBeLessThan(1e-7);
        tf.dispose([zero, value, manual, grad, want]);
      }
      expect(() =>
        tf.tidy(() => klDistillationLoss(s, tf.slice(z, [0, 0], [4, CLASSES]) as tf.Tensor2D, 20)),
      ).toThrow(/student \[5,4\]/);
      tf.dispose([z, s]);
    });
  });
});

describe('student and member training loops', () => {
  it('student: KL on soft labels, micro-batches with their own BN statistics, running statistics updated per micro-batch', () => {
    expectNoLeak(() => {
      const arch = tinyArchs('relu')[0]!;
      const init = initCommitteeArch(arch, 3);
      const optimizer = studentOptimizer(tinyConfig());
      const optState = optimizer.init(init.params);
      const x = pixelImages(8, 9);
      const z = tf.tidy(() => tf.mul(tf.randomNormal([8, CLASSES], 0, 1, 'float32', 4), 10) as tf.Tensor2D);
      const T = 4;
      // What step 0 must report: mean of the two halves' KL, each half normalised with its own statistics.
      const [manualLoss, manualStats] = tf.tidy(() => {
        let stats = init.runningStats;
        const losses = [0, 4].map((s) => {
          const out = committeeForward(
            arch,
            init.params,
            [],
            tf.slice(x, [s, 0, 0, 0], [4, -1, -1, -1]),
            'batch',
          );
          stats = updateBatchNormStats(stats, out.batchStats);
          return klDistillationLoss(out.logits, tf.slice(z, [s, 0], [4, -1]) as tf.Tensor2D, T);
        });
        return [tf.div(tf.addN(losses), 2).dataSync()[0]!, stats.map((st) => st.variance.dataSync())];
      });
      const result = trainStudentSteps({
        arch,
        params: init.params,
        optState,
        runningStats: init.runningStats,
        optimizer,
        startStep: 0,
        steps: 1,
        lr: constantSchedule(0),
        batchAt: () => ({ x: tf.clone(x), teacherLogits: tf.clone(z) }),
        temperature: T,
        microBatches: 2,
      });
      expect(Math.abs(result.losses[0]! - manualLoss)).toBeLessThan(1e-6);
      result.runningStats.forEach((st, l) => {
        const got = st.variance.dataSync();
        got.forEach((v, k) => expect(Math.abs(v - manualStats[l]![k]!)).toBeLessThan(1e-6));
      });
      // A few steps on a fixed batch drive the KL down.
      const more = trainStudentSteps({
        arch,
        params: result.params,
        optState: result.optState,
        runningStats: result.runningStats,
        optimizer,
        startStep: 1,
        steps: 20,
        lr: constantSchedule(3e-2),
        batchAt: () => ({ x: tf.clone(x), teacherLogits: tf.clone(z) }),
        temperature: T,
        microBatches: 2,
      });
      expect(more.losses.at(-1)!).toBeLessThan(0.5 * more.losses[0]!);
      tf.dispose([init.params, x, z, result.params, more.params]);
      tf.dispose(
        [...init.runningStats, ...result.runningStats, ...more.runningStats].flatMap((s) => [
          s.mean,
          s.variance,
        ]),
      );
      [optState, result.optState, more.optState].forEach(disposeOptimizerState);
    });
  });

  it('student LR: per-epoch cosine ½(1 + cos(π·e/(E·η))), 0 past the end', () => {
    const lr = studentLrSchedule({ lr: 1e-3, epochs: 4, stepsPerEpoch: 3 });
    expect([0, 2, 3, 6, 11, 12, 15].map(lr)).toEqual([
      1e-3,
      1e-3,
      1e-3 * 0.5 * (1 + Math.cos(Math.PI / 4)),
      1e-3 * 0.5,
      1e-3 * 0.5 * (1 + Math.cos((3 * Math.PI) / 4)),
      0,
      0,
    ]);
    const slow = studentLrSchedule({ lr: 1, epochs: 4, stepsPerEpoch: 1, eta: 2 });
    expect(slow(4)).toBeCloseTo(0.5, 12);
  });

  it('members: the MLP and the ConvNets train with hard labels and return updated running statistics', () => {
    expectNoLeak(() => {
      const task = quadrantTask(64, 3);
      const y = tf.tensor1d(task.labels, 'int32');
      for (const arch of tinyArchs('relu')) {
        const init = initCommitteeArch(arch, 1);
        const optimizer = memberOptimizer();
        const optState = optimizer.init(init.params);
        const r = trainCommitteeMemberSteps({
          arch,
          params: init.params,
          optState,
          runningStats: init.runningStats,
          optimizer,
          startStep: 0,
          steps: 12,
          lr: constantSchedule(2e-2),
          batchAt: () => ({ x: tf.clone(task.x), y: tf.clone(y) }),
        });
        expect(r.losses.at(-1)!, arch.family).toBeLessThan(r.losses[0]!);
        expect(r.runningStats).toHaveLength(init.runningStats.length);
        expect(maxAbsDiff(r.runningStats[0]!.mean, init.runningStats[0]!.mean)).toBeGreaterThan(0);
        tf.dispose([
          init.params,
          r.params,
          ...[...init.runningStats, ...r.runningStats].flatMap((s) => [s.mean, s.variance]),
        ]);
        disposeOptimizerState(optState);
        disposeOptimizerState(r.optState);
      }
      tf.dispose([task.x, y]);
    });
  });
});
