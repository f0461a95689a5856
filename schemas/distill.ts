// Dataset distillation: the distillDataset pipeline's input, result and progress, and the methods it
// dispatches to (trajectory matching: schemas/trajectory-matching.ts; CV-DD: schemas/cvdd.ts).
import type { ChildProgress } from './messages.js';
import { z } from 'zod';
import { ArtifactRef } from './artifact.js';
import {
  CommitteeArchSpec,
  type CommitteeMemberRef,
  type CvddAccuracy,
  CvddSettings,
  type ExportRecoveredResult,
  type PostEvalCommitteeResult,
} from './cvdd.js';
import { Profile } from './temporal.js';
import { ImageSource } from './images.js';
import {
  TRAJECTORY_METHODS,
  NetSettings,
  TmSettings,
  ExpertSettings,
  EvaluationSettings,
  type AccuracyRow,
  type DistillReportResult,
} from './trajectory-matching.js';

const positiveInt = z.number().int().positive();
const nonNegInt = z.number().int().nonnegative();

/**
 * Methods `distillDataset` knows; each one is a branch of the workflow's distill stage: trajectory
 * matching (mtt, datm) or committee voting (cvdd: a `distillCommittee` child).
 */
export const DISTILL_METHODS = ['mtt', 'datm', 'cvdd'] as const;
export type DistillMethod = (typeof DISTILL_METHODS)[number];

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
 * `distillDataset` with `method: 'cvdd'` (committee voting, schemas/cvdd.ts): after ingest, the
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
  /** The running child's latest progress (its stage, done/total, details line). */
  childProgress: ChildProgress | null;
}
