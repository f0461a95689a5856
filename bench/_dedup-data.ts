// Documents with injected near-duplicates for `bench/dedup.ts`, all seeded.
//
// Base documents: the builtin text groups (speeches, novel, code) cut into paragraphs,
// consecutive paragraphs packed into documents of 400–1600 characters. Base documents that are
// already near-duplicates of one another (boilerplate licence headers in the code group, repeated
// phrases in speeches) are dropped first, found by a high-recall pass (Jaccard ≥ 0.5 with 50 bands of
// 2 rows, exactly verified), so that the only duplicates left are the injected ones.
// Injected duplicates (id = original id + "~dup<k>", so the original has the smaller id): for a
// fraction of the base documents, one copy each edited by one of
//   chars    1–10 % of the characters substituted, inserted or deleted at random positions
//   shuffle  the document's paragraphs (or, with one paragraph, its sentences) in another order
//   header   a boilerplate header and footer added (site name, date, "all rights reserved" …)
//   mixed    shuffle + header + 1–3 % character edits
import {
  deduplicateTexts,
  exactJaccard,
  normalizeForShingles,
  shingleHashes,
} from '../ml/methods/dedup/index.js';
import type { Hash32, MinHashParams } from '../ml/methods/dedup/index.js';
import { Rng } from '../ml/train/rng.js';
import { loadBuiltin } from '../activities/text-corpus.js';

export type EditKind = 'chars' | 'shuffle' | 'header' | 'mixed';
export const EDIT_KINDS: EditKind[] = ['chars', 'shuffle', 'header', 'mixed'];

export interface BenchDoc {
  id: string;
  group: string;
  text: string;
  /** The base document this one copies (its own id for a base document). */
  family: string;
  edit?: { kind: EditKind; rate: number; jaccard: number };
}

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz ,.';

function editChars(text: string, rate: number, rng: Rng): string {
  const chars = [...text];
  const edits = Math.max(1, Math.round(rate * chars.length));
  for (let e = 0; e < edits; e++) {
    const at = Math.floor(rng.next() * chars.length);
    const c = ALPHABET[Math.floor(rng.next() * ALPHABET.length)]!;
    const op = rng.next();
    if (op < 0.6) chars[at] = c;
    else if (op < 0.8) chars.splice(at, 0, c);
    else if (chars.length > 1) chars.splice(at, 1);
  }
  return chars.join('');
}

function shuffled<T>(items: T[], rng: Rng): T[] {
  const out = items.slice();
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  // A "shuffle" that changes nothing is no edit: rotate instead.
  if (out.length > 1 && out.every((x, i) => x === items[i])) out.push(out.shift()!);
  return out;
}

function shuffleParagraphs(text: string, rng: Rng): string {
  const paras = text.split(/\n\s*\n/);
  if (paras.length > 1) return shuffled(paras, rng).join('\n\n');
  const sentences = text.split(/(?<=[.!?;])\s+/);
  return shuffled(sentences, rng).join(' ');
}

const SITES = ['The Daily Archive', 'Example Library Online', 'Public Domain Texts', 'Reader Digest Hub'];
function addBoilerplate(text: string, rng: Rng): string {
  const site = SITES[Math.floor(rng.next() * SITES.length)]!;
  const day = 1 + Math.floor(rng.next() * 28);
  return (
    `${site} | Posted 2024-03-${String(day).padStart(2, '0')} | Share this page\n\n${text}\n\n` +
    `© ${site}. All rights reserved. Subscribe for updates.`
  );
}

function packSentences(text: string, max: number): string[] {
  const out: string[] = [];
  let current = '';
  for (const sentence of text.split(/(?<=[.!?])\s+/)) {
    if (current && current.length + sentence.length + 1 > max) {
      out.push(current);
      current = '';
    }
    current = current ? `${current} ${sentence}` : sentence;
  }
  if (current) out.push(current);
  return out.filter((p) => p.length <= 1600);
}

/** Base documents: paragraphs of the builtin groups packed to 400–1600 characters, in a seeded order. */
export function baseDocuments(limit: number, rng: Rng): { id: string; group: string; text: string }[] {
  const docs: { id: string; group: string; text: string }[] = [];
  for (const row of loadBuiltin(['speeches', 'novel', 'code'])) {
    // The novel and code have blank lines between paragraphs; a speech is one line, so long
    // paragraphs are cut at sentence ends into pieces of at most 600 characters.
    const paras = row.text
      .split(/\n\s*\n/)
      .filter((p) => p.trim().length > 0)
      .flatMap((p) => (p.length <= 800 ? [p] : packSentences(p, 600)));
    let current: string[] = [];
    let k = 0;
    const flush = () => {
      const text = current.join('\n\n');
      if (text.length >= 400) docs.push({ id: `${row.id}#${k++}`, group: row.group, text });
      current = [];
    };
    for (const p of paras) {
      if (p.length > 1600) continue;
      if (current.join('\n\n').length + p.length > 1600) flush();
      current.push(p);
    }
    flush();
  }
  return shuffled(docs, rng).slice(0, limit);
}

/**
 * `n` base documents (after dropping near-duplicate base documents) plus one injected copy of a
 * `dupFraction` of them. Each copy's exact Jaccard similarity to its original is recorded.
 */
export function documentsWithDuplicates(
  n: number,
  dupFraction: number,
  seed: number,
  params: MinHashParams,
  hash: Hash32,
): BenchDoc[] {
  const rng = new Rng(seed);
  const raw = baseDocuments(Math.ceil(n * 1.3), rng);
  const wide = { ...params, bands: 50, rows: 2, numPerm: 100, threshold: 0.5 };
  const pre = deduplicateTexts(
    raw.map((d) => d.id),
    raw.map((d) => d.text),
    wide,
    hash,
  );
  const involved = new Set(pre.pairs.flat());
  const base = raw.filter((_, i) => !involved.has(i)).slice(0, n);
  const shingles = (t: string) =>
    shingleHashes(normalizeForShingles(t, params.stripPunctuation), params.ngram, hash, params.seed);
  const out: BenchDoc[] = base.map((d) => ({ ...d, family: d.id }));
  base.forEach((d, i) => {
    if (rng.next() >= dupFraction) return;
    const kind = EDIT_KINDS[i % EDIT_KINDS.length]!;
    let text = d.text;
    let rate = 0;
    if (kind === 'chars') {
      rate = 0.01 + 0.09 * rng.next();
      text = editChars(text, rate, rng);
    } else if (kind === 'shuffle') text = shuffleParagraphs(text, rng);
    else if (kind === 'header') text = addBoilerplate(text, rng);
    else {
      rate = 0.01 + 0.02 * rng.next();
      text = editChars(addBoilerplate(shuffleParagraphs(text, rng), rng), rate, rng);
    }
    const jaccard = exactJaccard(shingles(d.text), shingles(text));
    out.push({ id: `${d.id}~dup1`, group: d.group, text, family: d.id, edit: { kind, rate, jaccard } });
  });
  return out;
}

export interface DedupScore {
  removed: number;
  truePositives: number;
  precision: number;
  /** Injected copies whose exact Jaccard to the original is ≥ the threshold, and the share removed. */
  truthAtThreshold: number;
  recallAtThreshold: number;
  /** All injected copies, whatever their similarity. */
  injected: number;
  recallAll: number;
  byKind: Record<string, { injected: number; atThreshold: number; removed: number; meanJaccard: number }>;
}

/**
 * Precision: removed documents that belong to the family of a kept document (an injected copy, or
 * an original whose copy was kept instead). Recall: removed copies among the injected ones.
 */
export function scoreRemoval(
  docs: readonly BenchDoc[],
  kept: ReadonlySet<string>,
  threshold: number,
): DedupScore {
  const keptFamilies = new Set(docs.filter((d) => kept.has(d.id)).map((d) => d.family));
  let removed = 0;
  let tp = 0;
  for (const d of docs) {
    if (kept.has(d.id)) continue;
    removed++;
    if (keptFamilies.has(d.family)) tp++;
  }
  const copies = docs.filter((d) => d.edit);
  const atT = copies.filter((d) => d.edit!.jaccard >= threshold);
  const byKind: DedupScore['byKind'] = {};
  for (const d of copies) {
    const k = (byKind[d.edit!.kind] ??= { injected: 0, atThreshold: 0, removed: 0, meanJaccard: 0 });
    k.injected++;
    if (d.edit!.jaccard >= threshold) k.atThreshold++;
    if (!kept.has(d.id)) k.removed++;
    k.meanJaccard += d.edit!.jaccard;
  }
  for (const k of Object.values(byKind)) k.meanJaccard = Number((k.meanJaccard / k.injected).toFixed(3));
  return {
    removed,
    truePositives: tp,
    precision: removed === 0 ? 1 : tp / removed,
    truthAtThreshold: atT.length,
    recallAtThreshold: atT.length === 0 ? 1 : atT.filter((d) => !kept.has(d.id)).length / atT.length,
    injected: copies.length,
    recallAll: copies.length === 0 ? 1 : copies.filter((d) => !kept.has(d.id)).length / copies.length,
    byKind,
  };
}

/**
 * `n` short documents (2–3 sentences of the builtin groups, ~80–600 characters) for throughput and
 * memory at scale; a `dupFraction` of them are copies of an earlier one with 1 % of the characters
 * edited. Columnar, so a million of them stay compact.
 */
export function shortDocuments(n: number, dupFraction: number, seed: number) {
  const rng = new Rng(seed);
  const sentences = loadBuiltin(['speeches', 'novel', 'code'])
    .flatMap((r) => r.text.split(/(?<=[.!?;])\s+|\n\s*\n/))
    .map((s) => s.trim())
    .filter((s) => s.length >= 40 && s.length <= 200);
  const ids: string[] = new Array<string>(n);
  const texts: string[] = new Array<string>(n);
  const groups: string[] = new Array<string>(n);
  const copies: number[] = [];
  const width = String(n).length;
  for (let i = 0; i < n; i++) {
    ids[i] = `s${String(i).padStart(width, '0')}`;
    groups[i] = 'short';
    if (i > 0 && rng.next() < dupFraction) {
      const of = Math.floor(rng.next() * i);
      texts[i] = editChars(texts[of]!, 0.01, rng);
      copies.push(i);
      continue;
    }
    const k = 2 + Math.floor(rng.next() * 2);
    const parts: string[] = [];
    for (let j = 0; j < k; j++) parts.push(sentences[Math.floor(rng.next() * sentences.length)]!);
    texts[i] = parts.join(' ');
  }
  return { ids, groups, texts, sources: groups, copies: copies.length };
}
