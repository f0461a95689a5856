// trainModel: the training-run spec, the trainChunk / evaluate contracts and the progress shape.
// A spec says WHAT to train; where chunk boundaries or crashes fall never changes the result
// (DESIGN.md §3, §6): batches, mixture draws and learning rates are looked up by global step.
// (schemas/ may not import ml/: model configs are described here and resolved by ml/'s own
// `convNetConfig` / `lmConfig`, which fill defaults and check shapes.)
import { z } from 'zod';
import { ArtifactRef } from './artifact.js';
import { Profile } from './temporal.js';

const positiveInt = z.number().int().positive();

/** ml/models/convnet.ts `ConvNetConfig`; omitted fields take its defaults, h/w/c default to the table's metadata. */
export const ConvNetModelConfig = z.strictObject({
  h: positiveInt.optional(),
  w: positiveInt.optional(),
  c: positiveInt.optional(),
  classes: positiveInt.optional(),
  width: positiveInt.optional(),
  depth: positiveInt.optional(),
  norm: z.enum(['instancenorm', 'batchnorm', 'none']).optional(),
  activation: z.enum(['relu', 'softplus', 'tanh']).optional(),
  firstPadding: z.union([z.literal('auto'), z.number().int().nonnegative()]).optional(),
  normEps: z.number().positive().optional(),
});

/**
 * The byte-level LM's hyperparameters (ml/models/lm.ts `LmConfig` is this with every field resolved,
 * plus the vocabulary); unset fields take `DEFAULT_LM`, `ctx` the token windows' length.
 */
export const LmModelConfig = z.strictObject({
  layers: positiveInt.optional(),
  dModel: positiveInt.optional(),
  heads: positiveInt.optional(),
  /** Maximum sequence length (size of the position embedding). */
  ctx: positiveInt.optional(),
  /** MLP hidden width = mlpRatio · dModel. */
  mlpRatio: positiveInt.optional(),
  tieEmbeddings: z.boolean().optional(),
  /** Std of the N(0, σ²) init of weights and embeddings (GPT-2: 0.02). */
  initStd: z.number().positive().optional(),
  layerNormEps: z.number().positive().optional(),
});
export type LmModelConfig = z.infer<typeof LmModelConfig>;

export const ModelSpec = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('convnet'), config: ConvNetModelConfig.default({}) }),
  z.strictObject({ kind: z.literal('lm'), config: LmModelConfig.default({}) }),
]);
export type ModelSpec = z.infer<typeof ModelSpec>;

/** ml/train/optimizers.ts: PyTorch SGD / AdamW rules; the learning rate comes from `schedule`. */
export const OptimizerSpec = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('sgd'),
    momentum: z.number().min(0).max(1).default(0),
    weightDecay: z.number().min(0).default(0),
    nesterov: z.boolean().default(false),
    /** Clip gradients to this global L2 norm before the update. */
    clipNorm: z.number().positive().optional(),
  }),
  z.strictObject({
    kind: z.literal('adamw'),
    beta1: z.number().min(0).max(1).default(0.9),
    beta2: z.number().min(0).max(1).default(0.999),
    eps: z.number().positive().default(1e-8),
    weightDecay: z.number().min(0).default(0.01),
    /** Decay only rank ≥ 2 tensors (nanoGPT's rule; Aioli §6 "except norms/biases"). */
    decayMatricesOnly: z.boolean().default(false),
    clipNorm: z.number().positive().optional(),
  }),
]);
export type OptimizerSpec = z.infer<typeof OptimizerSpec>;

/** ml/methods/rewarm.ts: a constant LR, or the re-warmed cosine of specs/continual-pretraining-rewarm.md §3. */
export const ScheduleSpec = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('constant'), lr: z.number().nonnegative() }),
  z.strictObject({
    kind: z.literal('rewarmedCosine'),
    maxLr: z.number().positive(),
    warmupFraction: z.number().min(0).max(1).default(0.01),
    minLr: z.number().nonnegative().optional(),
    minLrRatio: z.number().min(0).max(1).optional(),
    decayEndStep: positiveInt.optional(),
    decayEndFraction: z.number().positive().max(1).optional(),
    /** S, the full budget the cosine spans (default: the run's totalSteps). */
    totalSteps: positiveInt.optional(),
  }),
]);
export type ScheduleSpec = z.infer<typeof ScheduleSpec>;

export const TrainingData = z.strictObject({
  /** An `images` table (convnet) or a `token_windows` table (lm). */
  train: ArtifactRef,
  /** Held-out table of the same contract for `evaluate` (default: `train`). */
  eval: ArtifactRef.optional(),
  /**
   * Token windows only: sampling proportions per group. Each batch row draws its group from these
   * weights and a row of that group uniformly, from a stream seeded by (seed, global step).
   * Omitted: the table is shuffled per epoch regardless of group.
   */
  mixture: z.record(z.string(), z.number().nonnegative()).optional(),
});

export const RUN_KEY_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export const TrainingSpec = z
  .strictObject({
    model: ModelSpec,
    data: TrainingData,
    optimizer: OptimizerSpec.default({ kind: 'sgd', momentum: 0, weightDecay: 0, nesterov: false }),
    schedule: ScheduleSpec.default({ kind: 'constant', lr: 0.01 }),
    batchSize: positiveInt.default(32),
    totalSteps: positiveInt,
    /** Steps per `trainChunk` activity (one checkpoint at every chunk end). */
    chunkSteps: positiveInt.default(100),
    /** Also checkpoint at every global step that is a multiple of this (default: chunk ends only). */
    checkpointEvery: positiveInt.optional(),
    seed: z.number().int().nonnegative().default(0),
    /** Continual pre-training: start from these weights (fresh optimizer state, step 0). */
    init: ArtifactRef.optional(),
    /** Checkpoint namespace `checkpoints/<runKey>/`; default derived from a hash of the spec. */
    runKey: z.string().regex(RUN_KEY_PATTERN, 'letters, digits, ".", "_" or "-", at most 128').optional(),
    /** Evaluate at most this many rows of the eval table (default all). */
    evalMaxRows: positiveInt.optional(),
    /** Reuse checkpoints committed under the same derived runKey (off: a fresh runKey per workflow). */
    cache: z.boolean().default(true),
    profile: Profile,
  })
  .superRefine((spec, ctx) => {
    if (spec.data.mixture && spec.model.kind !== 'lm') {
      ctx.addIssue({
        code: 'custom',
        path: ['data', 'mixture'],
        message: 'a mixture applies to token windows (model kind "lm") only',
      });
    }
    if (spec.data.mixture && !Object.values(spec.data.mixture).some((w) => w > 0)) {
      ctx.addIssue({
        code: 'custom',
        path: ['data', 'mixture'],
        message: 'at least one group needs a positive weight',
      });
    }
    const s = spec.schedule;
    if (s.kind === 'rewarmedCosine') {
      if (s.minLr !== undefined && s.minLrRatio !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['schedule'], message: 'give minLr or minLrRatio, not both' });
      }
      if (s.decayEndStep !== undefined && s.decayEndFraction !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['schedule'],
          message: 'give decayEndStep or decayEndFraction, not both',
        });
      }
    }
  });
export type TrainingSpecInput = z.input<typeof TrainingSpec>;
export type TrainingSpecConfig = z.output<typeof TrainingSpec>;

/** The part of a spec that determines the trained weights (not where they go, nor how they are chunked). */
export function trainingIdentity(spec: TrainingSpecConfig): Record<string, unknown> {
  return {
    model: spec.model,
    data: { train: spec.data.train.sha256, mixture: spec.data.mixture ?? null },
    optimizer: spec.optimizer,
    schedule: spec.schedule,
    batchSize: spec.batchSize,
    totalSteps: spec.totalSteps,
    seed: spec.seed,
    init: spec.init?.sha256 ?? null,
  };
}

/** JSON with sorted object keys (the same value always serialises the same). No Node: workflows use it. */
export function stableJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
        )
      : v,
  );
}

/** FNV-1a 64-bit of a string's UTF-16 code units, as 16 hex digits (workflow-safe: no crypto module). */
export function fnv1a64(s: string): string {
  let h = 0xcbf29ce484222325n;
  for (let i = 0; i < s.length; i++) h = BigInt.asUintN(64, (h ^ BigInt(s.charCodeAt(i))) * 0x100000001b3n);
  return h.toString(16).padStart(16, '0');
}

/** Default run key: `train-<hash of the training identity>`; same spec, same checkpoints. */
export const defaultRunKey = (spec: TrainingSpecConfig) =>
  `train-${fnv1a64(stableJson(trainingIdentity(spec)))}`;

// -------------------------------------------------------------------------------------------------
// Activity contracts (queue `retort-compute`)

export interface TrainChunkInput {
  /** A parsed spec with `runKey` filled in (the workflow does this). */
  spec: TrainingSpecInput & { runKey: string };
  /** Global step the chunk starts at; `from` is the checkpoint at that step (absent at step 0). */
  fromStep: number;
  /** Steps to train; 0 commits the start state as the checkpoint at `fromStep` (to evaluate it). */
  steps: number;
  from?: ArtifactRef;
  /**
   * This chunk's own group mixture (mixAioli: the mixture changes round by round within ONE run).
   * Overrides `spec.data.mixture` for steps [fromStep, fromStep + steps). It is NOT part of the
   * training identity (the run's checkpoints, optimizer state and LR schedule continue across
   * mixtures); instead every checkpoint records the mixture of every step it was trained on
   * (`MixtureSegment`s), and a committed checkpoint is reused only when that history matches.
   */
  mixture?: Record<string, number>;
  /**
   * Every batch realises `mixture` exactly: round(share · batchSize) rows of each group, which must be
   * integral (Aioli's LearnParams probes, specs/mixing-aioli.md §8.9). Default: each row draws its group.
   */
  exactMixture?: boolean;
}

/**
 * A maximal run of steps [from, to) trained on one mixture: `mixture` null = the spec's own batch
 * plan (`spec.data.mixture` or epoch shuffles). Merged across chunk boundaries and crashes, so the
 * list depends only on the per-step mixtures, never on where chunks or retries fell.
 */
export interface MixtureSegment {
  from: number;
  to: number;
  mixture: Record<string, number> | null;
  exact: boolean;
}

/** Losses of the chunk's steps [fromStep, step), read from the checkpoint's history (so a resumed chunk reports the same). */
export interface LossSummary {
  first: number;
  last: number;
  mean: number;
  min: number;
  max: number;
  count: number;
}

export interface TrainChunkResult {
  checkpoint: ArtifactRef;
  /** Global step of `checkpoint` (= fromStep + steps). */
  step: number;
  losses: LossSummary;
  /** Step of the `LATEST` checkpoint this attempt resumed from, when later than `fromStep` (a crash retry). */
  resumedFrom: number | null;
  /** Temporal attempt number of this activity execution. */
  attempt: number;
  /** Steps this attempt actually trained (0 when the chunk's checkpoint was already committed). */
  trainedSteps: number;
  /** The chunk's checkpoint already existed (retry after commit, or a repeated identical run). */
  reused: boolean;
}

export interface EvaluateInput {
  checkpoint: ArtifactRef;
  data: ArtifactRef;
  /** Report only these groups (LM: `group` column; ConvNet: class labels as strings). Default all. */
  groups?: string[];
  batchSize?: number;
  maxRows?: number;
  /** Evaluate only the first n rows (table order) of every group: a fixed validation subset per group. */
  maxRowsPerGroup?: number;
}

export interface GroupMetrics {
  count: number;
  /** Mean per-example loss (LM: per-window mean next-byte NLL, nats). */
  loss: number;
  /** ConvNet only. */
  accuracy?: number;
}

export interface EvaluateResult {
  model: 'convnet' | 'lm';
  step: number;
  overall: GroupMetrics;
  groups: Record<string, GroupMetrics>;
}

// -------------------------------------------------------------------------------------------------
// Workflow

/** Carried across continueAsNew: where the loop stands. */
export const TrainModelCarry = z.strictObject({
  step: z.number().int().nonnegative(),
  checkpoint: ArtifactRef.optional(),
  chunks: z.number().int().nonnegative(),
  retriedChunks: z.number().int().nonnegative(),
  lastLoss: z.number().nullable(),
});
export type TrainModelCarry = z.infer<typeof TrainModelCarry>;

export type TrainModelInput = TrainingSpecInput & { carry?: TrainModelCarry };

export interface TrainModelResult {
  runKey: string;
  checkpoint: ArtifactRef;
  step: number;
  eval: EvaluateResult;
  manifest: ArtifactRef;
  chunks: number;
  /** Chunks whose activity resumed from a mid-chunk LATEST (crash recovery). */
  retriedChunks: number;
}

export interface TrainProgress {
  stage: 'validate' | 'train' | 'evaluate' | 'manifest' | 'done';
  runKey: string;
  step: number;
  total: number;
  chunks: number;
  lastLoss: number | null;
  lastCheckpointUri: string | null;
  /** Seconds to the end of training at this run's pace so far; null before the first chunk. */
  etaSeconds: number | null;
}
