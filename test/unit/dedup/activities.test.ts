// The curation activities called directly on a file store: the same inputs and seed give the same
// artifacts (sha256), however the rows are sharded; another seed gives other signatures.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createDedupComputeActivities, createDedupIoActivities } from '../../../activities/dedup.js';
import { Rng } from '../../../ml/train/rng.js';
import { TEXT_CORPUS } from '../../../schemas/tables.js';
import { buildTable } from '../../../storage/arrow-tables.js';
import { ArtifactStore } from '../../../storage/artifacts.js';
import { FileStore } from '../../../storage/file-store.js';
import { encodeParquet } from '../../../storage/parquet.js';

const rng = new Rng(8);
const word = () =>
  Array.from({ length: 3 + Math.floor(rng.next() * 5) }, () =>
    String.fromCharCode(97 + Math.floor(rng.next() * 26)),
  ).join('');
const docs = Array.from({ length: 40 }, (_, i) => ({
  id: `d${String(i).padStart(2, '0')}`,
  text: Array.from({ length: 70 }, word).join(' '),
}));
// Copies of d01 and d02 (ids after theirs), and an exact copy of d03 with other spacing.
docs.push({ id: 'd01-copy', text: docs[1]!.text.replace(/^\S+/, 'zzzz') });
docs.push({ id: 'd02-copy', text: `Header line\n${docs[2]!.text}` });
docs.push({ id: 'd03-copy', text: docs[3]!.text.replace(/ /g, '  ') });

async function curate(shardRows: number, seed: number) {
  const store = new FileStore(mkdtempSync(join(tmpdir(), 'retort-dedup-')));
  const artifacts = new ArtifactStore(store);
  const io = createDedupIoActivities({ artifacts });
  const compute = createDedupComputeActivities({ artifacts });
  await store.put(
    'inputs/docs.parquet',
    encodeParquet(
      buildTable(TEXT_CORPUS, {
        id: docs.map((d) => d.id),
        group: docs.map(() => 'g'),
        text: docs.map((d) => d.text),
        source: docs.map(() => 's'),
      }),
    ),
  );
  const prepared = await io.prepareCuration({ inputs: [store.uri('inputs/docs.parquet')], shardRows });
  const settings = { ngram: 5, numPerm: 100, stripPunctuation: false, seed };
  const signatures = [];
  for (const shard of prepared.shards) signatures.push(await compute.minhashShard({ shard, settings }));
  const dedup = { ngram: 5, numPerm: 100, bands: 20, rows: 5, threshold: 0.8 };
  const resolved = await io.resolveDuplicates({ shards: prepared.shards, signatures, dedup, seed });
  return { shards: prepared.shards.length, resolved };
}

describe('curation activities', () => {
  it('give the same artifacts for the same seed, whatever the sharding, and remove the copies', async () => {
    const one = await curate(1000, 4);
    const three = await curate(16, 4);
    expect([one.shards, three.shards]).toEqual([1, 3]);
    expect(one.resolved.duplicates).toBe(3);
    expect(one.resolved.kept).toBe(40);
    for (const key of ['corpus', 'signatures', 'removed'] as const)
      expect(three.resolved[key]!.sha256, key).toBe(one.resolved[key]!.sha256);
    const other = await curate(16, 5);
    expect(other.resolved.signatures!.sha256).not.toBe(one.resolved.signatures!.sha256);
    expect(other.resolved.corpus.sha256).toBe(one.resolved.corpus.sha256);
  });
});
