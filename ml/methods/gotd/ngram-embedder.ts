// Model-free embedder for GOT-D when no sentence encoder is available: hashed character n-gram
// TF-IDF, L2-normalised (so squared Euclidean costs lie in [0, 4], like the spec's §5 default on
// normalised MiniLM embeddings). The paper's Table 17 shows raw token features select worse than a
// sentence encoder; this is a fallback for offline/CPU runs and tests, not the paper's choice (§4.3).
//
// Pool and target must go through the same function with the same config and the same document
// frequencies (spec §4.1, §10: formatting must not leak into distances). Document frequencies are
// counted per shard and merged, so embedding can fan out over shards like the OT scoring does.

export interface NgramEmbedderConfig {
  /** Shortest and longest character n-gram (code points, after normalisation). */
  ngramMin: number;
  ngramMax: number;
  /** Hash buckets = embedding dimension. */
  dim: number;
  /** Seeds the n-gram hash. */
  seed: number;
  /** 1 + ln(count) instead of the raw count. */
  sublinearTf: boolean;
}

export const NGRAM_EMBEDDER_DEFAULTS: NgramEmbedderConfig = {
  ngramMin: 3,
  ngramMax: 5,
  dim: 1024,
  seed: 0,
  sublinearTf: true,
};

/** Per-bucket document frequencies over `documents` texts (the IDF statistics). */
export interface NgramDocumentFrequencies {
  dim: number;
  seed: number;
  ngramMin: number;
  ngramMax: number;
  documents: number;
  df: Float64Array;
}

function resolve(config: Partial<NgramEmbedderConfig>): NgramEmbedderConfig {
  const c = { ...NGRAM_EMBEDDER_DEFAULTS, ...config };
  if (!Number.isInteger(c.ngramMin) || c.ngramMin < 1)
    throw new Error(`ngram embedder: ngramMin must be a positive integer, got ${c.ngramMin}`);
  if (!Number.isInteger(c.ngramMax) || c.ngramMax < c.ngramMin) {
    throw new Error(
      `ngram embedder: ngramMax must be an integer ≥ ngramMin (${c.ngramMin}), got ${c.ngramMax}`,
    );
  }
  if (!Number.isInteger(c.dim) || c.dim < 1)
    throw new Error(`ngram embedder: dim must be a positive integer, got ${c.dim}`);
  if (!Number.isInteger(c.seed)) throw new Error(`ngram embedder: seed must be an integer, got ${c.seed}`);
  return c;
}

/** Unicode NFKC, lower case, whitespace runs → one space, trimmed, then padded with one space each side. */
export function normaliseForNgrams(text: string): string {
  return ` ${text.normalize('NFKC').toLowerCase().replace(/\s+/gu, ' ').trim()} `;
}

/** murmur3's 32-bit finaliser: spreads FNV's weak low bits before the modulo. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Bucket of every n-gram of `text` (with multiplicity): seeded FNV-1a over code points, finalised. */
function ngramBuckets(text: string, c: NgramEmbedderConfig): number[] {
  const points = Array.from(normaliseForNgrams(text), (ch) => ch.codePointAt(0)!);
  const basis = fmix32((0x811c9dc5 ^ Math.imul(c.seed, 0x9e3779b1)) >>> 0);
  const out: number[] = [];
  for (let start = 0; start < points.length; start++) {
    let h = basis;
    for (let len = 1; len <= c.ngramMax && start + len <= points.length; len++) {
      h = Math.imul(h ^ points[start + len - 1]!, 0x01000193) >>> 0;
      if (len >= c.ngramMin) out.push(fmix32(h ^ len) % c.dim);
    }
  }
  return out;
}

/** Counts, per bucket, how many of `texts` contain at least one n-gram hashing to it. */
export function ngramDocumentFrequencies(
  texts: readonly string[],
  config: Partial<NgramEmbedderConfig> = {},
): NgramDocumentFrequencies {
  const c = resolve(config);
  const df = new Float64Array(c.dim);
  const seen = new Uint8Array(c.dim);
  for (const text of texts) {
    const buckets = ngramBuckets(text, c);
    for (const b of buckets) {
      if (!seen[b]) df[b]!++;
      seen[b] = 1;
    }
    for (const b of buckets) seen[b] = 0;
  }
  return {
    dim: c.dim,
    seed: c.seed,
    ngramMin: c.ngramMin,
    ngramMax: c.ngramMax,
    documents: texts.length,
    df,
  };
}

/** Sums document frequencies counted on disjoint shards; all must share dim, seed and n-gram range. */
export function mergeNgramDocumentFrequencies(
  parts: readonly NgramDocumentFrequencies[],
): NgramDocumentFrequencies {
  const first = parts[0];
  if (!first) throw new Error('ngram embedder: no document frequencies to merge');
  const df = new Float64Array(first.dim);
  let documents = 0;
  parts.forEach((p, k) => {
    if (
      p.dim !== first.dim ||
      p.seed !== first.seed ||
      p.ngramMin !== first.ngramMin ||
      p.ngramMax !== first.ngramMax
    ) {
      throw new Error(
        `ngram embedder: document frequencies ${k} were counted with dim ${p.dim}, seed ${p.seed}, n-grams ${p.ngramMin}–${p.ngramMax}; ` +
          `the first with dim ${first.dim}, seed ${first.seed}, n-grams ${first.ngramMin}–${first.ngramMax}`,
      );
    }
    for (let b = 0; b < df.length; b++) df[b]! += p.df[b]!;
    documents += p.documents;
  });
  return { ...first, documents, df };
}

/**
 * Embeds `texts` as L2-normalised hashed character n-gram TF-IDF vectors: returns a row-major
 * texts.length × dim Float32Array. IDF is the smoothed ln((1 + D)/(1 + df)) + 1 from `frequencies`
 * (default: counted on `texts` themselves; pass frequencies merged over pool and target so both are
 * weighted alike). A text with no n-grams embeds as the zero vector.
 */
export function embedHashedNgrams(
  texts: readonly string[],
  config: Partial<NgramEmbedderConfig> = {},
  frequencies?: NgramDocumentFrequencies,
): Float32Array {
  const c = resolve(config);
  const stats = frequencies ?? ngramDocumentFrequencies(texts, c);
  if (
    stats.dim !== c.dim ||
    stats.seed !== c.seed ||
    stats.ngramMin !== c.ngramMin ||
    stats.ngramMax !== c.ngramMax
  ) {
    throw new Error(
      `ngram embedder: document frequencies were counted with dim ${stats.dim}, seed ${stats.seed}, n-grams ${stats.ngramMin}–${stats.ngramMax}; ` +
        `embedding asks for dim ${c.dim}, seed ${c.seed}, n-grams ${c.ngramMin}–${c.ngramMax}`,
    );
  }
  const idf = Float64Array.from(stats.df, (df) => Math.log((1 + stats.documents) / (1 + df)) + 1);
  const out = new Float32Array(texts.length * c.dim);
  const counts = new Float64Array(c.dim);
  texts.forEach((text, row) => {
    const buckets = ngramBuckets(text, c);
    for (const b of buckets) counts[b]!++;
    let norm = 0;
    for (const b of new Set(buckets)) {
      const tf = c.sublinearTf ? 1 + Math.log(counts[b]!) : counts[b]!;
      counts[b] = tf * idf[b]!;
      norm += counts[b]! ** 2;
    }
    const scale = norm > 0 ? 1 / Math.sqrt(norm) : 0;
    for (const b of buckets) {
      if (counts[b] === 0) continue;
      out[row * c.dim + b] = counts[b]! * scale;
      counts[b] = 0;
    }
  });
  return out;
}
