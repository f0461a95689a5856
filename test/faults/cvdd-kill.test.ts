// A distillCommittee run whose compute worker PROCESS is SIGKILLed in the middle of a recoverSlotChunk
// resumes on a fresh worker from the slot's LATEST (mid-chunk) checkpoint and ends with the same
// recovered set (sha256) and the same student accuracy as an uninterrupted run of the same inputs;
// the `progress` query reports the recovery stage meanwhile.
import { randomUUID } from 'node:crypto';
import type { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createImageActivities } from '../../activities/images.js';
import type {
  DistillCommitteeInput,
  DistillCommitteeProgress,
  DistillCommitteeResult,
} from '../../schemas/cvdd.js';
import type { IngestImagesResult } from '../../schemas/images.js';
import { ArtifactStore } from '../../storage/artifacts.js';
import { CheckpointStore } from '../../storage/checkpoints.js';
import type { FileStore } from '../../storage/file-store.js';
import { connectClient, startWorkers, tempFileStore, uniqueQueue } from '../support/temporal.js';
import { computeWorkerPool } from '../support/worker-process.js';

// Five chunks: a mid-chunk checkpoint in any chunk after the first will do, so a loaded machine that
// polls too rarely to see one chunk's window still sees another's.
const ITERATIONS = 100;
const CHUNK = 20;
const EVERY = 4;

let client: Client;
let connection: Connection;
let store: FileStore;
let images: IngestImagesResult;
const taskQueue = uniqueQueue('cvdd-kill');
const workers = computeWorkerPool(inject('temporalAddress'), taskQueue, () => store.root);

beforeAll(async () => {
  ({ client, connection } = await connectClient());
  store = tempFileStore('cvdd-kill');
  const io = createImageActivities({ artifacts: new ArtifactStore(store) });
  images = await io.ingestImages({
    source: { builtin: 'mnist', trainPerClass: 40, testCount: 100, downsample: 4 },
    seed: 3,
  });
});
afterAll(async () => {
  // Every process this file started, by its own group id.
  await workers.killAll();
  await connection?.close();
});

const computeWorker = (identity: string) => workers.spawn(identity);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('kill a compute worker mid-recoverSlotChunk (SIGKILL)', () => {
  it('a new worker resumes the slot from LATEST and the run ends as an uninterrupted one would', async () => {
    const { runUntil } = await startWorkers(store, taskQueue, 'retort');
    await runUntil(async () => {
      const checkpoints = new CheckpointStore(store);
      let worker = await computeWorker('compute-A');
      const input = (runKey: string): DistillCommitteeInput => ({
        train: images.train,
        test: images.test,
        ipc: 1,
        committee: [
          { family: 'convnet', width: 4, depth: 1 },
          { family: 'mlp', hidden: [8] },
        ],
        settings: { memberEpochs: 1, iterations: ITERATIONS, jitter: 1, studentEpochs: 4 },
        valPerClass: 10,
        seeds: 1,
        chunkIterations: CHUNK,
        checkpointEvery: EVERY,
        randomReal: false,
        seed: 3,
        runKey,
        profile: 'test',
      });

      const reference = (await client.workflow.execute('distillCommittee', {
        taskQueue,
        workflowId: `cvdd-reference-${randomUUID()}`,
        args: [input(`ref-${randomUUID().slice(0, 8)}`)],
      })) as DistillCommitteeResult;
      expect(reference.distilled.rows).toBe(10);

      // The victim: wait for a mid-chunk checkpoint of slot 0 after the first chunk, then SIGKILL.
      const victimKey = `victim-${randomUUID().slice(0, 8)}`;
      const slotKey = `${victimKey}.slot-0`;
      const handle = await client.workflow.start('distillCommittee', {
        taskQueue,
        workflowId: `cvdd-victim-${randomUUID()}`,
        args: [input(victimKey)],
      });
      for (const deadline = Date.now() + 180_000; ;) {
        const step = (await checkpoints.readLatest(slotKey))?.step ?? 0;
        if (step > CHUNK && step % CHUNK !== 0) break;
        if (Date.now() > deadline)
          throw new Error(`victim never reached a mid-chunk checkpoint (LATEST ${step})\n${worker.output()}`);
        await sleep(20);
      }
      await worker.kill('SIGKILL');
      const killedAt = (await checkpoints.readLatest(slotKey))!;
      expect(killedAt.step).toBeGreaterThan(CHUNK);
      expect(killedAt.step).toBeLessThan(ITERATIONS);
      const progress = (await handle.query('progress')) as DistillCommitteeProgress;
      expect(progress.stage).toBe('recover');
      expect(progress.members).toEqual({ done: 2, total: 2 });
      expect(progress.recovery).toMatchObject({ total: ITERATIONS, slotsDone: 0, slots: 1 });
      const done = progress.recovery!.done;
      expect(done % CHUNK).toBe(0);
      expect(done).toBeGreaterThanOrEqual(CHUNK);
      expect(done).toBeLessThanOrEqual(killedAt.step);
      expect(progress.lastLoss).toBeGreaterThan(0);

      worker = await computeWorker('compute-B');
      const victim = (await handle.result()) as DistillCommitteeResult;
      // Same bytes and the same student as the uninterrupted run, though a chunk was cut and resumed.
      expect(victim.distilled.sha256).toBe(reference.distilled.sha256);
      expect(victim.recovery).toEqual(reference.recovery);
      expect(victim.accuracy).toEqual(reference.accuracy);
      expect(victim.committee.map((m) => m.checkpoint.sha256)).toEqual(
        reference.committee.map((m) => m.checkpoint.sha256),
      );
      const history = await handle.fetchHistory();
      const retried = (history.events ?? []).filter(
        (e) => (e.activityTaskStartedEventAttributes?.attempt ?? 1) > 1,
      );
      expect(retried).toHaveLength(1);
      expect(retried[0]!.activityTaskStartedEventAttributes!.identity).toBe('compute-B');
      expect((await checkpoints.readLatest(slotKey))!.step).toBe(ITERATIONS);
      expect(await store.pendingTempFiles()).toEqual([]);
      await worker.stop();
    });
  });
});
