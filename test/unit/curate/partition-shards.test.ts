// A partition's files read as shards of one corpus (ingestTextCorpus `source.shards`): Parquet and
// JSONL together, every row in the splits, ids unique across files, a bad file named.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createIngestActivities } from '../../../activities/ingest.js';
import { rowsFromTable } from '../../../activities/text-corpus.js';
import { SPLITS } from '../../../schemas/ingest.js';
import { TEXT_CORPUS } from '../../../schemas/tables.js';
import { textCorpusParquet } from '../../support/training-fixtures.js';
import { ArtifactStore } from '../../../storage/artifacts.js';
import { FileStore } from '../../../storage/file-store.js';
import { decodeValidated } from '../../../storage/parquet.js';

const doc = (id: string, group: string) => ({
  id,
  group,
  text: `${id} `.repeat(40) + '\n\n' + `more of ${id} `.repeat(30),
});

describe('ingestTextCorpus with shards', () => {
  const store = new FileStore(mkdtempSync(join(tmpdir(), 'retort-shards-')));
  const artifacts = new ArtifactStore(store);
  const { ingestTextCorpus } = createIngestActivities({ artifacts });
  const settings = { maxBytesPerGroup: 1e6, passageBytes: 256, split: { val: 0.2, test: 0.1 }, seed: 3 };

  it('reads a Parquet and a JSONL file into one corpus', async () => {
    const a = ['a1', 'a2', 'a3'].map((id) => doc(id, 'news'));
    const b = ['b1', 'b2'].map((id) => doc(id, 'web'));
    await store.put('p/2026-11-01/part-0.parquet', textCorpusParquet(a, 'crawl'));
    await store.put(
      'p/2026-11-01/part-1.jsonl',
      new TextEncoder().encode(b.map((r) => JSON.stringify(r)).join('\n')),
    );
    const shards = [store.uri('p/2026-11-01/part-0.parquet'), store.uri('p/2026-11-01/part-1.jsonl')];
    const r = await ingestTextCorpus({ source: { shards }, ...settings });
    const rows = [];
    for (const s of SPLITS) {
      const ref = r.corpus[s];
      rows.push(
        ...rowsFromTable(
          decodeValidated(await artifacts.read(ref), ref.uri, TEXT_CORPUS, { allowEmpty: true }),
          ref.uri,
        ),
      );
    }
    const docs = new Set(rows.map((row) => row.id.split('#')[0]));
    expect([...docs].sort()).toEqual(['a1', 'a2', 'a3', 'b1', 'b2']);
    expect(r.groups.map((g) => g.group)).toEqual(['news', 'web']);
    // Each file's rows keep their origin: the Parquet's own column, the JSONL file's name.
    expect(new Set(rows.map((row) => `${row.id[0]}:${row.source}`))).toEqual(
      new Set(['a:crawl', 'b:part-1.jsonl']),
    );
  });

  it('refuses an id in two files, naming both, and names a corrupt file', async () => {
    await store.put('q/x.jsonl', new TextEncoder().encode(JSON.stringify(doc('same', 'g'))));
    await store.put('q/y.jsonl', new TextEncoder().encode(JSON.stringify(doc('same', 'g'))));
    await expect(
      ingestTextCorpus({ source: { shards: [store.uri('q/x.jsonl'), store.uri('q/y.jsonl')] }, ...settings }),
    ).rejects.toThrow(/"same" in .*q\/y\.jsonl also occurs in .*q\/x\.jsonl/);
    await store.put('q/bad.parquet', new TextEncoder().encode('not parquet at all'));
    await expect(
      ingestTextCorpus({
        source: { shards: [store.uri('q/x.jsonl'), store.uri('q/bad.parquet')] },
        ...settings,
      }),
    ).rejects.toMatchObject({
      type: 'CorruptDataset',
      message: expect.stringContaining('q/bad.parquet') as string,
    });
  });
});
