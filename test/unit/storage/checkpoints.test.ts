// Checkpoints over the object store: tfjs ModelArtifacts round trip, deterministic bytes, the
// LATEST pointer's semantics, and corruption surfacing as CorruptDataset naming the object.
import { mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it } from 'vitest';
import { sha256Hex } from '../../../storage/artifacts.js';
import {
  CheckpointStore,
  checkpointDir,
  checkpointRefHandler,
  latestKey,
} from '../../../storage/checkpoints.js';
import { RetortDataError } from '../../../storage/errors.js';
import { FileStore } from '../../../storage/file-store.js';

const dirs: string[] = [];
function tempStore(): FileStore {
  const dir = mkdtempSync(join(tmpdir(), 'retort-ckpt-'));
  dirs.push(dir);
  return new FileStore(dir);
}
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** Artifacts like trainChunk writes: params, an optimizer slot, metadata. */
async function artifacts(scale = 1, step = 10): Promise<tf.io.ModelArtifacts> {
  const named = [
    { name: 'params', tensor: tf.tensor1d([1, 2, 3, 4.5].map((v) => v * scale)) },
    { name: 'optimizer/velocity', tensor: tf.tensor1d([0.1, -0.2, 0.3, 0]) },
    {
      name: 'counts',
      tensor: tf.tensor2d(
        [
          [1, 2],
          [3, 4],
        ],
        [2, 2],
        'int32',
      ),
    },
  ];
  const { data, specs } = await tf.io.encodeWeights(named);
  tf.dispose(named.map((n) => n.tensor));
  return {
    weightSpecs: specs,
    weightData: data,
    userDefinedMetadata: { retort: { step, losses: [2.5, 2.25] } },
  };
}

async function expectCorrupt(p: Promise<unknown>, pattern: RegExp): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RetortDataError);
  expect((err as RetortDataError).type).toBe('CorruptDataset');
  expect((err as Error).message).toMatch(pattern);
}

describe('CheckpointStore', () => {
  it('round-trips ModelArtifacts: weights, specs and metadata; ref names model.json', async () => {
    const store = tempStore();
    const ckpts = new CheckpointStore(store);
    const ref = await ckpts.save('run-a', 10, await artifacts());
    expect(ref).toMatchObject({ kind: 'checkpoint', format: 'tfjs' });
    expect(ref.uri).toBe(store.uri(`${checkpointDir('run-a', 10)}/model.json`));
    expect(ref.sha256).toBe(sha256Hex(await store.get(`${checkpointDir('run-a', 10)}/model.json`)));
    const loaded = await ckpts.load(ref);
    expect(loaded.userDefinedMetadata).toEqual({ retort: { step: 10, losses: [2.5, 2.25] } });
    const tensors = tf.io.decodeWeights(loaded.weightData!, loaded.weightSpecs!);
    expect(Object.keys(tensors)).toEqual(['params', 'optimizer/velocity', 'counts']);
    expect(Array.from(tensors.params!.dataSync())).toEqual([1, 2, 3, 4.5]);
    expect(tensors.counts!.dtype).toBe('int32');
    expect(tensors.counts!.arraySync()).toEqual([
      [1, 2],
      [3, 4],
    ]);
    tf.dispose(Object.values(tensors));
    expect(await store.pendingTempFiles()).toEqual([]);
  });

  it('writes deterministic bytes: same tensors and metadata → same sha256, anywhere', async () => {
    const store = tempStore();
    const ckpts = new CheckpointStore(store);
    const a = await ckpts.save('run-a', 10, await artifacts());
    const b = await new CheckpointStore(tempStore()).save('run-b', 10, await artifacts());
    expect(b.sha256).toBe(a.sha256);
    expect(b.uri).not.toBe(a.uri);
    const c = await ckpts.save('run-c', 10, await artifacts(2));
    expect(c.sha256).not.toBe(a.sha256);
    // No timestamps: the JSON carries nothing but manifest, metadata and the weights' hash.
    const json = new TextDecoder().decode(await store.get(`${checkpointDir('run-a', 10)}/model.json`));
    expect(json).not.toMatch(/20\d\d-\d\d-\d\dT/);
    expect(JSON.parse(json)).toMatchObject({
      format: 'retort-checkpoint',
      weightsManifest: [{ paths: ['weights.bin'] }],
      weightsBytes: 48,
    });
  });

  it('keeps an already committed checkpoint (a retry recomputing it does not overwrite)', async () => {
    const store = tempStore();
    const ckpts = new CheckpointStore(store);
    const first = await ckpts.save('run', 5, await artifacts());
    const again = await ckpts.save('run', 5, await artifacts(3));
    expect(again).toEqual(first);
    expect(await ckpts.find('run', 5)).toEqual(first);
    expect(await ckpts.find('run', 6)).toBeUndefined();
  });

  it('a crash between weights.bin and model.json leaves no committed checkpoint', async () => {
    const store = tempStore();
    await store.put(`${checkpointDir('run', 7)}/weights.bin`, new Uint8Array([1, 2, 3]));
    const ckpts = new CheckpointStore(store);
    expect(await ckpts.find('run', 7)).toBeUndefined();
    // The retry commits over the orphan.
    const ref = await ckpts.save('run', 7, await artifacts());
    expect(await ckpts.find('run', 7)).toEqual(ref);
  });

  it('works as a tfjs IOHandler (save commits, load verifies)', async () => {
    const store = tempStore();
    const ckpts = new CheckpointStore(store);
    const handler = ckpts.handler('run', 3);
    const result = await handler.save!(await artifacts());
    expect(result.modelArtifactsInfo.weightDataBytes).toBe(48);
    expect(handler.ref?.sha256).toMatch(/^[0-9a-f]{64}$/);
    const loaded = await ckpts.handler('run', 3).load!();
    expect(loaded.weightSpecs?.map((s) => s.name)).toEqual(['params', 'optimizer/velocity', 'counts']);
    const viaRef = await checkpointRefHandler(store, handler.ref!).load!();
    expect(new Uint8Array(viaRef.weightData as ArrayBuffer)).toEqual(
      new Uint8Array(loaded.weightData as ArrayBuffer),
    );
    await expect(ckpts.handler('run', 4).load!()).rejects.toMatchObject({ type: 'DatasetNotFound' });
  });
});

describe('LATEST pointer', () => {
  it('is absent before the first checkpoint, then names the newest step only', async () => {
    const store = tempStore();
    const ckpts = new CheckpointStore(store);
    expect(await ckpts.readLatest('run')).toBeUndefined();
    const r10 = await ckpts.save('run', 10, await artifacts(1, 10));
    // Saving a checkpoint does not move LATEST: the caller advances it after the commit.
    expect(await ckpts.readLatest('run')).toBeUndefined();
    await ckpts.advanceLatest('run', 10, r10);
    expect(await ckpts.readLatest('run')).toEqual({ step: 10, checkpoint: r10 });
    const r20 = await ckpts.save('run', 20, await artifacts(2, 20));
    await ckpts.advanceLatest('run', 20, r20);
    // An older checkpoint (a slow duplicate attempt) never moves LATEST back.
    expect(await ckpts.advanceLatest('run', 10, r10)).toEqual({ step: 20, checkpoint: r20 });
    expect(await ckpts.readLatest('run')).toEqual({ step: 20, checkpoint: r20 });
    expect(await ckpts.readLatest('other-run')).toBeUndefined();
    // What it names loads and verifies.
    const latest = await ckpts.readLatest('run');
    expect((await ckpts.load(latest!.checkpoint)).userDefinedMetadata).toMatchObject({
      retort: { step: 20 },
    });
  });

  it('a corrupt pointer is a CorruptDataset error naming it, and is replaced by the next advance', async () => {
    const store = tempStore();
    const ckpts = new CheckpointStore(store);
    await store.put(latestKey('run'), new TextEncoder().encode('{"step": 3'));
    await expectCorrupt(
      ckpts.readLatest('run'),
      /LATEST pointer .*checkpoints\/run\/LATEST is not valid JSON/,
    );
    await store.put(latestKey('run'), new TextEncoder().encode('{"step": 3, "checkpoint": {"uri": "x"}}'));
    await expectCorrupt(ckpts.readLatest('run'), /expected \{ step, checkpoint: ArtifactRef \}/);
    const ref = await ckpts.save('run', 4, await artifacts());
    await ckpts.advanceLatest('run', 4, ref);
    expect(await ckpts.readLatest('run')).toEqual({ step: 4, checkpoint: ref });
  });
});

describe('corrupt checkpoints', () => {
  async function committed() {
    const store = tempStore();
    const ckpts = new CheckpointStore(store);
    const ref = await ckpts.save('run', 10, await artifacts());
    const dir = fileURLToPath(store.uri(checkpointDir('run', 10)));
    return { store, ckpts, ref, weights: join(dir, 'weights.bin'), model: join(dir, 'model.json') };
  }

  it('a flipped byte in weights.bin → CorruptDataset naming the weights file', async () => {
    const { ckpts, ref, weights } = await committed();
    const bytes = readFileSync(weights);
    bytes[5] = bytes[5]! ^ 0xff;
    writeFileSync(weights, bytes);
    await expectCorrupt(
      ckpts.load(ref),
      /checkpoint weights file:\/\/.*step-10\/weights\.bin: sha256 [0-9a-f]{64} does not match model\.json/,
    );
    await expectCorrupt(ckpts.find('run', 10), /weights\.bin: sha256/);
  });

  it('an edited model.json → CorruptDataset naming the checkpoint and both hashes', async () => {
    const { ckpts, ref, model } = await committed();
    writeFileSync(model, readFileSync(model, 'utf8').replace('"step":10', '"step":11'));
    await expectCorrupt(
      ckpts.load(ref),
      new RegExp(
        `checkpoint file://.*model\\.json: sha256 [0-9a-f]{64} does not match its ref \\(${ref.sha256}\\)`,
      ),
    );
  });

  it('a missing weights file or unparseable model.json → CorruptDataset', async () => {
    const a = await committed();
    unlinkSync(a.weights);
    await expectCorrupt(a.ckpts.load(a.ref), /weights file .*weights\.bin is missing/);
    const b = await committed();
    writeFileSync(b.model, 'not json');
    await expectCorrupt(b.ckpts.load({ ...b.ref, sha256: sha256Hex('not json') }), /is not valid JSON/);
  });

  it('a truncated weights file whose hash was also rewritten → CorruptDataset on size', async () => {
    const { ckpts, store, weights, model } = await committed();
    const short = readFileSync(weights).subarray(0, 40);
    writeFileSync(weights, short);
    const json = JSON.parse(readFileSync(model, 'utf8')) as Record<string, unknown>;
    json.weightsSha256 = sha256Hex(short);
    const bytes = new TextEncoder().encode(JSON.stringify(json));
    writeFileSync(model, bytes);
    const ref = {
      uri: store.uri(`${checkpointDir('run', 10)}/model.json`),
      kind: 'checkpoint' as const,
      format: 'tfjs' as const,
      sha256: sha256Hex(bytes),
      bytes: bytes.byteLength,
    };
    await expectCorrupt(ckpts.load(ref), /weightSpecs describe 48 bytes, .*weights\.bin has 40/);
  });

  it('a ref that is not a checkpoint, or a missing checkpoint, is named in the error', async () => {
    const { ckpts, ref } = await committed();
    await expect(ckpts.load({ ...ref, kind: 'table', format: 'parquet' })).rejects.toMatchObject({
      type: 'InvalidPipelineInput',
    });
    await expect(ckpts.load({ ...ref, uri: ref.uri.replace('step-10', 'step-99') })).rejects.toMatchObject({
      type: 'DatasetNotFound',
      message: expect.stringMatching(/step-99\/model\.json does not exist/) as unknown,
    });
  });
});
