// Quality filters (ml/methods/dedup/filters.ts): each filter alone removes the bad document and
// keeps the good one, so a bound applied the wrong way round fails here.
import { describe, expect, it } from 'vitest';
import {
  applyQualityFilters,
  duplicateNgramCharFraction,
  failedQualityFilter,
  qualityValues,
} from '../../../ml/methods/dedup/filters.js';
import { QUALITY_FILTERS, QualityFilters, type QualityFilterName } from '../../../schemas/dedup.js';

const prose = (n: number) =>
  Array.from(
    { length: n },
    (_, i) => ['river', 'harbour', 'whale', 'captain', 'morning', 'island'][i % 6]! + i,
  )
    .join(' ')
    .concat('.');

/** Only `name` enabled, with its default bounds. */
function only(name: QualityFilterName) {
  const off = Object.fromEntries(QUALITY_FILTERS.filter((f) => f !== name).map((f) => [f, false]));
  return QualityFilters.parse(off);
}

const cases: Record<QualityFilterName, { bad: string; good: string }> = {
  words: { bad: 'too short to keep', good: prose(80) },
  meanWordLength: { bad: 'a b c d e f g h i j k l m n o p q r s t u v w x y z '.repeat(3), good: prose(80) },
  symbolRatio: { bad: '# heading # more # tags # here # now # again', good: prose(80) },
  bulletLines: { bad: '- one\n- two\n- three\n- four\n- five', good: `intro line\n- one\n${prose(30)}` },
  ellipsisLines: {
    bad: 'and then...\nwe went...\nto the sea...',
    good: `${prose(30)}\nand then...\n${prose(20)}\n${prose(10)}`,
  },
  duplicateLines: {
    bad: 'buy now\nbuy now\nbuy now\nbuy now\nclick here',
    good: `${prose(10)}\n${prose(12)}\n${prose(14)}`,
  },
  duplicateNgrams: { bad: 'the same five words here '.repeat(10), good: prose(80) },
  alphabeticWords: { bad: '1 2 3 4 5 6 7 8 9 10 11 12 13 word', good: prose(80) },
  nonTextChars: { bad: '▓▓▓▒▒░░ ████ ▓▓▓ ■■■ text', good: prose(80) },
};

describe('quality filters', () => {
  it.each(QUALITY_FILTERS)('%s removes the bad document and keeps the good one', (name) => {
    const config = only(name);
    const { bad, good } = cases[name];
    expect(failedQualityFilter(bad, config)?.filter).toBe(name);
    expect(failedQualityFilter(good, config)).toBeNull();
  });

  it('counts each removal under the first filter it fails and keeps up to three examples', () => {
    const config = QualityFilters.parse({});
    const ids = ['a', 'b', 'c', 'd', 'e', 'f'];
    const texts = ['short', 'tiny', 'small', 'wee', prose(80), 'x\nx\nx\nx\n' + prose(60)];
    const { keep, outcomes } = applyQualityFilters(ids, texts, config);
    expect(Array.from(keep)).toEqual([0, 0, 0, 0, 1, 0]);
    const words = outcomes.find((o) => o.filter === 'words')!;
    expect(words.removed).toBe(4);
    expect(words.examples.map((e) => e.id)).toEqual(['a', 'b', 'c']);
    expect(words.examples[0]!.value).toBe(1);
    expect(outcomes.find((o) => o.filter === 'duplicateLines')!.removed).toBe(1);
    expect(outcomes).toHaveLength(QUALITY_FILTERS.length);
    // A disabled filter reports nothing and removes nothing.
    const noWords = applyQualityFilters(ids, texts, QualityFilters.parse({ words: false }));
    expect(noWords.outcomes.some((o) => o.filter === 'words')).toBe(false);
  });

  it('measures what it says', () => {
    const v = qualityValues('ab abcd\n- item…\n- item…');
    expect(v.words).toBe(6);
    expect(v.meanWordLength).toBeCloseTo((2 + 4 + 1 + 5 + 1 + 5) / 6, 10);
    expect(v.bulletLines).toBeCloseTo(2 / 3, 10);
    expect(v.ellipsisLines).toBeCloseTo(2 / 3, 10);
    expect(v.duplicateLines).toBeCloseTo(1 / 3, 10);
    // "a b c a b c": every word is inside a repeated 3-gram.
    expect(duplicateNgramCharFraction(['a', 'b', 'c', 'a', 'b', 'c'], 3)).toBe(1);
    expect(duplicateNgramCharFraction(['a', 'b', 'c', 'd', 'e', 'f'], 3)).toBe(0);
  });

  it('refuses a range whose min is above its max, naming the field', () => {
    const r = QualityFilters.safeParse({ words: { min: 10, max: 5 } });
    expect(r.success).toBe(false);
    expect(r.error!.issues[0]!.path).toEqual(['words', 'min']);
  });
});
