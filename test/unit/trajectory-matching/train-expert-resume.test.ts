// trainExpert resumes per epoch: with the last epoch's checkpoint gone and LATEST back at epoch 2 (what
// a worker killed during epoch 3 leaves), a retry trains only epoch 3, and that epoch's checkpoint is
// byte-identical to the uninterrupted run's. Real MNIST digits, real Parquet, tfjs kernels.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createTrajectoryMatchingActivities } from '../../../activities/trajectory-matching/index.js';
import { createImageActivities } from '../../../activities/images.js';
import { ArtifactStore } from '../../../storage/artifacts.js';
import { CheckpointStore, checkpointDir } from '../../../storage/checkpoints.js';
import { FileStore } from '../../../storage/file-store.js';

describe('trainExpert', () => {
  it('resumes after the last committed epoch and re-trains the lost one byte-identically', async () => {
    const store = new FileStore(mkdtempSync(join(tmpdir(), 'expert-resume-')));
    const artifacts = new ArtifactStore(store);
    const io = createImageActivities({ artifacts });
    const images = await io.ingestImages({
      source: { builtin: 'mnist', trainPerClass: 10, testCount: 50, downsample: 4 },
      seed: 1,
    });
    const plan = await io.planDistillation({
      method: 'mtt',
      ipc: 1,
      data: { h: images.h, w: images.w, c: images.c, classes: images.classes },
      preset: 'cpu-14',
      net: { width: 4, depth: 1 },
      experts: { count: 1, epochs: 3, imagesPerClass: 10, batch: 16, momentum: 0.5 },
      distill: { maxStartEpoch: 2, expertEpochs: 1 },
    });
    const compute = createTrajectoryMatchingActivities({ artifacts });
    const input = {
      train: images.train,
      net: plan.net,
      experts: plan.experts,
      expert: 0,
      seed: 4,
      runKey: 'resume',
      cache: false,
    };
    const full = await compute.trainExpert(input);
    expect(full.resumedFromEpoch).toBeNull();
    expect(full.trajectory.rows).toBe(4);

    // A worker killed during epoch 3: epochs 0..2 committed, LATEST at 2.
    const checkpoints = new CheckpointStore(store);
    const runKey = 'resume/expert-0';
    const last = (await checkpoints.find(runKey, 3))!;
    for (const f of ['model.json', 'weights.bin']) await store.delete(`${checkpointDir(runKey, 3)}/${f}`);
    await store.delete(`checkpoints/${runKey}/LATEST`);
    await checkpoints.advanceLatest(runKey, 2, (await checkpoints.find(runKey, 2))!);

    const resumed = await compute.trainExpert(input);
    expect(resumed.resumedFromEpoch).toBe(2);
    // The re-trained epoch's checkpoint has the bytes of the lost one (the table commit would keep the
    // first writer's object, so compare what the resumed attempt wrote itself).
    const again = (await checkpoints.find(runKey, 3))!;
    expect(again.sha256).toBe(last.sha256);
    expect(await checkpoints.readLatest(runKey)).toEqual({ step: 3, checkpoint: again });
    expect(resumed.trajectory.uri).toBe(full.trajectory.uri);
  });
});
