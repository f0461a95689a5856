// Training tables → plain typed arrays for ml/, validated on the way in, and the deterministic
// batch plans (epoch shuffles, or group mixtures) addressed by global step.
import { ApplicationFailure } from '@temporalio/common';
import type { Table } from 'apache-arrow';
import { BatchOrder } from '../ml/train/batches.js';
import { Rng, deriveSeed, sampleCategorical } from '../ml/train/rng.js';
import type { ArtifactRef } from '../schemas/artifact.js';
import { IMAGES, TOKEN_WINDOWS, contractFingerprint } from '../schemas/tables.js';
import { fixedSizeListValues, stringValues, validateTable } from '../storage/arrow-tables.js';
import type { ArtifactStore } from '../storage/artifacts.js';
import { schemaMismatch } from '../storage/errors.js';
import { decodeParquet } from '../storage/parquet.js';

export interface ImageData {
  kind: 'images';
  uri: string;
  ids: string[];
  /** [N·h·w·c], HWC row-major. */
  pixels: Float32Array;
  labels: Int32Array;
  h: number;
  w: number;
  c: number;
}

export interface TokenData {
  kind: 'token_windows';
  uri: string;
  ids: string[];
  groups: string[];
  /** [N·ctx] byte ids. */
  tokens: Int32Array;
  ctx: number;
}

export type TrainingTable = ImageData | TokenData;

export function metadataInt(table: Table, key: string, source: string): number {
  const raw = table.schema.metadata.get(key);
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0)
    throw schemaMismatch(
      `Parquet file ${source}: key-value metadata "${key}" = ${JSON.stringify(raw)} is not a positive integer`,
    );
  return n;
}

/** Non-finite values cannot be trained on and a retry cannot fix them. */
export function nonFinite(message: string): ApplicationFailure {
  return ApplicationFailure.nonRetryable(message, 'NonFiniteValues');
}

function decodeImages(table: Table, source: string): ImageData {
  const h = metadataInt(table, 'h', source);
  const w = metadataInt(table, 'w', source);
  const c = metadataInt(table, 'c', source);
  validateTable(table, IMAGES, source, { sizes: { pixels: h * w * c } });
  const ids = stringValues(table, 'id');
  const { flat: pixels } = fixedSizeListValues<Float32Array>(table, 'pixels');
  for (let i = 0; i < pixels.length; i++) {
    if (!Number.isFinite(pixels[i]!)) {
      const row = Math.floor(i / (h * w * c));
      throw nonFinite(
        `Parquet column "pixels" in ${source}: value ${pixels[i]} at row ${row} (id "${ids[row]}"), element ${i - row * h * w * c}`,
      );
    }
  }
  const labelVec = table.getChild('label')!;
  const labels = Int32Array.from(labelVec.toArray() as ArrayLike<number>);
  return { kind: 'images', uri: source, ids, pixels, labels, h, w, c };
}

function decodeTokens(table: Table, source: string): TokenData {
  const ctx = metadataInt(table, 'ctx', source);
  validateTable(table, TOKEN_WINDOWS, source, { sizes: { input_ids: ctx } });
  const { flat: tokens } = fixedSizeListValues<Int32Array>(table, 'input_ids');
  const ids = stringValues(table, 'id');
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t < 0 || t > 255) {
      const row = Math.floor(i / ctx);
      throw schemaMismatch(
        `Parquet column "input_ids" in ${source}: byte id ${t} at row ${row} (id "${ids[row]}") is outside [0, 255]`,
      );
    }
  }
  return { kind: 'token_windows', uri: source, ids, groups: stringValues(table, 'group'), tokens, ctx };
}

/**
 * Reads a training table (verifying its sha256) and checks it against the contract `kind` needs:
 * images for a ConvNet, token windows for the LM. Keeps the last table per factory instance, so the
 * chunks of one run read it once per worker.
 */
export function trainingTableReader(artifacts: ArtifactStore) {
  let cached: { sha256: string; table: TrainingTable } | undefined;
  return async (ref: ArtifactRef, kind: TrainingTable['kind']): Promise<TrainingTable> => {
    if (cached?.sha256 === ref.sha256 && cached.table.kind === kind) return cached.table;
    if (ref.kind !== 'table' || ref.format !== 'parquet') {
      throw schemaMismatch(
        `training data ${ref.uri}: expected a Parquet table ref, got kind ${ref.kind} format ${ref.format}`,
      );
    }
    const contract = kind === 'images' ? IMAGES : TOKEN_WINDOWS;
    if (
      ref.schema &&
      !ref.schema.startsWith(`${contract.name}(`) &&
      !ref.schema.startsWith('distilled_images(')
    ) {
      throw schemaMismatch(
        `training data ${ref.uri}: a ${ref.schema.split('(')[0]} table, expected ${contractFingerprint(contract)}`,
      );
    }
    const table = decodeParquet(await artifacts.read(ref), ref.uri);
    const decoded = kind === 'images' ? decodeImages(table, ref.uri) : decodeTokens(table, ref.uri);
    cached = { sha256: ref.sha256, table: decoded };
    return decoded;
  };
}

/** Row indices of a batch, by global step. */
export type BatchPlan = (step: number) => Int32Array;

/** Epoch shuffles of the whole table (ml/train/batches.ts), seeded by the run seed. */
export function shuffledPlan(n: number, batchSize: number, seed: number): BatchPlan {
  const order = new BatchOrder({ n, batchSize, seed });
  return (step) => order.indicesAt(step);
}

/**
 * Exact group mixture: every batch holds round(share · batchSize) rows of each group (which must be
 * integral: Aioli's LearnParams probes, specs/mixing-aioli.md §8.9), each drawn uniformly from its
 * group, from the stream seeded by (seed, 'mixture-exact', step). Example: {a: 0.5, b: 0.25, c: 0.25}
 * at batch 8 → 4 rows of a, 2 of b, 2 of c in every batch.
 */
export function exactMixturePlan(
  groups: readonly string[],
  mixture: Record<string, number>,
  batchSize: number,
  seed: number,
  source: string,
): BatchPlan {
  const rowsByGroup = groupRows(groups, mixture, source);
  const total = Object.values(mixture).reduce((a, b) => a + b, 0);
  const counts = [...rowsByGroup.keys()].sort().map((g) => {
    const share = ((mixture[g] ?? 0) / total) * batchSize;
    const count = Math.round(share);
    if (Math.abs(share - count) > 1e-6 * batchSize)
      throw ApplicationFailure.nonRetryable(
        `exact mixture: group "${g}" would need ${share.toFixed(4)} of the batch's ${batchSize} rows (not an integer); choose a batch size that realises the mixture`,
        'ConfigError',
      );
    return { rows: rowsByGroup.get(g)!, count };
  });
  return (step) => {
    const rng = new Rng(deriveSeed(seed, 'mixture-exact', step));
    const out = new Int32Array(batchSize);
    let i = 0;
    for (const { rows, count } of counts)
      for (let c = 0; c < count; c++) out[i++] = rows[rng.int(rows.length)]!;
    return out;
  };
}

/** Row indices per group; every group with a positive weight must have rows. */
function groupRows(
  groups: readonly string[],
  mixture: Record<string, number>,
  source: string,
): Map<string, number[]> {
  const rowsByGroup = new Map<string, number[]>();
  groups.forEach((g, i) => {
    if (!rowsByGroup.has(g)) rowsByGroup.set(g, []);
    rowsByGroup.get(g)!.push(i);
  });
  for (const [g, weight] of Object.entries(mixture)) {
    if (weight > 0 && !rowsByGroup.has(g)) {
      throw ApplicationFailure.nonRetryable(
        `mixture group "${g}" has no rows in ${source} (groups: ${[...rowsByGroup.keys()].sort().join(', ')})`,
        'ConfigError',
      );
    }
  }
  return rowsByGroup;
}

/**
 * Group mixture: each of the batch's rows draws a group from `mixture` (categorical over the
 * table's groups in sorted order), then a row of that group uniformly. The draws come from one
 * stream seeded by (seed, 'mixture', step): a pure function of the global step, so a resumed chunk
 * sees the batches an uninterrupted run would have seen.
 */
export function mixturePlan(
  groups: readonly string[],
  mixture: Record<string, number>,
  batchSize: number,
  seed: number,
  source: string,
): BatchPlan {
  const rowsByGroup = groupRows(groups, mixture, source);
  const names = [...rowsByGroup.keys()].sort();
  const weights = names.map((g) => mixture[g] ?? 0);
  const rows = names.map((g) => rowsByGroup.get(g)!);
  return (step) => {
    const rng = new Rng(deriveSeed(seed, 'mixture', step));
    const out = new Int32Array(batchSize);
    for (let i = 0; i < batchSize; i++) {
      const groupRows = rows[sampleCategorical(weights, rng)]!;
      out[i] = groupRows[rng.int(groupRows.length)]!;
    }
    return out;
  };
}
