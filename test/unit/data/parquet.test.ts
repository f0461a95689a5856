// Arrow/Parquet contracts: round trips, schema errors naming column and file, parquetjs-lite interop
// both ways (SNAPPY/V1/plain profile), and ranged reads with explicit byte ranges only.
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { IMAGES, TEXT_CORPUS, TOKEN_WINDOWS } from '../../../schemas/tables.js';
import {
  buildTable,
  fixedSizeListValues,
  stringValues,
  validateTable,
} from '../../../storage/arrow-tables.js';
import { decodeParquet, decodeValidated, encodeParquet } from '../../../storage/parquet.js';
import { FileStore } from '../../../storage/file-store.js';
import type { ObjectStore } from '../../../storage/object-store.js';
import { parquetRowCount, readRowsRanged } from '../../../storage/ranged.js';

const require = createRequire(import.meta.url);
const parquetjs = require('parquetjs-lite') as {
  ParquetReader: {
    openBuffer(
      b: Buffer,
    ): Promise<{ getCursor(): { next(): Promise<Record<string, unknown> | null> }; close(): Promise<void> }>;
  };
  ParquetWriter: {
    openFile(
      schema: unknown,
      path: string,
      opts?: unknown,
    ): Promise<{ appendRow(r: unknown): Promise<void>; close(): Promise<void> }>;
  };
  ParquetSchema: new (s: unknown) => unknown;
};

const corpus = () =>
  buildTable(TEXT_CORPUS, {
    id: ['a', 'b', 'c'],
    group: ['speeches', 'code', 'speeches'],
    text: ['Fellow citizens', 'interface X {}', 'Mr. Speaker'],
    source: ['s1', 's2', 's3'],
  });

async function readAllParquetjs(bytes: Uint8Array) {
  const reader = await parquetjs.ParquetReader.openBuffer(Buffer.from(bytes));
  const cursor = reader.getCursor();
  const rows: Record<string, unknown>[] = [];
  for (let r = await cursor.next(); r; r = await cursor.next()) rows.push(r);
  await reader.close();
  return rows;
}

describe('Parquet codec', () => {
  it('round-trips a FixedSizeList<float32> image table with its h,w,c metadata (ZSTD)', () => {
    const pixels = Float32Array.from({ length: 3 * 4 }, (_x, i) => i / 7);
    const t = buildTable(
      IMAGES,
      { id: ['x', 'y', 'z'], label: new Int32Array([0, 9, 3]), pixels: { flat: pixels, size: 4 } },
      { h: '2', w: '2', c: '1' },
    );
    const back = decodeValidated(encodeParquet(t), 'mem.parquet', IMAGES, { sizes: { pixels: 4 } });
    expect(fixedSizeListValues(back, 'pixels').flat).toEqual(pixels);
    expect(back.schema.metadata.get('h')).toBe('2');
    expect(Array.from(back.getChild('label')!.toArray() as Int32Array)).toEqual([0, 9, 3]);
  });

  it('writes the same bytes for the same table (artifact hashes are stable)', () => {
    expect(Buffer.from(encodeParquet(corpus())).equals(Buffer.from(encodeParquet(corpus())))).toBe(true);
  });

  it('names the first mismatching column and the file', () => {
    const t = buildTable(
      TOKEN_WINDOWS,
      { id: ['w'], group: ['g'], input_ids: { flat: new Int32Array(8), size: 8 } },
      { ctx: '8' },
    );
    expect(() => validateTable(t, IMAGES, 's3://b/k.parquet')).toThrow(
      'Parquet column "label" in s3://b/k.parquet: missing',
    );
    expect(() => validateTable(t, TOKEN_WINDOWS, 's3://b/k.parquet', { sizes: { input_ids: 16 } })).toThrow(
      'Parquet column "input_ids" in s3://b/k.parquet: expected FixedSizeList<int32>[16], got FixedSizeList<int32>[8]',
    );
    const empty = buildTable(TEXT_CORPUS, { id: [], group: [], text: [], source: [] });
    expect(() => validateTable(empty, TEXT_CORPUS, 'e.parquet')).toThrow(
      'Parquet file e.parquet has no rows',
    );
  });

  it('compat profile (SNAPPY, V1, no dictionary) is read by parquetjs-lite with equal values', async () => {
    const rows = await readAllParquetjs(encodeParquet(corpus(), 'compat'));
    expect(rows.map((r) => [r.id, r.group, r.text])).toEqual([
      ['a', 'speeches', 'Fellow citizens'],
      ['b', 'code', 'interface X {}'],
      ['c', 'speeches', 'Mr. Speaker'],
    ]);
  });

  it('the canonical ZSTD profile is rejected by parquetjs-lite (use the compat export for it)', async () => {
    await expect(readAllParquetjs(encodeParquet(corpus()))).rejects.toThrow();
  });

  it('files written by parquetjs-lite are read and validated by us', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'retort-pq-')), 'legacy.parquet');
    const schema = new parquetjs.ParquetSchema({
      id: { type: 'UTF8', compression: 'SNAPPY' },
      group: { type: 'UTF8', compression: 'SNAPPY' },
      text: { type: 'UTF8', compression: 'SNAPPY' },
      source: { type: 'UTF8', compression: 'SNAPPY' },
    });
    const writer = await parquetjs.ParquetWriter.openFile(schema, path, { useDataPageV2: false });
    await writer.appendRow({ id: 'p1', group: 'novel', text: 'Call me Ishmael.', source: 'legacy' });
    await writer.appendRow({ id: 'p2', group: 'code', text: 'type A = B;', source: 'legacy' });
    await writer.close();
    const t = decodeValidated(new Uint8Array(readFileSync(path)), path, TEXT_CORPUS);
    expect(stringValues(t, 'text')).toEqual(['Call me Ishmael.', 'type A = B;']);
  });

  it('a corrupt file is a CorruptDataset error naming it', () => {
    expect(() => decodeParquet(new Uint8Array(64).fill(7), 'bad.parquet')).toThrow(/bad\.parquet is corrupt/);
  });
});

describe('ranged reads', () => {
  it('HEAD first, then explicit byte ranges only; reads a row range of selected columns', async () => {
    const store = new FileStore(mkdtempSync(join(tmpdir(), 'retort-rr-')));
    const n = 20000;
    const noise = (_x: unknown, i: number) =>
      [1, 2, 3].map((k) => createHash('sha256').update(`${i}:${k}`).digest('hex')).join('');
    const t = buildTable(TEXT_CORPUS, {
      id: Array.from({ length: n }, (_x, i) => `id${i}`),
      group: Array.from({ length: n }, (_x, i) => (i % 2 ? 'a' : 'b')),
      text: Array.from({ length: n }, noise),
      source: Array.from({ length: n }, () => 'gen'),
    });
    const bytes = encodeParquet(t);
    await store.put('big.parquet', bytes);
    const calls: string[] = [];
    const spy: ObjectStore = new Proxy(store, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver) as unknown;
        if (prop === 'head') return (k: string) => (calls.push('head'), target.head(k));
        if (prop === 'getRange') {
          return (k: string, a: number, b: number) => {
            calls.push(`range ${a}-${b}`);
            expect(a).toBeGreaterThanOrEqual(0);
            expect(b).toBeGreaterThan(a);
            expect(b).toBeLessThanOrEqual(bytes.byteLength);
            return target.getRange(k, a, b);
          };
        }
        if (prop === 'get') throw new Error('ranged reader must not GET the whole object');
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    expect(await parquetRowCount(spy, 'big.parquet')).toBe(n);
    expect(calls[0]).toBe('head');
    const rows = await readRowsRanged(spy, 'big.parquet', {
      columns: ['id', 'group'],
      rowStart: 100,
      rowEnd: 103,
    });
    expect(rows).toEqual([
      { id: 'id100', group: 'b' },
      { id: 'id101', group: 'a' },
      { id: 'id102', group: 'b' },
    ]);
    const fetched = calls
      .filter((c) => c.startsWith('range'))
      .map((c) => c.split(' ')[1]!.split('-').map(Number))
      .reduce((s, [a, b]) => s + (b! - a!), 0);
    expect(bytes.byteLength).toBeGreaterThan(1_000_000);
    expect(fetched).toBeLessThan(bytes.byteLength / 2); // the big text column was not downloaded
  });
});
