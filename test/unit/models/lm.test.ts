// The byte-level causal transformer LM (rewarm spec §7 CPU preset, Aioli §6, GOT-D §4.3 embedding).
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_LM,
  initLmParams,
  lmConfig,
  lmEmbed,
  lmLogProbs,
  lmLogits,
  lmLoss,
  lmParamCount,
  lmParamSpecs,
  lmPerExampleLoss,
} from '../../../ml/models/lm.js';
import { disposeTree, treeSize } from '../../../ml/train/param-tree.js';
import { expectNoLeak } from '../ops/finite-differences.js';

const tiny = lmConfig({ layers: 2, dModel: 32, heads: 4, ctx: 16 });

function randomIds(b: number, t: number, seed: number): tf.Tensor2D {
  let s = seed;
  const ids = Int32Array.from({ length: b * t }, () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s % 256;
  });
  return tf.tensor2d(ids, [b, t], 'int32');
}

const maxAbsDiff = (a: tf.Tensor, b: tf.Tensor): number =>
  tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);

describe('byte-level LM', () => {
  it('defaults to the rewarm §7 CPU preset and orders parameters stably', () => {
    expect(DEFAULT_LM).toMatchObject({
      vocabSize: 256,
      layers: 4,
      dModel: 256,
      heads: 4,
      ctx: 128,
      mlpRatio: 4,
      tieEmbeddings: true,
    });
    expectNoLeak(() => {
      const params = initLmParams(tiny, 0);
      const names = lmParamSpecs(tiny).map((s) => s.name);
      expect(Object.keys(params)).toEqual(names);
      expect(names.slice(0, 4)).toEqual(['wte', 'wpe', 'h0.ln1.g', 'h0.ln1.b']);
      expect(names.at(-1)).toBe('lnf.b');
      expect(treeSize(params)).toBe(lmParamCount(tiny));
      expect(lmParamSpecs({ ...tiny, tieEmbeddings: false }).at(-1)).toEqual({
        name: 'head.w',
        shape: [32, 256],
        init: 'normal',
      });
      // Same seed → bit-identical; per-tensor sub-streams.
      const again = initLmParams(tiny, 0);
      const other = initLmParams(tiny, 1);
      expect(Array.from(again['h1.mlp.w2']!.dataSync())).toEqual(Array.from(params['h1.mlp.w2']!.dataSync()));
      expect(Array.from(other['wte']!.dataSync())).not.toEqual(Array.from(params['wte']!.dataSync()));
      [params, again, other].forEach(disposeTree);
    });
    expect(() => lmConfig({ dModel: 30, heads: 4 })).toThrow(/divisible/);
  });

  it('has loss ≈ ln 256 at init, and per-example losses average to the batch loss', () => {
    expectNoLeak(() => {
      const params = initLmParams(tiny, 3);
      const ids = randomIds(3, 16, 7);
      const loss = lmLoss(tiny, params, ids);
      const perExample = lmPerExampleLoss(tiny, params, ids);
      expect(perExample.shape).toEqual([3]);
      expect(loss.dataSync()[0]).toBeCloseTo(Math.log(256), 1);
      const mean = tf.tidy(() => tf.mean(perExample).dataSync()[0]!);
      expect(Math.abs(mean - loss.dataSync()[0]!)).toBeLessThan(1e-5);
      // Untied head too.
      const untied = { ...tiny, tieEmbeddings: false };
      const p2 = initLmParams(untied, 3);
      const l2 = lmLoss(untied, p2, ids);
      expect(l2.dataSync()[0]).toBeCloseTo(Math.log(256), 1);
      tf.dispose([loss, perExample, ids, l2]);
      disposeTree(params);
      disposeTree(p2);
    });
  });

  it('is causal: changing a future token leaves earlier logits unchanged', () => {
    expectNoLeak(() => {
      const params = initLmParams(tiny, 4);
      const ids = randomIds(2, 12, 9);
      const values = Int32Array.from(ids.dataSync());
      values[7] = (values[7]! + 1) % 256; // sequence 0, position 7
      const changed = tf.tensor2d(values, [2, 12], 'int32');
      const a = lmLogits(tiny, params, ids);
      const b = lmLogits(tiny, params, changed);
      expect(a.shape).toEqual([2, 12, 256]);
      const slice = (t: tf.Tensor3D, from: number, len: number): tf.Tensor =>
        tf.slice(t, [0, from, 0], [1, len, 256]);
      tf.tidy(() => {
        expect(maxAbsDiff(slice(a, 0, 7), slice(b, 0, 7))).toBe(0);
        expect(maxAbsDiff(slice(a, 7, 1), slice(b, 7, 1))).toBeGreaterThan(1e-4);
        // The other sequence in the batch is untouched.
        expect(maxAbsDiff(tf.slice(a, [1, 0, 0], [1, 12, 256]), tf.slice(b, [1, 0, 0], [1, 12, 256]))).toBe(
          0,
        );
      });
      const logProbs = lmLogProbs(tiny, params, ids);
      const total = tf.tidy(() => tf.sum(tf.exp(tf.slice(logProbs, [0, 0, 0], [1, 1, 256]))).dataSync()[0]!);
      expect(total).toBeCloseTo(1, 4);
      tf.dispose([ids, changed, a, b, logProbs]);
      disposeTree(params);
    });
  });

  it('embeds as the mean-pooled final hidden state; the mask excludes padding (GOT-D §4.3)', () => {
    expectNoLeak(() => {
      const params = initLmParams(tiny, 5);
      const ids = randomIds(2, 10, 11);
      const e = lmEmbed(tiny, params, ids);
      expect(e.shape).toEqual([2, 32]);
      const allOnes = tf.ones([2, 10]) as tf.Tensor2D;
      const eOnes = lmEmbed(tiny, params, ids, allOnes);
      expect(maxAbsDiff(e, eOnes)).toBeLessThan(1e-6);
      // Masking the last 4 positions equals embedding the first 6 tokens alone (causality: their
      // hidden states do not depend on the padding that follows).
      const mask = tf.tensor2d([
        Array.from({ length: 10 }, (_x, i) => (i < 6 ? 1 : 0)),
        Array.from({ length: 10 }, (_x, i) => (i < 6 ? 1 : 0)),
      ]);
      const masked = lmEmbed(tiny, params, ids, mask);
      const prefix = tf.slice(ids, [0, 0], [2, 6]);
      const ePrefix = lmEmbed(tiny, params, prefix);
      expect(maxAbsDiff(masked, ePrefix)).toBeLessThan(1e-5);
      tf.dispose([ids, e, allOnes, eOnes, mask, masked, prefix, ePrefix]);
      disposeTree(params);
    });
  });

  it('rejects bad inputs with the shape it got', () => {
    expectNoLeak(() => {
      const params = initLmParams(tiny, 0);
      const floats = tf.zeros([1, 4]) as tf.Tensor2D;
      const long = tf.zeros([1, 17], 'int32') as tf.Tensor2D;
      const one = tf.zeros([1, 1], 'int32') as tf.Tensor2D;
      expect(() => lmLogits(tiny, params, floats)).toThrow(/int32 \[B, T\], got float32 \[1,4\]/);
      expect(() => lmLogits(tiny, params, long)).toThrow(/exceeds context 16/);
      expect(() => lmLoss(tiny, params, one)).toThrow(/at least 2 tokens/);
      tf.dispose([floats, long, one]);
      disposeTree(params);
    });
  });
});
