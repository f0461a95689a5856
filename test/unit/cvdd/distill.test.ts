// The CV-DD pipeline stages (ml/methods/cvdd/) and the one-gather flip+roll path of
// applyBatchAugmentation: splits and draws are seeded and class-stratified, downsampling averages,
// the gather path equals per-image reverse + torch.roll, a member trained in two calls equals one
// call, post-evaluation is the same whatever its chunking, and nothing leaks.
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import {
  applyBatchAugmentation,
  rollImages,
  sampleBatchAugmentation,
} from '../../../ml/methods/cvdd/augment.js';
import {
  type ImageSet,
  disposeMemberTraining,
  downsampleImages,
  estimateSingleModelPrior,
  initMemberTraining,
  memberLrSchedule,
  postEvaluate,
  randomRealIndices,
  rankedInitIndices,
  relabelWeights,
  slotInitImages,
  subsetImages,
  trainMemberSteps,
  validateCommitteeVotingConfig,
  validationSplit,
  type CommitteeMember,
  committeeForward,
} from '../../../ml/methods/cvdd/index.js';
import { Rng } from '../../../ml/train/rng.js';
import { expectNoLeak } from '../ops/finite-differences.js';
import { committeeRecoveryObjective } from '../../../ml/methods/cvdd/index.js';
import {
  SIDE,
  committeeFromReference,
  disposeCommittee,
  maxAbsDiff,
  pixelImages,
  quadrantTask,
  tinyArchs,
  tinyConfig,
} from './fixtures.js';

function quadrantSet(n: number, seed: number): ImageSet {
  const { x, labels } = quadrantTask(n, seed);
  const pixels = x.dataSync() as Float32Array;
  x.dispose();
  return { pixels: Float32Array.from(pixels), labels, h: SIDE, w: SIDE, c: 1 };
}

describe('data helpers', () => {
  it('validationSplit holds out perClass rows of every class, disjoint and seeded', () => {
    const labels = Int32Array.from({ length: 40 }, (_x, i) => i % 4);
    const a = validationSplit(labels, 4, 3, 7);
    expect(a.val).toHaveLength(12);
    expect(a.train).toHaveLength(28);
    for (let c = 0; c < 4; c++) expect(Array.from(a.val).filter((r) => labels[r] === c)).toHaveLength(3);
    expect(new Set([...a.train, ...a.val]).size).toBe(40);
    expect(validationSplit(labels, 4, 3, 7)).toEqual(a);
    expect(Array.from(validationSplit(labels, 4, 3, 8).val)).not.toEqual(Array.from(a.val));
    expect(() => validationSplit(labels, 4, 10, 7)).toThrow(/class 0 has 10 rows/);
  });

  it('randomRealIndices: slot-major, one row of each class per slot, distinct rows', () => {
    const labels = Int32Array.from({ length: 60 }, (_x, i) => (i * 7) % 3);
    const idx = randomRealIndices(labels, 3, 4, 1);
    expect(Array.from(idx, (r) => labels[r])).toEqual([0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2]);
    expect(new Set(idx).size).toBe(12);
    expect(() => randomRealIndices(labels, 3, 21, 1)).toThrow(/IPC 21 exceeds the 20 rows of class 0/);
  });

  it('downsampleImages averages k×k blocks', () => {
    const set: ImageSet = {
      pixels: Float32Array.from({ length: 16 }, (_x, i) => i),
      labels: Int32Array.of(0),
      h: 4,
      w: 4,
      c: 1,
    };
    expect(Array.from(downsampleImages(set, 2).pixels)).toEqual([2.5, 4.5, 10.5, 12.5]);
    expect(() => downsampleImages(set, 3)).toThrow(/does not divide/);
  });
});

describe('applyBatchAugmentation without crops (one gather)', () => {
  it('equals reverse + rollImages per image, with and without CutMix', () => {
    expectNoLeak(() => {
      const x = tf.tidy(() => tf.randomNormal([6, 5, 7, 2], 0, 1, 'float32', 3) as tf.Tensor4D);
      for (const cutmix of [false, true]) {
        const aug = sampleBatchAugmentation(new Rng(11), 6, 5, 7, {
          crop: null,
          flip: true,
          roll: 3,
          cutmix,
        });
        const got = applyBatchAugmentation(x, aug);
        const want = tf.tidy(() => {
          const parts = aug.shifts.map(([dy, dx], i) => {
            let img = tf.slice(x, [i, 0, 0, 0], [1, 5, 7, 2]);
            if (aug.flips[i]) img = tf.reverse(img, 2);
            return rollImages(img, dy, dx);
          });
          const out = tf.concat(parts, 0);
          if (!aug.mix) return out;
          const [y0, y1, x0, x1] = aug.mix.box;
          const shuffled = tf.gather(out, tf.tensor1d(aug.mix.perm, 'int32'));
          const mask = tf.buffer([6, 5, 7, 2], 'bool');
          for (let i = 0; i < 6; i++)
            for (let y = y0; y < y1; y++)
              for (let xx = x0; xx < x1; xx++) for (let c = 0; c < 2; c++) mask.set(true, i, y, xx, c);
          return tf.where(mask.toTensor(), shuffled, out);
        });
        expect(maxAbsDiff(got, want)).toBe(0);
        tf.dispose([got, want]);
      }
      x.dispose();
    });
  });
});

describe('bnTermFamilies', () => {
  it("['convnet'] zeroes the MLP's BN term and leaves the ConvNets' and every CE term unchanged", () => {
    expectNoLeak(() => {
      const reference = pixelImages(32, 101);
      const committee = committeeFromReference(tinyArchs('relu'), reference, [91, 88, 85]);
      reference.dispose();
      const x = pixelImages(4, 5);
      const targets = tf.tensor1d([0, 1, 2, 3], 'int32');
      const w = [0.5, 0.3, 0.2];
      const all = committeeRecoveryObjective(x, targets, committee, w, tinyConfig());
      const conv = committeeRecoveryObjective(
        x,
        targets,
        committee,
        w,
        tinyConfig({ bnTermFamilies: ['convnet'] }),
      );
      const [bnAll, bnConv] = [Array.from(all.bn.dataSync()), Array.from(conv.bn.dataSync())];
      expect(bnAll[2]).toBeGreaterThan(0);
      expect(bnConv).toEqual([bnAll[0], bnAll[1], 0]);
      expect(Array.from(conv.ce.dataSync())).toEqual(Array.from(all.ce.dataSync()));
      tf.dispose([all.total, all.ce, all.bn, conv.total, conv.ce, conv.bn, x, targets]);
      disposeCommittee(committee);
    });
  });
});

describe('member training and post-evaluation', () => {
  it('a member trained 3 + 4 steps equals 7 steps in one call', () => {
    expectNoLeak(() => {
      const set = quadrantSet(128, 5);
      const arch = tinyArchs('relu')[0]!;
      const config = tinyConfig({ memberBatchSize: 16, memberLr: 0.01 });
      const init = initMemberTraining(arch, 1);
      const one = trainMemberSteps(arch, init, set, config, 9, 7);
      const a = trainMemberSteps(arch, init, set, config, 9, 3);
      const b = trainMemberSteps(arch, a, set, config, 9, 4);
      expect(b.step).toBe(7);
      expect(maxAbsDiff(one.params, b.params)).toBe(0);
      expect(maxAbsDiff(one.runningStats[0]!.variance, b.runningStats[0]!.variance)).toBe(0);
      [init, one, a, b].forEach(disposeMemberTraining);
    });
  });

  it('member LR: constant by default; cosine anneals memberLr to 0 over all steps', () => {
    const constant = memberLrSchedule({ memberLr: 0.01 }, 100);
    expect([0, 50, 100].map(constant)).toEqual([0.01, 0.01, 0.01]);
    const cosine = memberLrSchedule({ memberLr: 0.01, memberLrSchedule: 'cosine' }, 100);
    expect(cosine(0)).toBeCloseTo(0.01, 12);
    expect(cosine(50)).toBeCloseTo(0.005, 12);
    expect(cosine(100)).toBeCloseTo(0, 12);
    expect(cosine(25)).toBeGreaterThan(cosine(75));
  });

  it('§4.2 single-model prior: percent, seeded, and a trained member scores above an untrained one', async () => {
    const train = quadrantSet(128, 8);
    const val = quadrantSet(64, 9);
    const arch = tinyArchs('relu')[0]!;
    const config = tinyConfig({
      ipc: 2,
      iterations: 10,
      studentEpochs: 30,
      studentBatchSize: 8,
      studentLr: 0.01,
      memberBatchSize: 16,
      memberLr: 0.01,
    });
    const init = initMemberTraining(arch, 1);
    const trained = trainMemberSteps(arch, init, train, config, 3, 40);
    tf.dispose([trained.optState.slots.m!, trained.optState.slots.v!] as tf.Tensor[]);
    const asMember = (s: { params: tf.Tensor1D; runningStats: typeof init.runningStats }, id: string) => ({
      id,
      arch,
      params: s.params,
      runningStats: s.runningStats,
      prior: 50,
    });
    const before = tf.memory().numTensors;
    const slots: number[] = [];
    const prior = (m: ReturnType<typeof asMember>) =>
      estimateSingleModelPrior({
        member: m,
        train,
        val,
        student: arch,
        config,
        seed: 5,
        afterSlot: async (done) => {
          slots.push(done);
        },
      });
    const good = await prior(asMember(trained, 'trained'));
    expect(slots).toEqual([1, 2]);
    expect(good.prior).toBeGreaterThan(50); // 4 classes: chance is 25 %
    expect(good.prior).toBeCloseTo(100 * good.valAcc, 9);
    expect(good.prior).toBeGreaterThanOrEqual(0);
    expect(good.prior).toBeLessThanOrEqual(100);
    expect(await prior(asMember(trained, 'trained'))).toEqual(good);
    const bad = await prior(asMember(init, 'untrained'));
    expect(good.prior).toBeGreaterThan(bad.prior);
    expect(tf.memory().numTensors).toBe(before);
    disposeMemberTraining(init);
    tf.dispose([trained.params, ...trained.runningStats.flatMap((r) => [r.mean, r.variance])]);
  });

  it('post-evaluation: chunked == one stretch (KL with a committee teacher, and hard labels); no leaks', async () => {
    const set = quadrantSet(64, 6);
    const test = quadrantSet(64, 7);
    const archs = tinyArchs('relu');
    const config = tinyConfig({
      studentEpochs: 3,
      studentBatchSize: 8,
      studentMicroBatches: 2,
      memberBatchSize: 16,
    });
    const member = (i: number) => {
      const init = initMemberTraining(archs[i]!, i);
      const done = trainMemberSteps(archs[i]!, init, set, config, 3, 8);
      disposeMemberTraining(init);
      tf.dispose([done.optState.slots.m!, done.optState.slots.v!] as tf.Tensor[]);
      return {
        id: String(i),
        arch: archs[i]!,
        params: done.params,
        runningStats: done.runningStats,
        prior: 80 + i,
      };
    };
    const committee = [member(0), member(2)];
    const before = tf.memory().numTensors;
    for (const teacher of [committee, null]) {
      const chunks: number[] = [];
      const whole = await postEvaluate({ train: set, teacher, student: archs[0]!, config, test, seed: 4 });
      const chunked = await postEvaluate({
        train: set,
        teacher,
        student: archs[0]!,
        config,
        test,
        seed: 4,
        chunkSteps: 5,
        between: async (done) => {
          chunks.push(done);
        },
      });
      expect(whole.steps).toBe(24);
      expect(chunks).toEqual([5, 10, 15, 20, 24]);
      expect(chunked).toEqual(whole);
      expect(whole.testAcc).toBeGreaterThanOrEqual(0);
      expect(Number.isFinite(whole.finalLoss)).toBe(true);
    }
    expect(tf.memory().numTensors).toBe(before);
    for (const m of committee) tf.dispose([m.params, ...m.runningStats.flatMap((s) => [s.mean, s.variance])]);
  });
});

describe('committee-ranked initial images (RDED patch-difficulty stand-in)', () => {
  /** Σ_i w_i CE_i of each row on its own label, computed here independently of rankedInitIndices. */
  function committeeCe(set: ImageSet, rows: ArrayLike<number>, committee: CommitteeMember[]): number[] {
    const weights = relabelWeights(committee, tinyConfig());
    return tf.tidy(() => {
      const x = tf.tensor4d(subsetImages(set, rows).pixels, [rows.length, SIDE, SIDE, 1]);
      const y = tf.oneHot(
        tf.tensor1d(
          Array.from(rows, (r) => set.labels[r]!),
          'int32',
        ),
        4,
      );
      const ce = committee.map((m, i) => {
        const out = committeeForward(m.arch, m.params, m.runningStats, x, 'running');
        out.batchStats.forEach((s) => tf.dispose([s.mean, s.variance]));
        return tf.mul(tf.neg(tf.sum(tf.mul(y, tf.logSoftmax(out.logits)), 1)), weights[i]!);
      });
      return Array.from(tf.addN(ce).dataSync());
    });
  }

  it('is seeded, slot-major with one row per class, and easy < medium < hard in committee CE', () => {
    expectNoLeak(() => {
      const set = quadrantSet(400, 31);
      const reference = pixelImages(32, 5);
      const committee = committeeFromReference(tinyArchs('relu'), reference, [90, 80, 70]);
      reference.dispose();
      try {
        const pick = (initDifficulty: 'easy' | 'medium' | 'hard', seed = 3) =>
          rankedInitIndices(
            set,
            4,
            committee,
            tinyConfig({ ipc: 3, initDifficulty, initCandidates: 6 }),
            seed,
          );
        const easy = pick('easy');
        expect(Array.from(pick('easy'))).toEqual(Array.from(easy));
        expect(Array.from(pick('easy', 4))).not.toEqual(Array.from(easy));
        for (let j = 0; j < 3; j++)
          expect(Array.from(easy.slice(j * 4, j * 4 + 4), (r) => set.labels[r])).toEqual([0, 1, 2, 3]);
        expect(new Set(easy).size).toBe(12);
        const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
        const [e, m, h] = (['easy', 'medium', 'hard'] as const).map((d) =>
          committeeCe(set, pick(d), committee),
        );
        expect(mean(e!)).toBeLessThan(mean(m!));
        expect(mean(m!)).toBeLessThan(mean(h!));
        // Per class, every easy pick scores at most every hard pick (same candidates, sorted).
        for (let c = 0; c < 4; c++) {
          const of = (s: number[]) => [0, 1, 2].map((j) => s[j * 4 + c]!);
          expect(Math.max(...of(e!))).toBeLessThanOrEqual(Math.min(...of(h!)) + 1e-6);
        }
        // slotInitImages takes slot j's row of every class; a ranked init without a committee is refused.
        const config = tinyConfig({ ipc: 3, initDifficulty: 'hard', initCandidates: 6 });
        const slot1 = slotInitImages(set, 4, config, 1, 3, committee);
        const want = Array.from(pick('hard').slice(4, 8));
        expect(slot1.labels).toEqual([0, 1, 2, 3]);
        expect(Array.from(slot1.images.dataSync())).toEqual(Array.from(subsetImages(set, want).pixels));
        slot1.images.dispose();
        expect(() => slotInitImages(set, 4, config, 0, 3)).toThrow(/initDifficulty "hard".*committee/);
      } finally {
        disposeCommittee(committee);
      }
    });
  });

  it('config validation names bad init and crop settings', () => {
    const errors = validateCommitteeVotingConfig(
      tinyConfig({
        initDifficulty: 'tricky' as never,
        initCandidates: 0,
        recoverAugment: { crop: { scale: [0.9, 0.5], ratio: [3 / 4, 4 / 3] }, flip: false, jitter: 2 },
      }),
    );
    expect(errors.join('\n')).toMatch(/initDifficulty must be one of random, easy, medium, hard, got tricky/);
    expect(errors.join('\n')).toMatch(/initCandidates must be a positive integer, got 0/);
    expect(errors.join('\n')).toMatch(
      /recoverAugment\.crop\.scale must satisfy 0 < lo ≤ hi ≤ 1, got \[0\.9, 0\.5\]/,
    );
    expect(
      validateCommitteeVotingConfig(tinyConfig({ initDifficulty: 'medium', initCandidates: 4 })),
    ).toEqual([]);
  });
});
