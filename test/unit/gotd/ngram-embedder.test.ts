// The model-free GOT-D embedder (hashed character n-gram TF-IDF) and the §4.1 text preprocessing.
import { describe, expect, it } from 'vitest';
import {
  embedHashedNgrams,
  mergeNgramDocumentFrequencies,
  ngramDocumentFrequencies,
  normaliseForNgrams,
} from '../../../ml/methods/gotd/ngram-embedder.js';
import {
  dropDuplicateTexts,
  packToFixedLength,
  truncateToFixedLength,
} from '../../../ml/methods/gotd/preprocess.js';
import { selectWarmupData } from '../../../ml/methods/gotd/index.js';

const prose = [
  'The river rises in the northern hills and flows south through the valley to the sea.',
  'In 1820 the town was granted a charter, and its population grew steadily thereafter.',
  'The cathedral, completed in the fourteenth century, is built of local limestone.',
  'Its climate is temperate, with mild winters and warm, dry summers.',
];
const reviews = [
  'Great headphones!!! Battery lasts forever, 5 stars, would buy again.',
  'Terrible blender. Broke after two days. Do not buy, total waste of money!!',
  'Love this phone case, fits perfectly and the color is great. 5 stars',
  'Arrived late and the box was damaged, but the charger works fine. 3 stars.',
];

function dot(m: Float32Array, dim: number, p: number, q: number): number {
  let s = 0;
  for (let d = 0; d < dim; d++) s += m[p * dim + d]! * m[q * dim + d]!;
  return s;
}

describe('hashed character n-gram TF-IDF embedder', () => {
  const texts = [...prose, ...reviews];
  const dim = 256;

  it('returns L2-normalised rows, zero for a text without n-grams', () => {
    const m = embedHashedNgrams([...texts, ''], { dim, ngramMin: 3, ngramMax: 5 });
    expect(m).toBeInstanceOf(Float32Array);
    expect(m.length).toBe(9 * dim);
    for (let row = 0; row < 8; row++) expect(dot(m, dim, row, row)).toBeCloseTo(1, 5);
    expect(dot(m, dim, 8, 8)).toBe(0);
  });

  it('is deterministic, seed-dependent, and blind to case and whitespace runs', () => {
    const a = embedHashedNgrams(texts, { dim, seed: 3 });
    expect(embedHashedNgrams(texts, { dim, seed: 3 })).toEqual(a);
    expect(embedHashedNgrams(texts, { dim, seed: 4 })).not.toEqual(a);
    const shouty = texts.map((t) => `  ${t.toUpperCase().replace(/ /g, ' \t ')}\n`);
    const freqs = ngramDocumentFrequencies(texts, { dim, seed: 3 });
    expect(embedHashedNgrams(shouty, { dim, seed: 3 }, freqs)).toEqual(
      embedHashedNgrams(texts, { dim, seed: 3 }, freqs),
    );
    expect(normaliseForNgrams('  Ａb\tC  ')).toBe(' ab c ');
  });

  it('places texts of one kind closer to each other than to the other kind', () => {
    const m = embedHashedNgrams(texts, { dim: 1024 });
    const mean = (pairs: [number, number][]): number =>
      pairs.reduce((a, [p, q]) => a + dot(m, 1024, p, q), 0) / pairs.length;
    const within: [number, number][] = [];
    const across: [number, number][] = [];
    for (let p = 0; p < 8; p++)
      for (let q = p + 1; q < 8; q++) (p < 4 === q < 4 ? within : across).push([p, q]);
    expect(mean(within)).toBeGreaterThan(mean(across));
  });

  it('merged shard document frequencies equal the whole-corpus ones', () => {
    const whole = ngramDocumentFrequencies(texts, { dim });
    const merged = mergeNgramDocumentFrequencies([
      ngramDocumentFrequencies(prose, { dim }),
      ngramDocumentFrequencies(reviews, { dim }),
    ]);
    expect(merged.documents).toBe(8);
    expect(Array.from(merged.df)).toEqual(Array.from(whole.df));
    expect(embedHashedNgrams(reviews, { dim }, merged)).toEqual(
      embedHashedNgrams(texts, { dim }).subarray(4 * dim),
    );
  });

  it('rejects bad configs and mismatched document frequencies', () => {
    expect(() => embedHashedNgrams(texts, { ngramMin: 4, ngramMax: 3 })).toThrow(
      'ngramMax must be an integer ≥ ngramMin (4), got 3',
    );
    expect(() => embedHashedNgrams(texts, { dim: 0 })).toThrow('dim must be a positive integer, got 0');
    const freqs = ngramDocumentFrequencies(texts, { dim: 128 });
    expect(() => embedHashedNgrams(texts, { dim: 256 }, freqs)).toThrow(
      'document frequencies were counted with dim 128',
    );
    expect(() =>
      mergeNgramDocumentFrequencies([freqs, ngramDocumentFrequencies(texts, { dim: 128, seed: 1 })]),
    ).toThrow('document frequencies 1 were counted with dim 128, seed 1');
  });

  it('feeds GOT-D: a 9:1 prose/review pool and a half-review target select the under-covered reviews first', () => {
    const poolTexts = [...Array.from({ length: 36 }, (_, k) => `${prose[k % 4]} (${k})`), ...reviews];
    const targetTexts = [prose[0]!, prose[2]!, reviews[0]!, reviews[1]!];
    const freqs = ngramDocumentFrequencies([...poolTexts, ...targetTexts], { dim: 512 });
    const pool = {
      name: 'pool',
      ids: poolTexts.map((_, k) => `p${k}`),
      embeddings: embedHashedNgrams(poolTexts, { dim: 512 }, freqs),
      dim: 512,
    };
    const target = {
      name: 'target',
      ids: ['t0', 't1', 't2', 't3'],
      embeddings: embedHashedNgrams(targetTexts, { dim: 512 }, freqs),
      dim: 512,
    };
    const r = selectWarmupData(target, pool, { budget: 4, epsilon: 0.05 });
    // the two pool reviews that the target contains come first, before any of the 9× covered prose
    expect(r.selection.slice(0, 2).sort()).toEqual(['p36', 'p37']);
  });
});

describe('§4.1 preprocessing', () => {
  it('packs short rows to exactly `length` characters, like the notebook', () => {
    const rows = [
      { id: 1, text: 'aaaa' },
      { id: 2, text: 'bbbb' },
      { id: 3, text: 'cc' },
      { id: 4, text: 'dddddddddddd' },
      { id: 5, text: 'ee' },
    ];
    const out = packToFixedLength(rows, { length: 5 });
    // 'aaaa'+'bbbb' → 'aaaab' (rest dropped); 'cc' buffers; 'ddddd','ddddd' pieces of 4; its tail 'dd'
    // joins 'cc' → 'ccdd' (4) then 'ee' → 'ccdde'
    expect(out).toEqual([
      { id: '1+2', text: 'aaaab', sources: [1, 2] },
      { id: '4#0', text: 'ddddd', sources: [4] },
      { id: '4#1', text: 'ddddd', sources: [4] },
      { id: '3+3', text: 'ccdde', sources: [3, 4, 5] },
    ]);
    expect(out.every((r) => r.text.length === 5)).toBe(true);
    expect(
      packToFixedLength(
        [
          { id: 'x', text: 'ab' },
          { id: 'y', text: 'cd' },
        ],
        { length: 4, separator: ' ' },
      )[0]!.text,
    ).toBe('ab c');
  });

  it('drops short rows and truncates the rest (NLG rule), and drops exact duplicates', () => {
    const rows = [
      { id: 'a', text: 'x'.repeat(499) },
      { id: 'b', text: 'y'.repeat(800) },
    ];
    expect(truncateToFixedLength(rows)).toEqual([{ id: 'b', text: 'y'.repeat(500), sources: ['b'] }]);
    expect(
      dropDuplicateTexts([
        { id: 1, text: 'same' },
        { id: 2, text: 'other' },
        { id: 3, text: 'same' },
      ]).map((r) => r.id),
    ).toEqual([1, 2]);
  });
});
