// Table contracts (schemas/tables.ts) made concrete: Arrow schemas for writers, columnar builders,
// and the validator every reader runs. Errors name the column and the file.
import {
  Data,
  DataType,
  Dictionary,
  Field,
  FixedSizeList,
  Float32,
  Float64,
  Int32,
  Int64,
  Schema,
  Table,
  Type,
  Utf8,
  makeData,
  makeVector,
  vectorFromArray,
  type Vector,
} from 'apache-arrow';
import { type ColumnType, type TableContract, columnTypeName } from '../schemas/tables.js';
import { emptyDataset, schemaMismatch } from './errors.js';

export type ColumnValues =
  | string[]
  | Int32Array
  | BigInt64Array
  | Float32Array
  | Float64Array
  /** FixedSizeList columns: the flat values, `size` per row. */
  | { flat: Float32Array | Int32Array; size: number };

function arrowType(t: ColumnType, size?: number): DataType {
  switch (t.kind) {
    case 'utf8':
      return new Utf8();
    case 'dictionary_utf8':
      return new Dictionary(new Utf8(), new Int32());
    case 'int32':
      return new Int32();
    case 'int64':
      return new Int64();
    case 'float32':
      return new Float32();
    case 'float64':
      return new Float64();
    case 'fixed_size_list': {
      const n = t.size === 'any' ? size : t.size;
      if (n === undefined) throw new Error('FixedSizeList column needs a size');
      return new FixedSizeList(
        n,
        new Field('item', t.item === 'float32' ? new Float32() : new Int32(), false),
      );
    }
  }
}

function toVector(name: string, t: ColumnType, values: ColumnValues): Vector {
  if (t.kind === 'fixed_size_list') {
    if (Array.isArray(values) || !('flat' in values))
      throw new Error(`column "${name}": expected { flat, size }`);
    const { flat, size } = values as { flat: Float32Array | Int32Array; size: number };
    if (flat.length % size !== 0)
      throw new Error(`column "${name}": ${flat.length} values is not a multiple of ${size}`);
    const type = arrowType(t, size) as FixedSizeList;
    const child =
      flat instanceof Float32Array
        ? makeData({ type: new Float32(), length: flat.length, data: flat })
        : makeData({ type: new Int32(), length: flat.length, data: flat });
    return makeVector(makeData({ type, length: flat.length / size, nullCount: 0, child }));
  }
  if (t.kind === 'utf8' || t.kind === 'dictionary_utf8') {
    if (!Array.isArray(values)) throw new Error(`column "${name}": expected string[]`);
    return vectorFromArray(values, arrowType(t) as Utf8);
  }
  if (Array.isArray(values) || 'flat' in values) throw new Error(`column "${name}": expected a typed array`);
  return makeVector(values as Int32Array);
}

/**
 * Builds an Arrow table satisfying `contract` from columnar values. `metadata` becomes the schema's
 * key-value metadata (e.g. `h,w,c` for images, `ctx` for token windows).
 */
export function buildTable(
  contract: TableContract,
  columns: Record<string, ColumnValues>,
  metadata: Record<string, string> = {},
): Table {
  for (const key of contract.metadata ?? []) {
    if (metadata[key] === undefined) throw new Error(`table ${contract.name}: metadata "${key}" is required`);
  }
  const vectors: Record<string, Vector> = {};
  let rows: number | undefined;
  for (const col of contract.columns) {
    const values = columns[col.name];
    if (values === undefined) throw new Error(`table ${contract.name}: column "${col.name}" is missing`);
    const v = toVector(col.name, col.type, values);
    if (rows !== undefined && v.length !== rows) {
      throw new Error(`table ${contract.name}: column "${col.name}" has ${v.length} rows, expected ${rows}`);
    }
    rows = v.length;
    vectors[col.name] = v;
  }
  const t = new Table(vectors);
  return new Table(new Schema(t.schema.fields, new Map(Object.entries(metadata))), t.batches);
}

function describeArrow(t: DataType): string {
  if (DataType.isFixedSizeList(t))
    return `FixedSizeList<${describeArrow(t.children[0]!.type)}>[${t.listSize}]`;
  if (DataType.isList(t)) return `List<${describeArrow(t.children[0]!.type)}>`;
  if (DataType.isDictionary(t)) return `Dictionary<${describeArrow(t.dictionary)}>`;
  if (t.typeId === Type.LargeUtf8) return 'large_utf8';
  return String(t).toLowerCase();
}

function matches(want: ColumnType, got: DataType): boolean {
  switch (want.kind) {
    case 'utf8':
    case 'dictionary_utf8':
      // Other writers (pyarrow, parquetjs) store strings plainly; accept both encodings.
      return (
        DataType.isUtf8(got) ||
        got.typeId === Type.LargeUtf8 ||
        (DataType.isDictionary(got) &&
          (DataType.isUtf8(got.dictionary) || got.dictionary.typeId === Type.LargeUtf8))
      );
    case 'int32':
      return DataType.isInt(got) && got.bitWidth === 32 && got.isSigned;
    case 'int64':
      return DataType.isInt(got) && got.bitWidth === 64 && got.isSigned;
    case 'float32':
      return DataType.isFloat(got) && got.precision === 1;
    case 'float64':
      return DataType.isFloat(got) && got.precision === 2;
    case 'fixed_size_list': {
      if (!DataType.isFixedSizeList(got)) return false;
      const item = got.children[0]!.type;
      const itemOk =
        want.item === 'float32'
          ? DataType.isFloat(item) && item.precision === 1
          : DataType.isInt(item) && item.bitWidth === 32;
      return itemOk && (want.size === 'any' || want.size === got.listSize);
    }
  }
}

export interface ValidateOptions {
  /** Fixed sizes for `size: 'any'` list columns, e.g. { pixels: 784 }. */
  sizes?: Record<string, number>;
  /** Allow a table with no rows (default: EmptyDataset error). */
  allowEmpty?: boolean;
}

/**
 * Checks a table against its contract; throws DatasetSchemaMismatch naming the first mismatching
 * column and the file (`source`), or EmptyDataset.
 */
export function validateTable(
  table: Table,
  contract: TableContract,
  source: string,
  options: ValidateOptions = {},
): void {
  for (const col of contract.columns) {
    const field = table.schema.fields.find((f) => f.name === col.name);
    let want = col.type;
    const size = options.sizes?.[col.name];
    if (want.kind === 'fixed_size_list' && size !== undefined) want = { ...want, size };
    if (!field) {
      throw schemaMismatch(
        `Parquet column "${col.name}" in ${source}: missing (expected ${columnTypeName(want)}; found columns ${table.schema.fields.map((f) => f.name).join(', ') || 'none'})`,
      );
    }
    if (!matches(want, field.type)) {
      throw schemaMismatch(
        `Parquet column "${col.name}" in ${source}: expected ${columnTypeName(want)}, got ${describeArrow(field.type)}`,
      );
    }
    if (field.nullable && table.getChild(col.name)!.nullCount > 0) {
      throw schemaMismatch(
        `Parquet column "${col.name}" in ${source}: ${table.getChild(col.name)!.nullCount} null values`,
      );
    }
  }
  for (const key of contract.metadata ?? []) {
    if (!table.schema.metadata.has(key)) {
      throw schemaMismatch(
        `Parquet file ${source}: key-value metadata "${key}" is missing (table ${contract.name})`,
      );
    }
  }
  if (!options.allowEmpty && table.numRows === 0) throw emptyDataset(`Parquet file ${source} has no rows`);
}

/** Flat values of a FixedSizeList column as one typed array (copies only when chunked). */
export function fixedSizeListValues<T extends Float32Array | Int32Array>(
  table: Table,
  column: string,
): { flat: T; size: number } {
  const vec = table.getChild(column);
  if (!vec) throw new Error(`column "${column}" is missing`);
  const size = (vec.type as FixedSizeList).listSize;
  const parts = vec.data.map((d: Data) => {
    const child = d.children[0]!;
    return (child.values as T).subarray(
      child.offset + d.offset * size,
      child.offset + (d.offset + d.length) * size,
    );
  });
  if (parts.length === 1) return { flat: parts[0] as T, size };
  const total = parts.reduce((n, p) => n + p.length, 0);
  const Ctor = parts[0]!.constructor as new (n: number) => T;
  const flat = new Ctor(total);
  let o = 0;
  for (const p of parts) {
    flat.set(p, o);
    o += p.length;
  }
  return { flat, size };
}

/** Values of a string column (plain or dictionary-encoded). */
export function stringValues(table: Table, column: string): string[] {
  const vec = table.getChild(column);
  if (!vec) throw new Error(`column "${column}" is missing`);
  return Array.from(vec.toArray() as ArrayLike<string>, (s) => String(s));
}
