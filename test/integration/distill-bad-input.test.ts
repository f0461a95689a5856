// distillDataset rejects bad image data with a named non-retryable failure that names the field and
// the file, before anything is written: pixel counts that disagree with h·w·c, labels outside the
// class range, an IPC larger than the smallest class. A good table of the same shape is accepted.
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ApplicationFailure, type Client, type Connection, WorkflowFailedError } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createImageActivities } from '../../activities/images.js';
import type { DistillDatasetInput } from '../../schemas/distill.js';
import { IMAGES } from '../../schemas/tables.js';
import { buildTable } from '../../storage/arrow-tables.js';
import { ArtifactStore } from '../../storage/artifacts.js';
import { encodeParquet } from '../../storage/parquet.js';
import { connectClient, startWorkers, tempFileStore, uniqueQueue } from '../support/temporal.js';

let client: Client;
let connection: Connection;
beforeAll(async () => ({ client, connection } = await connectClient()));
afterAll(async () => connection?.close());

const store = tempFileStore('distill-bad');
const SIDE = 8;

/** A user image table: `perClass[c]` rows of class c, `size` pixel values per row, metadata h = w = SIDE, c = 1. */
function imageFile(name: string, opts: { perClass: number[]; size?: number; badLabel?: number }): string {
  const size = opts.size ?? SIDE * SIDE;
  const labels = opts.perClass.flatMap((n, c) => Array.from({ length: n }, () => c));
  if (opts.badLabel !== undefined) labels[labels.length - 1] = opts.badLabel;
  const pixels = Float32Array.from({ length: labels.length * size }, (_x, i) => Math.sin(i));
  const table = buildTable(
    IMAGES,
    { id: labels.map((_y, i) => `u${i}`), label: Int32Array.from(labels), pixels: { flat: pixels, size } },
    { h: String(SIDE), w: String(SIDE), c: '1' },
  );
  const path = join(store.dir, 'inputs', name);
  writeFileSync(path, encodeParquet(table));
  return `file://${path}`;
}

async function distillFailure(extra: Partial<DistillDatasetInput>): Promise<ApplicationFailure> {
  const taskQueue = uniqueQueue('distill-bad');
  const { runUntil } = await startWorkers(store, taskQueue, 'retort');
  const err = await runUntil(() =>
    client.workflow
      .execute('distillDataset', {
        taskQueue,
        workflowId: `distill-bad-${randomUUID()}`,
        args: [{ dataset: 'bad', classes: 3, method: 'mtt', profile: 'test', ...extra }],
      })
      .then(
        () => undefined,
        (e: unknown) => e,
      ),
  );
  expect(err).toBeInstanceOf(WorkflowFailedError);
  const cause = (err as WorkflowFailedError).cause;
  expect(cause).toBeInstanceOf(ApplicationFailure);
  expect((cause as ApplicationFailure).nonRetryable).toBe(true);
  return cause as ApplicationFailure;
}

async function expectNothingWritten() {
  expect((await store.list('artifacts/')).map((o) => o.key)).toEqual([]);
  expect((await store.list('checkpoints/')).map((o) => o.key)).toEqual([]);
  expect((await store.list('runs/')).map((o) => o.key)).toEqual([]);
  expect(await store.pendingTempFiles()).toEqual([]);
}

describe('distillDataset rejects bad image data', () => {
  beforeAll(async () => {
    await store.put('inputs/.keep', new Uint8Array());
  });

  it('pixel count ≠ h·w·c → ImagePixelCountMismatch naming "pixels" and the file', async () => {
    const uri = imageFile('short-pixels.parquet', { perClass: [4, 4, 4], size: SIDE * SIDE - 4 });
    const f = await distillFailure({ source: { uri } });
    expect(f.type).toBe('ImagePixelCountMismatch');
    expect(f.message).toContain('"pixels"');
    expect(f.message).toContain('short-pixels.parquet');
    expect(f.message).toContain(`h·w·c = ${SIDE * SIDE}`);
    await expectNothingWritten();
  });

  it('label outside [0, classes) → LabelOutOfRange naming "label", the row and the file', async () => {
    const uri = imageFile('bad-label.parquet', { perClass: [4, 4, 4], badLabel: 7 });
    const f = await distillFailure({ source: { uri } });
    expect(f.type).toBe('LabelOutOfRange');
    expect(f.message).toContain('"label"');
    expect(f.message).toContain('label 7 at row 11');
    expect(f.message).toContain('bad-label.parquet');
    await expectNothingWritten();
  });

  it('IPC larger than the smallest class → IpcExceedsClassSize naming "ipc" and the file', async () => {
    // Class 1 keeps 2 train images after the 20 % test split (3 rows → 1 test row).
    const uri = imageFile('small-class.parquet', { perClass: [6, 3, 6] });
    const f = await distillFailure({ source: { uri, testFraction: 0.2 }, ipc: 3 });
    expect(f.type).toBe('IpcExceedsClassSize');
    expect(f.message).toContain('field "ipc" = 3');
    expect(f.message).toContain('class 1 has 2 train images');
    expect(f.message).toContain('small-class.parquet');
    await expectNothingWritten();
  });

  it('the same shape of table without the defect is accepted (so the failures are about the data)', async () => {
    const uri = imageFile('good.parquet', { perClass: [6, 3, 6] });
    const ingest = createImageActivities({ artifacts: new ArtifactStore(store) }).ingestImages;
    const r = await ingest({ source: { uri, testFraction: 0.2 }, classes: 3, minTrainPerClass: 2 });
    expect(r.trainPerClass).toEqual([5, 2, 5]);
    expect(r.testPerClass).toEqual([1, 1, 1]);
    expect([r.h, r.w, r.c]).toEqual([SIDE, SIDE, 1]);
  });
});
