// Whole partitions and backfills against the real dev server: `retort schedule backfill` over three
// days runs curateCorpus once per day, one after another, each on its day's partition (two files:
// Parquet + JSONL) and continuing the previous day's checkpoint, leaving the lineage at the newest;
// a late partition backfilled afterwards commits its run but leaves the pointer where it is; bad
// partitions fail with named non-retryable errors and commit nothing; with `ingest.dedup` + `filters`
// a run removes near-duplicates across its partition's two files and junk, and with
// `dedup.crossPartition` the next partition's run removes a duplicate of the one before.
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client, Connection } from '@temporalio/client';
import { Rng } from '../../ml/train/rng.js';
import { loadBuiltin, rowsFromTable } from '../../activities/text-corpus.js';
import type { CurationRefs, CurationSummary } from '../../schemas/dedup.js';
import type { RunManifest } from '../../activities/manifest.js';
import type { ArtifactRef } from '../../schemas/artifact.js';
import type { CurateCorpusInput, CurateCorpusResult, LineageRecord } from '../../schemas/curate.js';
import { TEXT_CORPUS } from '../../schemas/tables.js';
import { ArtifactStore } from '../../storage/artifacts.js';
import type { FileStore } from '../../storage/file-store.js';
import { decodeValidated } from '../../storage/parquet.js';
import { findManifestKey } from '../../storage/run-keys.js';
import { TINY_CURATE, textCorpusParquet } from '../support/training-fixtures.js';
import {
  connectClient,
  nonRetryableCause,
  retortCli,
  startWorkers,
  tempFileStore,
  uniqueQueue,
} from '../support/temporal.js';

const retort = (args: string[]) => retortCli(args);

interface Outputs {
  generation: number;
  partition: string;
  partitionFrom?: string;
  partitionFiles?: number;
  previousPartition: string | null;
  startedFrom: ArtifactRef | null;
  checkpoint: ArtifactRef;
  ingest: { corpus: Record<'train' | 'val' | 'test', ArtifactRef> };
}

let client: Client;
let connection: Connection;
beforeAll(async () => ({ client, connection } = await connectClient()));
afterAll(async () => connection?.close());

const store: FileStore = tempFileStore('curate-partitions');
const corpus = join(store.dir, 'corpus');
const lineage = `partitions-${randomUUID().slice(0, 8)}`;
const decode = (b: Uint8Array) => new TextDecoder().decode(b);

/**
 * A partition of real text in two files: `novel` chapters as Parquet, `speeches` as JSONL (documents
 * `from`…`from + docs`), and Spark's `_SUCCESS` marker, which is not data.
 */
function writePartition(name: string, from: number, docs = 3) {
  const rows = (group: string) =>
    loadBuiltin([group])
      .slice(from, from + docs)
      .map((r) => ({ id: `${name}/${r.id}`, group: r.group, text: r.text.slice(0, 6000) }));
  const novel = rows('novel');
  mkdirSync(join(corpus, name), { recursive: true });
  writeFileSync(join(corpus, name, 'part-0.parquet'), textCorpusParquet(novel, 'moby-dick'));
  writeFileSync(
    join(corpus, name, 'part-1.jsonl'),
    rows('speeches')
      .map((r) => JSON.stringify(r))
      .join('\n'),
  );
  writeFileSync(join(corpus, name, '_SUCCESS'), '');
}

const baseInput = (): CurateCorpusInput => ({
  dataset: 'partitions',
  lineage,
  source: { partitions: `${store.root}/corpus` },
  ...TINY_CURATE,
});

async function manifestOf(workflowId: string) {
  const key = await findManifestKey(store, workflowId);
  expect(key, `manifest of ${workflowId}`).toBeDefined();
  return JSON.parse(decode(await store.get(key!))) as RunManifest & { outputs: Outputs };
}
const pointer = async () =>
  JSON.parse(decode(await store.get(`lineages/${lineage}/LATEST.json`))) as LineageRecord;

describe('curateCorpus on whole partitions', () => {
  it('schedule backfill of three days: three runs in partition order, lineage at the newest', async () => {
    writePartition('2026-11-01', 10);
    writePartition('2026-11-02', 20);
    writePartition('2026-11-03', 30);
    const taskQueue = uniqueQueue('backfill');
    const scheduleId = `backfill-${taskQueue}`;
    const file = join(store.dir, 'curate-corpus.json');
    writeFileSync(file, JSON.stringify({ ...baseInput(), partitionFromSchedule: 'day' }));

    const { runUntil } = await startWorkers(store, taskQueue, 'all');
    const runs = await runUntil(async () => {
      // Paused: only the backfill starts runs (the daily interval would fire at the next midnight).
      await retort([
        'schedule',
        'create',
        scheduleId,
        file,
        '--every',
        '1d',
        '--paused',
        '--task-queue',
        taskQueue,
      ]);
      const requested = JSON.parse(
        (
          await retort([
            'schedule',
            'backfill',
            scheduleId,
            '--from',
            '2026-11-01',
            '--to',
            '2026-11-03',
            '--json',
          ])
        ).stdout,
      ) as { overlap: string };
      expect(requested.overlap).toBe('buffer-all');
      // Buffered runs start one at a time: wait until the schedule has started all three.
      const handle = client.schedule.getHandle(scheduleId);
      let ids: string[] = [];
      for (let i = 0; i < 1200 && ids.length < 3; i++) {
        ids = (await handle.describe()).info.recentActions.map((a) => a.action.workflow.workflowId);
        if (ids.length < 3) await new Promise((r) => setTimeout(r, 500));
      }
      const results = [];
      for (const id of ids) {
        const h = client.workflow.getHandle(id);
        const result = (await h.result()) as CurateCorpusResult;
        const d = await h.describe();
        results.push({ id, result, start: d.startTime, close: d.closeTime! });
      }
      await retort(['schedule', 'delete', scheduleId]);
      return results;
    });

    expect(runs.map((r) => r.id)).toEqual(
      ['2026-11-01', '2026-11-02', '2026-11-03'].map((d) => `schedule-${scheduleId}-${d}T00:00:00Z`),
    );
    // One after another: each run started after the previous one closed.
    for (let i = 1; i < runs.length; i++)
      expect(runs[i]!.start.getTime()).toBeGreaterThanOrEqual(runs[i - 1]!.close.getTime());
    const m = await Promise.all(runs.map((r) => manifestOf(r.id)));
    expect(m.map((x) => [x.outputs.partition, x.outputs.partitionFrom, x.outputs.generation])).toEqual([
      ['2026-11-01', 'schedule', 1],
      ['2026-11-02', 'schedule', 2],
      ['2026-11-03', 'schedule', 3],
    ]);
    // Each day continues the day before.
    expect(m[0]!.outputs.startedFrom).toBeNull();
    expect(m[1]!.outputs.startedFrom).toEqual(m[0]!.outputs.checkpoint);
    expect(m[2]!.outputs.startedFrom).toEqual(m[1]!.outputs.checkpoint);
    expect(m[2]!.outputs.previousPartition).toBe('2026-11-02');
    expect(runs.every((r) => r.result.lineageAdvanced)).toBe(true);
    expect(await pointer()).toMatchObject({
      partition: '2026-11-03',
      workflowId: runs[2]!.id,
      generation: 3,
    });

    // Both files of a partition were read (not _SUCCESS): novel rows from the Parquet, speeches from the JSONL.
    expect(m[0]!.outputs.partitionFiles).toBe(2);
    const artifacts = new ArtifactStore(store);
    const rows = [];
    for (const ref of Object.values(m[0]!.outputs.ingest.corpus))
      rows.push(
        ...rowsFromTable(
          decodeValidated(await artifacts.read(ref), ref.uri, TEXT_CORPUS, { allowEmpty: true }),
          ref.uri,
        ),
      );
    expect(new Set(rows.map((r) => `${r.group}:${r.source}`))).toEqual(
      new Set(['novel:moby-dick', 'speeches:part-1.jsonl']),
    );
    expect(rows.every((r) => r.id.startsWith('2026-11-01/'))).toBe(true);
  });

  it('a late partition backfilled after a newer run commits its run and leaves the pointer', async () => {
    writePartition('2026-11-05', 40);
    const taskQueue = uniqueQueue('late');
    const { runUntil } = await startWorkers(store, taskQueue, 'all');
    const run = (id: string, extra: Partial<CurateCorpusInput>) =>
      client.workflow.execute('curateCorpus', {
        taskQueue,
        workflowId: id,
        args: [{ ...baseInput(), ...extra }],
      }) as Promise<CurateCorpusResult>;
    const before = await pointer();
    const newestId = `newest-${taskQueue}`;
    const lateId = `late-${taskQueue}`;
    const { newest, late } = await runUntil(async () => {
      const newest = await run(newestId, {}); // no partition: the newest, 2026-11-05
      writePartition('2026-11-04', 50); // arrives late
      const late = await run(lateId, { partition: '2026-11-04' });
      return { newest, late };
    });
    expect(newest).toMatchObject({ partition: '2026-11-05', generation: 4, lineageAdvanced: true });
    expect(newest.startedFrom).toEqual(before.checkpoint);
    // The backfill continues the lineage as it stood before 2026-11-04 (the 11-03 run) ...
    expect(late).toMatchObject({ partition: '2026-11-04', generation: 4, lineageAdvanced: false });
    expect(late.startedFrom).toEqual(before.checkpoint);
    expect((await manifestOf(lateId)).outputs).toMatchObject({
      partition: '2026-11-04',
      partitionFrom: 'input',
    });
    // ... and the pointer stays at the newer partition, while 11-04 keeps its own record.
    expect(await pointer()).toMatchObject({ partition: '2026-11-05', workflowId: newestId });
    const record = JSON.parse(
      decode(await store.get(`lineages/${lineage}/partitions/2026-11-04.json`)),
    ) as LineageRecord;
    expect(record).toMatchObject({ workflowId: lateId, checkpoint: late.checkpoint });
  });
});

describe('curateCorpus rejects bad partitions: named, non-retryable, nothing committed', () => {
  /** Runs curateCorpus (I/O queue only: every failure comes before training) and returns its failure. */
  async function curateFailure(extra: Partial<CurateCorpusInput>, prefix = `${store.root}/corpus`) {
    const taskQueue = uniqueQueue('bad-partition');
    const workflowId = `bad-${taskQueue}`;
    const before = decode(await store.get(`lineages/${lineage}/LATEST.json`));
    const { runUntil } = await startWorkers(store, taskQueue);
    const err = await runUntil(() =>
      client.workflow
        .execute('curateCorpus', {
          taskQueue,
          workflowId,
          args: [{ ...baseInput(), source: { partitions: prefix }, ...extra }],
        })
        .then(
          () => undefined,
          (e: unknown) => e,
        ),
    );
    const cause = nonRetryableCause(err);
    // Nothing committed: no manifest for the run or its ingest child, the pointer unchanged.
    expect(await findManifestKey(store, workflowId)).toBeUndefined();
    expect(await findManifestKey(store, `${workflowId}/ingest`)).toBeUndefined();
    expect(decode(await store.get(`lineages/${lineage}/LATEST.json`))).toBe(before);
    return cause;
  }

  it('a malformed partition name: in the input, or a folder under the prefix', async () => {
    const f = await curateFailure({ partition: '2026-11-31' });
    expect(f.type).toBe('InvalidPipelineInput');
    expect(f.message).toContain('field "partition"');
    mkdirSync(join(store.dir, 'misnamed', '2026-11-01'), { recursive: true });
    writeFileSync(join(store.dir, 'misnamed', '2026-11-01', 'a.jsonl'), '{"id":"a","group":"g","text":"t"}');
    mkdirSync(join(store.dir, 'misnamed', '2026-11-7'), { recursive: true });
    writeFileSync(join(store.dir, 'misnamed', '2026-11-7', 'a.jsonl'), '{"id":"a","group":"g","text":"t"}');
    const g = await curateFailure({}, `${store.root}/misnamed`);
    expect(g.type).toBe('InvalidPartitionName');
    expect(g.message).toContain('folder "2026-11-7"');
  });

  it('an empty partition (only a _SUCCESS marker)', async () => {
    mkdirSync(join(corpus, '2026-11-06'), { recursive: true });
    writeFileSync(join(corpus, '2026-11-06', '_SUCCESS'), '');
    const f = await curateFailure({ partition: '2026-11-06' });
    expect(f.type).toBe('EmptyPartition');
    expect(f.message).toContain('partition "2026-11-06"');
    expect(await store.head(`lineages/${lineage}/partitions/2026-11-06.json`)).toBeUndefined();
  });

  it('a partition with one corrupt file among good ones', async () => {
    writePartition('2026-11-07', 60);
    writeFileSync(join(corpus, '2026-11-07', 'part-2.parquet'), 'PAR1 this is not a Parquet file');
    const f = await curateFailure({ partition: '2026-11-07' });
    expect(f.type).toBe('CorruptDataset');
    expect(f.message).toContain('2026-11-07/part-2.parquet');
    expect(await store.head(`lineages/${lineage}/partitions/2026-11-07.json`)).toBeUndefined();
  });
});

describe('curateCorpus with near-duplicate removal and quality filters', () => {
  const rng = new Rng(11);
  const WORDS = Array.from({ length: 400 }, () =>
    Array.from({ length: 3 + Math.floor(rng.next() * 6) }, () =>
      String.fromCharCode(97 + Math.floor(rng.next() * 26)),
    ).join(''),
  );
  const prose = () =>
    Array.from({ length: 80 }, () => WORDS[Math.floor(rng.next() * WORDS.length)]!).join(' ');
  /** One word in 25 replaced: Jaccard with the original stays well above 0.8. */
  const nearCopy = (text: string) =>
    text
      .split(' ')
      .map((w, i) => (i % 25 === 7 ? 'qqqqq' : w))
      .join(' ');
  type Row = { id: string; group: string; text: string };
  const docs = (prefix: string, group: string): Row[] =>
    Array.from({ length: 20 }, (_, i) => ({
      id: `${prefix}${String(i).padStart(2, '0')}`,
      group,
      text: prose(),
    }));
  const web = docs('a', 'web');
  const news = docs('b', 'news');
  const later = docs('c', 'web');
  const text = (id: string) => web.find((r) => r.id === id)!.text;
  const dedupLineage = `dedup-${randomUUID().slice(0, 8)}`;
  const prefix = join(store.dir, 'corpus-dedup');

  function writeFiles(day: string, parquet: Row[], jsonl: Row[]) {
    mkdirSync(join(prefix, day), { recursive: true });
    writeFileSync(join(prefix, day, 'part-0.parquet'), textCorpusParquet(parquet, 'crawl'));
    writeFileSync(join(prefix, day, 'part-1.jsonl'), jsonl.map((r) => JSON.stringify(r)).join('\n'));
  }

  it("removes duplicates across the partition's two files and junk, then a duplicate of the partition before", async () => {
    // 2026-12-01: copies of two Parquet documents sit in the JSONL file, with a document too short to keep.
    writeFiles('2026-12-01', web, [
      ...news,
      { id: 'x-copy-a03', group: 'web', text: nearCopy(text('a03')) },
      { id: 'x-copy-a07', group: 'news', text: nearCopy(text('a07')) },
      { id: 'x-short', group: 'news', text: 'Click here to subscribe.' },
    ]);
    // 2026-12-02: new documents and a copy of one from 2026-12-01.
    writeFiles('2026-12-02', later, [
      ...news.map((r) => ({ ...r, id: `n-${r.id}`, text: prose() })),
      { id: 'y-copy-a05', group: 'web', text: nearCopy(text('a05')) },
    ]);
    const taskQueue = uniqueQueue('curate-dedup');
    const input = (partition: string): CurateCorpusInput => ({
      ...baseInput(),
      lineage: dedupLineage,
      source: { partitions: `${store.root}/corpus-dedup` },
      partition,
      ingest: { ...TINY_CURATE.ingest, dedup: { crossPartition: true }, filters: {} },
    });
    const { runUntil } = await startWorkers(store, taskQueue, 'all');
    const ids = [`dedup-1-${taskQueue}`, `dedup-2-${taskQueue}`];
    await runUntil(async () => {
      await client.workflow.execute('curateCorpus', {
        taskQueue,
        workflowId: ids[0]!,
        args: [input('2026-12-01')],
      });
      await client.workflow.execute('curateCorpus', {
        taskQueue,
        workflowId: ids[1]!,
        args: [input('2026-12-02')],
      });
    });
    type Curated = CurationRefs & { summary: CurationSummary };
    const curation = async (id: string) =>
      ((await manifestOf(id)).outputs as unknown as { ingest: { curation: Curated } }).ingest.curation;
    const keptIds = async (c: Curated) =>
      rowsFromTable(
        decodeValidated(await new ArtifactStore(store).read(c.corpus), c.corpus.uri, TEXT_CORPUS),
        c.corpus.uri,
      ).map((r) => r.id);
    const [first, second] = [await curation(ids[0]!), await curation(ids[1]!)];

    // Run 1: the two copies (each kept as its original, the smaller id) and the short document are gone.
    expect(first.summary.rows).toEqual({
      input: 43,
      filtered: 1,
      duplicates: 2,
      previousDuplicates: 0,
      kept: 40,
    });
    expect(first.summary.filters.find((f) => f.filter === 'words')).toMatchObject({ removed: 1 });
    const kept1 = await keptIds(first);
    expect(kept1).toEqual(expect.arrayContaining(['a03', 'a07', 'b00']));
    expect(kept1.filter((id) => id.startsWith('x-'))).toEqual([]);
    // Run 2: the copy of a 2026-12-01 document is removed against run 1's signature table.
    expect(second.summary.dedup).toMatchObject({ previousTables: 1 });
    expect(second.summary.rows).toEqual({
      input: 41,
      filtered: 0,
      duplicates: 0,
      previousDuplicates: 1,
      kept: 40,
    });
    expect(await keptIds(second)).not.toContain('y-copy-a05');
    // The lineage carries both partitions' signature tables for the next run.
    expect((await readRecord(dedupLineage)).signatures).toEqual([first.signatures, second.signatures]);
  });

  const readRecord = async (l: string) =>
    JSON.parse(decode(await store.get(`lineages/${l}/LATEST.json`))) as LineageRecord;
});
