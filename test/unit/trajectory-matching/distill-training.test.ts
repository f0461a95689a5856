// Expert trajectories and student evaluation around trajectory matching (ml/methods/trajectory-matching/training.ts):
// determinism per seed, resume from an epoch == uninterrupted (bit for bit, with and without momentum),
// the evaluation protocol really learning (and really using soft labels), the random-real baseline's
// layout, and no leaked tensors.
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import {
  type ImageSet,
  evaluateConvNet,
  evaluationSchedule,
  firstRowsPerClass,
  randomRealSubset,
  trainAndEvaluateStudent,
  trainExpertTrajectory,
} from '../../../ml/methods/trajectory-matching/training.js';
import type {
  EvaluationProfile,
  ExpertTrainingProfile,
} from '../../../ml/methods/trajectory-matching/index.js';
import { convNetConfig, convNetForward } from '../../../ml/models/convnet.js';
import { classificationLoss } from '../../../ml/train/loops.js';
import { expectNoLeak } from '../ops/finite-differences.js';
import { blobImages } from './fixtures.js';

const net = convNetConfig({ h: 8, w: 8, c: 1, classes: 3, width: 4, depth: 1 });
const asSet = (d: { pixels: Float32Array; labels: Int32Array }): ImageSet => ({
  images: d.pixels,
  labels: d.labels,
});
const train = asSet(blobImages(net, 24, 1));
const test = asSet(blobImages(net, 30, 2));
const expert: ExpertTrainingProfile = {
  count: 1,
  epochs: 4,
  imagesPerClass: 16,
  lr: 0.05,
  batch: 10,
  momentum: 0,
  weightDecay: 0,
};
const evaluation: EvaluationProfile = {
  students: 3,
  steps: 60,
  batch: 256,
  momentum: 0.9,
  weightDecay: 5e-4,
  decayAt: 0.5,
};

describe('trainExpertTrajectory', () => {
  it('stores θ_0..θ_E, is deterministic per seed, and learns', () => {
    const a = trainExpertTrajectory(train, expert, net, 3, { test });
    const b = trainExpertTrajectory(train, expert, net, 3);
    const c = trainExpertTrajectory(train, expert, net, 4);
    expect(a.params).toHaveLength(5);
    expect(a.losses).toHaveLength(4);
    expect(a.testAccuracy).toHaveLength(5);
    expect(a.params).toEqual(b.params);
    expect(c.params[0]).not.toEqual(a.params[0]);
    expect(a.params[1]).not.toEqual(a.params[0]);
    expect(a.losses[3]!).toBeLessThan(a.losses[0]!);
    expect(a.testAccuracy[4]!).toBeGreaterThan(0.8);
    expect(a.testAccuracy[0]!).toBeLessThan(0.6);
  });

  for (const momentum of [0, 0.9]) {
    it(`resumed from epoch 2 equals the uninterrupted run bit for bit (momentum ${momentum})`, () => {
      const profile = { ...expert, momentum, weightDecay: 5e-4 };
      const seen: { epoch: number; loss: number; velocity: Float32Array | null }[] = [];
      let full!: ReturnType<typeof trainExpertTrajectory>;
      expectNoLeak(() => {
        full = trainExpertTrajectory(train, profile, net, 9, {
          onEpoch: (epoch, _p, loss, info) => seen.push({ epoch, loss, velocity: info.velocity }),
        });
      });
      expect(seen.map((s) => s.epoch)).toEqual([1, 2, 3, 4]);
      expect(seen.map((s) => s.loss)).toEqual(full.losses);
      expect(seen[1]!.velocity === null).toBe(momentum === 0);
      const resumed = trainExpertTrajectory(train, profile, net, 9, {
        fromEpoch: 2,
        fromParams: full.params[2],
        ...(seen[1]!.velocity ? { fromVelocity: seen[1]!.velocity } : {}),
      });
      expect(resumed.firstEpoch).toBe(2);
      expect(resumed.params).toEqual(full.params.slice(2));
      expect(resumed.losses).toEqual(full.losses.slice(2));
    });
  }

  it('rejects a resume it could not reproduce', () => {
    expect(() => trainExpertTrajectory(train, expert, net, 1, { fromEpoch: 2 })).toThrow(/fromParams/);
    const p = trainExpertTrajectory(train, { ...expert, epochs: 1 }, net, 1).params[1]!;
    expect(() =>
      trainExpertTrajectory(train, { ...expert, momentum: 0.9 }, net, 1, { fromEpoch: 1, fromParams: p }),
    ).toThrow(/fromVelocity/);
    expect(() => trainExpertTrajectory(train, expert, net, 1, { fromEpoch: 5 })).toThrow(/fromEpoch/);
    const bad = { images: train.images, labels: train.labels.map((y, i) => (i === 3 ? 7 : y)) };
    expect(() => trainExpertTrajectory(bad, expert, net, 1)).toThrow(/row 3 has label 7/);
  });

  it('trains on the first imagesPerClass rows of each class', () => {
    const sub = firstRowsPerClass(train, net, 5);
    expect(sub.labels).toHaveLength(15);
    expect([0, 1, 2].map((c) => sub.labels.filter((y) => y === c).length)).toEqual([5, 5, 5]);
    expect(() => firstRowsPerClass(train, net, 25)).toThrow(/class 0 has 24/);
  });
});

describe('trainAndEvaluateStudent (spec §8)', () => {
  it('trains a fresh ConvNet to high test accuracy, deterministically per seed, leaking nothing', () => {
    let a!: ReturnType<typeof trainAndEvaluateStudent>;
    expectNoLeak(() => {
      a = trainAndEvaluateStudent(train, test, evaluation, net, 0, 0.01);
    });
    const b = trainAndEvaluateStudent(train, test, evaluation, net, 0, 0.01);
    expect(b).toEqual(a);
    expect(a.steps).toBe(60);
    expect(a.accuracy).toBeGreaterThan(0.9);
    // A vanishing LR leaves the random init: near chance and a higher loss.
    const untrained = trainAndEvaluateStudent(train, test, evaluation, net, 0, 1e-7);
    expect(untrained.accuracy).toBeLessThan(0.7);
    expect(untrained.loss).toBeGreaterThan(a.loss);
  });

  it('learns from soft-label logits, not the hard labels, when they are given', () => {
    // Soft labels that name class (y + 1) mod 3: a student that follows them is wrong on every test image.
    const k = net.classes;
    const labelLogits = new Float32Array(train.labels.length * k);
    train.labels.forEach((y, i) => {
      labelLogits[i * k + ((y + 1) % k)] = 6;
    });
    const shifted = trainAndEvaluateStudent({ ...train, labelLogits }, test, evaluation, net, 0, 0.01);
    expect(shifted.accuracy).toBeLessThan(0.1);
  });

  it('decays the LR ×0.1 at ⌊decayAt·steps⌋', () => {
    const lr = evaluationSchedule(evaluation, 60, 0.2);
    expect([lr(0), lr(29), lr(30), lr(59)]).toEqual([0.2, 0.2, 0.2 * 0.1, 0.2 * 0.1]);
  });
});

describe('evaluateConvNet', () => {
  it('matches argmax accuracy and the mean CE computed with tensors', () => {
    const theta = trainExpertTrajectory(train, { ...expert, epochs: 1 }, net, 2).params[1]!;
    const m = evaluateConvNet(net, theta, test, { chunk: 7 });
    const n = test.labels.length;
    const [logits, ce] = tf.tidy(() => {
      const l = convNetForward(net, tf.tensor1d(theta), tf.tensor4d(test.images, [n, 8, 8, 1]));
      return [l.dataSync().slice(), classificationLoss(l, tf.tensor1d(test.labels, 'int32')).dataSync()[0]!];
    }) as unknown as [Float32Array, number];
    let correct = 0;
    for (let i = 0; i < n; i++) {
      const row = Array.from(logits.subarray(i * 3, i * 3 + 3));
      if (row.indexOf(Math.max(...row)) === test.labels[i]) correct++;
    }
    expect(m.accuracy).toBe(correct / n);
    expect(m.loss).toBeCloseTo(ce, 5);
  });
});

describe('randomRealSubset', () => {
  it('takes IPC real images per class, class-major, seeded', () => {
    const a = randomRealSubset(train, net, 2, 5);
    expect(Array.from(a.labels)).toEqual([0, 0, 1, 1, 2, 2]);
    expect(randomRealSubset(train, net, 2, 5)).toEqual(a);
    expect(randomRealSubset(train, net, 2, 6).images).not.toEqual(a.images);
    // Every picked image is a row of the data with the same label.
    for (let i = 0; i < 6; i++) {
      const img = a.images.subarray(i * 64, (i + 1) * 64);
      const row = train.labels.findIndex((_y, r) =>
        train.images.subarray(r * 64, (r + 1) * 64).every((v, j) => v === img[j]),
      );
      expect(row).toBeGreaterThanOrEqual(0);
      expect(train.labels[row]).toBe(a.labels[i]);
    }
    expect(() => randomRealSubset(train, net, 25, 0)).toThrow(/class 0 has 24 images, IPC is 25/);
  });
});
