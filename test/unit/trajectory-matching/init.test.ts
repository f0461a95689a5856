// Initialisation (spec §6.2, §6.3, §11.9): images only from correctly classified real samples, soft
// labels averaged only over the experts that classify an image correctly, seeded real/noise init.
import { describe, expect, it } from 'vitest';
import {
  type ExpertTrajectories,
  argmaxRows,
  expertLogits,
  initialSoftLabels,
  initializeSyntheticSet,
  selectInitialImages,
  trajectoriesFromArrays,
} from '../../../ml/methods/trajectory-matching/index.js';
import { type ConvNetConfig, convNetLayout } from '../../../ml/models/convnet.js';
import { blobImages, tinyConfig, trainExperts } from './fixtures.js';

const config = tinyConfig({ ipc: 2, init: 'samples_predicted_correctly', softLabels: true, initChunk: 8 });
const real = blobImages(config.net, 20, 3, 1.2); // noisy enough that experts make mistakes
const trained = trainExperts(config.net, real, { experts: 2, epochs: 2, lr: 0.05, batch: 12, seed: 4 });

/** An expert whose head is rolled by one class: it predicts (true class + shift) wherever `base` is right. */
function rolledHead(net: ConvNetConfig, params: Float32Array, shift: number): Float32Array {
  const out = params.slice();
  const k = net.classes;
  for (const slot of convNetLayout(net)) {
    if (slot.name !== 'fc.w' && slot.name !== 'fc.b') continue;
    const rows = slot.size / k;
    for (let r = 0; r < rows; r++)
      for (let j = 0; j < k; j++)
        out[slot.offset + r * k + ((j + shift) % k)] = params[slot.offset + r * k + j]!;
  }
  return out;
}

/** An expert that predicts `cls` for every input (zero head weights, bias one-hot). */
function constantHead(net: ConvNetConfig, params: Float32Array, cls: number): Float32Array {
  const out = params.slice();
  for (const slot of convNetLayout(net)) {
    if (slot.name === 'fc.w') out.fill(0, slot.offset, slot.offset + slot.size);
    if (slot.name === 'fc.b') for (let j = 0; j < slot.size; j++) out[slot.offset + j] = j === cls ? 1 : 0;
  }
  return out;
}

/** Expert 0 = the trained expert 0; expert 1 = the same with its head rolled (wrong wherever expert 0 is right). */
function withWrongExpert(experts: ExpertTrajectories): ExpertTrajectories {
  const rows = [0, 1].map((k) =>
    Array.from({ length: experts.lastEpoch + 1 }, (_x, e) =>
      k === 0 ? experts.params(0, e) : rolledHead(config.net, experts.params(0, e), 1),
    ),
  );
  return trajectoriesFromArrays(rows);
}

const size = config.net.h * config.net.w * config.net.c;

describe('samples_predicted_correctly (spec §6.2)', () => {
  it('keeps, per class, the first IPC images in scan order that expert 0 classifies correctly', () => {
    const init = selectInitialImages(config, real, trained);
    const predicted = argmaxRows(
      expertLogits(config, trained.params(0, trained.lastEpoch), real.pixels),
      config.net.classes,
    );
    const wrongRows = Array.from(real.labels.keys()).filter((r) => predicted[r] !== real.labels[r]);
    expect(wrongRows.length).toBeGreaterThan(0); // the check below is not vacuous
    for (let i = 0; i < init.classes.length; i++) {
      const row = init.sourceRows[i]!;
      expect(real.labels[row]).toBe(init.classes[i]);
      expect(predicted[row]).toBe(init.classes[i]);
      expect(Array.from(init.pixels.subarray(i * size, (i + 1) * size))).toEqual(
        Array.from(real.pixels.subarray(row * size, (row + 1) * size)),
      );
    }
    expect(Array.from(init.classes)).toEqual([0, 0, 1, 1, 2, 2]);
    // Same seed → same picks; another seed → another scan order.
    expect(selectInitialImages(config, real, trained).sourceRows).toEqual(init.sourceRows);
    expect(selectInitialImages({ ...config, seed: 8 }, real, trained).sourceRows).not.toEqual(
      init.sourceRows,
    );
  });

  it('moves on to the next expert when expert 0 gets too few images of a class right', () => {
    // Expert 0 always answers class 0; expert 1 is the trained one.
    const constant = (e: number) => constantHead(config.net, trained.params(0, e), 0);
    const experts = trajectoriesFromArrays([
      [0, 1, 2].map(constant),
      [0, 1, 2].map((e) => trained.params(0, e)),
    ]);
    const init = selectInitialImages(config, real, experts);
    const good = argmaxRows(expertLogits(config, trained.params(0, 2), real.pixels), config.net.classes);
    // Class 0: expert 0 accepts the first two rows of the scan order, which 'real' init also takes.
    const scanStart = selectInitialImages({ ...config, init: 'real' }, real, experts);
    expect(init.sourceRows.slice(0, 2)).toEqual(scanStart.sourceRows.slice(0, 2));
    for (let i = 2; i < init.classes.length; i++) expect(good[init.sourceRows[i]!]).toBe(init.classes[i]);
  });

  it('fails with a clear error when no expert classifies enough images of a class', () => {
    const wrongOnly = trajectoriesFromArrays([
      Array.from({ length: 3 }, (_x, e) => rolledHead(config.net, trained.params(0, e), 1)),
    ]);
    // The rolled expert may still be right on images the trained one got wrong; ask for more than exist.
    expect(() => selectInitialImages({ ...config, ipc: 20 }, real, wrongOnly)).toThrow(
      /classified correctly by any of the 1 experts/,
    );
  });
});

describe('soft labels (spec §6.3, §11.9)', () => {
  it('average logits only over experts that classify the image correctly (two experts, one wrong)', () => {
    const experts = withWrongExpert(trained);
    const init = selectInitialImages(config, real, experts);
    const { logits, correctExperts } = initialSoftLabels(config, init.pixels, init.classes, experts);
    const right = expertLogits(config, experts.params(0, 2), init.pixels);
    const wrong = expertLogits(config, experts.params(1, 2), init.pixels);
    const k = config.net.classes;
    expect(Array.from(correctExperts)).toEqual(Array(init.classes.length).fill(1));
    // Exactly expert 0's logits — not (right + wrong) / 2.
    expect(Array.from(logits)).toEqual(Array.from(right));
    expect(Array.from(logits)).not.toEqual(Array.from(right, (v, j) => (v + wrong[j]!) / 2));
    expect(Array.from(argmaxRows(logits, k))).toEqual(Array.from(init.classes));
  });

  it('average over all correct experts, and every initial label has argmax = its class', () => {
    const init = initializeSyntheticSet(config, real, trained);
    const k = config.net.classes;
    const a = expertLogits(config, trained.params(0, 2), init.pixels);
    const b = expertLogits(config, trained.params(1, 2), init.pixels);
    const pa = argmaxRows(a, k);
    const pb = argmaxRows(b, k);
    for (let i = 0; i < init.classes.length; i++) {
      const use = [pa[i] === init.classes[i] ? a : null, pb[i] === init.classes[i] ? b : null].filter(
        (x) => x !== null,
      );
      expect(use.length).toBeGreaterThan(0);
      for (let j = 0; j < k; j++) {
        const want = use.reduce((s, l) => s + l[i * k + j]!, 0) / use.length;
        expect(init.labelLogits![i * k + j]).toBeCloseTo(want, 6);
      }
    }
    expect(Array.from(argmaxRows(init.labelLogits!, k))).toEqual(Array.from(init.classes));
  });

  it('an image no expert gets right is an error, naming the image', () => {
    const experts = withWrongExpert(trained);
    const init = selectInitialImages(config, real, experts);
    const onlyWrong = trajectoriesFromArrays([Array.from({ length: 3 }, (_x, e) => experts.params(1, e))]);
    expect(() => initialSoftLabels(config, init.pixels, init.classes, onlyWrong)).toThrow(
      /synthetic image 0 \(class 0\) is misclassified by all 1 experts/,
    );
  });
});

describe('real and noise init', () => {
  it("'real' takes IPC seeded random images of each class; 'noise' is seeded N(0, 1); hard labels have no logits", () => {
    const c = { ...config, init: 'real' as const, softLabels: false };
    const a = initializeSyntheticSet(c, real, trained);
    expect(a.labelLogits).toBeNull();
    expect(new Set(a.sourceRows).size).toBe(6);
    for (let i = 0; i < 6; i++) expect(real.labels[a.sourceRows[i]!]).toBe(a.classes[i]);
    expect(initializeSyntheticSet(c, real, trained).sourceRows).toEqual(a.sourceRows);
    const noise = initializeSyntheticSet({ ...c, init: 'noise' }, real, trained);
    expect(Array.from(noise.sourceRows)).toEqual(Array(6).fill(-1));
    const mean = noise.pixels.reduce((s, v) => s + v, 0) / noise.pixels.length;
    expect(Math.abs(mean)).toBeLessThan(0.2);
    expect(() => initializeSyntheticSet({ ...c, ipc: 21 }, real, trained)).toThrow(
      /class 0 has 20 real images, IPC is 21/,
    );
  });
});
