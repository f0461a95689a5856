// curateCorpus: the recurring pipeline (DESIGN.md §6): newest data partition → ingest →
// (optional) GOT-D warm-up selection → mixture-driven continual pre-training with re-warming from the
// lineage's latest checkpoint → evaluation → manifest + report. A Temporal Schedule runs it as data
// arrives; each run advances the lineage pointer to its own checkpoint.
import { z } from 'zod';
import { ArtifactRef, DataUri } from './artifact.js';
import { SplitFractions, TextSource } from './ingest.js';
import { AioliSettings } from './aioli.js';
import { TextTableInput } from './gotd.js';
import { LmModelConfig, ScheduleSpec } from './training.js';
import { Profile } from './temporal.js';
import type { ChildProgress } from './messages.js';

const positiveInt = z.number().int().positive();
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

/** Where a run's text comes from: the newest partition under a prefix, or a fixed source. */
export const CurateSource = z.union([
  z.strictObject({
    /**
     * `<prefix>/<partition>/<file>.parquet|.jsonl` (a user corpus: id, group, text). Partition names sort
     * by time (e.g. `2026-11-27`); each run takes the greatest one holding exactly one data file.
     */
    partitions: DataUri,
  }),
  TextSource,
]);
export type CurateSource = z.input<typeof CurateSource>;

/** How the groups of the new data are mixed during continual pre-training. */
export const MixingSpec = z.discriminatedUnion('kind', [
  /** A fixed mixture (default: proportional to the data, i.e. uniform over windows). */
  z.strictObject({
    kind: z.literal('static'),
    mixture: z.record(z.string(), z.number().nonnegative()).optional(),
  }),
  /**
   * Aioli (specs/mixing-aioli.md) via the `mixAioli` child workflow over the partition's groups (≥ 2);
   * `totalSteps` must be a multiple of `aioli.roundSteps`.
   */
  z.strictObject({
    kind: z.literal('aioli'),
    aioli: AioliSettings,
    valRowsPerGroup: positiveInt.default(64),
  }),
]);
export type MixingSpec = z.input<typeof MixingSpec>;

export const CurateCorpusInput = z.strictObject({
  dataset: z.string().regex(NAME).default('curated'),
  /** Names the chain of runs whose checkpoints continue one another (default: dataset). */
  lineage: z.string().regex(NAME).optional(),
  source: CurateSource,
  ingest: z
    .strictObject({
      maxBytesPerGroup: positiveInt.default(1_000_000),
      passageBytes: z.number().int().min(256).default(4096),
      split: SplitFractions,
      ctx: z.number().int().min(8).max(4096).default(128),
    })
    .prefault({}),
  /** GOT-D warm-up selection from the new data towards `target` before training (off when absent). */
  selection: z
    .strictObject({
      target: TextTableInput,
      budget: z.strictObject({ fraction: z.number().positive().max(1) }).optional(),
    })
    .optional(),
  /** First run of a lineage: continue this checkpoint, else train `model` from scratch on the same schedule. */
  init: ArtifactRef.optional(),
  model: LmModelConfig.default({}),
  mixing: MixingSpec.default({ kind: 'static' }),
  /** The re-warmed schedule every run restarts (spec §3); warm-up and decay refer to this run's steps. */
  schedule: ScheduleSpec.default({ kind: 'rewarmedCosine', maxLr: 1e-3, warmupFraction: 0.01 }),
  totalSteps: positiveInt.default(200),
  chunkSteps: positiveInt.default(50),
  batchSize: positiveInt.default(16),
  evalMaxRows: positiveInt.optional(),
  seed: z.number().int().nonnegative().default(0),
  cache: z.boolean().default(true),
  profile: Profile,
});
export type CurateCorpusInput = z.input<typeof CurateCorpusInput>;
export type CurateCorpusConfig = z.output<typeof CurateCorpusInput>;

/** The lineage pointer `lineages/<lineage>/LATEST.json`: what the next run continues from. */
export const LineageRecord = z.strictObject({
  lineage: z.string(),
  workflowId: z.string(),
  runId: z.string(),
  checkpoint: ArtifactRef,
  /** The partition (or source label) that run trained on. */
  partition: z.string(),
  /** Its validation windows: the next run's upstream set. */
  val: ArtifactRef,
  /** How many runs the lineage has had, this one included. */
  generation: z.number().int().positive(),
});
export type LineageRecord = z.infer<typeof LineageRecord>;

export interface PartitionInfo {
  /** Partition name (the first path segment under the prefix). */
  partition: string;
  /** The partition's data file. */
  uri: string;
  /** Every partition found, oldest first. */
  partitions: string[];
}

export interface CurateCorpusResult {
  dataset: string;
  lineage: string;
  partition: string;
  /** The checkpoint this run started from (null: trained from scratch). */
  startedFrom: ArtifactRef | null;
  previousRun: string | null;
  generation: number;
  checkpoint: ArtifactRef;
  /** Loss per group on this partition's validation windows (and, if continued, the previous ones). */
  evaluation: { downstream: Record<string, number>; upstream: Record<string, number> | null };
  report: ArtifactRef;
  manifest: ArtifactRef;
  /** `report.html`: groups, selection, mixing proportions and losses, loss per group vs the previous partition. */
  reportHtml?: ArtifactRef;
}

export interface CurateProgress {
  stage: 'validate' | 'resolve' | 'ingest' | 'select' | 'train' | 'evaluate' | 'report' | 'done';
  lineage: string;
  partition: string | null;
  generation: number | null;
  /** The running child's latest progress (stage, done/total, details line). */
  childProgress?: ChildProgress | null;
}
