// Reading parts of large Parquet objects without downloading them: hyparquet over an AsyncBuffer
// that HEADs once, then issues explicit `bytes=a-b` range GETs (never suffix ranges, which some
// S3-compatible servers answer wrongly — specs/ecosystem.md §4.1).
import { type AsyncBuffer, parquetMetadataAsync, parquetReadObjects } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import { notFound } from './errors.js';
import type { ObjectStore } from './object-store.js';

export async function objectAsyncBuffer(store: ObjectStore, key: string): Promise<AsyncBuffer> {
  const info = await store.head(key);
  if (!info) throw notFound(`object ${store.uri(key)} does not exist`);
  return {
    byteLength: info.size,
    async slice(start: number, end?: number): Promise<ArrayBuffer> {
      const bytes = await store.getRange(key, start, end ?? info.size);
      return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
    },
  };
}

/** First guess at the footer size: one small range GET usually holds the whole footer. */
const FOOTER_FETCH = 64 * 1024;

/** Row count of a Parquet object from its footer alone. */
export async function parquetRowCount(store: ObjectStore, key: string): Promise<number> {
  const meta = await parquetMetadataAsync(await objectAsyncBuffer(store, key), {
    initialFetchSize: FOOTER_FETCH,
  });
  return Number(meta.num_rows);
}

/** Rows [rowStart, rowEnd) of selected columns, as plain objects. */
export async function readRowsRanged(
  store: ObjectStore,
  key: string,
  options: { columns?: string[]; rowStart?: number; rowEnd?: number } = {},
): Promise<Record<string, unknown>[]> {
  const file = await objectAsyncBuffer(store, key);
  const metadata = await parquetMetadataAsync(file, { initialFetchSize: FOOTER_FETCH });
  return parquetReadObjects({ file, metadata, compressors, ...options });
}
