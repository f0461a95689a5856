// trainChunk / evaluate without a server: results independent of chunking and of interruptions,
// resumption from LATEST, cancellation checkpoints first, memoized chunks, typed non-retryable errors,
// mixtures deterministic by (seed, step), and no leaked tensors.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTrainingActivities } from '../../../activities/training.js';
import { mixturePlan } from '../../../activities/training-data.js';
import type { ArtifactRef } from '../../../schemas/artifact.js';
import type { TrainChunkResult, TrainingSpecInput } from '../../../schemas/training.js';
import { ArtifactStore } from '../../../storage/artifacts.js';
import { CheckpointStore } from '../../../storage/checkpoints.js';
import { FileStore } from '../../../storage/file-store.js';
import { writeImageTable, writeTokenTable } from '../../support/training-fixtures.js';

/** MockActivityEnvironment without log output (cancellations are expected here). */
const quiet = { logger: { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} } };

const dir = mkdtempSync(join(tmpdir(), 'retort-train-'));
const store = new FileStore(dir);
const act = createTrainingActivities({ artifacts: new ArtifactStore(store) });
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let images: ArtifactRef;
let windows: ArtifactRef;
beforeAll(async () => {
  images = await writeImageTable(store, { n: 96, side: 8, seed: 3 });
  windows = await writeTokenTable(
    store,
    { abc: { rows: 24, alphabet: 'abc' }, xyz: { rows: 24, alphabet: 'xyzw' } },
    16,
    5,
  );
});

const convSpec = (runKey: string, extra: Partial<TrainingSpecInput> = {}) =>
  ({
    model: { kind: 'convnet', config: { classes: 4, width: 4, depth: 2 } },
    data: { train: images },
    optimizer: { kind: 'sgd', momentum: 0.9, weightDecay: 5e-4 },
    schedule: { kind: 'rewarmedCosine', maxLr: 0.05, warmupFraction: 0.2 },
    batchSize: 16,
    totalSteps: 12,
    checkpointEvery: 3,
    seed: 11,
    runKey,
    ...extra,
  }) as TrainingSpecInput & { runKey: string };

async function runChunks(
  runKey: string,
  bounds: number[],
  extra: Partial<TrainingSpecInput> = {},
): Promise<TrainChunkResult[]> {
  const spec = convSpec(runKey, extra);
  const results: TrainChunkResult[] = [];
  let from: ArtifactRef | undefined;
  for (let i = 0; i + 1 < bounds.length; i++) {
    const r = await act.trainChunk({
      spec,
      fromStep: bounds[i]!,
      steps: bounds[i + 1]! - bounds[i]!,
      ...(from ? { from } : {}),
    });
    results.push(r);
    from = r.checkpoint;
  }
  return results;
}

describe('trainChunk', () => {
  let whole: TrainChunkResult;

  it('the final checkpoint does not depend on chunk boundaries (sha256 equal), and nothing leaks', async () => {
    const before = tf.memory().numTensors;
    whole = (await runChunks('one-chunk', [0, 12]))[0]!;
    const split = await runChunks('three-chunks', [0, 5, 6, 12]);
    expect(tf.memory().numTensors).toBe(before);
    expect(whole.step).toBe(12);
    expect(whole.trainedSteps).toBe(12);
    expect(split.at(-1)!.checkpoint.sha256).toBe(whole.checkpoint.sha256);
    expect(split.at(-1)!.checkpoint.uri).not.toBe(whole.checkpoint.uri);
    expect(whole.losses.count).toBe(12);
    expect(whole.losses.last).toBeLessThan(whole.losses.first);
    // LATEST points at the final checkpoint; intermediate ones exist every 3 steps.
    const ckpts = new CheckpointStore(store);
    expect(await ckpts.readLatest('one-chunk')).toEqual({ step: 12, checkpoint: whole.checkpoint });
    for (const s of [3, 6, 9]) expect(await ckpts.find('one-chunk', s)).toBeDefined();
    expect(await store.pendingTempFiles()).toEqual([]);
  });

  it('a chunk whose checkpoint is committed returns it without training', async () => {
    const [again] = await runChunks('one-chunk', [0, 12]);
    expect(again).toMatchObject({
      reused: true,
      trainedSteps: 0,
      checkpoint: whole.checkpoint,
      losses: whole.losses,
    });
  });

  it('cancellation checkpoints first; the retry resumes from LATEST and ends bit-identical', async () => {
    const spec = convSpec('cancelled');
    const env = new MockActivityEnvironment({ attempt: 1 }, quiet);
    let cancelledAt = -1;
    env.on('heartbeat', (d: { step: number }) => {
      // Heartbeats come every 2 s or at checkpoints; cancel at the first one past step 3.
      if (d.step > 3 && cancelledAt < 0) {
        cancelledAt = d.step;
        env.cancel('CANCELLED');
      }
    });
    const err = await env.run(act.trainChunk, { spec, fromStep: 0, steps: 12 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CancelledFailure);
    const latest = await new CheckpointStore(store).readLatest('cancelled');
    expect(latest!.step).toBeGreaterThanOrEqual(cancelledAt);
    expect(latest!.step).toBeLessThan(12);

    const retry = new MockActivityEnvironment({ attempt: 2 }, quiet);
    const r = (await retry.run(act.trainChunk, { spec, fromStep: 0, steps: 12 })) as TrainChunkResult;
    expect(r).toMatchObject({
      resumedFrom: latest!.step,
      attempt: 2,
      trainedSteps: 12 - latest!.step,
      reused: false,
    });
    expect(r.checkpoint.sha256).toBe(whole.checkpoint.sha256);
    expect(r.losses).toEqual(whole.losses);
  });

  it('worker shutdown → checkpoint, then a retryable WorkerShutdown failure', async () => {
    const env = new MockActivityEnvironment({}, quiet);
    env.on('heartbeat', (d: { step: number }) => {
      if (d.step >= 3) env.cancel('WORKER_SHUTDOWN', { workerShutdown: true } as never);
    });
    const err = await env
      .run(act.trainChunk, { spec: convSpec('shutdown'), fromStep: 0, steps: 12 })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect(err).toMatchObject({ type: 'WorkerShutdown', nonRetryable: false });
    expect((await new CheckpointStore(store).readLatest('shutdown'))!.step).toBeGreaterThanOrEqual(3);
  });

  it('a runKey reused with another spec → CheckpointIncompatible', async () => {
    const err = await act
      .trainChunk({ spec: convSpec('one-chunk', { seed: 12 }), fromStep: 0, steps: 12 })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ type: 'CheckpointIncompatible', nonRetryable: true });
    expect((err as Error).message).toMatch(/checkpoints\/one-chunk was reused with a different spec/);
  });

  it('NaN pixels → non-retryable NonFiniteValues naming the column, row and file', async () => {
    const bad = await writeImageTable(store, { n: 32, side: 8, seed: 1, poison: { row: 7, value: NaN } });
    const err = await act
      .trainChunk({ spec: convSpec('nan', { data: { train: bad } }), fromStep: 0, steps: 2 })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ type: 'NonFiniteValues', nonRetryable: true });
    expect((err as Error).message).toContain(
      `Parquet column "pixels" in ${bad.uri}: value NaN at row 7 (id "img-7")`,
    );
  });

  it("labels outside the model's classes → ConfigError naming the file", async () => {
    const err = await act
      .trainChunk({
        spec: convSpec('classes', { model: { kind: 'convnet', config: { classes: 2, width: 4, depth: 2 } } }),
        fromStep: 0,
        steps: 1,
      })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ type: 'ConfigError' });
    expect((err as Error).message).toMatch(/column "label" in file:\/\/.*is outside \[0, 2\)/);
  });

  it('evaluate reports loss and accuracy overall and per class', async () => {
    const before = tf.memory().numTensors;
    const r = await act.evaluate({ checkpoint: whole.checkpoint, data: images, batchSize: 40 });
    expect(tf.memory().numTensors).toBe(before);
    expect(r.model).toBe('convnet');
    expect(r.step).toBe(12);
    expect(Object.keys(r.groups)).toEqual(['0', '1', '2', '3']);
    expect(Object.values(r.groups).reduce((n, g) => n + g.count, 0)).toBe(96);
    expect(r.overall.count).toBe(96);
    expect(r.overall.accuracy).toBeGreaterThan(0.25);
    expect(r.overall.loss).toBeGreaterThan(0);
  });
});

describe('LM with a group mixture', () => {
  const lmSpec = (runKey: string, mixture: Record<string, number>) =>
    ({
      model: { kind: 'lm', config: { layers: 1, dModel: 16, heads: 2, mlpRatio: 2 } },
      data: { train: windows, mixture },
      optimizer: { kind: 'adamw', weightDecay: 0.1, decayMatricesOnly: true, clipNorm: 1 },
      schedule: { kind: 'constant', lr: 0.01 },
      batchSize: 8,
      totalSteps: 6,
      seed: 2,
      runKey,
    }) as TrainingSpecInput & { runKey: string };

  it('mixture plans are a pure function of (seed, step) and follow the weights', () => {
    const groups = [...Array(50).fill('a'), ...Array(50).fill('b')] as string[];
    const p1 = mixturePlan(groups, { a: 0.9, b: 0.1 }, 1000, 7, 't');
    const p2 = mixturePlan(groups, { a: 0.9, b: 0.1 }, 1000, 7, 't');
    expect(p1(5)).toEqual(p2(5));
    expect(p1(5)).not.toEqual(p1(6));
    const fromA = Array.from(p1(5)).filter((i) => i < 50).length;
    expect(fromA).toBeGreaterThan(850);
    expect(fromA).toBeLessThan(950);
    expect(() => mixturePlan(groups, { c: 1 }, 4, 7, 'file:///t.parquet')).toThrow(
      /mixture group "c" has no rows in file:\/\/\/t.parquet/,
    );
  });

  it('trains in chunks identically, and evaluate reports per-group loss', async () => {
    const one = await act.trainChunk({ spec: lmSpec('lm-one', { abc: 1, xyz: 1 }), fromStep: 0, steps: 6 });
    const a = await act.trainChunk({ spec: lmSpec('lm-two', { abc: 1, xyz: 1 }), fromStep: 0, steps: 2 });
    const b = await act.trainChunk({
      spec: lmSpec('lm-two', { abc: 1, xyz: 1 }),
      fromStep: 2,
      steps: 4,
      from: a.checkpoint,
    });
    expect(b.checkpoint.sha256).toBe(one.checkpoint.sha256);
    const onlyAbc = await act.trainChunk({ spec: lmSpec('lm-abc', { abc: 1 }), fromStep: 0, steps: 6 });
    expect(onlyAbc.checkpoint.sha256).not.toBe(one.checkpoint.sha256);
    const ev = await act.evaluate({ checkpoint: onlyAbc.checkpoint, data: windows });
    expect(ev.model).toBe('lm');
    expect(Object.keys(ev.groups)).toEqual(['abc', 'xyz']);
    expect(ev.groups.abc!.count).toBe(24);
    // Trained on "abc" only: that group's loss is the lower one.
    expect(ev.groups.abc!.loss).toBeLessThan(ev.groups.xyz!.loss);
    expect(ev.groups.abc!.accuracy).toBeUndefined();
  });
});
