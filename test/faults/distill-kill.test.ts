// A distillTrajectory run whose compute worker PROCESS is SIGKILLed in the middle of a distillChunk
// resumes on a fresh worker from the chunk's LATEST checkpoint and completes with the same final
// checkpoint (sha256) and the same distilled set as an uninterrupted run of the same inputs.
import { randomUUID } from 'node:crypto';
import type { Client, Connection } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createImageActivities } from '../../activities/images.js';
import type {
  DistillChunkResult,
  DistillProgress,
  DistillTrajectoryInput,
  DistillTrajectoryResult,
  DistillationPlan,
  TrainExpertsResult,
} from '../../schemas/trajectory-matching.js';
import type { IngestImagesResult } from '../../schemas/images.js';
import { ArtifactStore, manifestKey } from '../../storage/artifacts.js';
import { CheckpointStore } from '../../storage/checkpoints.js';
import type { FileStore } from '../../storage/file-store.js';
import { connectClient, startWorkers, tempFileStore, uniqueQueue } from '../support/temporal.js';
import { computeWorkerPool } from '../support/worker-process.js';

const ITERATIONS = 16;
const CHUNK = 8;
const EVERY = 2;

let client: Client;
let connection: Connection;
let store: FileStore;
let images: IngestImagesResult;
let plan: DistillationPlan;
const taskQueue = uniqueQueue('distill-kill');
const workers = computeWorkerPool(inject('temporalAddress'), taskQueue, () => store.root);

beforeAll(async () => {
  ({ client, connection } = await connectClient());
  store = tempFileStore('distill-kill');
  const io = createImageActivities({ artifacts: new ArtifactStore(store) });
  images = await io.ingestImages({
    source: { builtin: 'mnist', trainPerClass: 30, testCount: 100, downsample: 2 },
    seed: 5,
  });
  plan = await io.planDistillation({
    method: 'mtt',
    ipc: 10,
    data: { h: images.h, w: images.w, c: images.c, classes: images.classes },
    preset: 'cpu-14',
    net: { width: 8, depth: 2 },
    experts: { count: 2, epochs: 2, imagesPerClass: 30, batch: 32 },
    distill: { syntheticSteps: 5, batchSyn: 50, expertEpochs: 1, maxStartEpoch: 2 },
    iterations: ITERATIONS,
    seed: 5,
  });
});
afterAll(async () => {
  // Every process this file started, by its own group id.
  await workers.killAll();
  await connection?.close();
});

const computeWorker = (identity: string) => workers.spawn(identity);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('kill a compute worker mid-distillChunk (SIGKILL)', () => {
  it('a new worker resumes from LATEST and the distillation ends as an uninterrupted run would', async () => {
    const { runUntil } = await startWorkers(store, taskQueue, 'retort');
    await runUntil(async () => {
      const checkpoints = new CheckpointStore(store);
      let worker = await computeWorker('compute-A');
      const experts = (await client.workflow.execute('trainExperts', {
        taskQueue,
        workflowId: `experts-${randomUUID()}`,
        args: [
          {
            train: images.train,
            test: images.test,
            net: plan.net,
            experts: plan.experts,
            seed: 5,
            profile: 'test',
          },
        ],
      })) as TrainExpertsResult;
      expect(experts.trajectories).toHaveLength(2);

      const input = (runKey: string): DistillTrajectoryInput => ({
        config: plan.distill,
        trajectories: experts.trajectories,
        train: images.train,
        iterations: ITERATIONS,
        chunkIterations: CHUNK,
        checkpointEvery: EVERY,
        runKey,
        profile: 'test',
      });

      // 1. The uninterrupted reference run.
      const reference = (await client.workflow.execute('distillTrajectory', {
        taskQueue,
        workflowId: `distill-reference-${randomUUID()}`,
        args: [input(`ref-${randomUUID().slice(0, 8)}`)],
      })) as DistillTrajectoryResult;
      expect(reference.iterations).toBe(ITERATIONS);
      expect(reference.chunks).toBe(ITERATIONS / CHUNK);
      expect(reference.retriedChunks).toBe(0);

      // 2. The victim: wait for a checkpoint inside the second chunk, then SIGKILL the worker.
      const victimKey = `victim-${randomUUID().slice(0, 8)}`;
      const workflowId = `distill-victim-${randomUUID()}`;
      const handle = await client.workflow.start('distillTrajectory', {
        taskQueue,
        workflowId,
        args: [input(victimKey)],
      });
      for (const deadline = Date.now() + 120_000; ;) {
        const step = (await checkpoints.readLatest(victimKey))?.step ?? 0;
        if (step > CHUNK && step % CHUNK !== 0) break;
        if (Date.now() > deadline)
          throw new Error(`victim never reached a mid-chunk checkpoint (LATEST ${step})\n${worker.output()}`);
        await sleep(20);
      }
      await worker.kill('SIGKILL');
      const killedAt = (await checkpoints.readLatest(victimKey))!;
      expect(killedAt.step).toBeGreaterThan(CHUNK);
      expect(killedAt.step).toBeLessThan(2 * CHUNK);
      const progress = (await handle.query('progress')) as DistillProgress;
      expect(progress.stage).toBe('distill');
      expect(progress.total).toBe(ITERATIONS);
      expect(progress.iteration).toBe(CHUNK); // the workflow has seen only the first chunk
      expect(progress.lastLoss).toBeGreaterThan(0);
      expect(progress.samplingRange).toEqual({ min: 0, upperBound: 2 });

      // 3. A fresh worker process finishes the run.
      worker = await computeWorker('compute-B');
      const victim = (await handle.result()) as DistillTrajectoryResult;
      expect(victim.iterations).toBe(ITERATIONS);
      expect(victim.retriedChunks).toBe(1);
      // Same bytes as the uninterrupted run, though chunk 2 was cut and resumed on another worker.
      expect(victim.checkpoint.uri).not.toBe(reference.checkpoint.uri);
      expect(victim.checkpoint.sha256).toBe(reference.checkpoint.sha256);
      expect(victim.distilled.sha256).toBe(reference.distilled.sha256);
      expect(victim.log.sha256).toBe(reference.log.sha256);
      expect(victim.synLr).toBe(reference.synLr);

      // The interrupted chunk resumed from the LATEST recorded at the kill, not from its start.
      const history = await handle.fetchHistory();
      const retried = (history.events ?? []).filter(
        (e) => (e.activityTaskStartedEventAttributes?.attempt ?? 1) > 1,
      );
      expect(retried).toHaveLength(1);
      expect(retried[0]!.activityTaskStartedEventAttributes!.identity).toBe('compute-B');
      const completed = (history.events ?? []).find(
        (e) =>
          Number(e.activityTaskCompletedEventAttributes?.startedEventId ?? -1) ===
          Number(retried[0]!.eventId),
      );
      const chunk = defaultPayloadConverter.fromPayload<DistillChunkResult>(
        completed!.activityTaskCompletedEventAttributes!.result!.payloads![0]!,
      );
      expect(chunk.resumedFrom).toBe(killedAt.step);
      expect(chunk.iteration).toBe(2 * CHUNK);
      expect(chunk.trainedIterations).toBe(2 * CHUNK - killedAt.step);
      expect(chunk.log.map((r) => r.iteration)).toEqual(Array.from({ length: CHUNK }, (_x, i) => CHUNK + i));
      expect(await checkpoints.readLatest(victimKey)).toEqual({
        step: ITERATIONS,
        checkpoint: victim.checkpoint,
      });
      expect(await store.head(manifestKey(workflowId))).toBeDefined();
      expect(await store.pendingTempFiles()).toEqual([]);
      await worker.stop();
    });
  });
});
