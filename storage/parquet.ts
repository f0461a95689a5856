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
import { corrupt } from './errors.js';
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

/** Parses Parquet bytes into an Arrow table; `source` names the file in errors. */
export function decodeParquet(bytes: Uint8Array, source: string): Table {
  if (bytes.byteLength < 12)
    throw corrupt(`Parquet file ${source} is corrupt: only ${bytes.byteLength} bytes`);
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
