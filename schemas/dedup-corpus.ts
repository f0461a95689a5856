// dedupCorpus: input, output, progress. The settings it shares with ingestCorpus are in dedup.ts.
import { z } from 'zod';
import { ArtifactRef } from './artifact.js';
import { DedupSettings, QualityFilters, type CurationRefs, type CurationSummary } from './dedup.js';
import { ObjectUri } from './gotd.js';
import { BUILTIN_TEXT_GROUPS } from './ingest.js';
import { DatasetName, Profile } from './temporal.js';

/** A text table to curate: a committed ref, a Parquet or JSONL URI, or whole builtin documents. */
export const CurationInput = z.union([
  ArtifactRef,
  ObjectUri,
  /** A URI whose format is not in its name (`.jsonl` is JSONL, anything else Parquet). */
  z.strictObject({ uri: ObjectUri, format: z.enum(['parquet', 'jsonl']) }),
  z.strictObject({ builtin: z.array(z.enum(BUILTIN_TEXT_GROUPS)).min(1) }),
]);
export type CurationInput = z.input<typeof CurationInput>;

export const DedupCorpusInput = z.strictObject({
  dataset: DatasetName.default('dedup'),
  /** Text tables (`id, group, text`, `source` optional); ids must be unique across all of them. */
  inputs: z.array(CurationInput).min(1).max(256),
  dedup: DedupSettings.prefault({}),
  /** Quality filters run before deduplication (off when absent; `{}` = all with their defaults). */
  filters: QualityFilters.optional(),
  seed: z.number().int().nonnegative().default(0),
  cache: z.boolean().default(true),
  profile: Profile,
});
export type DedupCorpusInput = z.input<typeof DedupCorpusInput>;
export type DedupCorpusConfig = z.output<typeof DedupCorpusInput>;

export interface DedupCorpusResult extends CurationRefs {
  dataset: string;
  summary: CurationSummary;
  manifest: ArtifactRef;
  reportHtml?: ArtifactRef;
}

export interface DedupProgress {
  stage: 'validate' | 'prepare' | 'signatures' | 'resolve' | 'report' | 'manifest' | 'done';
  shard: { done: number; total: number };
}
