// CV-DD with the paper's priors (spec §4.2, settings.priorSource "single_model") on the real dev server:
// after the committee is trained, each member runs the pipeline ALONE (estimateCommitteePrior: it
// recovers every slot, relabels, a student is trained) and the student's validation top-1 becomes its
// prior; the recovery weights of every slot are then softmax(prior / τ 5) over the slot's voters. A
// 7×7 smoke profile (one prior pipeline per member makes this the heaviest CV-DD set-up) with one
// evaluation seed and students long enough (2 steps per epoch × 60) for the prior students to learn.
import { describe, expect, it } from 'vitest';
import type { DistillCommitteeProgress } from '../../schemas/cvdd.js';
import type { CvddDistillResult } from '../../schemas/distill.js';
import { progressQuery } from '../../schemas/messages.js';
import { ArtifactStore } from '../../storage/artifacts.js';
import { decodeParquet } from '../../storage/parquet.js';
import { connectClient, startWorkers, tempFileStore, uniqueQueue } from '../support/temporal.js';

describe('distillCvdd with settings.priorSource "single_model"', () => {
  it('estimates one prior per member from its own single-model student and votes with them', async () => {
    const example = {
      dataset: 'mnist-7x7',
      source: { builtin: 'mnist', trainPerClass: 120, testCount: 500, downsample: 4 },
      ipc: 2,
      committee: [
        { family: 'convnet', width: 8, depth: 1 },
        { family: 'convnet', width: 4, depth: 1 },
        { family: 'mlp', hidden: [16] },
      ],
      settings: { memberEpochs: 4, memberLr: 0.003, iterations: 40, jitter: 1, studentEpochs: 30 },
      valPerClass: 20,
      chunkIterations: 20,
      seed: 0,
    };
    const input = {
      ...example,
      settings: {
        ...example.settings,
        priorSource: 'single_model',
        studentBatchSize: 10,
        studentEpochs: 60,
        studentLr: 0.003,
      },
      seeds: 1,
      randomReal: false,
      profile: 'test',
    };
    const store = tempFileStore('cvdd-priors');
    const taskQueue = uniqueQueue('cvdd-priors');
    const { client, connection } = await connectClient();
    const { runUntil } = await startWorkers(store, taskQueue, 'all');
    try {
      const workflowId = `cvdd-priors-${taskQueue}`;
      const { r, progress } = await runUntil(async () => {
        const handle = await client.workflow.start('distillCvdd', { args: [input], taskQueue, workflowId });
        const result = (await handle.result()) as CvddDistillResult;
        // The child's progress query (answered by the still-running workers) counts the prior pipelines.
        const child = client.workflow.getHandle(`${workflowId}/committee`);
        return {
          r: result,
          progress: (await child.query(progressQuery)) as unknown as DistillCommitteeProgress,
        };
      });
      expect(r.method).toBe('cvdd');
      expect(r.committee).toHaveLength(3);
      const why = JSON.stringify(r.committee.map((m) => ({ id: m.id, valAcc: m.valAcc, prior: m.prior })));
      for (const m of r.committee) {
        expect(m.priorSource).toBe('single_model_post_eval');
        expect(m.prior).toBeGreaterThanOrEqual(0);
        expect(m.prior).toBeLessThanOrEqual(100);
      }
      // The priors are students' accuracies on 7×7 digits, not noise: the best is well above chance (10 %).
      expect(Math.max(...r.committee.map((m) => m.prior)), why).toBeGreaterThan(25);

      // Recovery voted with those priors: each slot's weights are softmax(prior / 5) over its pair.
      const priorOf = new Map(r.committee.map((m) => [m.id, m.prior]));
      for (const s of r.recovery) {
        const e = s.voters.map((v) => Math.exp(priorOf.get(v)! / 5));
        const z = e.reduce((a, b) => a + b, 0);
        s.weights.forEach((w, i) => expect(w, why).toBeCloseTo(e[i]! / z, 6));
      }
      expect(r.accuracy.map((a) => a.method)).toEqual(['committee']);

      // The distilled table says which priors voted (metadata `retort.committee`).
      const table = decodeParquet(await new ArtifactStore(store).read(r.distilled), r.distilled.uri);
      const meta = JSON.parse(table.schema.metadata.get('retort.committee')!) as {
        id: string;
        prior: number;
        priorSource: string;
      }[];
      expect(meta.map((m) => [m.id, m.prior, m.priorSource])).toEqual(
        r.committee.map((m) => [m.id, m.prior, 'single_model_post_eval']),
      );

      expect(progress.stage).toBe('done');
      expect(progress.priors).toEqual({ done: 3, total: 3 });
    } finally {
      await connection.close();
    }
  });
});
