// selectWarmup's data plane: reading the text and embedding tables a selection starts from (typed
// errors that name the input field and the file), the shared preprocessing rule, and writers for
// the tables the activities commit. No Temporal here; compute.ts and io.ts hold the activities.
import { ApplicationFailure } from '@temporalio/common';
import type { Table } from 'apache-arrow';
import { ArtifactRef } from '../../schemas/artifact.js';
import type { PreprocessSpec } from '../../schemas/gotd.js';
import { EMBEDDINGS, TEXT_CORPUS, type TableContract, contractFingerprint } from '../../schemas/tables.js';
import { buildTable, fixedSizeListValues, stringValues } from '../../storage/arrow-tables.js';
import { type ArtifactStore, sha256Hex } from '../../storage/artifacts.js';
import { RetortDataError } from '../../storage/errors.js';
import { decodeValidated, encodeParquet } from '../../storage/parquet.js';
import { forField } from '../failures.js';
import type { PendingArtifact } from '../memo.js';
import { sourceName } from '../text-corpus.js';

/** A text table needs id, group and text; `source` is optional (ingest writes it, users need not). */
const TEXT_TABLE_IN: TableContract = { name: 'text_corpus', columns: TEXT_CORPUS.columns.slice(0, 3) };

export interface TextRows {
  uri: string;
  ids: string[];
  groups: string[];
  texts: string[];
  sources: string[];
}

export interface EmbeddingRows {
  uri: string;
  ids: string[];
  /** Row-major rows × dim. */
  flat: Float32Array;
  dim: number;
}

/** Non-finite embeddings: a retry recomputes the same NaN. */
export const nonFiniteValues = (message: string) =>
  ApplicationFailure.nonRetryable(message, 'NonFiniteValues');
export const configError = (message: string) => ApplicationFailure.nonRetryable(message, 'ConfigError');
export const invalidInput = (message: string) => new RetortDataError('InvalidPipelineInput', message);

export { forField };

/** A user input: a committed ref (sha256 known, read lazily) or a URI (hashed when first read). */
export class InputObject {
  private bytes?: Uint8Array;
  constructor(
    private readonly artifacts: ArtifactStore,
    readonly input: ArtifactRef | string,
  ) {}

  get uri(): string {
    return typeof this.input === 'string' ? this.input : this.input.uri;
  }

  async read(): Promise<Uint8Array> {
    this.bytes ??=
      typeof this.input === 'string'
        ? await this.artifacts.readUri(this.input)
        : await this.artifacts.read(this.input);
    return this.bytes;
  }

  /** Immutable identity for memoization: the ref's sha256, or the URI plus the hash of its bytes. */
  async identity(): Promise<string> {
    return typeof this.input === 'string'
      ? `${this.input}#sha256=${sha256Hex(await this.read())}`
      : this.input.sha256;
  }
}

function checkUniqueIds(ids: readonly string[], what: string): void {
  const seen = new Map<string, number>();
  ids.forEach((id, row) => {
    const first = seen.get(id);
    if (first !== undefined)
      throw invalidInput(
        `${what}: id ${JSON.stringify(id)} occurs at rows ${first} and ${row}; rows are joined by id, so ids must be unique`,
      );
    seen.set(id, row);
  });
}

/** Reads and validates a text table; `allowEmpty` lets the caller word the empty case itself. */
export async function readTextRows(obj: InputObject, field: string): Promise<TextRows> {
  return forField(field, async () => {
    const table = decodeValidated(await obj.read(), obj.uri, TEXT_TABLE_IN);
    const ids = stringValues(table, 'id');
    checkUniqueIds(ids, `Parquet file ${obj.uri}`);
    return {
      uri: obj.uri,
      ids,
      groups: stringValues(table, 'group'),
      texts: stringValues(table, 'text'),
      // Without a source column each row names the file, not its full URI (which names the store).
      sources: table.getChild('source') ? stringValues(table, 'source') : ids.map(() => sourceName(obj.uri)),
    };
  });
}

/** The first non-finite value of a row-major matrix, named by row id and component. */
export function checkFinite(flat: Float32Array, dim: number, ids: readonly string[], where: string): void {
  for (let k = 0; k < flat.length; k++) {
    if (!Number.isFinite(flat[k]!)) {
      const row = Math.floor(k / dim);
      throw nonFiniteValues(
        `${where}: non-finite value ${flat[k]} at row ${row} (id ${JSON.stringify(ids[row])}), component ${k % dim}`,
      );
    }
  }
}

function embeddingRowsOf(table: Table, uri: string): EmbeddingRows {
  const { flat, size } = fixedSizeListValues<Float32Array>(table, 'embedding');
  return { uri, ids: stringValues(table, 'id'), flat, dim: size };
}

/** Reads and validates an embeddings table (schema, unique ids, finite values). */
export async function readEmbeddingRows(obj: InputObject, field: string): Promise<EmbeddingRows> {
  const rows = await forField(field, async () =>
    embeddingRowsOf(decodeValidated(await obj.read(), obj.uri, EMBEDDINGS), obj.uri),
  );
  await forField(field, async () => checkUniqueIds(rows.ids, `Parquet file ${obj.uri}`));
  checkFinite(rows.flat, rows.dim, rows.ids, `${field}: Parquet column "embedding" in ${obj.uri}`);
  return rows;
}

/** Reads one of our own committed embedding tables (sha256-verified). */
export async function readCommittedEmbeddings(
  artifacts: ArtifactStore,
  ref: ArtifactRef,
): Promise<EmbeddingRows> {
  return embeddingRowsOf(decodeValidated(await artifacts.read(ref), ref.uri, EMBEDDINGS), ref.uri);
}

/** Reads one of our own committed text tables (sha256-verified). */
export async function readCommittedText(artifacts: ArtifactStore, ref: ArtifactRef): Promise<TextRows> {
  const table = decodeValidated(await artifacts.read(ref), ref.uri, TEXT_CORPUS, { allowEmpty: true });
  return {
    uri: ref.uri,
    ids: stringValues(table, 'id'),
    groups: stringValues(table, 'group'),
    texts: stringValues(table, 'text'),
    sources: stringValues(table, 'source'),
  };
}

/** Pool dimension ≠ target dimension: the two were not embedded by the same encoder. */
export function checkSameDimension(
  pool: { dim: number; uri: string },
  target: { dim: number; uri: string },
  field = 'embedder',
): void {
  if (pool.dim !== target.dim) {
    throw new RetortDataError(
      'DatasetSchemaMismatch',
      `${field}: Parquet column "embedding" in ${pool.uri} (pool) is FixedSizeList<float32>[${pool.dim}], in ${target.uri} (target) FixedSizeList<float32>[${target.dim}]; pool and target must come from the same encoder`,
    );
  }
}

/** The text the embedder sees: the same rule for pool and target (spec §4.1, §10). */
export function embeddedText(text: string, preprocess: PreprocessSpec): string {
  return preprocess.kind === 'truncate' ? text.slice(0, preprocess.length) : text;
}

/** Concatenates row-major matrices (a fresh buffer, safe to transfer to a worker thread). */
export function concatRows(parts: readonly EmbeddingRows[]): {
  ids: string[];
  flat: Float32Array;
  dim: number;
} {
  const dim = parts[0]!.dim;
  const flat = new Float32Array(parts.reduce((n, p) => n + p.flat.length, 0));
  const ids: string[] = [];
  let o = 0;
  for (const p of parts) {
    flat.set(p.flat, o);
    o += p.flat.length;
    for (const id of p.ids) ids.push(id);
  }
  return { ids, flat, dim };
}

/** Rows `positions` of a row-major matrix, as a fresh matrix. */
export function takeRows(flat: Float32Array, dim: number, positions: ArrayLike<number>): Float32Array {
  const out = new Float32Array(positions.length * dim);
  for (let k = 0; k < positions.length; k++)
    out.set(flat.subarray(positions[k]! * dim, (positions[k]! + 1) * dim), k * dim);
  return out;
}

export function textTableArtifact(output: string, rows: Omit<TextRows, 'uri'>): PendingArtifact {
  const table = buildTable(TEXT_CORPUS, {
    id: rows.ids,
    group: rows.groups,
    text: rows.texts,
    source: rows.sources,
  });
  return {
    output,
    bytes: encodeParquet(table),
    kind: 'table',
    format: 'parquet',
    rows: rows.ids.length,
    schema: contractFingerprint(TEXT_CORPUS),
  };
}

export function embeddingTableArtifact(
  output: string,
  ids: string[],
  flat: Float32Array,
  dim: number,
  metadata: Record<string, string> = {},
): PendingArtifact {
  const table = buildTable(EMBEDDINGS, { id: ids, embedding: { flat, size: dim } }, metadata);
  return {
    output,
    bytes: encodeParquet(table),
    kind: 'table',
    format: 'parquet',
    rows: ids.length,
    schema: contractFingerprint(EMBEDDINGS),
  };
}

/** Rows per group, largest first, ties by name; at most `limit` listed. */
export function countGroups(groups: readonly string[], limit = 50): { group: string; rows: number }[] {
  const counts = new Map<string, number>();
  for (const g of groups) counts.set(g, (counts.get(g) ?? 0) + 1);
  return [...counts]
    .map(([group, rows]) => ({ group, rows }))
    .sort((a, b) => b.rows - a.rows || (a.group < b.group ? -1 : 1))
    .slice(0, limit);
}

/** Lets the worker's event loop deliver heartbeats and cancellation between synchronous batches. */
export const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

export const isArtifactRef = (x: unknown): x is ArtifactRef => ArtifactRef.safeParse(x).success;
