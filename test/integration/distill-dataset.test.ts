// distillDataset end to end on the real dev server, real MNIST digits (14×14), real Parquet and tfjs:
// ingest → 2 experts × 2 epochs (parallel activities) → DATM distillation in resumable chunks →
// students on the distilled set and on a random real subset → report (accuracy table, PNG grid, loss
// curve SVG) → manifest. The same input and seed on a second, separate store gives the same hashes.
import { randomUUID } from 'node:crypto';
import type { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ArtifactRef } from '../../schemas/artifact.js';
import { DISTILL_LOG, EVAL_RESULTS } from '../../schemas/trajectory-matching.js';
import { type DistillDatasetInput, type TrajectoryDistillResult } from '../../schemas/distill.js';
import { DISTILLED_IMAGES, IMAGES, TRAJECTORIES } from '../../schemas/tables.js';
import { fixedSizeListValues } from '../../storage/arrow-tables.js';
import { ArtifactStore } from '../../storage/artifacts.js';
import { findManifestKey } from '../../storage/run-keys.js';
import type { FileStore } from '../../storage/file-store.js';
import { decodeValidated } from '../../storage/parquet.js';
import { connectClient, startWorkers, tempFileStore, uniqueQueue } from '../support/temporal.js';

let client: Client;
let connection: Connection;
beforeAll(async () => ({ client, connection } = await connectClient()));
afterAll(async () => connection?.close());

const ITERATIONS = 4;
const input: DistillDatasetInput = {
  dataset: 'mnist-tiny',
  source: { builtin: 'mnist', trainPerClass: 24, testCount: 200, downsample: 2 },
  method: 'datm',
  ipc: 1,
  preset: 'cpu-14',
  net: { width: 4, depth: 2 },
  experts: { count: 2, epochs: 2, imagesPerClass: 24, batch: 32 },
  // DATM soft labels from expert logits; 'real' init, so no class depends on what 2 weak experts get right.
  distill: { syntheticSteps: 3, expertEpochs: 1, maxStartEpoch: 2, init: 'real', updateThreshold: 10 },
  iterations: ITERATIONS,
  chunkIterations: 2,
  checkpointEvery: 1,
  evaluation: { students: 2, steps: 15 },
  seed: 3,
  profile: 'test',
};

async function run(
  store: FileStore,
): Promise<{ result: TrajectoryDistillResult; progress: Record<string, unknown>; workflowId: string }> {
  const taskQueue = uniqueQueue('distill');
  const { runUntil } = await startWorkers(store, taskQueue, 'all');
  return runUntil(async () => {
    const workflowId = `distill-${randomUUID()}`;
    const handle = await client.workflow.start('distillDataset', { taskQueue, workflowId, args: [input] });
    const result = (await handle.result()) as TrajectoryDistillResult;
    const progress = (await handle.query('progress')) as Record<string, unknown>;
    return { result, progress, workflowId };
  });
}

const hashes = (r: TrajectoryDistillResult) => ({
  train: r.images.train.sha256,
  test: r.images.test.sha256,
  trajectories: r.trajectories.map((t) => t.sha256),
  distilled: r.distilled.sha256,
  log: r.log.sha256,
  evalResults: r.report.evalResults.sha256,
  images: r.report.images.sha256,
  lossCurve: r.report.lossCurve.sha256,
  accuracy: r.accuracy,
});

describe('distillDataset (tiny MNIST, DATM, IPC 1)', () => {
  let first: Awaited<ReturnType<typeof run>>;
  const storeA = tempFileStore('distill-a');

  it('runs ingest → experts → distill → evaluate → report → manifest', async () => {
    first = await run(storeA);
    const { result: r, progress } = first;
    expect(progress.stage).toBe('done');
    expect(r.method).toBe('datm');
    expect(r.trajectories).toHaveLength(2);
    expect(r.accuracy.map((a) => a.method)).toEqual(['datm', 'random_real']);
    for (const a of r.accuracy) {
      expect(a.values).toHaveLength(2);
      expect(a.mean).toBeGreaterThan(0.1); // above chance (10 classes) even at this size
      expect(a.mean).toBeLessThanOrEqual(1);
      expect(a.std).toBeGreaterThanOrEqual(0);
      // The default protocol (ml/eval) reports every student's final training loss; steps caps it.
      expect(a.finalTrainLoss!.max).toBeGreaterThanOrEqual(a.finalTrainLoss!.mean);
      expect(a.steps).toBeLessThanOrEqual(15);
    }
    expect(r.synLr).toBeGreaterThan(0);
    expect(await findManifestKey(storeA, first.workflowId)).toBeDefined();
    expect(await storeA.pendingTempFiles()).toEqual([]);
  });

  it('writes readable artifacts that satisfy their contracts', async () => {
    const { result: r } = first;
    const art = new ArtifactStore(storeA);
    const table = async (
      ref: ArtifactRef,
      contract: Parameters<typeof decodeValidated>[2],
      sizes?: Record<string, number>,
    ) => decodeValidated(await art.read(ref), ref.uri, contract, sizes ? { sizes } : {});

    const train = await table(r.images.train, IMAGES, { pixels: 196 });
    expect(train.numRows).toBe(240);
    expect(train.schema.metadata.get('h')).toBe('14');
    expect((await table(r.images.test, IMAGES)).numRows).toBe(200);

    for (const [k, ref] of r.trajectories.entries()) {
      const t = await table(ref, TRAJECTORIES);
      expect(t.numRows).toBe(3); // epochs 0..2
      expect(Array.from(t.getChild('expert')!.toArray() as Int32Array)).toEqual([k, k, k]);
      expect(JSON.parse(t.schema.metadata.get('retort.arch')!).width).toBe(4);
    }
    expect(r.trajectories[0]!.sha256).not.toBe(r.trajectories[1]!.sha256);

    const distilled = await table(r.distilled, DISTILLED_IMAGES, { pixels: 196, soft_label: 10 });
    expect(distilled.numRows).toBe(10);
    expect(Array.from(distilled.getChild('label')!.toArray() as Int32Array)).toEqual([
      0, 1, 2, 3, 4, 5, 6, 7, 8, 9,
    ]);
    expect(distilled.schema.metadata.get('label_kind')).toBe('soft');
    expect(distilled.schema.metadata.get('retort.method')).toBe('datm');
    expect(Number(distilled.schema.metadata.get('retort.syn_lr'))).toBeCloseTo(r.synLr, 6);
    expect(fixedSizeListValues<Float32Array>(distilled, 'pixels').flat.every(Number.isFinite)).toBe(true);

    const log = await table(r.log, DISTILL_LOG);
    expect(Array.from(log.getChild('iteration')!.toArray() as Int32Array)).toEqual([0, 1, 2, 3]);
    for (const l of log.getChild('loss')!.toArray() as Float64Array) expect(l).toBeGreaterThan(0);

    const evalResults = await table(r.report.evalResults, EVAL_RESULTS);
    expect(evalResults.numRows).toBe(4);

    const png = await art.read(r.report.images);
    expect(Array.from(png.subarray(0, 8))).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    const svg = new TextDecoder().decode(await art.read(r.report.lossCurve));
    expect(svg).toMatch(/^<svg[\s\S]*<polyline[\s\S]*<\/svg>$/);
    const accuracy = JSON.parse(new TextDecoder().decode(await art.read(r.report.accuracy))) as {
      rows: unknown[];
      markdown: string;
    };
    expect(accuracy.rows).toEqual(r.accuracy);
    expect(accuracy.markdown).toContain('| random_real | 1 |');
  });

  it('the same input and seed on a fresh store gives the same hashes', async () => {
    const second = await run(tempFileStore('distill-b'));
    expect(hashes(second.result)).toEqual(hashes(first.result));
  });
});
