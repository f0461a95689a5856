// S3Store against a real S3 API server (versitygw): conditional writes, explicit ranges, listing,
// artifact commits and ranged Parquet reads.
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { TEXT_CORPUS } from '../../schemas/tables.js';
import { buildTable } from '../../storage/arrow-tables.js';
import { ArtifactStore } from '../../storage/artifacts.js';
import { encodeParquet } from '../../storage/parquet.js';
import { readRowsRanged } from '../../storage/ranged.js';
import { testS3Store } from '../support/temporal.js';

describe('S3Store on versitygw', () => {
  const store = testS3Store(`s3store-${randomUUID().slice(0, 8)}`);
  const enc = (s: string) => new TextEncoder().encode(s);

  it('If-None-Match: * makes the second write of a key a no-op', async () => {
    expect(await store.put('k/one.txt', enc('first'), { ifNoneMatch: true })).toBe('written');
    expect(await store.put('k/one.txt', enc('second'), { ifNoneMatch: true })).toBe('exists');
    expect(new TextDecoder().decode(await store.get('k/one.txt'))).toBe('first');
  });

  it('reads explicit ranges, heads, lists and deletes', async () => {
    await store.put('k/two.txt', enc('0123456789'));
    expect(new TextDecoder().decode(await store.getRange('k/two.txt', 2, 5))).toBe('234');
    expect(await store.head('k/two.txt')).toEqual({ key: 'k/two.txt', size: 10 });
    expect((await store.list('k/')).map((o) => o.key)).toEqual(['k/one.txt', 'k/two.txt']);
    await store.delete('k/two.txt');
    expect(await store.head('k/two.txt')).toBeUndefined();
    await expect(store.get('k/two.txt')).rejects.toMatchObject({ type: 'DatasetNotFound' });
  });

  it('a wrong checksum is rejected by the server and leaves nothing', async () => {
    await expect(
      store.put('k/bad.txt', enc('payload'), { sha256Base64: Buffer.alloc(32).toString('base64') }),
    ).rejects.toThrow();
    expect(await store.head('k/bad.txt')).toBeUndefined();
  });

  it('commits artifacts and reads Parquet rows by range', async () => {
    const artifacts = new ArtifactStore(store);
    const n = 3000;
    const t = buildTable(TEXT_CORPUS, {
      id: Array.from({ length: n }, (_x, i) => `r${i}`),
      group: Array.from({ length: n }, (_x, i) => `g${i % 3}`),
      text: Array.from({ length: n }, (_x, i) => `row ${i}`),
      source: Array.from({ length: n }, () => 'test'),
    });
    const ref = await artifacts.commit('artifacts/table/t.parquet', encodeParquet(t), {
      kind: 'table',
      format: 'parquet',
      rows: n,
    });
    expect(ref.uri).toBe(`${store.root}/artifacts/table/t.parquet`);
    expect(await artifacts.lookup('artifacts/table/t.parquet')).toEqual(ref);
    const rows = await readRowsRanged(store, 'artifacts/table/t.parquet', {
      columns: ['id', 'text'],
      rowStart: 2998,
      rowEnd: 3000,
    });
    expect(rows).toEqual([
      { id: 'r2998', text: 'row 2998' },
      { id: 'r2999', text: 'row 2999' },
    ]);
  });
});
