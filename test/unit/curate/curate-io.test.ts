// Partitions under a prefix (names, data files, what is ignored), the lineage pointer and its order, and the LR column of continualPretrain's
// metrics table (the same schedule trainChunk uses, spec §3 oracle values).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { scheduleLrs } from '../../../activities/rewarm.js';
import { createCurateIoActivities, partitionsOf } from '../../../activities/curate.js';
import { CurateCorpusInput, isPartitionName, partitionAt } from '../../../schemas/curate.js';
import { ArtifactStore } from '../../../storage/artifacts.js';
import { FileStore } from '../../../storage/file-store.js';

const bytes = (s: string) => new TextEncoder().encode(s);

describe('partitionsOf', () => {
  it('groups data files at any depth under each partition folder, sorted, ignoring _ and . paths', () => {
    const parts = partitionsOf(
      [
        'c/2026-11-02/b.jsonl',
        'c/2026-11-02/a.parquet',
        'c/2026-11-01/a.jsonl',
        'c/2026-11-01/_SUCCESS',
        'c/2026-11-01/.a.jsonl.crc',
        'c/2026-11-01/sub/part-1.parquet',
        'c/2026-11-01/_temporary/0/part-9.parquet',
        'c/2026-11-03/_SUCCESS',
        'c/_staging/2026-11-04/a.parquet',
        'c/.trash/x',
        'c/top.parquet',
        'c/README.md',
      ],
      'c/',
    );
    expect([...parts.entries()]).toEqual([
      ['2026-11-01', ['c/2026-11-01/a.jsonl', 'c/2026-11-01/sub/part-1.parquet']],
      ['2026-11-02', ['c/2026-11-02/a.parquet', 'c/2026-11-02/b.jsonl']],
      ['2026-11-03', []],
    ]);
  });

  it('refuses folders that are not partition names, mixed granularity and unknown visible files', () => {
    for (const bad of ['2026-1-05', '2026-02-30', '2026-11-01T24', 'latest', '2026-11-01T05:00']) {
      let err: unknown;
      try {
        partitionsOf([`c/${bad}/a.jsonl`], 'c/', 's3://b/c');
      } catch (e) {
        err = e;
      }
      expect(err, bad).toMatchObject({ type: 'InvalidPartitionName' });
      expect((err as Error).message).toContain(`"${bad}" under s3://b/c`);
    }
    expect(() => partitionsOf(['c/2026-11-01/a.jsonl', 'c/2026-11-01T05/a.jsonl'], 'c/')).toThrow(
      /mixes daily and hourly/,
    );
    expect(() => partitionsOf(['c/2026-11-01/a.csv'], 'c/')).toThrow(/2026-11-01\/a.csv .*neither Parquet/);
    expect([...partitionsOf(['c/2026-11-01T05/a.jsonl', 'c/2026-11-01T23/a.jsonl'], 'c/').keys()]).toEqual([
      '2026-11-01T05',
      '2026-11-01T23',
    ]);
  });
});

describe('partition names', () => {
  it('accepts real UTC days and hours only, and maps an instant to its partition', () => {
    expect(['2026-11-01', '2024-02-29', '2026-11-01T00', '2026-11-01T23'].every(isPartitionName)).toBe(true);
    expect(
      ['2026-11-1', '2025-02-29', '2026-13-01', '2026-11-01T24', '2026-11-01 05', ''].some(isPartitionName),
    ).toBe(false);
    const t = new Date('2026-11-03T00:00:00Z');
    expect(partitionAt(t, 'day')).toBe('2026-11-03');
    expect(partitionAt(t, 'day', 1)).toBe('2026-11-02');
    expect(partitionAt(t, 'hour', 1)).toBe('2026-11-02T23');
    expect(
      CurateCorpusInput.parse({ source: { partitions: '/d' }, partitionFromSchedule: 'day' }),
    ).toMatchObject({
      partitionFromSchedule: { unit: 'day', lag: 0 },
    });
    const issue = (input: object) => CurateCorpusInput.safeParse(input).error?.issues[0];
    expect(issue({ source: { partitions: '/d' }, partition: '2026-11-31' })?.path).toEqual(['partition']);
    expect(issue({ source: { builtin: ['novel'] }, partition: '2026-11-01' })?.message).toBe(
      'needs source.partitions',
    );
    expect(
      issue({ source: { partitions: '/d' }, partition: '2026-11-01', partitionFromSchedule: 'day' })?.path,
    ).toEqual(['partitionFromSchedule']);
  });
});

describe('curate I/O activities', () => {
  const store = new FileStore(mkdtempSync(join(tmpdir(), 'retort-curate-')));
  const act = createCurateIoActivities({ artifacts: new ArtifactStore(store) });

  it('resolvePartition: the newest or the named partition with all its data files, any allowed prefix', async () => {
    await store.put('corpus/2026-11-01/part.jsonl', bytes('{}'));
    await store.put('corpus/2026-11-09/b.parquet', bytes('{}'));
    await store.put('corpus/2026-11-09/a.jsonl', bytes('{}'));
    await store.put('corpus/2026-11-09/_SUCCESS', bytes(''));
    const inHome = await act.resolvePartition({ prefix: `${store.root}/corpus/` });
    expect(inHome).toEqual({
      partition: '2026-11-09',
      uris: [store.uri('corpus/2026-11-09/a.jsonl'), store.uri('corpus/2026-11-09/b.parquet')],
      partitions: ['2026-11-01', '2026-11-09'],
      partitionCount: 2,
    });
    expect(
      (await act.resolvePartition({ prefix: `${store.root}/corpus`, partition: '2026-11-01' })).uris,
    ).toEqual([store.uri('corpus/2026-11-01/part.jsonl')]);
    const elsewhere = createCurateIoActivities({
      artifacts: new ArtifactStore(new FileStore(mkdtempSync(join(tmpdir(), 'retort-home-')))),
    });
    // Another store's folder is readable only when listed in RETORT_INPUT_ROOTS.
    await expect(elsewhere.resolvePartition({ prefix: `${store.root}/corpus` })).rejects.toMatchObject({
      type: 'UriRefused',
    });
    process.env.RETORT_INPUT_ROOTS = store.root;
    try {
      expect((await elsewhere.resolvePartition({ prefix: `${store.root}/corpus` })).uris).toEqual(
        inHome.uris,
      );
    } finally {
      delete process.env.RETORT_INPUT_ROOTS;
    }
    // Runs from before whole partitions still get their one file.
    await store.put('single/2026-11-01/part.jsonl', bytes('{}'));
    expect(await act.newestPartition({ prefix: `${store.root}/single` })).toEqual({
      partition: '2026-11-01',
      uri: store.uri('single/2026-11-01/part.jsonl'),
      partitions: ['2026-11-01'],
    });
  });

  it('fails with a named type on an empty prefix, a missing or an empty partition', async () => {
    await expect(act.resolvePartition({ prefix: `${store.root}/nothing` })).rejects.toMatchObject({
      type: 'DatasetNotFound',
    });
    await expect(
      act.resolvePartition({ prefix: `${store.root}/corpus`, partition: '2026-11-05' }),
    ).rejects.toThrow(/partition "2026-11-05" does not exist .*2 partitions, 2026-11-01 to 2026-11-09/);
    await store.put('corpus/2026-11-10/_SUCCESS', bytes(''));
    await expect(act.resolvePartition({ prefix: `${store.root}/corpus` })).rejects.toMatchObject({
      type: 'EmptyPartition',
      message: expect.stringContaining('partition "2026-11-10"') as string,
    });
    await store.put('corpus/2026-11-10/a.parquet', bytes('x'));
    await store.put('corpus/2026-11-10/b.parquet', bytes('x'));
    await expect(act.newestPartition({ prefix: `${store.root}/corpus` })).rejects.toThrow(
      /2026-11-10.*2 data files/,
    );
  });

  it('readLineage is null before the first run and returns what advanceLineage wrote', async () => {
    expect(await act.readLineage({ lineage: 'l1' })).toBeNull();
    const record = lineageRecord('l1', 'p', 1);
    expect(await act.advanceLineage(record)).toEqual({ advanced: true, latest: 'p' });
    expect(await act.readLineage({ lineage: 'l1' })).toEqual(record);
    await store.put('lineages/bad/LATEST.json', bytes('{"lineage": 1}'));
    await expect(act.readLineage({ lineage: 'bad' })).rejects.toMatchObject({ type: 'CorruptDataset' });
  });

  it('the pointer moves only forward in partition order; a run continues the partition before its own', async () => {
    const l = 'ordered';
    const p1 = lineageRecord(l, '2026-11-01', 1);
    const p3 = lineageRecord(l, '2026-11-03', 2);
    expect(await act.advanceLineage(p1)).toEqual({ advanced: true, latest: '2026-11-01' });
    expect(await act.advanceLineage(p3)).toEqual({ advanced: true, latest: '2026-11-03' });
    // A late backfill of 11-02 starts from 11-01's record and leaves the pointer at 11-03.
    expect(await act.readLineage({ lineage: l, before: '2026-11-02' })).toEqual(p1);
    const p2 = lineageRecord(l, '2026-11-02', 2);
    expect(await act.advanceLineage(p2)).toEqual({ advanced: false, latest: '2026-11-03' });
    expect(await act.readLineage({ lineage: l })).toEqual(p3);
    expect(await act.readLineage({ lineage: l, before: '2026-11-03' })).toEqual(p2);
    expect(await act.readLineage({ lineage: l, before: '2026-11-04' })).toEqual(p3);
    expect(await act.readLineage({ lineage: l, before: '2026-11-01' })).toBeNull();
    // Re-running the newest partition replaces its record and the pointer.
    const again = { ...p3, runId: 'r2' };
    expect(await act.advanceLineage(again)).toEqual({ advanced: true, latest: '2026-11-03' });
    expect(await act.readLineage({ lineage: l })).toEqual(again);
    // A pointer from before per-partition records (no partitions/ folder) counts for its partition.
    const legacy = lineageRecord('legacy', '2026-10-01', 4);
    await store.put('lineages/legacy/LATEST.json', bytes(JSON.stringify(legacy)));
    expect(await act.readLineage({ lineage: 'legacy', before: '2026-10-02' })).toEqual(legacy);
    expect(await act.readLineage({ lineage: 'legacy', before: '2026-10-01' })).toBeNull();
  });
});

function lineageRecord(lineage: string, partition: string, generation: number) {
  const ckpt = {
    uri: `file:///ckpt/${partition}`,
    kind: 'checkpoint' as const,
    format: 'tfjs' as const,
    sha256: 'a'.repeat(64),
    bytes: 1,
  };
  return {
    lineage,
    workflowId: `w-${partition}`,
    runId: 'r',
    checkpoint: ckpt,
    partition,
    val: { ...ckpt, kind: 'table' as const, format: 'parquet' as const },
    generation,
  };
}

describe('scheduleLrs', () => {
  it('matches the spec §8 oracle values and keeps the full-budget horizon for a shorter run', () => {
    const schedule = {
      kind: 'rewarmedCosine' as const,
      maxLr: 3e-4,
      warmupFraction: 0.01,
      decayEndStep: 808,
      totalSteps: 1000,
    };
    const lrs = scheduleLrs(schedule, 170); // a run stopped after 17 % of S (spec §8 horizon independence)
    expect(lrs).toHaveLength(170);
    expect(lrs[0]).toBeCloseTo(3e-5, 12);
    expect(lrs[4]).toBeCloseTo(1.5e-4, 12);
    expect(lrs[9]).toBe(3e-4);
    expect(lrs[10]).toBe(3e-4);
    expect(lrs[11]).toBeCloseTo(2.99999e-4, 9);
    expect(scheduleLrs({ kind: 'constant', lr: 3e-5 }, 3)).toEqual([3e-5, 3e-5, 3e-5]);
    expect(() => scheduleLrs({ kind: 'rewarmedCosine', maxLr: 1e-3, warmupFraction: 1 }, 10)).toThrow(
      /decay end/,
    );
  });
});
