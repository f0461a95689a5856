// Bad-input edges: declared Parquet expansion and row caps, non-UTF-8 and control characters in
// JSONL, overlong names; and store-independent artifact bytes. Real parquet-wasm files, real decoders.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createIngestActivities } from '../../../activities/ingest.js';
import { ArtifactStore } from '../../../storage/artifacts.js';
import { FileStore } from '../../../storage/file-store.js';
import { rowsFromJsonl } from '../../../activities/text-corpus.js';
import { IngestCorpusInput } from '../../../schemas/ingest.js';
import { IMAGES } from '../../../schemas/tables.js';
import { MAX_NAME_CHARS, overlongNameField } from '../../../schemas/temporal.js';
import { buildTable } from '../../../storage/arrow-tables.js';
import { RetortDataError } from '../../../storage/errors.js';
import {
  checkDeclaredSize,
  decodeParquet,
  encodeParquet,
  parquetReadLimits,
} from '../../../storage/parquet.js';

const typeOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    return e instanceof RetortDataError ? `${e.type}: ${e.message}` : `other: ${String(e)}`;
  }
  return 'no error';
};

/** 2,000 all-zero 28×28 images: ~6 MB uncompressed, a few KB of ZSTD — a small decompression bomb. */
function zeroImages(): Uint8Array {
  const n = 2000;
  return encodeParquet(
    buildTable(
      IMAGES,
      {
        id: Array.from({ length: n }, (_x, i) => `i${i}`),
        label: new Int32Array(n),
        pixels: { flat: new Float32Array(n * 784), size: 784 },
      },
      { h: '28', w: '28', c: '1' },
    ),
  );
}

describe('Parquet read limits', () => {
  const bytes = zeroImages();

  it('the file is small but declares megabytes', () => {
    expect(bytes.byteLength).toBeLessThan(200_000);
  });

  it('a column chunk over the cap → DatasetTooLarge naming the column, before decompressing', () => {
    const limits = { maxColumnChunkBytes: 1_000_000, maxTableBytes: 1e12, maxRows: 1e9 };
    const msg = typeOf(() => decodeParquet(bytes, 'bomb.parquet', limits));
    expect(msg).toMatch(
      /^DatasetTooLarge: Parquet file bomb\.parquet: column "pixels.*" of row group 0 expands to \d+ bytes/,
    );
    expect(msg).toContain('RETORT_MAX_COLUMN_CHUNK_BYTES');
  });

  it('whole-file and row caps have their own messages', () => {
    expect(
      typeOf(() =>
        checkDeclaredSize(bytes, 'b', { maxColumnChunkBytes: 1e12, maxTableBytes: 1e6, maxRows: 1e9 }),
      ),
    ).toMatch(/RETORT_MAX_TABLE_BYTES/);
    expect(
      typeOf(() =>
        checkDeclaredSize(bytes, 'b', { maxColumnChunkBytes: 1e12, maxTableBytes: 1e12, maxRows: 1999 }),
      ),
    ).toMatch(/2000 rows, over the limit of 1999 \(RETORT_MAX_ROWS\)/);
  });

  it('within the default limits the same file decodes', () => {
    expect(decodeParquet(bytes, 'ok.parquet').numRows).toBe(2000);
    expect(parquetReadLimits({ RETORT_MAX_ROWS: '10' }).maxRows).toBe(10);
    expect(() => parquetReadLimits({ RETORT_MAX_ROWS: 'lots' })).toThrow(/RETORT_MAX_ROWS/);
  });
});

describe('JSONL encoding and control characters', () => {
  const enc = (s: string) => new TextEncoder().encode(s);
  const good = '{"id":"a","group":"g","text":"fine"}\n';

  it('a line that is not UTF-8 → CorruptDataset naming the line, not silent U+FFFD', () => {
    const latin1 = new Uint8Array([
      ...enc(good),
      ...enc('{"id":"b","group":"g","text":"caf'),
      0xe9,
      ...enc('"}\n'),
    ]);
    expect(typeOf(() => rowsFromJsonl(latin1, 'latin1.jsonl'))).toBe(
      'CorruptDataset: JSONL file latin1.jsonl, line 2: not valid UTF-8 (convert the file to UTF-8 first)',
    );
  });

  it('an escaped NUL in an id → DatasetSchemaMismatch naming field and line', () => {
    expect(
      typeOf(() => rowsFromJsonl(enc(good + '{"id":"x\\u0000y","group":"g","text":"t"}\n'), 'nul.jsonl')),
    ).toMatch(/DatasetSchemaMismatch: JSONL field "id" in nul\.jsonl, line 2: control characters/);
    expect(rowsFromJsonl(enc(good + '{"id":"é","group":"g","text":"tab\\there"}'), 'ok.jsonl')).toHaveLength(
      2,
    );
  });
});

describe('name lengths', () => {
  it(`a ${MAX_NAME_CHARS + 1}+ character dataset fails validation, naming the field`, () => {
    const r = IngestCorpusInput.safeParse({ dataset: 'd'.repeat(3000) });
    expect(r.success).toBe(false);
    expect(r.error!.issues[0]!.path).toEqual(['dataset']);
    expect(overlongNameField({ dataset: 'd'.repeat(3000) })).toEqual({ field: 'dataset', length: 3000 });
    expect(overlongNameField({ lineage: 'l'.repeat(MAX_NAME_CHARS) })).toBeUndefined();
  });
});

describe('artifact bytes do not contain the store location', () => {
  it('the same JSONL ingested from two stores gives byte-identical corpus tables', async () => {
    const lines = Array.from({ length: 40 }, (_x, i) =>
      JSON.stringify({ id: `d${i}`, group: i % 2 ? 'odd' : 'even', text: `document ${i} `.repeat(30) }),
    ).join('\n');
    const shas: string[] = [];
    for (const name of ['one', 'two']) {
      const store = new FileStore(mkdtempSync(join(tmpdir(), `retort-loc-${name}-`)));
      await store.put('inputs/corpus.jsonl', new TextEncoder().encode(lines));
      const { ingestTextCorpus } = createIngestActivities({ artifacts: new ArtifactStore(store) });
      const r = await ingestTextCorpus({
        source: { uri: store.uri('inputs/corpus.jsonl') },
        maxBytesPerGroup: 1e6,
        passageBytes: 512,
        split: { val: 0.2, test: 0.1 },
        seed: 1,
      });
      expect(r.corpus.train.uri).toContain(store.root);
      shas.push(r.corpus.train.sha256);
    }
    expect(shas[0]).toBe(shas[1]);
  });
});
