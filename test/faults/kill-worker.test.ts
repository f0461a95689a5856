// specs/temporal.md §f.1 on the real dev server: a compute worker PROCESS is SIGKILLed in the middle
// of a multi-chunk trainModel run; a fresh worker process finishes it from the LATEST checkpoint, and
// the final checkpoint is byte-identical (sha256) to an uninterrupted run of the same spec and seed.
import { randomUUID } from 'node:crypto';
import type { Client, Connection } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { ArtifactRef } from '../../schemas/artifact.js';
import type { TrainChunkResult, TrainModelResult, TrainingSpecInput } from '../../schemas/training.js';
import { findManifestKey } from '../../storage/run-keys.js';
import { CheckpointStore } from '../../storage/checkpoints.js';
import type { FileStore } from '../../storage/file-store.js';
import { connectClient, startWorkers, tempFileStore, uniqueQueue } from '../support/temporal.js';
import { writeImageTable } from '../support/training-fixtures.js';
import { computeWorkerPool } from '../support/worker-process.js';

/** temporal.api.enums.v1.TimeoutType.TIMEOUT_TYPE_HEARTBEAT */
const TIMEOUT_TYPE_HEARTBEAT = 4;
const TOTAL = 120;
const CHUNK = 40;
const EVERY = 10;

let client: Client;
let connection: Connection;
let store: FileStore;
let images: ArtifactRef;
const taskQueue = uniqueQueue('kill-worker');
const workers = computeWorkerPool(inject('temporalAddress'), taskQueue, () => store.root);

beforeAll(async () => {
  ({ client, connection } = await connectClient());
  store = tempFileStore('kill-worker');
  images = await writeImageTable(store, { n: 256, side: 8, seed: 21 });
});
afterAll(async () => {
  // Every process this file started, by its own group id.
  await workers.killAll();
  await connection?.close();
});

const spec = (runKey: string): TrainingSpecInput => ({
  model: { kind: 'convnet', config: { classes: 4, width: 8, depth: 2 } },
  data: { train: images },
  optimizer: { kind: 'sgd', momentum: 0.9, weightDecay: 5e-4 },
  schedule: { kind: 'rewarmedCosine', maxLr: 0.05, warmupFraction: 0.1 },
  batchSize: 16,
  totalSteps: TOTAL,
  chunkSteps: CHUNK,
  checkpointEvery: EVERY,
  seed: 7,
  runKey,
  evalMaxRows: 128,
  profile: 'test',
});

const computeWorker = (identity: string) => workers.spawn(identity);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface ChunkAttempt {
  attempt: number;
  identity: string;
  lastFailureTimeout: number | null;
  result: TrainChunkResult;
}

/** Each completed trainChunk: the attempt that completed it, its worker, its last failure, its result. */
async function chunkAttempts(workflowId: string): Promise<ChunkAttempt[]> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  const events = history.events ?? [];
  const byId = new Map(events.map((e) => [Number(e.eventId), e]));
  const out: ChunkAttempt[] = [];
  for (const e of events) {
    const done = e.activityTaskCompletedEventAttributes;
    if (!done) continue;
    const scheduled = byId.get(Number(done.scheduledEventId))?.activityTaskScheduledEventAttributes;
    if (scheduled?.activityType?.name !== 'trainChunk') continue;
    const started = byId.get(Number(done.startedEventId))?.activityTaskStartedEventAttributes;
    out.push({
      attempt: started?.attempt ?? 0,
      identity: started?.identity ?? '',
      lastFailureTimeout: started?.lastFailure?.timeoutFailureInfo?.timeoutType ?? null,
      result: defaultPayloadConverter.fromPayload<TrainChunkResult>(done.result!.payloads![0]!),
    });
  }
  return out;
}

describe('kill a compute worker mid-trainChunk (SIGKILL)', () => {
  it('a new worker resumes from LATEST and the final checkpoint equals an uninterrupted run (sha256)', async () => {
    const { runUntil } = await startWorkers(store, taskQueue, 'retort');
    await runUntil(async () => {
      const timeline: string[] = [];
      const t0 = Date.now();
      const note = (what: string) => timeline.push(`${((Date.now() - t0) / 1000).toFixed(1)}s ${what}`);
      const checkpoints = new CheckpointStore(store);

      // 1. The uninterrupted reference run (own runKey, so nothing is shared with the victim run).
      let worker = await computeWorker('compute-A');
      note('worker A ready');
      const referenceId = `train-reference-${randomUUID()}`;
      const reference = (await client.workflow.execute('trainModel', {
        taskQueue,
        workflowId: referenceId,
        args: [spec(`reference-${randomUUID().slice(0, 8)}`)],
      })) as TrainModelResult;
      note(`reference run done: step ${reference.step}, sha256 ${reference.checkpoint.sha256.slice(0, 12)}…`);
      expect(reference.step).toBe(TOTAL);
      expect(reference.chunks).toBe(TOTAL / CHUNK);
      expect(reference.retriedChunks).toBe(0);

      // 2. The victim run: wait for a mid-chunk checkpoint after the first chunk, then SIGKILL.
      const victimKey = `victim-${randomUUID().slice(0, 8)}`;
      const workflowId = `train-victim-${randomUUID()}`;
      const handle = await client.workflow.start('trainModel', {
        taskQueue,
        workflowId,
        args: [spec(victimKey)],
      });
      let seen = 0;
      for (const deadline = Date.now() + 120_000; ;) {
        const latest = await checkpoints.readLatest(victimKey);
        seen = latest?.step ?? 0;
        if (seen > CHUNK && seen % CHUNK !== 0) break;
        if (Date.now() > deadline)
          throw new Error(
            `victim run never reached a mid-chunk checkpoint (LATEST ${seen})\n${worker.output()}`,
          );
        await sleep(20);
      }
      await worker.kill('SIGKILL');
      const killedAt = (await checkpoints.readLatest(victimKey))!;
      note(
        `SIGKILL worker A (pid ${worker.pid}) with LATEST at step ${killedAt.step} (chunk [${Math.floor(killedAt.step / CHUNK) * CHUNK}, ${(Math.floor(killedAt.step / CHUNK) + 1) * CHUNK}))`,
      );
      expect(killedAt.step).toBeGreaterThanOrEqual(seen);
      const progress = (await handle.query('progress')) as { step: number; total: number };
      expect(progress.total).toBe(TOTAL);
      expect(progress.step).toBeLessThan(killedAt.step);

      // 3. A fresh worker process finishes the run.
      worker = await computeWorker('compute-B');
      note('worker B ready');
      const victim = (await handle.result()) as TrainModelResult;
      note(`victim run done: step ${victim.step}, sha256 ${victim.checkpoint.sha256.slice(0, 12)}…`);

      // Same bytes as the uninterrupted run, though chunk 2 was cut in the middle and resumed elsewhere.
      expect(victim.step).toBe(TOTAL);
      expect(victim.checkpoint.sha256).toBe(reference.checkpoint.sha256);
      expect(victim.checkpoint.uri).not.toBe(reference.checkpoint.uri);
      expect(victim.eval).toEqual(reference.eval);
      expect(victim.retriedChunks).toBe(1);

      // The interrupted chunk: attempt 2 on worker B after a heartbeat timeout, resumed from the
      // LATEST recorded at the kill, re-training only the steps after it.
      const attempts = await chunkAttempts(workflowId);
      expect(attempts).toHaveLength(TOTAL / CHUNK);
      const retried = attempts.filter((a) => a.attempt > 1);
      expect(retried).toHaveLength(1);
      const [r] = retried;
      note(
        `retried chunk: attempt ${r!.attempt} on ${r!.identity}, resumedFrom ${r!.result.resumedFrom}, trained ${r!.result.trainedSteps} steps`,
      );
      expect(r!.attempt).toBe(2);
      expect(r!.identity).toBe('compute-B');
      expect(r!.lastFailureTimeout).toBe(TIMEOUT_TYPE_HEARTBEAT);
      expect(r!.result.resumedFrom).toBe(killedAt.step);
      expect(r!.result.step).toBe((Math.floor(killedAt.step / CHUNK) + 1) * CHUNK);
      expect(r!.result.trainedSteps).toBe(r!.result.step - killedAt.step);
      // Loss summaries come from the checkpoint's history: the same as the reference run's chunk.
      const refAttempts = await chunkAttempts(referenceId);
      expect(r!.result.losses).toEqual(
        refAttempts.find((a) => a.result.step === r!.result.step)!.result.losses,
      );
      for (const a of attempts.filter((x) => x.attempt === 1)) expect(a.identity).toMatch(/^compute-[AB]$/);

      // Store: LATEST names the final checkpoint, the manifest is committed, no temp files are left.
      expect(await checkpoints.readLatest(victimKey)).toEqual({ step: TOTAL, checkpoint: victim.checkpoint });
      expect(await findManifestKey(store, workflowId)).toBeDefined();
      expect(await store.pendingTempFiles()).toEqual([]);
      await worker.stop();
      note('worker B stopped');
      console.log(`kill-worker timeline:\n  ${timeline.join('\n  ')}`);
    });
  });
});
