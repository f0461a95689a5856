// ingestCorpus: input, output, progress.
import { z } from 'zod';
import { ArtifactRef } from './artifact.js';
import { type CurationRefs, type CurationSummary, DedupSettings, QualityFilters } from './dedup.js';
import { DatasetName, Profile } from './temporal.js';

/** Text groups bundled from registry packages (licences in README.md). */
export const BUILTIN_TEXT_GROUPS = ['speeches', 'novel', 'code'] as const;

export const SplitFractions = z
  .object({ val: z.number().min(0).max(0.5).default(0.1), test: z.number().min(0).max(0.5).default(0.1) })
  .default({ val: 0.1, test: 0.1 });

/** Files one ingest reads: their URIs travel in the workflow input, which stays under 64 KiB. */
export const MAX_SOURCE_SHARDS = 256;

// Strict members: a union of non-strict objects would let `{ uri }` match the builtin member.
export const TextSource = z.union([
  z.strictObject({ builtin: z.array(z.enum(BUILTIN_TEXT_GROUPS)).min(1) }),
  z.strictObject({
    /** A user corpus: Parquet with columns id, group, text (source optional) or JSONL of such objects. */
    uri: z.string().min(1),
    format: z.enum(['parquet', 'jsonl']).optional(),
  }),
  z.strictObject({
    /**
     * One corpus stored as several files (a partition's data files): read one by one and concatenated
     * in this order, each as JSONL when it ends in `.jsonl`/`.json`, else as Parquet. Ids must be unique
     * across the shards.
     */
    shards: z.array(z.string().min(1)).min(1).max(MAX_SOURCE_SHARDS),
  }),
]);
export type TextSource = z.infer<typeof TextSource>;

export const IngestCorpusInput = z.object({
  dataset: DatasetName.default('builtin-text'),
  source: TextSource.default({ builtin: [...BUILTIN_TEXT_GROUPS] }),
  /** Cap on UTF-8 bytes taken per group (passages in seeded order until the cap). */
  maxBytesPerGroup: z.number().int().positive().default(1_000_000),
  /** Documents are cut into passages of at most this many bytes (paragraph boundaries) before splitting. */
  passageBytes: z.number().int().min(256).default(4096),
  split: SplitFractions,
  /** Window length in byte tokens. */
  ctx: z.number().int().min(8).max(4096).default(128),
  seed: z.number().int().nonnegative().default(0),
  /** Reuse committed artifacts with the same identity (DESIGN.md §3). */
  cache: z.boolean().default(true),
  profile: Profile,
  /**
   * Near-duplicate removal (MinHash LSH, schemas/dedup.ts) of the source's documents before they are
   * cut into passages and split; off when absent.
   */
  dedup: DedupSettings.optional(),
  /** Quality filters on the source's documents before deduplication; off when absent, `{}` = defaults. */
  filters: QualityFilters.optional(),
});
export type IngestCorpusInput = z.input<typeof IngestCorpusInput>;
export type IngestCorpusConfig = z.output<typeof IngestCorpusInput>;

export const SPLITS = ['train', 'val', 'test'] as const;
export type Split = (typeof SPLITS)[number];
export const SplitRefs = z.object({ train: ArtifactRef, val: ArtifactRef, test: ArtifactRef });
export type SplitRefs = z.infer<typeof SplitRefs>;

export interface GroupCounts {
  group: string;
  passages: Record<Split, number>;
  bytes: Record<Split, number>;
  windows?: Record<Split, number>;
}

export interface IngestCorpusResult {
  dataset: string;
  corpus: SplitRefs;
  windows: SplitRefs;
  stats: ArtifactRef;
  groups: GroupCounts[];
  manifest: ArtifactRef;
  /** `report.html` (top-level runs): bytes and windows per group and split. */
  reportHtml?: ArtifactRef;
  /** With `dedup`/`filters`: the curated documents, their signatures, what was removed and why. */
  curation?: CurationRefs & { summary: CurationSummary };
}

export interface IngestProgress {
  stage: 'validate' | 'curate' | 'ingest' | 'tokenize' | 'report' | 'manifest' | 'done';
  step: number;
  total: number;
}
