// Document quality heuristics of Gopher (Rae et al. 2021, "Scaling Language Models", Appendix A.1.1
// "quality filtering"): word count, mean word length, symbol-to-word ratio, bullet and ellipsis
// lines, repeated lines and repeated word n-grams, share of words with a letter; plus a non-text
// character ratio (binary junk, mojibake). Pure functions; thresholds and on/off per filter come from
// `QualityFilters` (schemas/dedup.ts), whose defaults are Gopher's.
//
// Words are whitespace-separated tokens. A document is removed by the FIRST filter (in
// QUALITY_FILTERS order) whose bound it breaks, so every removal is counted once.
import {
  type FilterOutcome,
  QUALITY_FILTERS,
  type QualityFilterName,
  type QualityFiltersConfig,
} from '../../../schemas/dedup.js';

const BULLET = /^\s*[•\-*‣◦●▪]/u;
const ELLIPSIS = /(\.\.\.|…)\s*$/u;

/** Fraction of characters covered by word n-grams that occur more than once (Gopher's duplicate n-gram rule). */
export function duplicateNgramCharFraction(words: readonly string[], n: number): number {
  if (words.length < n) return 0;
  const totalChars = words.reduce((s, w) => s + w.length, 0);
  if (totalChars === 0) return 0;
  const counts = new Map<string, number>();
  for (let i = 0; i + n <= words.length; i++) {
    const key = words.slice(i, i + n).join(' ');
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  const covered = new Uint8Array(words.length);
  for (let i = 0; i + n <= words.length; i++) {
    if (counts.get(words.slice(i, i + n).join(' '))! > 1) covered.fill(1, i, i + n);
  }
  let dup = 0;
  for (let i = 0; i < words.length; i++) if (covered[i]) dup += words[i]!.length;
  return dup / totalChars;
}

/** The value each filter looks at, for one document. */
export function qualityValues(text: string, ngram = 5): Record<QualityFilterName, number> {
  const words = text.split(/\s+/u).filter((w) => w.length > 0);
  const lines = text.split('\n');
  const nonEmpty = lines.map((l) => l.trim()).filter((l) => l.length > 0);
  const points = text.length - (text.match(/[\uD800-\uDBFF]/g)?.length ?? 0);
  const symbols = (text.match(/#/g)?.length ?? 0) + (text.match(/\.\.\.|…/gu)?.length ?? 0);
  const seen = new Set<string>();
  let repeated = 0;
  for (const l of nonEmpty) {
    if (seen.has(l)) repeated++;
    seen.add(l);
  }
  const nonText = text.match(/[^\p{L}\p{N}\p{P}\s]/gu)?.length ?? 0;
  return {
    words: words.length,
    meanWordLength: words.length ? words.reduce((s, w) => s + [...w].length, 0) / words.length : 0,
    symbolRatio: words.length ? symbols / words.length : 0,
    bulletLines: nonEmpty.length ? nonEmpty.filter((l) => BULLET.test(l)).length / nonEmpty.length : 0,
    ellipsisLines: nonEmpty.length ? nonEmpty.filter((l) => ELLIPSIS.test(l)).length / nonEmpty.length : 0,
    duplicateLines: nonEmpty.length ? repeated / nonEmpty.length : 0,
    duplicateNgrams: duplicateNgramCharFraction(words, ngram),
    alphabeticWords: words.length ? words.filter((w) => /\p{L}/u.test(w)).length / words.length : 0,
    nonTextChars: points ? nonText / points : 0,
  };
}

/** Does `value` break the configured bound of `filter`? */
function breaks(filter: QualityFilterName, value: number, config: QualityFiltersConfig): boolean {
  const bound = config[filter];
  if (bound === false) return false;
  if ('min' in bound && value < bound.min) return true;
  if ('max' in bound && value > bound.max) return true;
  return false;
}

/** The first enabled filter a document fails, with the value it failed on; null when it passes. */
export function failedQualityFilter(
  text: string,
  config: QualityFiltersConfig,
): { filter: QualityFilterName; value: number } | null {
  const ngram = config.duplicateNgrams === false ? 5 : config.duplicateNgrams.n;
  const values = qualityValues(text, ngram);
  for (const filter of QUALITY_FILTERS) {
    if (breaks(filter, values[filter], config)) return { filter, value: values[filter] };
  }
  return null;
}

const EXAMPLES = 3;
const EXAMPLE_CHARS = 160;

/** Applies the filters to rows in order: a keep mask and, per enabled filter, its count and examples. */
export function applyQualityFilters(
  ids: readonly string[],
  texts: readonly string[],
  config: QualityFiltersConfig,
): { keep: Uint8Array; outcomes: FilterOutcome[] } {
  const keep = new Uint8Array(ids.length).fill(1);
  const outcomes = new Map<QualityFilterName, FilterOutcome>(
    QUALITY_FILTERS.filter((f) => config[f] !== false).map((f) => [
      f,
      { filter: f, removed: 0, examples: [] },
    ]),
  );
  texts.forEach((text, i) => {
    const failed = failedQualityFilter(text, config);
    if (!failed) return;
    keep[i] = 0;
    const o = outcomes.get(failed.filter)!;
    o.removed++;
    if (o.examples.length < EXAMPLES) {
      const short = text.length > EXAMPLE_CHARS ? `${text.slice(0, EXAMPLE_CHARS)}…` : text;
      o.examples.push({ id: ids[i]!, value: Number(failed.value.toFixed(4)), text: short });
    }
  });
  return { keep, outcomes: [...outcomes.values()] };
}
