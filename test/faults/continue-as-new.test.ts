// specs/temporal.md §f.6 for trainModel: on a dev server that suggests continue-as-new after a few
// dozen events, a many-chunk run hands over to new runs (carrying step + checkpoint) and still ends
// on the checkpoint an uninterrupted single-activity run produces.
import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTrainingActivities } from '../../activities/training.js';
import type { ArtifactRef } from '../../schemas/artifact.js';
import type { TrainModelResult, TrainingSpecInput } from '../../schemas/training.js';
import { ArtifactStore } from '../../storage/artifacts.js';
import type { FileStore } from '../../storage/file-store.js';
import { type DevServer, startDevServer } from '../../workers/dev-server.js';
import { startWorkers, tempFileStore, uniqueQueue } from '../support/temporal.js';
import { writeImageTable } from '../support/training-fixtures.js';

let server: DevServer;
let store: FileStore;
let images: ArtifactRef;

beforeAll(async () => {
  // Its own server: the suggestion threshold is server-wide dynamic config.
  server = await startDevServer({
    uiPort: false,
    dynamicConfig: { 'limit.historyCount.suggestContinueAsNew': 30 },
  });
  store = tempFileStore('continue-as-new');
  images = await writeImageTable(store, { n: 64, side: 8, seed: 4 });
});
afterAll(async () => server?.stop());

const spec = (runKey: string): TrainingSpecInput => ({
  model: { kind: 'convnet', config: { classes: 4, width: 4, depth: 2 } },
  data: { train: images },
  optimizer: { kind: 'adamw', weightDecay: 0.01 },
  schedule: { kind: 'constant', lr: 0.01 },
  batchSize: 16,
  totalSteps: 16,
  chunkSteps: 2,
  seed: 3,
  runKey,
  profile: 'test',
});

describe('trainModel continue-as-new', () => {
  it('hands over to new runs when suggested and ends on the uninterrupted checkpoint', async () => {
    // Reference: the same 16 steps as one activity call, no Temporal involved.
    const act = createTrainingActivities({ artifacts: new ArtifactStore(store) });
    const refKey = `ref-${randomUUID().slice(0, 8)}`;
    const reference = await act.trainChunk({
      spec: { ...spec(refKey), runKey: refKey },
      fromStep: 0,
      steps: 16,
    });

    const taskQueue = uniqueQueue('can');
    const { runUntil } = await startWorkers(store, taskQueue, 'all', server.address);
    const connection = await Connection.connect({ address: server.address });
    const client = new Client({ connection });
    try {
      const workflowId = `train-can-${randomUUID()}`;
      const run = async () => {
        const handle = await client.workflow.start('trainModel', {
          taskQueue,
          workflowId,
          args: [spec(`can-${randomUUID().slice(0, 8)}`)],
        });
        const result = (await handle.result()) as TrainModelResult;
        const latest = await client.workflow.getHandle(workflowId).describe();
        return { result, firstRunId: handle.firstExecutionRunId, lastRunId: latest.runId };
      };
      const { result, firstRunId, lastRunId } = await runUntil(run);
      expect(lastRunId).not.toBe(firstRunId);
      expect(result.chunks).toBe(8);
      expect(result.step).toBe(16);
      expect(result.checkpoint.sha256).toBe(reference.checkpoint.sha256);
      // Every run in the chain is a trainModel run; the first ended by continuing as new.
      const first = await client.workflow.getHandle(workflowId, firstRunId).describe();
      expect(first.status.name).toBe('CONTINUED_AS_NEW');
    } finally {
      await connection.close();
    }
  });
});
