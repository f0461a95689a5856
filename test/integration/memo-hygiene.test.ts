// A cached result never points at missing data: delete one output of a real ingestCorpus run and
// the next identical run recomputes it and completes (real dev server, real file:// store).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client, Connection } from '@temporalio/client';
import type { IngestCorpusResult } from '../../schemas/ingest.js';
import { ArtifactStore } from '../../storage/artifacts.js';
import type { ObjectStore } from '../../storage/object-store.js';
import { connectClient, countingStore, executeOnFreshWorkers, tempFileStore } from '../support/temporal.js';
import { tinyCodeIngest } from '../support/training-fixtures.js';

let client: Client;
let connection: Connection;
beforeAll(async () => ({ client, connection } = await connectClient()));
afterAll(async () => connection?.close());

const store = countingStore(tempFileStore('memo-hygiene'));
const input = tinyCodeIngest('memo');

const ingest = (store: ObjectStore) =>
  executeOnFreshWorkers<IngestCorpusResult>(client, store, 'ingestCorpus', input, 'memo');

describe('memo hits verify their outputs', () => {
  it('delete an output → the next run recomputes it and completes', async () => {
    const first = await ingest(store);
    const key = first.corpus.train.uri.slice(store.root.length + 1);
    await store.delete(key);
    expect(await store.head(key)).toBeUndefined();

    const before = store.puts.length;
    const second = await ingest(store);
    expect(second.corpus).toEqual(first.corpus);
    expect(second.windows).toEqual(first.windows);
    // The deleted table was written again; every output reads back with its recorded sha256.
    expect(store.puts.slice(before)).toContain(key);
    const artifacts = new ArtifactStore(store);
    for (const ref of [...Object.values(second.corpus), ...Object.values(second.windows), second.stats])
      expect((await artifacts.read(ref)).byteLength).toBe(ref.bytes);

    // And with everything in place the third run is a plain hit again: no computed artifact written
    // (only the run's own report, which names the run).
    const mark = store.puts.length;
    await ingest(store);
    const computed = store.puts
      .slice(mark)
      .filter((k) => k.startsWith('artifacts/') && !k.startsWith('artifacts/report/'));
    expect(computed).toEqual([]);
  });
});
