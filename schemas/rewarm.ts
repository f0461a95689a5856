// continualPretrain: continue training a checkpoint on new data with a re-warmed LR schedule
// (specs/continual-pretraining-rewarm.md §3, §6, §7), reporting upstream and downstream validation
// loss at every chunk end.
import { z } from 'zod';
import { ArtifactRef } from './artifact.js';
import {
  ModelSpec,
  OptimizerSpec,
  RUN_KEY_PATTERN,
  ScheduleSpec,
  TrainModelCarry,
  TrainingData,
} from './training.js';
import { Profile } from './temporal.js';

const positiveInt = z.number().int().positive();

/** The paper's optimiser (spec §2, §7): AdamW β 0.9/0.95, ε 1e-8, weight decay 0.1, clip 1.0. */
export const PAPER_ADAMW = {
  kind: 'adamw',
  beta1: 0.9,
  beta2: 0.95,
  eps: 1e-8,
  weightDecay: 0.1,
  decayMatricesOnly: false,
  clipNorm: 1,
} as const;

export const ContinualPretrainInput = z.strictObject({
  dataset: z
    .string()
    .regex(/^[A-Za-z0-9._-]+$/)
    .default('continual'),
  /** The checkpoint to continue from (weights only: fresh optimizer moments, spec §7). */
  init: ArtifactRef,
  /** Default: the model recorded in `init` (it must match anyway). */
  model: ModelSpec.optional(),
  /** Downstream (new) token windows, optionally with a group mixture. */
  data: TrainingData,
  /** Validation windows of the old data (forgetting) and of the new data (adaptation). */
  upstreamVal: ArtifactRef,
  downstreamVal: ArtifactRef,
  /**
   * The re-warmed cosine (warm-up fraction, max LR, min LR, decay end; `totalSteps` = the FULL budget S
   * when this run covers only its first part), or `constant` (the no-re-warm baseline).
   */
  schedule: ScheduleSpec,
  /** AdamW as in the paper (β 0.9/0.95, ε 1e-8, weight decay 0.1, clip 1.0). */
  optimizer: OptimizerSpec.default(PAPER_ADAMW),
  batchSize: positiveInt.default(16),
  /** Steps this run trains. */
  totalSteps: positiveInt,
  chunkSteps: positiveInt.default(100),
  /** Evaluate (and end a chunk) every this many steps, besides step 0 and the end (default chunkSteps). */
  evalEvery: positiveInt.optional(),
  /** Evaluate after every step before this one (the stability gap lasts a few steps, spec §10). */
  denseEvalUntil: z.number().int().nonnegative().default(0),
  /** Evaluate at most this many rows of each validation table (fixed subsets, spec §7). */
  evalMaxRows: positiveInt.optional(),
  seed: z.number().int().nonnegative().default(0),
  runKey: z.string().regex(RUN_KEY_PATTERN, 'letters, digits, ".", "_" or "-", at most 128').optional(),
  cache: z.boolean().default(true),
  profile: Profile,
});
export type ContinualPretrainInput = z.input<typeof ContinualPretrainInput>;
export type ContinualPretrainConfig = z.output<typeof ContinualPretrainInput>;

/** One evaluation point: loss on both validation sets after `step` updates of this run. */
export interface CurvePoint {
  step: number;
  tokens: number;
  upstream: number;
  downstream: number;
  /** Mean training loss of the chunk that ended here (null at step 0). */
  train: number | null;
}
export const CurvePointSchema = z.strictObject({
  step: z.number().int().nonnegative(),
  tokens: z.number().int().nonnegative(),
  upstream: z.number(),
  downstream: z.number(),
  train: z.number().nullable(),
});

export const ContinualPretrainCarry = z.strictObject({
  loop: TrainModelCarry,
  curve: z.array(CurvePointSchema),
});
export type ContinualPretrainCarry = z.infer<typeof ContinualPretrainCarry>;

export interface ContinualPretrainResult {
  runKey: string;
  checkpoint: ArtifactRef;
  step: number;
  /** Upstream/downstream validation loss at step 0 and every evaluation point. */
  curve: CurvePoint[];
  /** The curve as a `history` table (keys upstream_val, downstream_val, train, lr) and the LR schedule. */
  metrics: ArtifactRef;
  manifest: ArtifactRef;
  /** `report.html` (upstream/downstream loss with the LR); standalone runs only. */
  reportHtml?: ArtifactRef;
}

export interface ContinualPretrainProgress {
  stage: 'validate' | 'evaluate-init' | 'train' | 'report' | 'manifest' | 'done';
  runKey: string;
  step: number;
  total: number;
  upstream: number | null;
  downstream: number | null;
  lastCheckpointUri: string | null;
}
