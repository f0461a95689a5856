// Trajectory matching (MTT/DATM, specs/distill-trajectory-matching.md): the trainExperts and
// distillTrajectory workflow inputs, the activity contracts (planDistillation, trainExpert, distillChunk,
// exportDistilled, evaluateDistilled, distillReport), the distill_log and eval_results tables and the
// progress shapes. schemas/ may not import ml/: a resolved config travels as plain JSON (`TmConfigJson`)
// and ml/ validates it on the compute side.
import { z } from 'zod';
import { ArtifactRef } from './artifact.js';
import { DsaJson, DsaSettings } from './dsa.js';
import type { TableContract } from './tables.js';
import { Profile } from './temporal.js';

const positiveInt = z.number().int().positive();
const nonNegInt = z.number().int().nonnegative();

/** Methods implemented by trajectory matching (trainExperts → distillTrajectory). */
export const TRAJECTORY_METHODS = ['mtt', 'datm'] as const;
export const isTrajectoryMethod = (m: string): m is (typeof TRAJECTORY_METHODS)[number] =>
  (TRAJECTORY_METHODS as readonly string[]).includes(m);

// -------------------------------------------------------------------------------------------------
// Settings (overrides of the §10.2 MNIST profile; ml/methods/trajectory-matching-config.ts `mnistProfile`)

export const NetSettings = z.strictObject({
  width: positiveInt.optional(),
  depth: positiveInt.optional(),
  firstPadding: z.union([z.literal('auto'), nonNegInt]).optional(),
});

export const TmSettings = z.strictObject({
  syntheticSteps: positiveInt.optional(),
  expertEpochs: positiveInt.optional(),
  batchSyn: positiveInt.nullable().optional(),
  minStartEpoch: nonNegInt.optional(),
  maxStartEpoch: nonNegInt.optional(),
  sequentialGeneration: z.boolean().optional(),
  initialMaxStartEpoch: nonNegInt.optional(),
  expansionEndIteration: positiveInt.optional(),
  initialSynLr: z.number().positive().optional(),
  lrImages: z.number().nonnegative().optional(),
  lrSynLr: z.number().nonnegative().optional(),
  lrLabels: z.number().nonnegative().optional(),
  momentumImages: z.number().min(0).max(0.999).optional(),
  momentumSynLr: z.number().min(0).max(0.999).optional(),
  updateThreshold: z.number().positive().nullable().optional(),
  init: z.enum(['real', 'samples_predicted_correctly', 'noise']).optional(),
  kernels: z.enum(['native', 'im2col']).optional(),
  /** Differentiable siamese augmentation for the experts and the distillation: false (default) or overrides of the digit strategy (`{}` = as the papers' code runs MNIST). */
  dsa: DsaSettings.optional(),
});

export const ExpertSettings = z.strictObject({
  count: positiveInt.max(64).optional(),
  epochs: positiveInt.optional(),
  imagesPerClass: nonNegInt.optional(),
  lr: z.number().positive().optional(),
  batch: positiveInt.optional(),
  momentum: z.number().min(0).max(0.999).optional(),
  weightDecay: z.number().nonnegative().optional(),
});
/** ml/ `ExpertTrainingProfile`, resolved; `dsa` is the distillation's (not a separate setting). */
export type ExpertProfileJson = Required<z.infer<typeof ExpertSettings>> & { dsa?: DsaJson };

export const EvaluationSettings = z.strictObject({
  students: positiveInt.max(32).optional(),
  /** `plateau` (default): ml/eval's train-to-plateau protocol; `fixed`: the paper's fixed-step SGD. */
  protocol: z.enum(['plateau', 'fixed']).optional(),
  steps: positiveInt.optional(),
  batch: positiveInt.optional(),
  momentum: z.number().min(0).max(0.999).optional(),
  weightDecay: z.number().nonnegative().optional(),
  decayAt: z.number().min(0).max(1).optional(),
});
/** ml/ `EvaluationProfile`, resolved. */
export type EvaluationProfileJson = Required<Omit<z.infer<typeof EvaluationSettings>, 'protocol'>> & {
  protocol?: 'plateau' | 'fixed';
};

/** ml/ `ConvNetConfig` and `TrajectoryMatchingConfig` as JSON (validated by ml/ where used). */
export type NetConfigJson = Record<string, unknown> & { h: number; w: number; c: number; classes: number };
export type TmConfigJson = Record<string, unknown> & { ipc: number; seed: number; net: NetConfigJson };

export const PlanDistillationInput = z.object({
  method: z.enum(TRAJECTORY_METHODS),
  ipc: positiveInt,
  /** Image shape and classes of the ingested data. */
  data: z.object({
    h: positiveInt,
    w: positiveInt,
    c: positiveInt,
    classes: positiveInt,
    /** Train images of the smallest class: caps the profile's expert `imagesPerClass`. */
    minTrainPerClass: positiveInt.optional(),
  }),
  /** Which §10.2 profile the defaults come from ('native-28': W16 D3; 'cpu-14': W8 D2). */
  preset: z.enum(['native-28', 'cpu-14']).default('native-28'),
  net: NetSettings.default({}),
  distill: TmSettings.default({}),
  experts: ExpertSettings.default({}),
  evaluation: EvaluationSettings.default({}),
  iterations: positiveInt.optional(),
  seed: nonNegInt.default(0),
});
export type PlanDistillationInput = z.input<typeof PlanDistillationInput>;

export interface DistillationPlan {
  /** `retort.method` of the distilled set: mtt, datm or datm+ast. */
  methodTag: string;
  profileName: string;
  net: NetConfigJson;
  distill: TmConfigJson;
  iterations: number;
  experts: ExpertProfileJson;
  evaluation: EvaluationProfileJson;
  paramCount: number;
}

// -------------------------------------------------------------------------------------------------
// trainExperts

export const TrainExpertsInput = z.object({
  train: ArtifactRef,
  test: ArtifactRef.optional(),
  net: z.record(z.string(), z.unknown()),
  experts: z.strictObject({
    count: positiveInt.max(64),
    epochs: positiveInt,
    imagesPerClass: nonNegInt,
    lr: z.number().positive(),
    batch: positiveInt,
    momentum: z.number().min(0).max(0.999),
    weightDecay: z.number().nonnegative(),
    dsa: DsaJson.optional(),
  }),
  seed: nonNegInt.default(0),
  /** Checkpoint namespace; default derived from a hash of the inputs. */
  runKey: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/)
    .optional(),
  cache: z.boolean().default(true),
  profile: Profile,
});
export type TrainExpertsInput = z.input<typeof TrainExpertsInput>;

export interface TrainExpertInput {
  train: ArtifactRef;
  test?: ArtifactRef;
  net: Record<string, unknown>;
  experts: ExpertProfileJson;
  expert: number;
  seed: number;
  runKey: string;
  cache: boolean;
}

export interface TrainExpertResult {
  expert: number;
  /** `trajectories` table: epochs 0..E of this expert. */
  trajectory: ArtifactRef;
  epochs: number;
  /** Epoch checkpoint this attempt resumed from (null: started at the random init or memoized). */
  resumedFromEpoch: number | null;
  /** Test accuracy of the last epoch (null without a test table). */
  testAccuracy: number | null;
  reused: boolean;
}

export interface TrainExpertsResult {
  runKey: string;
  trajectories: ArtifactRef[];
  experts: TrainExpertResult[];
  manifest: ArtifactRef;
}

export interface TrainExpertsProgress {
  stage: 'validate' | 'train' | 'manifest' | 'done';
  done: number;
  total: number;
}

// -------------------------------------------------------------------------------------------------
// distillTrajectory

export const DistillCarry = z.strictObject({
  iteration: nonNegInt,
  checkpoint: ArtifactRef.optional(),
  chunks: nonNegInt,
  retriedChunks: nonNegInt,
  lastLoss: z.number().nullable(),
  upperBound: nonNegInt.nullable(),
  synLr: z.number().nullable(),
});
export type DistillCarry = z.infer<typeof DistillCarry>;

export const DistillTrajectoryInput = z.object({
  /** A resolved trajectory-matching config (planDistillation's `distill`). */
  config: z.record(z.string(), z.unknown()),
  /** One `trajectories` table per expert, in expert order. */
  trajectories: z.array(ArtifactRef).min(1).max(64),
  /** The real training images (initialisation and soft labels). */
  train: ArtifactRef,
  iterations: positiveInt,
  /** Outer iterations per distillChunk activity. */
  chunkIterations: positiveInt.default(25),
  /** Also checkpoint every this many iterations inside a chunk. */
  checkpointEvery: positiveInt.default(5),
  runKey: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/)
    .optional(),
  cache: z.boolean().default(true),
  profile: Profile,
  carry: DistillCarry.optional(),
});
export type DistillTrajectoryInput = z.input<typeof DistillTrajectoryInput>;

/** One row of `distill_log` (spec §2.4): one outer iteration of trajectory matching. */
export interface DistillLogRow {
  iteration: number;
  expert: number;
  startEpoch: number;
  upperBound: number;
  loss: number;
  /** α used in this iteration (before its update). */
  synLr: number;
  /** DATM gate: L exceeded the threshold, nothing was updated. */
  skipped: boolean;
}

export interface DistillChunkInput {
  config: Record<string, unknown>;
  trajectories: ArtifactRef[];
  train: ArtifactRef;
  fromIteration: number;
  iterations: number;
  /** The checkpoint at `fromIteration` (absent at 0). */
  from?: ArtifactRef;
  runKey: string;
  checkpointEvery: number;
}

export interface DistillChunkResult {
  checkpoint: ArtifactRef;
  iteration: number;
  /** Rows of iterations [fromIteration, iteration), read from the checkpoint (same after a resume). */
  log: DistillLogRow[];
  synLr: number;
  resumedFrom: number | null;
  attempt: number;
  trainedIterations: number;
  reused: boolean;
}

export interface ExportDistilledInput {
  config: Record<string, unknown>;
  checkpoint: ArtifactRef;
  train: ArtifactRef;
  trajectories: ArtifactRef[];
  cache: boolean;
}

export interface ExportDistilledResult {
  /** `distilled_images` table. */
  distilled: ArtifactRef;
  /** `distill_log` table. */
  log: ArtifactRef;
  synLr: number;
  iterations: number;
  method: string;
  firstLosses: number[];
  lastLosses: number[];
}

export interface DistillTrajectoryResult extends ExportDistilledResult {
  /** The final distillation checkpoint. */
  checkpoint: ArtifactRef;
  runKey: string;
  chunks: number;
  retriedChunks: number;
  manifest: ArtifactRef;
}

export interface DistillProgress {
  stage: 'validate' | 'distill' | 'export' | 'manifest' | 'done';
  runKey: string;
  iteration: number;
  total: number;
  chunks: number;
  lastLoss: number | null;
  /** Start epochs of the current iteration are drawn from [minStartEpoch, upperBound). */
  samplingRange: { min: number; upperBound: number } | null;
  synLr: number | null;
  lastCheckpointUri: string | null;
}

// -------------------------------------------------------------------------------------------------
// Evaluation

export interface EvaluateDistilledInput {
  /** A `distilled_images` table, or an `images` table (full data, or a random subset via `subset`). */
  train: ArtifactRef;
  test: ArtifactRef;
  net: Record<string, unknown>;
  evaluation: EvaluationProfileJson;
  /** Learning rate (distilled: the learned α). */
  lr: number;
  /** Evaluation seed and student index: the student's init and batches derive from both. */
  seed: number;
  student: number;
  /** Train on `ipc` random real images per class of `train` (hard labels), drawn from `seed`. */
  subset?: { ipc: number };
  /** Use soft labels when the table has them (default true). */
  softLabels?: boolean;
  cache: boolean;
}

export interface EvaluateDistilledResult {
  accuracy: number;
  loss: number;
  seed: number;
  student: number;
  lr: number;
  steps: number;
  trainRows: number;
  testRows: number;
  softLabels: boolean;
  /** The student's training loss at its last step (the protocol reports it: a high one is undertrained). */
  trainLoss?: number;
  /** `plateau` protocol: what stopped the student (plateau, loss floor or the step cap). */
  stop?: 'plateau' | 'loss-floor' | 'max-steps';
  /** Which evaluator trained it (absent in results recorded before the field existed: `fixed`). */
  protocol?: 'plateau' | 'fixed';
}

export interface AccuracySummary {
  mean: number;
  /** Sample std (n − 1), ml/eval/mean-std.ts: the one convention of every distillation figure. */
  std: number;
  values: number[];
  lr: number;
  /** Final training loss of the students: mean and max (absent in results recorded before it existed). */
  finalTrainLoss?: { mean: number; max: number };
}

/** One row of the accuracy table: a method (distilled, random_real, full_data) at an IPC. */
export interface AccuracyRow extends AccuracySummary {
  method: string;
  ipc: number | null;
  steps: number;
}

export interface DistillReportInput {
  dataset: string;
  method: string;
  ipc: number;
  distilled: ArtifactRef;
  log: ArtifactRef;
  accuracy: AccuracyRow[];
  evaluations: { method: string; results: EvaluateDistilledResult[] }[];
  cache: boolean;
}

export interface DistillReportResult {
  /** `eval_results` table (spec §2.5). */
  evalResults: ArtifactRef;
  /** Accuracy table (JSON + markdown inside). */
  accuracy: ArtifactRef;
  /** SVG grid of the synthetic images, one row per class. */
  images: ArtifactRef;
  /** SVG line plot of the matching loss per iteration. */
  lossCurve: ArtifactRef;
}

// -------------------------------------------------------------------------------------------------
// Tables (spec §2.4, §2.5)

export const DISTILL_LOG: TableContract = {
  name: 'distill_log',
  columns: [
    { name: 'iteration', type: { kind: 'int32' } },
    { name: 'expert', type: { kind: 'int32' } },
    { name: 'start_epoch', type: { kind: 'int32' } },
    { name: 'upper_bound', type: { kind: 'int32' } },
    { name: 'loss', type: { kind: 'float64' } },
    { name: 'syn_lr', type: { kind: 'float64' } },
    { name: 'skipped', type: { kind: 'int32' } },
  ],
};

export const EVAL_RESULTS: TableContract = {
  name: 'eval_results',
  columns: [
    { name: 'method', type: { kind: 'utf8' } },
    { name: 'ipc', type: { kind: 'int32' } },
    { name: 'seed', type: { kind: 'int32' } },
    { name: 'lr', type: { kind: 'float64' } },
    { name: 'steps', type: { kind: 'int32' } },
    { name: 'test_acc', type: { kind: 'float64' } },
  ],
};
