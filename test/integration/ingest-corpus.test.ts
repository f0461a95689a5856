// ingestCorpus end to end on the real dev server, with file:// and s3:// stores.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client, Connection } from '@temporalio/client';
import type { IngestCorpusInput, IngestCorpusResult } from '../../schemas/ingest.js';
import { ArtifactStore } from '../../storage/artifacts.js';
import { decodeValidated } from '../../storage/parquet.js';
import { stringValues } from '../../storage/arrow-tables.js';
import { TOKEN_WINDOWS } from '../../schemas/tables.js';
import type { ObjectStore } from '../../storage/object-store.js';
import {
  connectClient,
  countingStore,
  startWorkers,
  tempFileStore,
  testS3Store,
  uniqueQueue,
} from '../support/temporal.js';

const input: IngestCorpusInput = {
  dataset: 'it-small',
  source: { builtin: ['speeches', 'novel', 'code'] },
  maxBytesPerGroup: 60_000,
  ctx: 64,
  seed: 7,
  profile: 'test',
};

let client: Client;
let connection: Connection;
beforeAll(async () => ({ client, connection } = await connectClient()));
afterAll(async () => connection?.close());

async function runIngest(
  store: ObjectStore,
  name: string,
  body: IngestCorpusInput = input,
): Promise<IngestCorpusResult> {
  const taskQueue = uniqueQueue(name);
  const { runUntil } = await startWorkers(store, taskQueue);
  return runUntil(() =>
    client.workflow.execute('ingestCorpus', {
      taskQueue,
      workflowId: `ingest-${name}-${randomUUID()}`,
      args: [body],
    }),
  );
}

/** Windows per group, counted from the Parquet file itself. */
async function countWindowsByGroup(
  store: ObjectStore,
  result: IngestCorpusResult,
  split: 'train' | 'val' | 'test',
) {
  const ref = result.windows[split];
  const table = decodeValidated(await new ArtifactStore(store).read(ref), ref.uri, TOKEN_WINDOWS, {
    allowEmpty: true,
    sizes: { input_ids: 64 },
  });
  const counts: Record<string, number> = {};
  for (const g of stringValues(table, 'group')) counts[g] = (counts[g] ?? 0) + 1;
  return { counts, rows: table.numRows };
}

describe('ingestCorpus', () => {
  const fileStore = countingStore(tempFileStore('ingest'));
  const s3Store = countingStore(testS3Store(`ingest-${randomUUID().slice(0, 8)}`));
  let fileResult: IngestCorpusResult;
  let s3Result: IngestCorpusResult;

  it('builds corpus splits, token windows and per-group stats on a file:// store', async () => {
    fileResult = await runIngest(fileStore, 'file');
    expect(fileResult.groups.map((g) => g.group)).toEqual(['code', 'novel', 'speeches']);
    for (const split of ['train', 'val', 'test'] as const) {
      const { counts, rows } = await countWindowsByGroup(fileStore, fileResult, split);
      expect(rows).toBe(fileResult.windows[split].rows);
      for (const g of fileResult.groups) expect(counts[g.group] ?? 0).toBe(g.windows![split]);
    }
    for (const g of fileResult.groups) {
      // ~60 kB per group at 64 bytes per window: hundreds of windows, most in train.
      expect(g.windows!.train).toBeGreaterThan(300);
      expect(g.windows!.train).toBeGreaterThan(g.windows!.val + g.windows!.test);
      expect(g.bytes.train + g.bytes.val + g.bytes.test).toBeLessThanOrEqual(
        60_000 + 70_000 /* one document may overshoot */,
      );
    }
    expect(fileResult.manifest.uri).toMatch(/^file:\/\/.*\/runs\/.*\/manifest\.json$/);
  });

  it('produces byte-identical artifacts on the s3:// store (real S3 API server)', async () => {
    s3Result = await runIngest(s3Store, 's3');
    expect(s3Result.windows.train.uri).toMatch(/^s3:\/\//);
    for (const split of ['train', 'val', 'test'] as const) {
      expect(s3Result.corpus[split].sha256).toBe(fileResult.corpus[split].sha256);
      expect(s3Result.windows[split].sha256).toBe(fileResult.windows[split].sha256);
      const { counts } = await countWindowsByGroup(s3Store, s3Result, split);
      for (const g of s3Result.groups) expect(counts[g.group] ?? 0).toBe(g.windows![split]);
    }
    expect(s3Result.stats.sha256).toBe(fileResult.stats.sha256);
    expect(s3Result.groups).toEqual(fileResult.groups);
  });

  it('a second run with the same seed is a memoization hit: same refs, no artifact written', async () => {
    for (const [store, first] of [
      [fileStore, fileResult],
      [s3Store, s3Result],
    ] as const) {
      const before = store.puts.length;
      const again = await runIngest(store, 'again');
      expect(again.windows).toEqual(first.windows);
      expect(again.corpus).toEqual(first.corpus);
      expect(again.stats).toEqual(first.stats);
      const written = store.puts.slice(before);
      // Only per-run outputs are new: the run's manifest and its report (which names the run).
      const computed = written.filter(
        (k) => k.startsWith('artifacts/') && !k.startsWith('artifacts/report/'),
      );
      expect(computed).toEqual([]);
      expect(written.filter((k) => k.startsWith('runs/'))).toHaveLength(1); // the new run's manifest
    }
  });

  it('a different seed gives a different split (and different artifacts)', async () => {
    const other = await runIngest(fileStore, 'seed', { ...input, seed: 8 });
    expect(other.corpus.train.sha256).not.toBe(fileResult.corpus.train.sha256);
  });
});
