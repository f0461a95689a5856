// The self-describing distilled-set table (DESIGN.md §2 "distilled set"): everything a user needs to
// train on the table ALONE travels in its key-value metadata, and the soft labels are probabilities.
//
//   columns   id utf8, label int32, pixels FixedSizeList<float32>[h·w·c] (HWC, normalised),
//             soft_label FixedSizeList<float32>[classes] — probabilities, every row sums to 1 (one-hot
//             rows for hard-label sets)
//   metadata  retort.method   mtt | datm | datm+ast | cvdd | random_real | random_real_soft | …
//             ipc, classes, h, w, c
//             downsample      the f×f average pooling applied to the source images before normalising
//             normalization   {"mean":[…],"std":[…]} per channel: pixels = (x − mean) / std, x in [0, 1]
//             pixel_range     [[lo, hi], …] = [(0 − mean)/std, (1 − mean)/std] per channel (pixels are
//                             clipped to it on write: a synthetic pixel outside it is no image), or null
//                             when the source declared no normalisation (identity recorded, no clipping)
//             label_kind      hard (soft_label is one-hot) | soft
//             soft_label_temperature  T: soft_label = softmax(z / T); train with KL(p ‖ softmax(s / T))
//             retort.*        provenance (learned LR, committee member refs by sha256, config) — never a
//                             store location: an artifact's bytes do not depend on where it is stored
// A reader needs nothing else: `readDistilledTable` validates the columns, the keys and that the soft
// labels are probability rows, and names the first problem and the file.
import { type Table } from 'apache-arrow';
import { DISTILLED_IMAGES } from '../schemas/tables.js';
import { buildTable, fixedSizeListValues, stringValues, validateTable } from './arrow-tables.js';
import { schemaMismatch } from './errors.js';
import { decodeParquet, encodeParquet } from './parquet.js';

/** The contract (schemas/tables.ts): columns and the metadata keys every file carries. */
export const DISTILLED_SET = DISTILLED_IMAGES;

export interface Normalization {
  mean: number[];
  std: number[];
}

export interface DistilledSetMeta {
  method: string;
  ipc: number;
  classes: number;
  h: number;
  w: number;
  c: number;
  downsample: number;
  normalization: Normalization;
  labelKind: 'hard' | 'soft';
  /** T of softmax(z / T) (1 for hard labels). */
  temperature: number;
  /** Further provenance keys (`retort.syn_lr`, `retort.committee`, …), written as given. */
  extra?: Record<string, string>;
  /** False when the source's data range is unknown: no clipping, pixel_range null (default true). */
  clip?: boolean;
}

export interface DistilledSet {
  ids: string[];
  labels: Int32Array;
  /** [N·h·w·c] normalised HWC pixels. */
  pixels: Float32Array;
  /** [N·classes] probability rows. */
  softLabels: Float32Array;
  meta: DistilledSetMeta;
}

/** Probability rows must be finite, ≥ 0 and sum to 1 within this tolerance. */
export const SOFT_LABEL_SUM_TOLERANCE = 1e-4;

/** The pixel range of channel ch under a normalisation: [(0 − m)/s, (1 − m)/s]. */
export function pixelRange(norm: Normalization, ch: number): [number, number] {
  const m = norm.mean[ch] ?? norm.mean[0]!;
  const s = norm.std[ch] ?? norm.std[0]!;
  return [(0 - m) / s, (1 - m) / s];
}

/** softmax(logits / T) of every row (float64 accumulation): how logit labels become table rows. */
export function probabilityRows(logits: Float32Array, k: number, temperature = 1): Float32Array {
  const out = new Float32Array(logits.length);
  for (let i = 0; i < logits.length / k; i++) {
    let max = -Infinity;
    for (let j = 0; j < k; j++) max = Math.max(max, logits[i * k + j]! / temperature);
    let sum = 0;
    for (let j = 0; j < k; j++) sum += Math.exp(logits[i * k + j]! / temperature - max);
    for (let j = 0; j < k; j++) out[i * k + j] = Math.exp(logits[i * k + j]! / temperature - max) / sum;
  }
  return out;
}

/** One-hot rows of class ids. */
export function oneHotRows(labels: Int32Array, k: number): Float32Array {
  const out = new Float32Array(labels.length * k);
  labels.forEach((y, i) => (out[i * k + y] = 1));
  return out;
}

function checkProbabilities(p: Float32Array, k: number, source: string): void {
  for (let i = 0; i < p.length / k; i++) {
    let sum = 0;
    for (let j = 0; j < k; j++) {
      const v = p[i * k + j]!;
      if (!(Number.isFinite(v) && v >= 0))
        throw schemaMismatch(
          `Parquet column "soft_label" in ${source}: row ${i} holds ${v}, expected probabilities (label_kind soft/hard stores softmax(z / T), not logits)`,
        );
      sum += v;
    }
    if (Math.abs(sum - 1) > SOFT_LABEL_SUM_TOLERANCE)
      throw schemaMismatch(
        `Parquet column "soft_label" in ${source}: row ${i} sums to ${sum}, expected probabilities summing to 1 (logits must be converted with softmax(z / T))`,
      );
  }
}

/**
 * The table of a distilled (or baseline) set, pixels clipped to the normalisation's data range. Throws
 * when the soft labels are not probability rows or the shapes disagree.
 */
export function buildDistilledTable(
  set: Omit<DistilledSet, 'ids'> & { ids?: string[] },
  source = 'the distilled set',
): Table {
  const { meta } = set;
  const size = meta.h * meta.w * meta.c;
  const n = set.labels.length;
  if (set.pixels.length !== n * size)
    throw new RangeError(`${source}: ${set.pixels.length} pixel values for ${n} rows of ${size}`);
  if (set.softLabels.length !== n * meta.classes)
    throw new RangeError(
      `${source}: ${set.softLabels.length} soft-label values for ${n} rows of ${meta.classes}`,
    );
  checkProbabilities(set.softLabels, meta.classes, source);
  const pixels = new Float32Array(set.pixels.length);
  const clip = meta.clip ?? true;
  const ranges = Array.from({ length: meta.c }, (_x, ch) => pixelRange(meta.normalization, ch));
  for (let i = 0; i < pixels.length; i++) {
    const [lo, hi] = ranges[i % meta.c]!;
    pixels[i] = clip ? Math.min(hi, Math.max(lo, set.pixels[i]!)) : set.pixels[i]!;
  }
  return buildTable(
    DISTILLED_SET,
    {
      id: set.ids ?? Array.from({ length: n }, (_x, i) => `syn-${String(i).padStart(5, '0')}`),
      label: set.labels,
      pixels: { flat: pixels, size },
      soft_label: { flat: set.softLabels, size: meta.classes },
    },
    {
      'retort.method': meta.method,
      ipc: String(meta.ipc),
      classes: String(meta.classes),
      h: String(meta.h),
      w: String(meta.w),
      c: String(meta.c),
      downsample: String(meta.downsample),
      normalization: JSON.stringify({ mean: meta.normalization.mean, std: meta.normalization.std }),
      pixel_range: JSON.stringify(clip ? ranges : null),
      label_kind: meta.labelKind,
      soft_label_temperature: String(meta.temperature),
      ...meta.extra,
    },
  );
}

/** buildDistilledTable → Parquet bytes (canonical ZSTD profile). */
export function encodeDistilledSet(set: Parameters<typeof buildDistilledTable>[0]): Uint8Array {
  return encodeParquet(buildDistilledTable(set));
}

function metaNumber(table: Table, key: string, source: string, integer: boolean): number {
  const raw = table.schema.metadata.get(key)!;
  const v = Number(raw);
  if (!(Number.isFinite(v) && (!integer || (Number.isInteger(v) && v > 0))))
    throw schemaMismatch(
      `Parquet file ${source}: metadata "${key}" = ${JSON.stringify(raw)} is not a ${integer ? 'positive integer' : 'number'}`,
    );
  return v;
}

function metaNormalization(table: Table, source: string, c: number): Normalization {
  const raw = table.schema.metadata.get('normalization')!;
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    v = null;
  }
  const ok = (xs: unknown): xs is number[] =>
    Array.isArray(xs) && xs.length === c && xs.every((x) => typeof x === 'number' && Number.isFinite(x));
  const norm = v as Partial<Normalization> | null;
  if (!norm || !ok(norm.mean) || !ok(norm.std) || norm.std.some((s) => !(s > 0)))
    throw schemaMismatch(
      `Parquet file ${source}: metadata "normalization" = ${raw}, expected {"mean":[${c} numbers],"std":[${c} positive numbers]}`,
    );
  return { mean: norm.mean, std: norm.std };
}

/**
 * What a distilled set inherits from its source `images` table: `normalization` and `downsample` when
 * the table declares them (MNIST ingest does), else identity / 1 and no clipping (a user table of raw
 * floats whose range Retort does not know).
 */
export function sourceImageMeta(
  table: Table,
  c: number,
  source: string,
): { normalization: Normalization; downsample: number; clip: boolean } {
  const declared = table.schema.metadata.has('normalization');
  return {
    normalization: declared
      ? metaNormalization(table, source, c)
      : { mean: new Array<number>(c).fill(0), std: new Array<number>(c).fill(1) },
    downsample: table.schema.metadata.has('downsample') ? metaNumber(table, 'downsample', source, true) : 1,
    clip: declared,
  };
}

/** Reads a distilled-set table from its bytes with nothing but its own metadata (see the file comment). */
export function readDistilledTable(bytes: Uint8Array, source: string): DistilledSet {
  const table = decodeParquet(bytes, source);
  validateTable(table, DISTILLED_SET, source);
  const h = metaNumber(table, 'h', source, true);
  const w = metaNumber(table, 'w', source, true);
  const c = metaNumber(table, 'c', source, true);
  const classes = metaNumber(table, 'classes', source, true);
  validateTable(table, DISTILLED_SET, source, { sizes: { pixels: h * w * c, soft_label: classes } });
  const labelKind = table.schema.metadata.get('label_kind');
  if (labelKind !== 'hard' && labelKind !== 'soft')
    throw schemaMismatch(
      `Parquet file ${source}: metadata "label_kind" = ${JSON.stringify(labelKind)}, expected "hard" or "soft"`,
    );
  const softLabels = fixedSizeListValues<Float32Array>(table, 'soft_label').flat;
  checkProbabilities(softLabels, classes, source);
  const labels = Int32Array.from(table.getChild('label')!.toArray() as ArrayLike<number>);
  labels.forEach((y, i) => {
    if (!(y >= 0 && y < classes))
      throw schemaMismatch(
        `Parquet column "label" in ${source}: row ${i} has label ${y}, expected 0..${classes - 1}`,
      );
  });
  const known = new Set<string>(DISTILLED_SET.metadata);
  const extra: Record<string, string> = {};
  for (const [k, v] of table.schema.metadata) if (!known.has(k)) extra[k] = v;
  return {
    ids: stringValues(table, 'id'),
    labels,
    pixels: fixedSizeListValues<Float32Array>(table, 'pixels').flat,
    softLabels,
    meta: {
      method: table.schema.metadata.get('retort.method')!,
      ipc: metaNumber(table, 'ipc', source, true),
      classes,
      h,
      w,
      c,
      downsample: metaNumber(table, 'downsample', source, true),
      normalization: metaNormalization(table, source, c),
      labelKind,
      temperature: metaNumber(table, 'soft_label_temperature', source, false),
      extra,
      clip: table.schema.metadata.get('pixel_range') !== 'null',
    },
  };
}
