// GOT-D text preprocessing before embedding (specs/warmup-selection-gotd.md §4.1; Kang et al.,
// ICLR 2024, App. C.1.2): equalise sample lengths so that length and padding do not drive the OT
// distances, and drop exact duplicates (identical rows get identical scores and would all be taken).
// Apply the same function to pool and target. Every output row names the input ids it came from.
import type { RowId } from './index.js';

export interface TextRow {
  id: RowId;
  text: string;
}

/** A preprocessed row: a new unique id and the ids of the input rows it was cut from. */
export interface PreprocessedTextRow {
  id: string;
  text: string;
  sources: RowId[];
}

/**
 * NLU rule: rows of exactly `length` characters (default 1,000 ≈ 256 tokens). A row at least
 * `length` long is cut into consecutive `length` pieces (ids `<id>#0`, `<id>#1`, …); shorter rows, and
 * the tails of long ones, are concatenated in order until the buffer reaches `length`, which is then
 * cut at `length` (id `<first id>+<count>`).
 * As in the GOT-D notebook, the concatenation has no separator (`separator` changes that), the
 * characters beyond the cut are dropped, and a final buffer shorter than `length` is dropped.
 * Lengths count UTF-16 code units, as Python's len on the notebook's BMP text would.
 */
export function packToFixedLength(
  rows: readonly TextRow[],
  options: { length?: number; separator?: string } = {},
): PreprocessedTextRow[] {
  const length = options.length ?? 1000;
  const separator = options.separator ?? '';
  if (!Number.isInteger(length) || length < 1)
    throw new Error(`packToFixedLength: length must be a positive integer, got ${length}`);
  const out: PreprocessedTextRow[] = [];
  let buffer = '';
  let sources: RowId[] = [];
  const pushShort = (id: RowId, text: string): void => {
    if (text.length === 0) return;
    buffer = sources.length === 0 ? text : buffer + separator + text;
    sources.push(id);
    if (buffer.length >= length) {
      out.push({ id: `${String(sources[0])}+${sources.length}`, text: buffer.slice(0, length), sources });
      buffer = '';
      sources = [];
    }
  };
  for (const row of rows) {
    let piece = 0;
    let at = 0;
    for (; at + length <= row.text.length; at += length) {
      out.push({
        id: `${String(row.id)}#${piece++}`,
        text: row.text.slice(at, at + length),
        sources: [row.id],
      });
    }
    pushShort(row.id, row.text.slice(at));
  }
  return out;
}

/**
 * NLG/detox rule (OWTC pool): drop rows shorter than `minLength` (default 500) and truncate the rest
 * to `length` (default 500 ≈ 128 tokens). Ids are kept.
 */
export function truncateToFixedLength(
  rows: readonly TextRow[],
  options: { length?: number; minLength?: number } = {},
): PreprocessedTextRow[] {
  const length = options.length ?? 500;
  const minLength = options.minLength ?? length;
  return rows
    .filter((row) => row.text.length >= minLength)
    .map((row) => ({ id: String(row.id), text: row.text.slice(0, length), sources: [row.id] }));
}

/** Keeps the first row of each distinct text (exact match). */
export function dropDuplicateTexts<T extends { text: string }>(rows: readonly T[]): T[] {
  const seen = new Set<string>();
  return rows.filter((row) => {
    if (seen.has(row.text)) return false;
    seen.add(row.text);
    return true;
  });
}
