// Checkpoints on the real S3 API server: the same bytes and hashes as on file://, create-if-absent
// commits, a crash-orphaned weights file that is never mistaken for a checkpoint, and tampering
// surfacing as CorruptDataset naming the s3:// object.
import { randomUUID } from 'node:crypto';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { CheckpointStore, checkpointDir } from '../../storage/checkpoints.js';
import { tempFileStore, testS3Store } from '../support/temporal.js';

async function artifacts(scale: number): Promise<tf.io.ModelArtifacts> {
  const named = [{ name: 'params', tensor: tf.tensor1d([1, -2, 3.25].map((v) => v * scale)) }];
  const { data, specs } = await tf.io.encodeWeights(named);
  tf.dispose(named.map((n) => n.tensor));
  return { weightSpecs: specs, weightData: data, userDefinedMetadata: { retort: { step: 4 } } };
}

describe('checkpoints on s3://', () => {
  it('commit, LATEST, orphan and corruption behave as on file://', async () => {
    const s3 = testS3Store(`ckpt-${randomUUID().slice(0, 8)}`);
    const ckpts = new CheckpointStore(s3);
    const ref = await ckpts.save('run', 4, await artifacts(1));
    expect(ref.uri).toMatch(/^s3:\/\/.*\/checkpoints\/run\/step-4\/model\.json$/);
    expect((await new CheckpointStore(tempFileStore('ckpt')).save('run', 4, await artifacts(1))).sha256).toBe(
      ref.sha256,
    );
    expect(await ckpts.save('run', 4, await artifacts(2))).toEqual(ref);
    await ckpts.advanceLatest('run', 4, ref);
    expect(await ckpts.readLatest('run')).toEqual({ step: 4, checkpoint: ref });

    await s3.put(`${checkpointDir('run', 8)}/weights.bin`, new Uint8Array(12));
    expect(await ckpts.find('run', 8)).toBeUndefined();

    await s3.put(`${checkpointDir('run', 4)}/weights.bin`, new Uint8Array(12));
    await expect(ckpts.load(ref)).rejects.toMatchObject({
      type: 'CorruptDataset',
      message: expect.stringMatching(
        /checkpoint weights s3:\/\/.*step-4\/weights\.bin: sha256 [0-9a-f]{64} does not match model\.json/,
      ) as unknown,
    });
  });
});
