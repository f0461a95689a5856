// continualPretrain is chunked and resumable: on a dev server that suggests continue-as-new after a
// few dozen events, a many-chunk run hands over to new runs carrying the loop state and the curves,
// and ends on the same checkpoint and the same upstream/downstream curve as a one-chunk run.
import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTrainingActivities } from '../../activities/training.js';
import type { ArtifactRef } from '../../schemas/artifact.js';
import type { ContinualPretrainInput, ContinualPretrainResult } from '../../schemas/rewarm.js';
import { ArtifactStore } from '../../storage/artifacts.js';
import type { FileStore } from '../../storage/file-store.js';
import { type DevServer, startDevServer } from '../../workers/dev-server.js';
import { startWorkers, tempFileStore, uniqueQueue } from '../support/temporal.js';
import { writeTokenTable } from '../support/training-fixtures.js';

let server: DevServer;
let store: FileStore;
let upstream: ArtifactRef;
let downstream: ArtifactRef;
let init: ArtifactRef;
const model = { kind: 'lm' as const, config: { layers: 1, dModel: 16, heads: 2, ctx: 16 } };

beforeAll(async () => {
  server = await startDevServer({
    uiPort: false,
    dynamicConfig: { 'limit.historyCount.suggestContinueAsNew': 30 },
  });
  store = tempFileStore('continual-can');
  upstream = await writeTokenTable(store, { up: { rows: 32, alphabet: 'abcd ' } }, 16, 1);
  downstream = await writeTokenTable(store, { down: { rows: 32, alphabet: 'wxyz.' } }, 16, 2);
  // The "pre-trained" checkpoint: a few steps on the upstream windows (no Temporal needed).
  const act = createTrainingActivities({ artifacts: new ArtifactStore(store) });
  const base = await act.trainChunk({
    spec: {
      model,
      data: { train: upstream },
      totalSteps: 4,
      batchSize: 8,
      schedule: { kind: 'constant', lr: 0.01 },
      optimizer: { kind: 'adamw' },
      runKey: 'base',
      profile: 'test',
    },
    fromStep: 0,
    steps: 4,
  });
  init = base.checkpoint;
});
afterAll(async () => server?.stop());

const input = (
  runKey: string,
  chunkSteps: number,
  evalEvery: number,
  denseEvalUntil: number,
): ContinualPretrainInput => ({
  init,
  data: { train: downstream },
  upstreamVal: upstream,
  downstreamVal: downstream,
  schedule: { kind: 'rewarmedCosine', maxLr: 0.01, warmupFraction: 0.25, totalSteps: 16 }, // S beyond this run
  batchSize: 8,
  totalSteps: 8,
  chunkSteps,
  evalEvery,
  denseEvalUntil,
  seed: 5,
  runKey,
  profile: 'test',
});

describe('continualPretrain', () => {
  it('continues as new with its curve and ends where an uninterrupted run ends', async () => {
    const taskQueue = uniqueQueue('cpt');
    const { runUntil } = await startWorkers(store, taskQueue, 'all', server.address);
    const connection = await Connection.connect({ address: server.address });
    const client = new Client({ connection });
    try {
      const run = async () => {
        const id = `cpt-${randomUUID()}`;
        const handle = await client.workflow.start('continualPretrain', {
          taskQueue,
          workflowId: id,
          args: [input(`cpt-a-${randomUUID().slice(0, 8)}`, 4, 4, 3)],
        });
        const chunked = (await handle.result()) as ContinualPretrainResult;
        const lastRunId = (await client.workflow.getHandle(id).describe()).runId;
        const first = await client.workflow.getHandle(id, handle.firstExecutionRunId).describe();
        const whole = (await client.workflow.execute('continualPretrain', {
          taskQueue,
          workflowId: `cpt-whole-${randomUUID()}`,
          args: [input(`cpt-b-${randomUUID().slice(0, 8)}`, 8, 8, 0)],
        })) as ContinualPretrainResult;
        return {
          chunked,
          whole,
          firstStatus: first.status.name,
          handedOver: lastRunId !== handle.firstExecutionRunId,
        };
      };
      const { chunked, whole, firstStatus, handedOver } = await runUntil(run);
      expect(handedOver).toBe(true);
      expect(firstStatus).toBe('CONTINUED_AS_NEW');
      // Evaluation points: step 0, every step before denseEvalUntil, every evalEvery steps.
      expect(chunked.curve.map((p) => p.step)).toEqual([0, 1, 2, 3, 4, 8]);
      expect(whole.curve.map((p) => p.step)).toEqual([0, 8]);
      // Where chunks end changes nothing: same weights, same losses at the shared points.
      expect(chunked.checkpoint.sha256).toBe(whole.checkpoint.sha256);
      expect([chunked.curve[0], chunked.curve.at(-1)]).toEqual([
        whole.curve[0],
        { ...whole.curve[1]!, train: chunked.curve.at(-1)!.train },
      ]);
      expect(chunked.curve[1]!.tokens).toBe(8 * 16);
      // Training on the downstream windows lowers their loss from the inherited checkpoint's.
      expect(chunked.curve.at(-1)!.downstream).toBeLessThan(chunked.curve[0]!.downstream);
      // A standalone run ends with its report (loss curves with the LR), after continue-as-new too.
      for (const r of [chunked, whole])
        expect(r.reportHtml).toMatchObject({ kind: 'report', format: 'html' });
    } finally {
      await connection.close();
    }
  });
});
