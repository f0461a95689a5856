// Partition discovery under a prefix, the lineage pointer, and the LR column of continualPretrain's
// metrics table (the same schedule trainChunk uses, spec §3 oracle values).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { scheduleLrs } from '../../../activities/rewarm.js';
import { createCurateIoActivities, partitionsOf } from '../../../activities/curate.js';
import { ArtifactStore } from '../../../storage/artifacts.js';
import { FileStore } from '../../../storage/file-store.js';

const bytes = (s: string) => new TextEncoder().encode(s);

describe('partitionsOf', () => {
  it('groups data files by the first segment under the prefix, sorted, ignoring other files', () => {
    const parts = partitionsOf(
      [
        'c/2026-11-02/a.parquet',
        'c/2026-11-01/a.jsonl',
        'c/2026-11-01/_SUCCESS',
        'c/top.parquet',
        'c/2026-11-03/readme.txt',
      ],
      'c/',
    );
    expect([...parts.entries()]).toEqual([
      ['2026-11-01', ['c/2026-11-01/a.jsonl']],
      ['2026-11-02', ['c/2026-11-02/a.parquet']],
    ]);
  });
});

describe('curate I/O activities', () => {
  const store = new FileStore(mkdtempSync(join(tmpdir(), 'retort-curate-')));
  const act = createCurateIoActivities({ artifacts: new ArtifactStore(store) });

  it('newestPartition picks the greatest name, under the home store or any file:// prefix', async () => {
    await store.put('corpus/2026-11-01/part.jsonl', bytes('{}'));
    await store.put('corpus/2026-11-09/part.jsonl', bytes('{}'));
    const inHome = await act.newestPartition({ prefix: `${store.root}/corpus/` });
    expect(inHome).toEqual({
      partition: '2026-11-09',
      uri: store.uri('corpus/2026-11-09/part.jsonl'),
      partitions: ['2026-11-01', '2026-11-09'],
    });
    const elsewhere = createCurateIoActivities({
      artifacts: new ArtifactStore(new FileStore(mkdtempSync(join(tmpdir(), 'retort-home-')))),
    });
    expect((await elsewhere.newestPartition({ prefix: `${store.root}/corpus` })).uri).toBe(inHome.uri);
  });

  it('fails with a named type on an empty prefix or an ambiguous partition', async () => {
    await expect(act.newestPartition({ prefix: `${store.root}/nothing` })).rejects.toMatchObject({
      type: 'DatasetNotFound',
    });
    await store.put('corpus/2026-11-10/a.parquet', bytes('x'));
    await store.put('corpus/2026-11-10/b.parquet', bytes('x'));
    await expect(act.newestPartition({ prefix: `${store.root}/corpus` })).rejects.toThrow(
      /2026-11-10.*2 data files/,
    );
  });

  it('readLineage is null before the first run and returns what advanceLineage wrote', async () => {
    expect(await act.readLineage({ lineage: 'l1' })).toBeNull();
    const ckpt = {
      uri: store.uri('x'),
      kind: 'checkpoint' as const,
      format: 'tfjs' as const,
      sha256: 'a'.repeat(64),
      bytes: 1,
    };
    const record = {
      lineage: 'l1',
      workflowId: 'w',
      runId: 'r',
      checkpoint: ckpt,
      partition: 'p',
      val: { ...ckpt, kind: 'table' as const, format: 'parquet' as const },
      generation: 1,
    };
    await act.advanceLineage(record);
    expect(await act.readLineage({ lineage: 'l1' })).toEqual(record);
    await store.put('lineages/bad/LATEST.json', bytes('{"lineage": 1}'));
    await expect(act.readLineage({ lineage: 'bad' })).rejects.toMatchObject({ type: 'CorruptDataset' });
  });
});

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
