// Parquet codec: parquet-wasm (arrow-rs compiled to WASM) for the canonical ZSTD profile and the
// parquetjs-lite compatibility profile (SNAPPY, V1 pages, no dictionary), apache-arrow in memory.
import { type Table, tableFromIPC, tableToIPC } from 'apache-arrow';
import {
  Compression,
  Table as WasmTable,
  WriterPropertiesBuilder,
  WriterVersion,
  readParquet,
} from 'parquet-wasm/node';
import * as wasm from 'parquet-wasm/node';
import { type TableContract } from '../schemas/tables.js';
import { parquetMetadata } from 'hyparquet';
import { RetortDataError, corrupt } from './errors.js';
import { type ValidateOptions, validateTable } from './arrow-tables.js';

export type ParquetProfile = 'canonical' | 'compat';

/** Serialises an Arrow table to Parquet bytes. */
export function encodeParquet(table: Table, profile: ParquetProfile = 'canonical'): Uint8Array {
  // Canonical: the schema's key-value metadata travels only inside the embedded Arrow schema
  // (ARROW:schema), which Arrow readers (apache-arrow via parquet-wasm, pyarrow, arrow-rs) restore.
  // parquet-wasm writes builder key-values in hash-map order, different on every call, so setting
  // them would make the same table hash differently each time (same inputs → same artifact hash).
  // The compat profile keeps them: parquetjs-lite reads only file key-values.
  let builder = new WriterPropertiesBuilder();
  builder =
    profile === 'canonical'
      ? builder.setCompression(Compression.ZSTD)
      : builder
          .setKeyValueMetadata(new Map(table.schema.metadata))
          .setCompression(Compression.SNAPPY)
          .setDictionaryEnabled(false)
          .setWriterVersion(WriterVersion.V1);
  const props = builder.build();
  const wasmTable = WasmTable.fromIPCStream(tableToIPC(table, 'stream'));
  return wasm.writeParquet(wasmTable, props);
}

/** Caps on what one Parquet read may expand to in memory (a few KB of ZSTD can declare GBs). */
export interface ParquetReadLimits {
  /** Uncompressed bytes of one column chunk (`RETORT_MAX_COLUMN_CHUNK_BYTES`, default 512 MiB). */
  maxColumnChunkBytes: number;
  /** Uncompressed bytes of the whole file (`RETORT_MAX_TABLE_BYTES`, default 2 GiB). */
  maxTableBytes: number;
  /** Rows (`RETORT_MAX_ROWS`, default 50 million). */
  maxRows: number;
}

export function parquetReadLimits(env: NodeJS.ProcessEnv = process.env): ParquetReadLimits {
  const num = (name: string, fallback: number) => {
    const v = env[name];
    if (v === undefined || v === '') return fallback;
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, got "${v}"`);
    return n;
  };
  return {
    maxColumnChunkBytes: num('RETORT_MAX_COLUMN_CHUNK_BYTES', 512 * 2 ** 20),
    maxTableBytes: num('RETORT_MAX_TABLE_BYTES', 2 * 2 ** 30),
    maxRows: num('RETORT_MAX_ROWS', 50_000_000),
  };
}

/** Bytes per value in memory by Parquet physical type (byte arrays: their 4-byte offset). */
const VALUE_BYTES: Record<string, number> = {
  BOOLEAN: 1,
  INT32: 4,
  FLOAT: 4,
  INT64: 8,
  DOUBLE: 8,
  INT96: 12,
  BYTE_ARRAY: 4,
};

/**
 * What a column chunk expands to in memory. `total_uncompressed_size` counts encoded pages, and
 * dictionary/RLE encoding shrinks a column of repeated values to almost nothing, so the value
 * count times the value width is the bound that matters for numbers; byte arrays add their
 * encoded size (a repeated long string is bounded by the row cap instead).
 */
function expandedBytes(
  m: { type: string; num_values: bigint; total_uncompressed_size: bigint } | undefined,
): number {
  if (!m) return 0;
  const encoded = Number(m.total_uncompressed_size);
  const values = Number(m.num_values) * (VALUE_BYTES[m.type] ?? 1);
  return m.type === 'BYTE_ARRAY' || m.type === 'FIXED_LEN_BYTE_ARRAY'
    ? encoded + values
    : Math.max(encoded, values);
}

/**
 * Refuses a file whose footer declares more rows or uncompressed bytes than the limits, before
 * anything is decompressed. An unreadable footer is left to the decoder to report as corrupt.
 */
export function checkDeclaredSize(bytes: Uint8Array, source: string, limits = parquetReadLimits()): void {
  let meta: ReturnType<typeof parquetMetadata>;
  try {
    meta = parquetMetadata(bytes);
  } catch {
    return;
  }
  const tooLarge = (what: string) =>
    new RetortDataError('DatasetTooLarge', `Parquet file ${source}: ${what}`);
  const rows = Number(meta.num_rows);
  if (rows > limits.maxRows)
    throw tooLarge(`${rows} rows, over the limit of ${limits.maxRows} (RETORT_MAX_ROWS)`);
  let total = 0;
  for (const [g, group] of meta.row_groups.entries()) {
    for (const chunk of group.columns) {
      const size = expandedBytes(chunk.meta_data);
      total += size;
      if (size > limits.maxColumnChunkBytes)
        throw tooLarge(
          `column "${chunk.meta_data?.path_in_schema.join('.')}" of row group ${g} expands to ${size} bytes, over the limit of ${limits.maxColumnChunkBytes} (RETORT_MAX_COLUMN_CHUNK_BYTES)`,
        );
    }
  }
  if (total > limits.maxTableBytes)
    throw tooLarge(
      `expands to ${total} bytes, over the limit of ${limits.maxTableBytes} (RETORT_MAX_TABLE_BYTES)`,
    );
}

/** Parses Parquet bytes into an Arrow table; `source` names the file in errors. */
export function decodeParquet(bytes: Uint8Array, source: string, limits?: ParquetReadLimits): Table {
  if (bytes.byteLength < 12)
    throw corrupt(`Parquet file ${source} is corrupt: only ${bytes.byteLength} bytes`);
  checkDeclaredSize(bytes, source, limits);
  let wasmTable: WasmTable;
  try {
    wasmTable = readParquet(bytes);
  } catch (err) {
    throw corrupt(
      `Parquet file ${source} is corrupt or unreadable: ${String((err as Error)?.message ?? err)}`,
    );
  }
  return tableFromIPC(wasmTable.intoIPCStream());
}

/** decodeParquet + validateTable. */
export function decodeValidated(
  bytes: Uint8Array,
  source: string,
  contract: TableContract,
  options?: ValidateOptions,
): Table {
  const table = decodeParquet(bytes, source);
  validateTable(table, contract, source, options);
  return table;
}
