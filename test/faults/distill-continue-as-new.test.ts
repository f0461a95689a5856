// distillTrajectory on a dev server that suggests continue-as-new after a few dozen events: a
// one-iteration-per-chunk run hands over to new runs (carrying iteration, checkpoint, counters) and
// ends on the checkpoint one uninterrupted distillChunk call produces (sha256).
import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTrajectoryMatchingActivities } from '../../activities/trajectory-matching/index.js';
import { createImageActivities } from '../../activities/images.js';
import type { ArtifactRef } from '../../schemas/artifact.js';
import type {
  DistillationPlan,
  DistillTrajectoryInput,
  DistillTrajectoryResult,
} from '../../schemas/trajectory-matching.js';
import type { IngestImagesResult } from '../../schemas/images.js';
import { ArtifactStore } from '../../storage/artifacts.js';
import type { FileStore } from '../../storage/file-store.js';
import { type DevServer, startDevServer } from '../../workers/dev-server.js';
import { startWorkers, tempFileStore, uniqueQueue } from '../support/temporal.js';

const ITERATIONS = 10;
let server: DevServer;
let store: FileStore;
let images: IngestImagesResult;
let plan: DistillationPlan;
let trajectories: ArtifactRef[];

beforeAll(async () => {
  // Its own server: the suggestion threshold is server-wide dynamic config.
  server = await startDevServer({
    uiPort: false,
    dynamicConfig: { 'limit.historyCount.suggestContinueAsNew': 30 },
  });
  store = tempFileStore('distill-can');
  const artifacts = new ArtifactStore(store);
  const io = createImageActivities({ artifacts });
  images = await io.ingestImages({
    source: { builtin: 'mnist', trainPerClass: 20, testCount: 50, downsample: 2 },
    seed: 2,
  });
  plan = await io.planDistillation({
    method: 'datm',
    ipc: 1,
    data: { h: images.h, w: images.w, c: images.c, classes: images.classes },
    preset: 'cpu-14',
    net: { width: 4, depth: 2 },
    experts: { count: 2, epochs: 2, imagesPerClass: 20, batch: 32 },
    distill: { syntheticSteps: 3, expertEpochs: 1, maxStartEpoch: 2, init: 'real', updateThreshold: 10 },
    iterations: ITERATIONS,
    seed: 2,
  });
  const compute = createTrajectoryMatchingActivities({ artifacts });
  trajectories = [];
  for (let k = 0; k < plan.experts.count; k++) {
    const r = await compute.trainExpert({
      train: images.train,
      net: plan.net,
      experts: plan.experts,
      expert: k,
      seed: 2,
      runKey: 'can-experts',
      cache: true,
    });
    trajectories.push(r.trajectory);
  }
});
afterAll(async () => server?.stop());

describe('distillTrajectory continue-as-new', () => {
  it('hands over to new runs when suggested and ends on the uninterrupted checkpoint', async () => {
    const compute = createTrajectoryMatchingActivities({ artifacts: new ArtifactStore(store) });
    const reference = await compute.distillChunk({
      config: plan.distill,
      trajectories,
      train: images.train,
      fromIteration: 0,
      iterations: ITERATIONS,
      runKey: `ref-${randomUUID().slice(0, 8)}`,
      checkpointEvery: ITERATIONS,
    });
    expect(reference.log).toHaveLength(ITERATIONS);

    const taskQueue = uniqueQueue('distill-can');
    const { runUntil } = await startWorkers(store, taskQueue, 'all', server.address);
    const connection = await Connection.connect({ address: server.address });
    const client = new Client({ connection });
    try {
      const workflowId = `distill-can-${randomUUID()}`;
      const input: DistillTrajectoryInput = {
        config: plan.distill,
        trajectories,
        train: images.train,
        iterations: ITERATIONS,
        chunkIterations: 1,
        checkpointEvery: 1,
        runKey: `can-${randomUUID().slice(0, 8)}`,
        profile: 'test',
      };
      const run = async () => {
        const handle = await client.workflow.start('distillTrajectory', {
          taskQueue,
          workflowId,
          args: [input],
        });
        const result = (await handle.result()) as DistillTrajectoryResult;
        const latest = await client.workflow.getHandle(workflowId).describe();
        const progress = (await client.workflow.getHandle(workflowId).query('progress')) as {
          iteration: number;
          chunks: number;
        };
        return { result, progress, firstRunId: handle.firstExecutionRunId, lastRunId: latest.runId };
      };
      const { result, progress, firstRunId, lastRunId } = await runUntil(run);
      expect(lastRunId).not.toBe(firstRunId);
      expect(result.chunks).toBe(ITERATIONS);
      expect(result.iterations).toBe(ITERATIONS);
      expect(progress).toMatchObject({ iteration: ITERATIONS, chunks: ITERATIONS });
      expect(result.checkpoint.sha256).toBe(reference.checkpoint.sha256);
      const first = await client.workflow.getHandle(workflowId, firstRunId).describe();
      expect(first.status.name).toBe('CONTINUED_AS_NEW');
    } finally {
      await connection.close();
    }
  });
});
