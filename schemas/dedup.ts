// Curation options shared by dedupCorpus and ingestCorpus: MinHash LSH near-duplicate removal
// (ml/methods/dedup/index.ts) and Gopher-style quality filters (ml/methods/dedup/filters.ts). The
// dedupCorpus workflow's own input is in dedup-corpus.ts (this file is imported by ingest.ts).
import { z } from 'zod';
import { ArtifactRef } from './artifact.js';

/**
 * MinHash LSH settings. Documents with Jaccard similarity ≥ `threshold` between their sets of
 * character `ngram`s are duplicates; a pair is found with probability 1 − (1 − s^rows)^bands
 * (the S-curve: more bands find more, and cost more). `bands × rows` must equal `numPerm`.
 */
export const DedupSettings = z
  .strictObject({
    ngram: z.number().int().min(1).max(64).default(5),
    numPerm: z.number().int().min(1).max(1024).default(100),
    bands: z.number().int().min(1).max(1024).default(20),
    rows: z.number().int().min(1).max(1024).default(5),
    threshold: z.number().gt(0).max(1).default(0.8),
    /** Remove Unicode punctuation and symbols before shingling (lowercase and whitespace always). */
    stripPunctuation: z.boolean().default(false),
    /**
     * Drop documents that duplicate one of an earlier partition of the same lineage: curateCorpus
     * fills `previous` from the lineage when set.
     */
    crossPartition: z.boolean().default(false),
    /** Rows per signature shard: one `minhashShard` activity each, in parallel on the compute queue. */
    shardRows: z.number().int().min(1).max(10_000_000).default(50_000),
    /** Signature tables (`signatures` of earlier runs) whose documents count as already kept. */
    previous: z.array(ArtifactRef).max(1000).default([]),
  })
  .superRefine((s, ctx) => {
    if (s.bands * s.rows !== s.numPerm)
      ctx.addIssue({
        code: 'custom',
        path: ['numPerm'],
        message: `bands × rows must equal numPerm (${s.bands} × ${s.rows} = ${s.bands * s.rows}, numPerm ${s.numPerm})`,
      });
  });
export type DedupSettings = z.input<typeof DedupSettings>;
export type DedupConfig = z.output<typeof DedupSettings>;

const range = (min: number, max: number) =>
  z.strictObject({ min: z.number().min(0), max: z.number().min(0) }).default({ min, max });
const atMost = (max: number) => z.strictObject({ max: z.number().min(0).max(1) }).default({ max });
const atLeast = (min: number) => z.strictObject({ min: z.number().min(0).max(1) }).default({ min });

/**
 * Quality filters, each `false` to disable or its bounds (defaults: Gopher, Rae et al. 2021, App. A;
 * C4's terminal-punctuation rule is left out because code and verse fail it). A document is
 * attributed to the first filter in this order that removes it.
 */
export const QualityFilters = z
  .strictObject({
    /** Words (whitespace-separated tokens) per document. */
    words: z.union([z.literal(false), range(50, 100_000)]).default({ min: 50, max: 100_000 }),
    /** Mean word length in characters. */
    meanWordLength: z.union([z.literal(false), range(3, 10)]).default({ min: 3, max: 10 }),
    /** ("#" + "..." / "…") per word. */
    symbolRatio: z.union([z.literal(false), atMost(0.1)]).default({ max: 0.1 }),
    /** Fraction of lines starting with a bullet (•, -, *, ‣, ◦). */
    bulletLines: z.union([z.literal(false), atMost(0.9)]).default({ max: 0.9 }),
    /** Fraction of lines ending with an ellipsis. */
    ellipsisLines: z.union([z.literal(false), atMost(0.3)]).default({ max: 0.3 }),
    /** Fraction of non-empty lines that repeat an earlier line. */
    duplicateLines: z.union([z.literal(false), atMost(0.3)]).default({ max: 0.3 }),
    /** Fraction of characters inside word n-grams that occur more than once (Gopher: 5-grams, 0.15). */
    duplicateNgrams: z
      .union([
        z.literal(false),
        z.strictObject({
          n: z.number().int().min(2).max(10).default(5),
          max: z.number().min(0).max(1).default(0.15),
        }),
      ])
      .default({ n: 5, max: 0.15 }),
    /** Fraction of words containing at least one letter. */
    alphabeticWords: z.union([z.literal(false), atLeast(0.8)]).default({ min: 0.8 }),
    /** Fraction of characters that are neither letters, digits, whitespace nor punctuation. */
    nonTextChars: z.union([z.literal(false), atMost(0.2)]).default({ max: 0.2 }),
  })
  .superRefine((f, ctx) => {
    for (const key of ['words', 'meanWordLength'] as const) {
      const r = f[key];
      if (r && r.min > r.max)
        ctx.addIssue({ code: 'custom', path: [key, 'min'], message: `min ${r.min} is above max ${r.max}` });
    }
  });
export type QualityFilters = z.input<typeof QualityFilters>;
export type QualityFiltersConfig = z.output<typeof QualityFilters>;
export const QUALITY_FILTERS = [
  'words',
  'meanWordLength',
  'symbolRatio',
  'bulletLines',
  'ellipsisLines',
  'duplicateLines',
  'duplicateNgrams',
  'alphabeticWords',
  'nonTextChars',
] as const;
export type QualityFilterName = (typeof QUALITY_FILTERS)[number];

/** What one filter removed: the count and up to three short examples. */
export interface FilterOutcome {
  filter: QualityFilterName;
  removed: number;
  examples: { id: string; value: number; text: string }[];
}

/** Counts and examples of one curation (filters, then near-duplicates). */
export interface CurationSummary {
  rows: {
    input: number;
    filtered: number;
    /** Removed as near-duplicates of a document of this run. */
    duplicates: number;
    /** Removed as near-duplicates of a document of an earlier partition (`previous`). */
    previousDuplicates: number;
    kept: number;
  };
  filters: FilterOutcome[];
  dedup: {
    settings: Omit<DedupConfig, 'previous'>;
    /** Signature tables of earlier partitions compared against. */
    previousTables: number;
    shards: number;
    candidatePairs: number;
    verifiedPairs: number;
    clusters: number;
    examples: { id: string; keptId: string; jaccard: number; text: string }[];
  } | null;
}

export interface CurationRefs {
  /** Kept rows (`text_corpus`). */
  corpus: ArtifactRef;
  /** MinHash signatures of the kept rows: pass as `dedup.previous` to a later partition's run. */
  signatures?: ArtifactRef;
  /** `id, kept_id, jaccard` of every removed near-duplicate. */
  removed?: ArtifactRef;
}
