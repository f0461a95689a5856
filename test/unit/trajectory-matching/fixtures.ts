// Tiny, seeded problems for the trajectory-matching tests: a labelled image set whose class is the
// position of a bright blob, experts trained on it with the real training loop, and small configs.
import * as tf from '@tensorflow/tfjs-core';
import { constantSchedule } from '../../../ml/methods/rewarm.js';
import {
  type ExpertTrajectories,
  type LabelledImages,
  type TrajectoryMatchingConfig,
  type TrajectoryMatchingOverrides,
  trajectoriesFromArrays,
  trajectoryMatchingConfig,
} from '../../../ml/methods/trajectory-matching/index.js';
import { type ConvNetConfig, initConvNetParams } from '../../../ml/models/convnet.js';
import { BatchOrder, gatherImages, gatherLabels } from '../../../ml/train/batches.js';
import { trainConvNetSteps } from '../../../ml/train/loops.js';
import { sgd } from '../../../ml/train/optimizers.js';
import { Rng } from '../../../ml/train/rng.js';

/** `perClass` images per class (rows shuffled); class c has a bright 3×3 blob at a class-specific place. */
export function blobImages(net: ConvNetConfig, perClass: number, seed: number, noise = 0.6): LabelledImages {
  const { h, w, c, classes } = net;
  const rng = new Rng(seed);
  const n = perClass * classes;
  const pixels = new Float32Array(n * h * w * c);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const y = i % classes;
    labels[i] = y;
    // Blob centres on a ring around the image centre.
    const angle = (2 * Math.PI * y) / classes;
    const cy = Math.round(h / 2 - 0.5 + (h / 4) * Math.sin(angle));
    const cx = Math.round(w / 2 - 0.5 + (w / 4) * Math.cos(angle));
    for (let r = 0; r < h; r++)
      for (let q = 0; q < w; q++)
        for (let ch = 0; ch < c; ch++) {
          const inBlob = Math.abs(r - cy) <= 1 && Math.abs(q - cx) <= 1;
          pixels[((i * h + r) * w + q) * c + ch] = rng.normal(inBlob ? 1.5 : 0, noise);
        }
  }
  return { pixels, labels };
}

export interface ExpertOptions {
  experts: number;
  epochs: number;
  lr: number;
  batch: number;
  seed: number;
}

/** θ_{k,e} for e = 0..epochs: plain SGD experts (spec §4) on `data`, each from its own init. */
export function trainExperts(net: ConvNetConfig, data: LabelledImages, o: ExpertOptions): ExpertTrajectories {
  const n = data.labels.length;
  const rows: Float32Array[][] = [];
  for (let k = 0; k < o.experts; k++) {
    const order = new BatchOrder({ n, batchSize: o.batch, seed: o.seed * 100 + k });
    const optimizer = sgd();
    let params = initConvNetParams(net, o.seed * 100 + k);
    const trajectory = [params.dataSync().slice() as Float32Array];
    for (let e = 0; e < o.epochs; e++) {
      const r = trainConvNetSteps({
        config: net,
        params,
        optimizer,
        optState: optimizer.init(params),
        startStep: e * order.batchesPerEpoch,
        steps: order.batchesPerEpoch,
        lr: constantSchedule(o.lr),
        batchAt: (s) => {
          const idx = order.indicesAt(s);
          return { x: gatherImages(data.pixels, net, idx), y: gatherLabels(data.labels, idx) };
        },
      });
      params.dispose();
      params = r.params;
      trajectory.push(params.dataSync().slice() as Float32Array);
    }
    params.dispose();
    rows.push(trajectory);
  }
  return trajectoriesFromArrays(rows);
}

/** A small config: 8×8×1 inputs, 3 classes, W4 D1, IPC 2, N 3, M 1. */
export function tinyConfig(overrides: TrajectoryMatchingOverrides = {}): TrajectoryMatchingConfig {
  const { net, ...rest } = overrides;
  return trajectoryMatchingConfig({
    ipc: 2,
    seed: 7,
    syntheticSteps: 3,
    expertEpochs: 1,
    batchSyn: 4,
    minStartEpoch: 0,
    maxStartEpoch: 3,
    sequentialGeneration: false,
    initialSynLr: 0.05,
    lrImages: 10,
    lrSynLr: 0.01,
    lrLabels: 2,
    initChunk: 16,
    ...rest,
    net: { h: 8, w: 8, c: 1, classes: 3, width: 4, depth: 1, ...net },
  });
}

/** Flat random parameters θ + scale·N(0, 1) (for synthetic trajectories). */
export function jitter(base: Float32Array, scale: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  return base.map((v) => v + scale * rng.normal());
}

export function initParams(net: ConvNetConfig, seed: number): Float32Array {
  const t = initConvNetParams(net, seed);
  const out = t.dataSync().slice() as Float32Array;
  t.dispose();
  return out;
}

/** All values of a tensor as a plain array (for bit-exact comparisons). */
export function values(t: tf.Tensor | null): number[] {
  return t ? Array.from(t.dataSync()) : [];
}
