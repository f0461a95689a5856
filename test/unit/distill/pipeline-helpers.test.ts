// distillDataset helpers without servers: the PNG grid encoder (valid chunks, CRCs, pixels back out),
// the loss-curve SVG, the accuracy markdown, and planDistillation's resolution of the §10.2 profile.
import { inflateSync } from 'node:zlib';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import {
  accuracyMarkdown,
  encodeGrayPng,
  imageGridPng,
  lossCurveSvg,
} from '../../../activities/distill-report.js';
import { createImageActivities } from '../../../activities/images.js';
import { ArtifactStore } from '../../../storage/artifacts.js';
import { FileStore } from '../../../storage/file-store.js';

function pngChunks(png: Uint8Array) {
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  const chunks: { type: string; data: Uint8Array }[] = [];
  for (let o = 8; o < png.length;) {
    const n = view.getUint32(o);
    chunks.push({
      type: new TextDecoder().decode(png.subarray(o + 4, o + 8)),
      data: png.subarray(o + 8, o + 8 + n),
    });
    o += 12 + n;
  }
  return chunks;
}

describe('report artifacts', () => {
  it('encodeGrayPng writes IHDR/IDAT/IEND whose pixels inflate back to the input', () => {
    const gray = Uint8Array.from({ length: 12 }, (_x, i) => i * 20);
    const png = encodeGrayPng(gray, 4, 3);
    const chunks = pngChunks(png);
    expect(chunks.map((c) => c.type)).toEqual(['IHDR', 'IDAT', 'IEND']);
    const ihdr = new DataView(chunks[0]!.data.buffer, chunks[0]!.data.byteOffset);
    expect([ihdr.getUint32(0), ihdr.getUint32(4)]).toEqual([4, 3]);
    const raw = inflateSync(chunks[1]!.data);
    const rows = [0, 1, 2].map((y) => Array.from(raw.subarray(y * 5 + 1, y * 5 + 5)));
    expect(rows.flat()).toEqual(Array.from(gray));
    expect(encodeGrayPng(gray, 4, 3)).toEqual(png); // deterministic bytes
  });

  it('imageGridPng scales each image to 0..255 and lays classes out in rows', () => {
    const pixels = Float32Array.from([0, 1, 2, 3, -1, -1, -1, 5]); // two 2×2 images
    const chunks = pngChunks(imageGridPng(pixels, 2, 2, 2, 1, 1, 1));
    const ihdr = new DataView(chunks[0]!.data.buffer, chunks[0]!.data.byteOffset);
    expect([ihdr.getUint32(0), ihdr.getUint32(4)]).toEqual([1 * (2 + 2) + 2, 2 * (2 + 2) + 2]);
    const raw = inflateSync(chunks[1]!.data);
    const W = 6;
    const at = (x: number, y: number) => raw[y * (W + 1) + 1 + x];
    expect([at(2, 2), at(3, 2), at(2, 3), at(3, 3)]).toEqual([0, 85, 170, 255]);
    expect([at(2, 6), at(3, 7)]).toEqual([0, 255]);
  });

  it('lossCurveSvg plots every iteration and marks skipped ones; markdown shows mean ± std in %', () => {
    const svg = lossCurveSvg([0, 1, 2], [0.9, 0.5, 0.7], [0, 0, 1], 'a <b>');
    expect(svg.match(/<polyline[^>]*points="([^"]*)"/)![1]!.split(' ')).toHaveLength(3);
    expect(svg.match(/<circle/g)).toHaveLength(1);
    expect(svg).toContain('a &#60;b&#62;');
    const md = accuracyMarkdown([
      { method: 'datm', ipc: 1, mean: 0.5, std: 0.0125, values: [0.4875, 0.5125], lr: 0.05, steps: 150 },
    ]);
    expect(md).toContain('| datm | 1 | 50.0 ± 1.3 | 2 | 0.0500 | 150 | — |');
    expect(
      accuracyMarkdown([
        {
          method: 'random_real',
          ipc: 1,
          mean: 0.5,
          std: 0.1,
          values: [0.4, 0.6],
          lr: 0.01,
          steps: 150,
          finalTrainLoss: { mean: 0.05, max: 0.08 },
        },
      ]),
    ).toContain('| 150 | 0.050 / 0.080 |');
  });
});

describe('planDistillation', () => {
  const plan = createImageActivities({
    artifacts: new ArtifactStore(new FileStore(mkdtempSync(join(tmpdir(), 'plan-')))),
  }).planDistillation;

  it('takes the image shape from the data and the rest from the §10.2 profile plus overrides', async () => {
    const p = await plan({
      method: 'mtt',
      ipc: 10,
      data: { h: 14, w: 14, c: 1, classes: 10 },
      preset: 'cpu-14',
      distill: { syntheticSteps: 4 },
      seed: 9,
    });
    expect(p.net).toMatchObject({ h: 14, w: 14, c: 1, classes: 10, width: 8, depth: 2 });
    expect(p.distill).toMatchObject({
      ipc: 10,
      seed: 9,
      syntheticSteps: 4,
      softLabels: false,
      init: 'real',
      batchSyn: 50,
    });
    expect(p.methodTag).toBe('mtt');
    expect(p.experts).toMatchObject({ count: 3, epochs: 8, imagesPerClass: 200 });
    expect(p.iterations).toBe(60);
    const d = await plan({
      method: 'datm',
      ipc: 10,
      data: { h: 28, w: 28, c: 1, classes: 10 },
      iterations: 40,
    });
    expect(d.distill).toMatchObject({
      softLabels: true,
      sequentialGeneration: true,
      expansionEndIteration: 20,
    });
    expect(d.methodTag).toBe('datm');
  });

  it("keeps cpu-14 IPC 10's late window unless maxStartEpoch narrows it, then opens it at epoch 0", async () => {
    const base = {
      method: 'datm',
      ipc: 10,
      data: { h: 14, w: 14, c: 1, classes: 10 },
      preset: 'cpu-14',
    } as const;
    expect((await plan(base)).distill).toMatchObject({
      minStartEpoch: 2,
      maxStartEpoch: 4,
      initialMaxStartEpoch: 3,
      expertEpochs: 4,
      syntheticSteps: 128,
    });
    const narrowed = await plan({ ...base, distill: { maxStartEpoch: 2, expertEpochs: 1 } });
    expect(narrowed.distill).toMatchObject({
      minStartEpoch: 0,
      maxStartEpoch: 2,
      initialMaxStartEpoch: 2,
      sequentialGeneration: false,
    });
    const err = await plan({ ...base, distill: { minStartEpoch: 3, maxStartEpoch: 3 } }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect((err as ApplicationFailure).message).toMatch(/maxStartEpoch/);
  });

  it('rejects trajectories too short for the sampling window with a ConfigError naming the field', async () => {
    const err = await plan({
      method: 'mtt',
      ipc: 1,
      data: { h: 14, w: 14, c: 1, classes: 10 },
      experts: { epochs: 3 },
      distill: { maxStartEpoch: 4 },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect((err as ApplicationFailure).type).toBe('ConfigError');
    expect((err as ApplicationFailure).message).toContain('"experts.epochs" = 3');
  });
});
