// `retort schedule` + curateCorpus against the real dev server: a trigger-only schedule created by the
// CLI runs twice; the second run ingests the newer partition and continues (re-warmed) from the first
// run's checkpoint — read from the two runs' manifests; `schedule delete` removes it.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadBuiltin } from '../../activities/text-corpus.js';
import type { RunManifest } from '../../activities/manifest.js';
import type { ArtifactRef } from '../../schemas/artifact.js';
import type { CurvePoint } from '../../schemas/rewarm.js';
import type { CurateCorpusInput, CurateCorpusResult } from '../../schemas/curate.js';
import { RetortDataset, RetortHeadline } from '../../schemas/temporal.js';
import { findManifestKey } from '../../storage/run-keys.js';
import type { FileStore } from '../../storage/file-store.js';
import { TINY_CURATE } from '../support/training-fixtures.js';
import { retortCli, startWorkers, tempFileStore, uniqueQueue } from '../support/temporal.js';

const retort = (args: string[]) => retortCli(args);

interface Outputs {
  generation: number;
  partition: string;
  partitions: string[];
  previousRun: string | null;
  previousPartition: string | null;
  startedFrom: ArtifactRef | null;
  checkpoint: ArtifactRef;
  training: { workflow: string; curve?: CurvePoint[] };
  evaluation: { downstream: Record<string, number>; upstream: Record<string, number> | null };
}

/** A JSONL partition of real text: `docs` documents per group, starting at document `from`. */
function writePartition(dir: string, name: string, from: number, docs: number) {
  const rows = ['novel', 'speeches'].flatMap((g) =>
    loadBuiltin([g])
      .slice(from, from + docs)
      .map((r) => ({ id: r.id, group: r.group, text: r.text.slice(0, 6000) })),
  );
  mkdirSync(join(dir, name), { recursive: true });
  writeFileSync(join(dir, name, 'part-0.jsonl'), rows.map((r) => JSON.stringify(r)).join('\n'));
}

describe('retort schedule → curateCorpus', () => {
  let store: FileStore;
  let lastCheckpoint: ArtifactRef | undefined;
  beforeAll(() => {
    store = tempFileStore('curate-schedule');
  });

  it('two triggered runs: the second takes the newer partition and the first run checkpoint', async () => {
    const corpus = join(store.dir, 'corpus');
    writePartition(corpus, '2026-11-01', 10, 3);
    const taskQueue = uniqueQueue('curate');
    const scheduleId = `curate-${taskQueue}`;
    const input: CurateCorpusInput = {
      dataset: 'sched',
      lineage: `lineage-${taskQueue}`,
      source: { partitions: `${store.root}/corpus` },
      ...TINY_CURATE,
    };
    const file = join(store.dir, 'curate-corpus.json');
    writeFileSync(file, JSON.stringify(input));

    const { runUntil } = await startWorkers(store, taskQueue, 'all');
    const { first, second, listed, afterDelete } = await runUntil(async () => {
      await retort(['schedule', 'create', scheduleId, file, '--task-queue', taskQueue, '--json']);
      const trigger = async () =>
        JSON.parse((await retort(['schedule', 'trigger', scheduleId, '--wait', '--json'])).stdout) as {
          workflowId: string;
          status: string;
          error?: string;
        };
      const first = await trigger();
      writePartition(corpus, '2026-11-02', 20, 3); // new data arrives
      const second = await trigger();
      const listed = JSON.parse((await retort(['schedule', 'list', '--json'])).stdout) as {
        scheduleId: string;
      }[];
      await retort(['schedule', 'delete', scheduleId]);
      // Visibility is eventually consistent: give the list a few seconds to drop the schedule.
      let afterDelete: { scheduleId: string }[] = [];
      for (let i = 0; i < 20; i++) {
        afterDelete = JSON.parse((await retort(['schedule', 'list', '--json'])).stdout) as {
          scheduleId: string;
        }[];
        if (!afterDelete.some((s) => s.scheduleId === scheduleId)) break;
        await new Promise((r) => setTimeout(r, 500));
      }
      return { first, second, listed, afterDelete };
    });

    expect(first).toMatchObject({ status: 'COMPLETED' });
    expect(second).toMatchObject({ status: 'COMPLETED' });
    expect(first.workflowId).toMatch(new RegExp(`^schedule-${scheduleId}-`));
    expect(second.workflowId).not.toBe(first.workflowId);
    // A scheduled run says in the Web UI what started it and with which settings.
    const { connectClient } = await import('../support/temporal.js');
    const { client, connection } = await connectClient();
    try {
      const d = await client.workflow.getHandle(first.workflowId).describe();
      expect(await d.staticSummary()).toBe(`curateCorpus on schedule ${scheduleId}`);
      expect(await d.staticDetails()).toContain(`**curateCorpus** started by schedule \`${scheduleId}\`.`);
      expect(await d.staticDetails()).toContain('- `dataset`: sched');
    } finally {
      await connection.close();
    }
    const manifest = async (id: string) =>
      JSON.parse(
        new TextDecoder().decode(await store.get((await findManifestKey(store, id))!)),
      ) as RunManifest & {
        outputs: Outputs;
      };
    const m1 = await manifest(first.workflowId);
    const m2 = await manifest(second.workflowId);

    // Run 1: the only partition, no previous checkpoint: trained from scratch.
    expect(m1.outputs).toMatchObject({
      generation: 1,
      partition: '2026-11-01',
      previousRun: null,
      startedFrom: null,
    });
    expect(m1.outputs.training.workflow).toBe('trainModel');
    // Run 2: the newer partition, continued from run 1's checkpoint by continualPretrain.
    expect(m2.outputs).toMatchObject({
      generation: 2,
      partition: '2026-11-02',
      partitions: ['2026-11-01', '2026-11-02'],
      previousRun: first.workflowId,
      previousPartition: '2026-11-01',
    });
    expect(m2.outputs.startedFrom).toEqual(m1.outputs.checkpoint);
    expect(m2.outputs.checkpoint.sha256).not.toBe(m1.outputs.checkpoint.sha256);
    expect(m2.outputs.training.workflow).toBe('continualPretrain');
    // Curves on both validation sets at step 0 (the inherited checkpoint) and at each chunk end.
    expect(m2.outputs.training.curve!.map((p) => p.step)).toEqual([0, 2, 4]);
    for (const p of m2.outputs.training.curve!) {
      expect(Number.isFinite(p.upstream) && Number.isFinite(p.downstream)).toBe(true);
    }
    expect(Object.keys(m2.outputs.evaluation.downstream).sort()).toEqual(['novel', 'speeches']);
    expect(m2.outputs.evaluation.upstream).not.toBeNull();

    expect(listed.some((s) => s.scheduleId === scheduleId)).toBe(true);
    expect(afterDelete.some((s) => s.scheduleId === scheduleId)).toBe(false);
    lastCheckpoint = m2.outputs.checkpoint;
  });

  it('mixing "aioli": the training stage is a mixAioli child continuing the given checkpoint', async () => {
    expect(lastCheckpoint).toBeDefined();
    const taskQueue = uniqueQueue('curate-aioli');
    const input: CurateCorpusInput = {
      dataset: 'sched-aioli',
      lineage: `aioli-${taskQueue}`,
      source: { partitions: `${store.root}/corpus` },
      ingest: { maxBytesPerGroup: 20_000, passageBytes: 512, split: { val: 0.2, test: 0.1 }, ctx: 32 },
      init: lastCheckpoint!,
      mixing: {
        kind: 'aioli',
        aioli: { roundSteps: 4, sweeps: 1, stepsPerInterval: 1, eta: 1 },
        valRowsPerGroup: 4,
      },
      schedule: { kind: 'rewarmedCosine', maxLr: 3e-3, warmupFraction: 0.25 },
      totalSteps: 8,
      chunkSteps: 4,
      batchSize: 8, // the smallest batch that realises LearnParams' 0.625/0.375 probe mixture
      profile: 'test',
    };
    const { connectClient } = await import('../support/temporal.js');
    const { client, connection } = await connectClient();
    const { runUntil } = await startWorkers(store, taskQueue, 'all');
    const workflowId = `curate-aioli-${taskQueue}`;
    const { result, childType, childSummary, childDataset, headline } = await runUntil(async () => {
      const result = await client.workflow.execute('curateCorpus', { taskQueue, workflowId, args: [input] });
      const child = await client.workflow.getHandle(`${workflowId}/train`).describe();
      const run = await client.workflow.getHandle(workflowId).describe();
      return {
        result,
        childType: child.type,
        // The Web UI's view of the child: its summary, and the user's dataset name (not its run key).
        childSummary: await child.staticSummary(),
        childDataset: child.typedSearchAttributes.get(RetortDataset),
        headline: run.typedSearchAttributes.get(RetortHeadline),
      };
    });
    expect(childSummary).toBe('mixAioli · Aioli-mixed training');
    expect(childDataset).toBe('sched-aioli');
    // The run's headline: mean validation loss per group on this partition.
    const losses = Object.values((result as CurateCorpusResult).evaluation.downstream);
    expect(headline).toBeCloseTo(losses.reduce((a, b) => a + b, 0) / losses.length, 9);
    await connection.close();
    expect(childType).toBe('mixAioli');
    const m = JSON.parse(
      new TextDecoder().decode(await store.get((await findManifestKey(store, workflowId))!)),
    ) as RunManifest & {
      outputs: Outputs & { training: { workflow: string; proportions: Record<string, number> } };
    };
    expect(result).toMatchObject({ generation: 1, partition: '2026-11-02' });
    expect(m.outputs.startedFrom).toEqual(lastCheckpoint);
    expect(m.outputs.training.workflow).toBe('mixAioli');
    const p = m.outputs.training.proportions;
    expect(Object.keys(p).sort()).toEqual(['novel', 'speeches']);
    expect(p.novel! + p.speeches!).toBeCloseTo(1, 9);
  });

  it('with "selection": GOT-D picks training rows from the partition (selectWarmup child), then continues', async () => {
    expect(lastCheckpoint).toBeDefined();
    const taskQueue = uniqueQueue('curate-select');
    const input: CurateCorpusInput = {
      dataset: 'sched-select',
      lineage: `select-${taskQueue}`,
      source: { partitions: `${store.root}/corpus` },
      ingest: { maxBytesPerGroup: 20_000, passageBytes: 512, split: { val: 0.2, test: 0.1 }, ctx: 32 },
      selection: {
        target: { builtin: ['novel'], split: 'val', maxBytesPerGroup: 8000, passageBytes: 512 },
        budget: { fraction: 0.5 },
      },
      init: lastCheckpoint!,
      schedule: { kind: 'rewarmedCosine', maxLr: 3e-3, warmupFraction: 0.25 },
      totalSteps: 2,
      chunkSteps: 2,
      batchSize: 4,
      profile: 'test',
    };
    const { connectClient } = await import('../support/temporal.js');
    const { client, connection } = await connectClient();
    const { runUntil } = await startWorkers(store, taskQueue, 'all');
    const workflowId = `curate-select-${taskQueue}`;
    const childType = await runUntil(async () => {
      await client.workflow.execute('curateCorpus', { taskQueue, workflowId, args: [input] });
      return (await client.workflow.getHandle(`${workflowId}/select`).describe()).type;
    });
    await connection.close();
    expect(childType).toBe('selectWarmup');
    const m = JSON.parse(
      new TextDecoder().decode(await store.get((await findManifestKey(store, workflowId))!)),
    ) as RunManifest & {
      outputs: Outputs & { selection: ArtifactRef | null };
    };
    expect(m.outputs.selection).not.toBeNull();
    expect(m.outputs.selection!.rows).toBeGreaterThan(0);
    expect(m.outputs.training.workflow).toBe('continualPretrain');
    expect(m.outputs.startedFrom).toEqual(lastCheckpoint);
  });
});
