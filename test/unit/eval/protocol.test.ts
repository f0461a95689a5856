// The evaluation protocol's conventions (DESIGN.md §8): one std convention (sample, n − 1), a distinct
// random real subset per student, students trained until the loss plateaus, no leaked tensors.
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { loadMnist } from '../../../activities/mnist.js';
import {
  DEFAULT_STUDENT_PROTOCOL,
  gatherImageRows,
  meanStd,
  protocolStudents,
  randomRealRows,
  studentArchId,
  trainStudent,
} from '../../../ml/eval/index.js';
import { DSA_DIGITS } from '../../../ml/ops/dsa.js';

describe('meanStd', () => {
  it('is the sample std (n − 1), numpy std(ddof=1)', () => {
    const r = meanStd([1, 2, 3, 4]);
    expect(r.mean).toBe(2.5);
    expect(r.std).toBeCloseTo(Math.sqrt(5 / 3), 12); // population std would be √1.25
    expect(r.n).toBe(4);
  });
  it('gives std 0 for one value and refuses none', () => {
    expect(meanStd([7])).toEqual({ mean: 7, std: 0, n: 1 });
    expect(() => meanStd([])).toThrow(RangeError);
  });
});

describe('randomRealRows', () => {
  const labels = Int32Array.from({ length: 300 }, (_x, i) => i % 10);
  it('gives every student its own subset, the same one on every call', () => {
    const a = randomRealRows(labels, 10, 3, 0, 0);
    const b = randomRealRows(labels, 10, 3, 0, 1);
    expect(Array.from(a)).not.toEqual(Array.from(b));
    expect(Array.from(randomRealRows(labels, 10, 3, 0, 1))).toEqual(Array.from(b));
  });
  it('takes ipc distinct rows of every class, class-major within each slot', () => {
    const rows = randomRealRows(labels, 10, 3, 5, 2);
    expect(new Set(rows).size).toBe(30);
    rows.forEach((r, i) => expect(labels[r]).toBe(i % 10));
  });
  it('names the class that is too small', () => {
    expect(() => randomRealRows(labels.slice(0, 25), 10, 3, 0, 0)).toThrow(
      /class [5-9] has 2 images, IPC is 3/,
    );
  });
});

describe('trainStudent', () => {
  const data = loadMnist({ seed: 0, downsample: 2, trainPerClass: 100, testCount: 300 });
  const test = { pixels: data.test.images, labels: data.test.labels };
  const set = gatherImageRows(
    data.train.images,
    data.train.labels,
    196,
    randomRealRows(data.train.labels, 10, 5, 0, 0),
  );
  const [convIn, convBn, mlp] = protocolStudents({ h: 14, w: 14, c: 1, classes: 10 }, { convWidth: 8 });

  it('trains every protocol student until its training loss plateaus, without leaking tensors', () => {
    for (const arch of [convIn!, convBn!, mlp!]) {
      const before = tf.memory().numTensors;
      const r = trainStudent(arch, set, test, 1);
      expect(tf.memory().numTensors, studentArchId(arch)).toBe(before);
      expect(r.finalTrainLoss, studentArchId(arch)).toBeLessThan(0.1);
      expect(r.stop).not.toBe('max-steps');
      expect(r.trainAccuracy).toBe(1);
      expect(r.testAccuracy).toBeGreaterThan(0.4); // 5 images per digit
    }
  });

  it('trains on soft labels with T²·KL, which reaches 0 whatever the labels’ entropy', () => {
    const k = 10;
    const p = new Float32Array(set.labels.length * k).fill(0.05);
    set.labels.forEach((y, i) => (p[i * k + y] = 0.55));
    const r = trainStudent(mlp!, { ...set, soft: { probabilities: p, temperature: 4 } }, test, 1);
    expect(r.finalTrainLoss).toBeLessThan(0.1);
    expect(r.trainAccuracy).toBe(1);
  });

  it('augments every batch with DSA when asked: seeded, leak-free, and a different student', () => {
    const protocol = { ...DEFAULT_STUDENT_PROTOCOL, augment: DSA_DIGITS, maxSteps: 200 };
    const before = tf.memory().numTensors;
    const a = trainStudent(convBn!, set, test, 1, protocol);
    expect(tf.memory().numTensors).toBe(before);
    const b = trainStudent(convBn!, set, test, 1, protocol);
    expect(b.windows).toEqual(a.windows);
    expect(b.testAccuracy).toBe(a.testAccuracy);
    const plain = trainStudent(convBn!, set, test, 1, { ...protocol, augment: false });
    expect(plain.windows[0]).not.toBe(a.windows[0]);
    // Augmented batches are harder to fit than the 50 images themselves.
    expect(a.windows[a.windows.length - 1]!).toBeGreaterThan(plain.windows[plain.windows.length - 1]!);
  });
});
