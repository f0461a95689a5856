// Per-chunk mixtures (mixAioli's design): one run, one optimizer state and one global LR schedule,
// with the sampling mixture changing chunk by chunk. The mixture stays out of the training identity;
// every checkpoint records the mixture of each step, results do not depend on chunking or crash
// resumes, and a committed checkpoint trained on other mixtures is never silently reused.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTrainingActivities } from '../../../activities/training.js';
import { exactMixturePlan } from '../../../activities/training-data.js';
import { checkpointMeta } from '../../../activities/training-state.js';
import type { ArtifactRef } from '../../../schemas/artifact.js';
import type { TrainChunkInput, TrainChunkResult, TrainingSpecInput } from '../../../schemas/training.js';
import { ArtifactStore } from '../../../storage/artifacts.js';
import { CheckpointStore } from '../../../storage/checkpoints.js';
import { FileStore } from '../../../storage/file-store.js';
import { writeTokenTable } from '../../support/training-fixtures.js';

const quiet = { logger: { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} } };
const dir = mkdtempSync(join(tmpdir(), 'retort-chunk-mix-'));
const store = new FileStore(dir);
const act = createTrainingActivities({ artifacts: new ArtifactStore(store) });
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let windows: ArtifactRef;
beforeAll(async () => {
  windows = await writeTokenTable(
    store,
    {
      abc: { rows: 16, alphabet: 'abc' },
      pq: { rows: 16, alphabet: 'pq' },
      xyz: { rows: 16, alphabet: 'xyzw' },
    },
    16,
    9,
  );
});

const spec = (runKey: string) =>
  ({
    model: { kind: 'lm', config: { layers: 1, dModel: 16, heads: 2, mlpRatio: 2 } },
    data: { train: windows },
    optimizer: { kind: 'adamw', weightDecay: 0.1, clipNorm: 1 },
    schedule: { kind: 'rewarmedCosine', maxLr: 0.02, warmupFraction: 0.25 },
    batchSize: 8,
    totalSteps: 10,
    checkpointEvery: 2,
    seed: 4,
    runKey,
  }) as TrainingSpecInput & { runKey: string };

// Three "rounds": an exact probe mixture (4/2/2 rows), then two sampled mixtures.
const PROBE = { abc: 0.5, pq: 0.25, xyz: 0.25 };
const MAIN = { abc: 0.2, pq: 0.3, xyz: 0.5 };
const LATER = { abc: 0.6, pq: 0.2, xyz: 0.2 };
const layout = [
  { from: 0, to: 4, mixture: PROBE, exact: true },
  { from: 4, to: 7, mixture: MAIN, exact: false },
  { from: 7, to: 10, mixture: LATER, exact: false },
];

/** Runs the layout with chunks cut at `cuts` (besides the layout's own boundaries). */
async function run(runKey: string, cuts: number[] = [], mixtures = layout): Promise<TrainChunkResult> {
  const bounds = [...new Set([0, 4, 7, 10, ...cuts])].sort((a, b) => a - b);
  let from: ArtifactRef | undefined;
  let last: TrainChunkResult | undefined;
  for (let i = 0; i + 1 < bounds.length; i++) {
    const seg = mixtures.find((s) => s.from <= bounds[i]! && bounds[i]! < s.to)!;
    last = await act.trainChunk({
      spec: spec(runKey),
      fromStep: bounds[i]!,
      steps: bounds[i + 1]! - bounds[i]!,
      mixture: seg.mixture,
      exactMixture: seg.exact,
      ...(from ? { from } : {}),
    });
    from = last.checkpoint;
  }
  return last!;
}

describe('trainChunk with per-chunk mixtures', () => {
  let whole: TrainChunkResult;

  it('records the mixture history in the checkpoint, independent of chunking; nothing leaks', async () => {
    const before = tf.memory().numTensors;
    whole = await run('mix-a');
    const split = await run('mix-b', [1, 2, 5, 8]);
    expect(tf.memory().numTensors).toBe(before);
    expect(split.checkpoint.sha256).toBe(whole.checkpoint.sha256);
    const meta = checkpointMeta(
      await new CheckpointStore(store).load(whole.checkpoint),
      whole.checkpoint.uri,
    );
    expect(meta.step).toBe(10);
    expect(meta.mixtures).toEqual(layout);
    // Global step: the optimizer counted all 10 updates (its state carried across mixtures).
    expect(meta.optimizer.step).toBe(10);
  });

  it('the mixture changes the weights but not the training identity (same runKey namespace rules)', async () => {
    const other = await run(
      'mix-c',
      [],
      [
        { from: 0, to: 4, mixture: PROBE, exact: true },
        { from: 4, to: 10, mixture: MAIN, exact: false },
      ],
    );
    expect(other.checkpoint.sha256).not.toBe(whole.checkpoint.sha256);
    const a = checkpointMeta(await new CheckpointStore(store).load(whole.checkpoint), 'a');
    const b = checkpointMeta(await new CheckpointStore(store).load(other.checkpoint), 'b');
    expect(a.identity).toBe(b.identity);
  });

  it('a crash mid-chunk resumes from LATEST to the bit-identical checkpoint', async () => {
    const first = await act.trainChunk({
      spec: spec('mix-crash'),
      fromStep: 0,
      steps: 4,
      mixture: PROBE,
      exactMixture: true,
    });
    const input: TrainChunkInput = {
      spec: spec('mix-crash'),
      fromStep: 4,
      steps: 6,
      mixture: MAIN,
      from: first.checkpoint,
    };
    // Attempt 1 is cancelled after its step-6 checkpoint (checkpointEvery 2).
    const env = new MockActivityEnvironment({ attempt: 1 }, quiet);
    env.on('heartbeat', (d: { step: number; checkpointStep: number | null }) => {
      if (d.checkpointStep === 6) env.cancel('CANCELLED');
    });
    await env.run(act.trainChunk, input).catch(() => undefined);
    expect((await new CheckpointStore(store).readLatest('mix-crash'))!.step).toBeGreaterThanOrEqual(6);
    const retry = (await new MockActivityEnvironment({ attempt: 2 }, quiet).run(
      act.trainChunk,
      input,
    )) as TrainChunkResult;
    expect(retry.resumedFrom).toBeGreaterThanOrEqual(6);
    const uninterrupted = await act
      .trainChunk({ ...input, spec: spec('mix-crash-ref'), from: undefined })
      .catch((e: unknown) => e);
    // (No step-4 checkpoint under mix-crash-ref: a chunk past step 0 needs one.)
    expect((uninterrupted as ApplicationFailure).type).toBe('ConfigError');
    const ref = await run(
      'mix-crash-ref',
      [],
      [
        { from: 0, to: 4, mixture: PROBE, exact: true },
        { from: 4, to: 10, mixture: MAIN, exact: false },
      ],
    );
    expect(retry.checkpoint.sha256).toBe(ref.checkpoint.sha256);
  });

  it('a committed checkpoint trained on other mixtures is not reused: CheckpointIncompatible names both', async () => {
    const err = await run(
      'mix-a',
      [],
      [
        { from: 0, to: 4, mixture: PROBE, exact: true },
        { from: 4, to: 7, mixture: MAIN, exact: false },
        { from: 7, to: 10, mixture: MAIN, exact: false },
      ],
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect((err as ApplicationFailure).type).toBe('CheckpointIncompatible');
    expect((err as Error).message).toMatch(
      /trained on other mixtures .*\[7, 10\) .*"abc":0.6.* than this chunk asks for .*\[4, 10\)/,
    );
    // The same mixtures again: reused, nothing trained.
    const again = await run('mix-a');
    expect(again).toMatchObject({ reused: true, trainedSteps: 0, checkpoint: whole.checkpoint });
  });

  it('exact plans realise the counts in every batch and reject unrealisable ones', () => {
    const groups = [...Array(10).fill('a'), ...Array(10).fill('b'), ...Array(10).fill('c')] as string[];
    expect(() => exactMixturePlan(groups, PROBE, 8, 3, 't')).toThrow(/mixture group "abc" has no rows in t/);
    const p = exactMixturePlan(groups, { a: 0.5, b: 0.25, c: 0.25 }, 8, 3, 't');
    for (const step of [0, 1, 17]) {
      const idx = Array.from(p(step));
      expect([idx.filter((i) => i < 10).length, idx.filter((i) => i >= 10 && i < 20).length]).toEqual([4, 2]);
    }
    expect(Array.from(p(5))).toEqual(
      Array.from(exactMixturePlan(groups, { a: 0.5, b: 0.25, c: 0.25 }, 8, 3, 't')(5)),
    );
    expect(() => exactMixturePlan(groups, { a: 0.3, b: 0.7 }, 8, 3, 'file:///w.parquet')).toThrow(
      /group "a" would need 2.4000 of the batch's 8 rows/,
    );
  });

  it('evaluate can take a fixed subset of n rows per group', async () => {
    const ev = await act.evaluate({ checkpoint: whole.checkpoint, data: windows, maxRowsPerGroup: 5 });
    expect(Object.fromEntries(Object.entries(ev.groups).map(([g, m]) => [g, m.count]))).toEqual({
      abc: 5,
      pq: 5,
      xyz: 5,
    });
  });
});
