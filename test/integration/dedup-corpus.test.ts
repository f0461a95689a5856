// dedupCorpus and ingestCorpus's curation options end to end on the real dev server: near-duplicates
// across two input files (one kept per cluster, the smallest id), a duplicate of an earlier
// partition removed through its signature table, filters + dedup inside ingestCorpus, bad input.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApplicationFailure, type Client, type Connection, WorkflowFailedError } from '@temporalio/client';
import { Rng } from '../../ml/train/rng.js';
import type { DedupCorpusInput, DedupCorpusResult } from '../../schemas/dedup-corpus.js';
import type { IngestCorpusInput, IngestCorpusResult } from '../../schemas/ingest.js';
import { MINHASH_SIGNATURES, REMOVED_DUPLICATES, TEXT_CORPUS } from '../../schemas/tables.js';
import { buildTable, stringValues } from '../../storage/arrow-tables.js';
import { ArtifactStore } from '../../storage/artifacts.js';
import type { FileStore } from '../../storage/file-store.js';
import { decodeValidated, encodeParquet } from '../../storage/parquet.js';
import { connectClient, startWorkers, tempFileStore, uniqueQueue } from '../support/temporal.js';

let client: Client;
let connection: Connection;
beforeAll(async () => ({ client, connection } = await connectClient()));
afterAll(async () => connection?.close());

const rng = new Rng(5);
const WORDS = Array.from({ length: 400 }, () =>
  Array.from({ length: 3 + Math.floor(rng.next() * 6) }, () =>
    String.fromCharCode(97 + Math.floor(rng.next() * 26)),
  ).join(''),
);
const prose = (n: number) =>
  Array.from({ length: n }, () => WORDS[Math.floor(rng.next() * WORDS.length)]!).join(' ') + '.';
/** One word in every `every` replaced: Jaccard with the original stays above 0.8. */
const nearCopy = (text: string, every = 25) =>
  text
    .split(' ')
    .map((w, i) => (i % every === 7 ? 'qqqqq' : w))
    .join(' ');

type Row = { id: string; group: string; text: string };
const A: Row[] = Array.from({ length: 30 }, (_, i) => ({
  id: `a${String(i).padStart(2, '0')}`,
  group: 'web',
  text: prose(80),
}));
const B: Row[] = Array.from({ length: 30 }, (_, i) => ({
  id: `b${String(i).padStart(2, '0')}`,
  group: 'web',
  text: prose(80),
}));
const byId = (rows: Row[], id: string) => rows.find((r) => r.id === id)!.text;
// Copies (each id sorts after its original's): across files, within a file, and a cluster of three.
const COPIES: Row[] = [
  { id: 'x-copy-a03', group: 'web', text: nearCopy(byId(A, 'a03')) },
  { id: 'x-copy-a07', group: 'web', text: `  ${byId(A, 'a07').toUpperCase()}\n` },
  { id: 'b05-copy', group: 'web', text: nearCopy(byId(B, 'b05'), 30) },
  { id: 'x-copy-a10', group: 'web', text: nearCopy(byId(A, 'a10')) },
];
const FILE_A = [...A, { id: 'a10-again', group: 'web', text: nearCopy(byId(A, 'a10'), 40) }];
const FILE_B = [...B, ...COPIES];
const EXPECTED_REMOVED = {
  'a10-again': 'a10',
  'b05-copy': 'b05',
  'x-copy-a03': 'a03',
  'x-copy-a07': 'a07',
  'x-copy-a10': 'a10',
};

const table = (rows: Row[]) =>
  encodeParquet(
    buildTable(TEXT_CORPUS, {
      id: rows.map((r) => r.id),
      group: rows.map((r) => r.group),
      text: rows.map((r) => r.text),
      source: rows.map(() => 'fixture'),
    }),
  );

async function putInput(store: FileStore, name: string, bytes: Uint8Array): Promise<string> {
  await store.put(`inputs/${name}`, bytes);
  return store.uri(`inputs/${name}`);
}

async function run<T>(store: FileStore, type: string, name: string, input: unknown): Promise<T> {
  const taskQueue = uniqueQueue(name);
  const { runUntil } = await startWorkers(store, taskQueue, 'all');
  return runUntil(() =>
    client.workflow.execute(type, { taskQueue, workflowId: `${name}-${randomUUID()}`, args: [input] }),
  ) as Promise<T>;
}

async function ids(
  store: FileStore,
  ref: { uri: string; sha256: string; kind: 'table'; format: 'parquet'; bytes: number },
) {
  return stringValues(decodeValidated(await new ArtifactStore(store).read(ref), ref.uri, TEXT_CORPUS), 'id');
}

describe('dedupCorpus', () => {
  const store = tempFileStore('dedup');
  let first: DedupCorpusResult;

  it('keeps exactly one document per cluster across two input files, the smallest id', async () => {
    const inputs = [
      await putInput(store, 'a.parquet', table(FILE_A)),
      await putInput(store, 'b.parquet', table(FILE_B)),
    ];
    first = await run<DedupCorpusResult>(store, 'dedupCorpus', 'dedup', {
      dataset: 'it-dedup',
      inputs,
      dedup: { shardRows: 20 },
      seed: 3,
      profile: 'test',
    } satisfies DedupCorpusInput);
    const kept = await ids(store, first.corpus as never);
    expect(kept.sort()).toEqual([...A, ...B].map((r) => r.id).sort());
    expect(first.summary.rows).toEqual({
      input: 65,
      filtered: 0,
      duplicates: 5,
      previousDuplicates: 0,
      kept: 60,
    });
    expect(first.summary.dedup!.shards).toBe(4);
    expect(first.summary.dedup!.clusters).toBe(4);
    const artifacts = new ArtifactStore(store);
    const removed = decodeValidated(
      await artifacts.read(first.removed!),
      first.removed!.uri,
      REMOVED_DUPLICATES,
    );
    const pairs = Object.fromEntries(
      stringValues(removed, 'id').map((id, i) => [id, stringValues(removed, 'kept_id')[i]]),
    );
    expect(pairs).toEqual(EXPECTED_REMOVED);
    const sigs = decodeValidated(
      await artifacts.read(first.signatures!),
      first.signatures!.uri,
      MINHASH_SIGNATURES,
      {
        sizes: { signature: 100 },
      },
    );
    expect(stringValues(sigs, 'id')).toEqual(kept);
    expect(first.reportHtml).toBeDefined();
    const html = new TextDecoder().decode(await artifacts.read(first.reportHtml!));
    expect(html).toContain('data-plot="lsh-s-curve"');
    expect(html).toContain('x-copy-a03');
    expect(first.manifest.uri).toMatch(/manifest\.json$/);
  });

  it('drops a duplicate of an earlier partition given its signature table', async () => {
    const later: Row[] = [
      { id: 'c00', group: 'web', text: prose(80) },
      { id: 'c01', group: 'web', text: nearCopy(byId(A, 'a04')) },
      { id: 'c02', group: 'web', text: prose(80) },
    ];
    const result = await run<DedupCorpusResult>(store, 'dedupCorpus', 'dedup-next', {
      dataset: 'it-dedup',
      inputs: [await putInput(store, 'c.parquet', table(later))],
      dedup: { shardRows: 20, previous: [first.signatures!] },
      seed: 3,
      profile: 'test',
    } satisfies DedupCorpusInput);
    expect(await ids(store, result.corpus as never)).toEqual(['c00', 'c02']);
    expect(result.summary.rows.previousDuplicates).toBe(1);
    expect(result.summary.dedup!.examples[0]).toMatchObject({ id: 'c01', keptId: 'a04' });
  });
});

describe('ingestCorpus with dedup and filters', () => {
  it('filters, removes near-duplicates, then splits and tokenizes the rest', async () => {
    const store = tempFileStore('ingest-dedup');
    const junk: Row[] = [
      { id: 'j0', group: 'web', text: 'buy now' },
      {
        id: 'j1',
        group: 'web',
        text: 'click\nclick\nclick\nclick\nclick here now for the best deals today ok',
      },
    ];
    const uri = await putInput(store, 'partition.parquet', table([...FILE_A, ...FILE_B, ...junk]));
    const result = await run<IngestCorpusResult>(store, 'ingestCorpus', 'ingest-dedup', {
      dataset: 'it-ingest-dedup',
      source: { uri },
      dedup: {},
      filters: { words: { min: 5, max: 1000 }, duplicateNgrams: false },
      passageBytes: 256,
      split: { val: 0.1, test: 0.1 },
      ctx: 32,
      seed: 1,
      profile: 'test',
    } satisfies IngestCorpusInput);
    const summary = result.curation!.summary;
    expect(summary.rows).toEqual({ input: 67, filtered: 2, duplicates: 5, previousDuplicates: 0, kept: 60 });
    const byFilter = Object.fromEntries(summary.filters.map((f) => [f.filter, f.removed]));
    expect(byFilter).toMatchObject({ words: 1, duplicateLines: 1 });
    expect(summary.filters.find((f) => f.filter === 'words')!.examples[0]).toMatchObject({
      id: 'j0',
      value: 2,
    });
    // Every passage of the splits comes from a kept document.
    const kept = new Set(await ids(store, result.curation!.corpus as never));
    expect(kept.size).toBe(60);
    const passages = [
      ...(await ids(store, result.corpus.train as never)),
      ...(await ids(store, result.corpus.val as never)),
      ...(await ids(store, result.corpus.test as never)),
    ];
    expect(passages.length).toBeGreaterThan(60);
    for (const p of passages) expect(kept.has(p.split('#')[0]!)).toBe(true);
    expect(result.windows.train.rows).toBeGreaterThan(0);
  });
});

describe('dedupCorpus rejects bad input before committing anything', () => {
  async function failure(name: string, input: (store: FileStore) => Promise<unknown>) {
    const store = tempFileStore(`dedup-bad-${name}`);
    const body = await input(store);
    const err = await run(store, 'dedupCorpus', `dedup-bad-${name}`, body).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(WorkflowFailedError);
    const cause = (err as WorkflowFailedError).cause as ApplicationFailure;
    expect(cause).toBeInstanceOf(ApplicationFailure);
    expect(cause.nonRetryable).toBe(true);
    expect((await store.list('artifacts/')).map((o) => o.key)).toEqual([]);
    expect(await store.list('runs/')).toEqual([]);
    return cause;
  }
  const good = async (store: FileStore) => [await putInput(store, 'a.parquet', table(FILE_A))];

  it('threshold out of range → InvalidPipelineInput naming dedup.threshold', async () => {
    const f = await failure('threshold', async (s) => ({
      inputs: await good(s),
      dedup: { threshold: 1.5 },
      profile: 'test',
    }));
    expect(f.type).toBe('InvalidPipelineInput');
    expect(f.message).toMatch(/"dedup\.threshold"/);
  });

  it('bands × rows ≠ numPerm → InvalidPipelineInput naming dedup.numPerm', async () => {
    const f = await failure('bands', async (s) => ({
      inputs: await good(s),
      dedup: { bands: 16, rows: 5, numPerm: 100 },
      profile: 'test',
    }));
    expect(f.type).toBe('InvalidPipelineInput');
    expect(f.message).toMatch(/"dedup\.numPerm".*16 × 5 = 80/);
  });

  it('an empty input file → EmptyDataset naming the file', async () => {
    const f = await failure('empty', async (s) => ({
      inputs: [...(await good(s)), await putInput(s, 'empty.parquet', table([]))],
      profile: 'test',
    }));
    expect(f.type).toBe('EmptyDataset');
    expect(f.message).toMatch(/inputs\.1: .*empty\.parquet has no rows/);
  });

  it('the same id in two files → InvalidPipelineInput naming both', async () => {
    const f = await failure('ids', async (s) => ({
      inputs: [...(await good(s)), await putInput(s, 'again.parquet', table(A.slice(0, 2)))],
      profile: 'test',
    }));
    expect(f.type).toBe('InvalidPipelineInput');
    expect(f.message).toMatch(/"a00" occurs in .*a\.parquet and in .*again\.parquet/);
  });
});
