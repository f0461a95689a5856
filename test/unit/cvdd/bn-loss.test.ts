// Oracle §8.2 (BN-statistics loss exactly zero at matching statistics) and the per-layer formula of
// §5.2 step 3 (BNFeatureHook of utils_recover.py).
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import {
  bnStatisticsLoss,
  committeeForward,
  committeeRecoveryObjective,
} from '../../../ml/methods/cvdd/index.js';
import { expectNoLeak } from '../ops/finite-differences.js';
import {
  CLASSES,
  committeeFromReference,
  disposeCommittee,
  randomImages,
  tinyArchs,
  tinyConfig,
} from './fixtures.js';

describe('bnStatisticsLoss', () => {
  it('is Σ_l κ_l (‖μ_l − m_l‖₂ + ‖σ²_l − v_l‖₂) with κ_0 = firstBnMultiplier', () => {
    expectNoLeak(() => {
      const t = (v: number[]) => tf.tensor1d(v);
      const batch = [
        { mean: t([1, 2]), variance: t([3, 4]) },
        { mean: t([0, 0, 1]), variance: t([1, 1, 1]) },
      ];
      const running = [
        { mean: t([1, 0]), variance: t([0, 0]) },
        { mean: t([0, 0, 0]), variance: t([1, 1, 3]) },
      ];
      // Layer 0: ‖(0, 2)‖ + ‖(3, 4)‖ = 2 + 5 = 7, ×10; layer 1: ‖(0, 0, 1)‖ + ‖(0, 0, −2)‖ = 3.
      const got = bnStatisticsLoss(batch, running, { firstBnMultiplier: 10 });
      expect(got.dataSync()[0]).toBeCloseTo(73, 4);
      const plain = bnStatisticsLoss(batch, running, { firstBnMultiplier: 1 });
      expect(plain.dataSync()[0]).toBeCloseTo(10, 4);
      expect(() => bnStatisticsLoss(batch, running.slice(1))).toThrow(/2 batch layers vs 1/);
      const none = bnStatisticsLoss([], []);
      expect(none.dataSync()[0]).toBe(0);
      tf.dispose([got, plain, none, ...[...batch, ...running].flatMap((s) => [s.mean, s.variance])]);
    });
  });

  it('oracle 2: exactly 0 when running statistics equal the batch’s, positive at X0 + noise (ConvNets and MLP)', () => {
    expectNoLeak(() => {
      const x0 = randomImages(CLASSES, 11);
      // Running statistics := statistics of each BN layer's input under X0 (train-mode forward =
      // inference mode layer by layer with those statistics).
      const committee = committeeFromReference(tinyArchs('relu'), x0, [90, 85, 80]);
      const noisy = tf.tidy(() => tf.add(x0, tf.mul(randomImages(CLASSES, 12), 0.3))) as tf.Tensor4D;
      for (const member of committee) {
        for (const [x, expectZero] of [
          [x0, true],
          [noisy, false],
        ] as const) {
          const value = tf.tidy(() => {
            const out = committeeForward(member.arch, member.params, member.runningStats, x, 'running');
            return bnStatisticsLoss(out.batchStats, member.runningStats, {
              firstBnMultiplier: 10,
            }).dataSync()[0]!;
          });
          if (expectZero) expect(value, `${member.id} at X0`).toBeLessThan(1e-4);
          else expect(value, `${member.id} at X0 + noise`).toBeGreaterThan(1e-2);
        }
      }
      // The committee objective's BN terms vanish too (weights sum to 1, r_bn > 0).
      const terms = tf.tidy(() => {
        const o = committeeRecoveryObjective(
          x0,
          tf.tensor1d([0, 1, 2, 3], 'int32'),
          committee,
          [0.5, 0.3, 0.2],
          tinyConfig(),
        );
        return o.bn.dataSync();
      });
      for (const v of terms) expect(v).toBeLessThan(1e-4);
      tf.dispose([x0, noisy]);
      disposeCommittee(committee);
    });
  });

  it('has a finite gradient at the zero point (the √(Σd² + ε) norm, §6)', () => {
    expectNoLeak(() => {
      const r = [{ mean: tf.tensor1d([1, 2]), variance: tf.tensor1d([3, 4]) }];
      const g = tf.tidy(() =>
        tf
          .grad((m: tf.Tensor) =>
            bnStatisticsLoss([{ mean: m as tf.Tensor1D, variance: r[0]!.variance }], r),
          )(r[0]!.mean)
          .dataSync(),
      );
      for (const v of g) expect(Number.isFinite(v)).toBe(true);
      tf.dispose([r[0]!.mean, r[0]!.variance]);
    });
  });
});
