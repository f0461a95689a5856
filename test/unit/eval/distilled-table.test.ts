// A distilled set exported as Parquet is usable with nothing but the file: its metadata names the shape,
// normalisation, label kind and temperature, its soft labels are probabilities, and a student trained on
// the read-back table reaches the accuracy of one trained on the set before export.
import { describe, expect, it } from 'vitest';
import { MNIST_NORMALIZATION, loadMnist } from '../../../activities/mnist.js';
import { gatherImageRows, protocolStudents, randomRealRows, trainStudent } from '../../../ml/eval/index.js';
import {
  encodeDistilledSet,
  oneHotRows,
  pixelRange,
  probabilityRows,
  readDistilledTable,
} from '../../../storage/distilled-table.js';
import { sha256Hex } from '../../../storage/artifacts.js';

const normalization = { mean: [...MNIST_NORMALIZATION.mean], std: [...MNIST_NORMALIZATION.std] };
const meta = (labelKind: 'hard' | 'soft', temperature: number) => ({
  method: 'datm',
  ipc: 5,
  classes: 10,
  h: 14,
  w: 14,
  c: 1,
  downsample: 2,
  normalization,
  labelKind,
  temperature,
  extra: { 'retort.syn_lr': '0.05' },
});

describe('distilled-set table', () => {
  const data = loadMnist({ seed: 0, downsample: 2, trainPerClass: 100, testCount: 300 });
  const test = { pixels: data.test.images, labels: data.test.labels };
  const set = gatherImageRows(
    data.train.images,
    data.train.labels,
    196,
    randomRealRows(data.train.labels, 10, 5, 0, 0),
  );

  it('round-trips with its metadata; soft labels are probability rows; pixels are clipped to the data range', () => {
    const logits = Float32Array.from({ length: 500 }, (_x, i) => Math.sin(i) * 3);
    const pixels = set.pixels.slice();
    pixels[0] = 100; // a synthetic pixel far outside [0, 1] after de-normalising
    const bytes = encodeDistilledSet({
      ...set,
      pixels,
      softLabels: probabilityRows(logits, 10, 2),
      meta: meta('soft', 2),
    });
    const back = readDistilledTable(bytes, 'memory://datm.parquet');
    expect(back.meta).toMatchObject({
      method: 'datm',
      ipc: 5,
      h: 14,
      w: 14,
      c: 1,
      classes: 10,
      downsample: 2,
      labelKind: 'soft',
      temperature: 2,
      normalization,
    });
    expect(back.meta.extra).toEqual({ 'retort.syn_lr': '0.05' });
    for (let i = 0; i < 50; i++) {
      const row = back.softLabels.subarray(i * 10, i * 10 + 10);
      expect(row.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    }
    const [lo, hi] = pixelRange(normalization, 0);
    expect(back.pixels[0]).toBeCloseTo(hi, 5);
    expect(Math.min(...back.pixels)).toBeGreaterThanOrEqual(lo - 1e-6);
    expect(Array.from(back.pixels.subarray(1))).toEqual(Array.from(set.pixels.subarray(1)));
    // Same set, same bytes (artifact hashes are content hashes).
    expect(
      sha256Hex(
        encodeDistilledSet({
          ...set,
          pixels,
          softLabels: probabilityRows(logits, 10, 2),
          meta: meta('soft', 2),
        }),
      ),
    ).toBe(sha256Hex(bytes));
  });

  it('refuses logits in soft_label, naming the column and the file', () => {
    const logits = Float32Array.from({ length: 500 }, (_x, i) => Math.sin(i) * 3);
    expect(() => encodeDistilledSet({ ...set, softLabels: logits, meta: meta('soft', 1) })).toThrow(
      /soft_label.*probabilities/,
    );
  });

  it('a student trained on the read-back table reaches the accuracy of the set before export', () => {
    const bytes = encodeDistilledSet({
      ...set,
      softLabels: oneHotRows(set.labels, 10),
      meta: meta('hard', 1),
    });
    const back = readDistilledTable(bytes, 'memory://random.parquet');
    const mlp = protocolStudents({
      h: back.meta.h,
      w: back.meta.w,
      c: back.meta.c,
      classes: back.meta.classes,
    })[2]!;
    const before = trainStudent(mlp, set, test, 3);
    const after = trainStudent(mlp, { pixels: back.pixels, labels: back.labels, soft: null }, test, 3);
    expect(Math.abs(after.testAccuracy - before.testAccuracy)).toBeLessThanOrEqual(0.01);
    expect(after.finalTrainLoss).toBeLessThan(0.1);
  });
});
