// curateCorpus: the recurring pipeline (DESIGN.md §6): newest data partition → ingest →
// (optional) GOT-D warm-up selection → mixture-driven continual pre-training with re-warming from the
// lineage's latest checkpoint → evaluation → manifest + report. A Temporal Schedule runs it as data
// arrives; each run advances the lineage pointer to its own checkpoint.
import { z } from 'zod';
import { ArtifactRef, DataUri } from './artifact.js';
import { SplitFractions, TextSource } from './ingest.js';
import { DedupSettings, QualityFilters } from './dedup.js';
import { AioliSettings } from './aioli.js';
import { TextTableInput } from './gotd.js';
import { LmModelConfig, ScheduleSpec } from './training.js';
import { Profile } from './temporal.js';
import type { ChildProgress } from './messages.js';

const positiveInt = z.number().int().positive();
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

/**
 * A partition name: a UTC day `YYYY-MM-DD` or hour `YYYY-MM-DDTHH`. Fixed width, so the order of the
 * names is the order of the times; one prefix holds one granularity (activities/curate.ts).
 */
export const PARTITION_NAME = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}))?$/;

/** Whether `name` is a partition name of a real calendar day (and hour). */
export function isPartitionName(name: string): boolean {
  const m = PARTITION_NAME.exec(name);
  if (!m) return false;
  const [y, mo, d, h] = [Number(m[1]), Number(m[2]), Number(m[3]), m[4] === undefined ? 0 : Number(m[4])];
  const t = new Date(Date.UTC(y, mo - 1, d, h));
  return (
    t.getUTCFullYear() === y && t.getUTCMonth() === mo - 1 && t.getUTCDate() === d && t.getUTCHours() === h
  );
}

export const PartitionName = z
  .string()
  .refine(isPartitionName, { message: 'expected a partition name YYYY-MM-DD or YYYY-MM-DDTHH (UTC)' });

export const PARTITION_UNITS = ['day', 'hour'] as const;
export type PartitionUnit = (typeof PARTITION_UNITS)[number];

/** The partition of `unit` that holds the instant `lag` units before `time` (UTC). */
export function partitionAt(time: Date, unit: PartitionUnit, lag = 0): string {
  const t = new Date(time.getTime() - lag * (unit === 'day' ? 86_400_000 : 3_600_000));
  const iso = t.toISOString(); // YYYY-MM-DDTHH:mm:ss.sssZ
  return unit === 'day' ? iso.slice(0, 10) : iso.slice(0, 13);
}

/** Where a run's text comes from: a partition under a prefix, or a fixed source. */
export const CurateSource = z.union([
  z.strictObject({
    /**
     * `<prefix>/<partition>/…` with partition names as {@link PartitionName}; a run reads every data
     * file of one partition (Parquet and JSONL, as shards; the rule for what counts as data is in
     * activities/curate.ts). Which partition: `partition`, else `partitionFromSchedule`, else the newest.
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

/**
 * A scheduled run's partition from its nominal time (the `TemporalScheduledStartTime` search attribute
 * Temporal sets on every run a Schedule starts, backfills included): the `unit` holding the instant
 * `lag` units before it. `"day"` is `{ unit: "day", lag: 0 }`.
 */
export const PartitionFromSchedule = z.union([
  z.enum(PARTITION_UNITS).transform((unit) => ({ unit, lag: 0 })),
  z.strictObject({ unit: z.enum(PARTITION_UNITS), lag: z.number().int().min(0).max(10_000).default(0) }),
]);

export const CurateCorpusInput = z
  .strictObject({
    dataset: z.string().regex(NAME).default('curated'),
    /** Names the chain of runs whose checkpoints continue one another (default: dataset). */
    lineage: z.string().regex(NAME).optional(),
    source: CurateSource,
    /** Backfill: ingest this partition of `source.partitions` instead of the newest. */
    partition: PartitionName.optional(),
    /** On a Schedule: ingest the partition of the run's nominal time (unscheduled runs: the newest). */
    partitionFromSchedule: PartitionFromSchedule.optional(),
    ingest: z
      .strictObject({
        maxBytesPerGroup: positiveInt.default(1_000_000),
        passageBytes: z.number().int().min(256).default(4096),
        split: SplitFractions,
        ctx: z.number().int().min(8).max(4096).default(128),
        /** Near-duplicate removal and quality filters, passed to the ingestCorpus child (schemas/dedup.ts). */
        dedup: DedupSettings.optional(),
        filters: QualityFilters.optional(),
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
  })
  .superRefine((input, ctx) => {
    for (const field of ['partition', 'partitionFromSchedule'] as const) {
      if (input[field] !== undefined && !('partitions' in input.source))
        ctx.addIssue({ code: 'custom', path: [field], message: 'needs source.partitions' });
    }
    if (input.partition !== undefined && input.partitionFromSchedule !== undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['partitionFromSchedule'],
        message: 'give either partition or partitionFromSchedule, not both',
      });
  });
export type CurateCorpusInput = z.input<typeof CurateCorpusInput>;
export type CurateCorpusConfig = z.output<typeof CurateCorpusInput>;

/**
 * Partitions back that cross-partition dedup looks (a lineage record carries their signature tables:
 * ~300 bytes each in every payload that holds the record).
 */
export const MAX_LINEAGE_SIGNATURES = 32;

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
  /**
   * MinHash signature tables of the documents kept by this run and the runs it continued, oldest
   * first (the newest {@link MAX_LINEAGE_SIGNATURES}): with `ingest.dedup.crossPartition`, the next
   * run removes near-duplicates of them. Absent when no run of the chain deduplicated.
   */
  signatures: z.array(ArtifactRef).max(MAX_LINEAGE_SIGNATURES).optional(),
});
export type LineageRecord = z.infer<typeof LineageRecord>;

export interface PartitionInfo {
  /** Partition name (the first path segment under the prefix). */
  partition: string;
  /** The partition's data file (legacy `newestPartition`: exactly one). */
  uri: string;
  /** Every partition found, oldest first (`resolvePartition`: the newest {@link MAX_LISTED_PARTITIONS}). */
  partitions: string[];
}

/** A partition and all of its data files: what `resolvePartition` returns. */
export interface PartitionFiles {
  partition: string;
  /** Its data files (Parquet, JSONL), sorted by key: the shards ingestCorpus reads. */
  uris: string[];
  /** Partition names under the prefix, oldest first: the newest {@link MAX_LISTED_PARTITIONS} of them. */
  partitions: string[];
  /** How many partitions the prefix holds. */
  partitionCount: number;
}

/** Partition names a run reports (and carries in its payloads): an hourly prefix grows 8760 a year. */
export const MAX_LISTED_PARTITIONS = 64;

/** What `advanceLineage` did: moved the pointer, or left it at a newer partition. */
export interface LineageAdvance {
  advanced: boolean;
  /** The partition the pointer names afterwards. */
  latest: string;
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
  /**
   * Whether the lineage pointer now names this run: false when a newer partition is already there (a
   * late backfill commits its manifest and its partition record but does not move the pointer back).
   */
  lineageAdvanced?: boolean;
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
