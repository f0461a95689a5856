// A decompression bomb sent to a real worker process: a 5 KB image Parquet whose one column chunk
// declares ~786 MB (1,000 all-zero 3×256×256 images, ZSTD) is refused by distillDataset with
// DatasetTooLarge naming the field and the file, from the footer, before anything is decompressed;
// the worker's resident memory (its whole process group) stays under 1 GB afterwards, measured.
// The fixture was written once with buildTable(IMAGES, { id, label: Int32Array(1000),
// pixels: { flat: new Float32Array(1000 * 196_608), size: 196_608 } }, { h: '256', w: '256', c: '3' })
// and encodeParquet (3 GB of RSS to build; the tests only read the 5 KB result).
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ApplicationFailure, type Client, type Connection, WorkflowFailedError } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectClient, spawnIoWorker, tempFileStore, uniqueQueue } from '../support/temporal.js';
import type { WorkerProcess } from '../support/worker-process.js';

const BOMB = fileURLToPath(new URL('./fixtures/image-bomb.parquet', import.meta.url));
const GB = 1024 ** 3;

let client: Client;
let connection: Connection;
let worker: WorkerProcess | undefined;
const store = tempFileStore('bomb');
const taskQueue = uniqueQueue('bomb');
beforeAll(async () => {
  ({ client, connection } = await connectClient());
  worker = await spawnIoWorker(store, taskQueue);
});
afterAll(async () => {
  await worker?.stop();
  await connection?.close();
});

/** Resident bytes of every process in the worker's group (tsx runs the worker in a grandchild). */
const groupRss = (pgid: number) =>
  execFileSync('ps', ['-o', 'rss=', '-g', String(pgid)], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => l.trim())
    .reduce((n, l) => n + Number(l.trim()) * 1024, 0);

describe('a decompression bomb', () => {
  it('is refused with DatasetTooLarge and the worker stays under 1 GB', async () => {
    mkdirSync(join(store.dir, 'inputs'), { recursive: true });
    const path = join(store.dir, 'inputs', 'bomb.parquet');
    copyFileSync(BOMB, path);
    const before = groupRss(worker!.pid);
    const err = await client.workflow
      .execute('distillDataset', {
        taskQueue,
        workflowId: `bomb-${randomUUID()}`,
        args: [
          { dataset: 'bomb', classes: 3, method: 'mtt', profile: 'test', source: { uri: `file://${path}` } },
        ],
      })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err).toBeInstanceOf(WorkflowFailedError);
    const cause = (err as WorkflowFailedError).cause as ApplicationFailure;
    expect(cause).toBeInstanceOf(ApplicationFailure);
    expect(cause.type).toBe('DatasetTooLarge');
    expect(cause.nonRetryable).toBe(true);
    expect(cause.message).toMatch(/^source\.uri: Parquet file .*bomb\.parquet: /);
    expect(cause.message).toMatch(/RETORT_MAX_(COLUMN_CHUNK|TABLE)_BYTES/);
    const after = groupRss(worker!.pid);
    console.log(
      `decompression-bomb: worker RSS ${(before / 2 ** 20).toFixed(0)} MiB before, ${(after / 2 ** 20).toFixed(0)} MiB after the refusal: ${cause.message}`,
    );
    expect(after).toBeLessThan(GB);
    expect((await store.list('artifacts/')).map((o) => o.key)).toEqual([]);
  });
});
