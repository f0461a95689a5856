// CV-DD, dataset distillation by committee voting (specs/distill-committee-voting.md): the
// `distillCommittee` workflow input (`distillDataset`'s `method: 'cvdd'` input, and `distillCvdd`'s, are
// in schemas/distill.ts, which imports this file), the activity contracts (trainCommitteeMember,
// recoverSlotChunk, exportRecovered, postEvalCommittee) and the progress shape. Settings are overrides
// of the spec's §7.2 CPU-scale MNIST profile; ml/methods/cvdd/config.ts `mnistCpuConfig` holds
// the defaults and validates the resolved config on the compute side (schemas/ may not import ml/).
import { z } from 'zod';
import { ArtifactRef } from './artifact.js';
import { Profile } from './temporal.js';

const positiveInt = z.number().int().positive();
const nonNegInt = z.number().int().nonnegative();
const RunKey = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,100}$/, 'letters, digits, ".", "_" or "-", at most 101');

/** One committee member (or the student): a BatchNorm ConvNet or an MLP with BatchNorm (spec §3). */
export const CommitteeArchSpec = z.discriminatedUnion('family', [
  z.strictObject({ family: z.literal('convnet'), width: positiveInt.max(512), depth: positiveInt.max(6) }),
  z.strictObject({ family: z.literal('mlp'), hidden: z.array(positiveInt.max(4096)).min(1).max(4) }),
]);
export type CommitteeArchSpec = z.infer<typeof CommitteeArchSpec>;

/**
 * Four BatchNorm ConvNets of comparable strength: W16 D2 (the default student's architecture), W32 D2,
 * W16 D3, W8 D2 (ml/ `mnistConvCommitteeArchs`). Spec §7.2's committee (W16 D2, W8 D2, W16 D1, MLP 64)
 * has weak generators (W16 D1, MLP) on MNIST and does not beat the single model there; this one does
 * (figures: bench/README.md, distill-cvdd).
 */
export const DEFAULT_COMMITTEE: CommitteeArchSpec[] = [
  { family: 'convnet', width: 16, depth: 2 },
  { family: 'convnet', width: 32, depth: 2 },
  { family: 'convnet', width: 16, depth: 3 },
  { family: 'convnet', width: 8, depth: 2 },
];
/** Spec §7.2's committee: A ConvNetBN W16 D2, B W8 D2, C W16 D1, D MLP 64 (BN). */
export const SPEC_COMMITTEE: CommitteeArchSpec[] = [
  { family: 'convnet', width: 16, depth: 2 },
  { family: 'convnet', width: 8, depth: 2 },
  { family: 'convnet', width: 16, depth: 1 },
  { family: 'mlp', hidden: [64] },
];

/** Overrides of the §7.2 profile (ml/ `CommitteeVotingConfig` keys; omitted = the profile's value). */
export const CvddSettings = z.strictObject({
  // §3 committee
  memberEpochs: positiveInt.optional(),
  memberBatchSize: positiveInt.optional(),
  memberLr: z.number().positive().optional(),
  // §4 / §5.1 voting
  votersPerSlot: positiveInt.optional(),
  voterSelection: z.enum(['auto', 'top-prior', 'cycle', 'random']).optional(),
  voterType: z.enum(['prior', 'equal', 'random']).optional(),
  /**
   * §4.2 where the priors come from: 'validation' (default) = each member's own validation top-1, the
   * spec's cheap proxy; 'single_model' = the paper's: the pipeline run once per member ALONE (it recovers
   * and relabels), a student trained on that set, its validation top-1 (estimateCommitteePrior).
   */
  priorSource: z.enum(['validation', 'single_model']).optional(),
  recoverWeightTemperature: z.number().positive().optional(),
  relabelWeightTemperature: z.number().positive().optional(),
  // §5.2 recovery
  iterations: positiveInt.optional(),
  lr: z.number().positive().optional(),
  rBn: z.number().nonnegative().optional(),
  firstBnMultiplier: z.number().nonnegative().optional(),
  jitter: nonNegInt.optional(),
  /**
   * RandomResizedCrop area range [lo, hi] of each recovery view (the code's `--apply-data-augmentation`,
   * torchvision's [0.08, 1] on CIFAR); null or omitted: no crop (the MNIST profile: crops lowered the
   * distill-eval students at every range tried, bench/README.md distill-eval).
   */
  recoverCropScale: z
    .tuple([z.number().positive().max(1), z.number().positive().max(1)])
    .refine(([lo, hi]) => lo <= hi, 'recoverCropScale: lo must not exceed hi')
    .nullable()
    .optional(),
  /** Horizontal flip of each recovery view with probability ½ (the code's; off for digits). */
  recoverFlip: z.boolean().optional(),
  /**
   * Initial images of the slots: 'random' (default) real images, or 'easy' / 'medium' / 'hard' =
   * committee-ranked real images, the stand-in for the code's RDED patches of `--patch-diff`
   * (ml/methods/cvdd/slots.ts rankedInitIndices).
   */
  initDifficulty: z.enum(['random', 'easy', 'medium', 'hard']).optional(),
  /** Candidates per initial image for a ranked init (default 8). */
  initCandidates: positiveInt.optional(),
  /** Whether MLP members' BN term enters recovery (default on, as the code; see ml/methods/cvdd/config.ts). */
  mlpBnTerm: z.boolean().optional(),
  // §5.3 / §5.4 relabel + student
  relabelBnMode: z.enum(['batch', 'running']).optional(),
  bsslGroups: positiveInt.optional(),
  klTemperature: z.number().positive().optional(),
  studentEpochs: positiveInt.optional(),
  studentBatchSize: positiveInt.optional(),
  studentMicroBatches: positiveInt.optional(),
  studentLr: z.number().positive().optional(),
  studentRoll: nonNegInt.optional(),
});
export type CvddSettings = z.infer<typeof CvddSettings>;

export const DistillCommitteeInput = z
  .object({
    /** `images` tables (DESIGN.md §2), e.g. ingestImages' train / test splits. */
    train: ArtifactRef,
    test: ArtifactRef,
    classes: positiveInt.max(1000).default(10),
    ipc: positiveInt.max(100).default(10),
    committee: z.array(CommitteeArchSpec).min(1).max(8).default(DEFAULT_COMMITTEE),
    /** Student of the post-evaluation (default: the first member's architecture, §7.2). */
    student: CommitteeArchSpec.optional(),
    settings: CvddSettings.default({}),
    /** Train rows per class held out for the members' validation accuracy (their voting priors). */
    valPerClass: positiveInt.default(50),
    /** Evaluation seeds (one student each, fanned out). */
    seeds: positiveInt.max(32).default(3),
    /** Recovery iterations per recoverSlotChunk activity. */
    chunkIterations: positiveInt.default(50),
    /** Also checkpoint a slot every this many iterations inside a chunk (a killed worker loses fewer). */
    checkpointEvery: positiveInt.default(10),
    /** Also evaluate IPC random real images per class with hard labels, the same way. */
    randomReal: z.boolean().default(true),
    seed: nonNegInt.default(0),
    runKey: RunKey.optional(),
    cache: z.boolean().default(true),
    profile: Profile,
  })
  .superRefine((input, ctx) => {
    if (input.student?.family === 'mlp')
      ctx.addIssue({
        code: 'custom',
        path: ['student'],
        message: 'the student must be a ConvNet (family "convnet")',
      });
  });
export type DistillCommitteeInput = z.input<typeof DistillCommitteeInput>;
export type DistillCommitteeConfig = z.output<typeof DistillCommitteeInput>;

// -------------------------------------------------------------------------------------------------
// Activity contracts (queue `retort-compute`)

/** What the activities need to rebuild the ml/ config: the run's settings plus the data's shape. */
export interface CvddRunConfig {
  ipc: number;
  classes: number;
  settings: CvddSettings;
}

export interface TrainCommitteeMemberInput {
  train: ArtifactRef;
  arch: CommitteeArchSpec;
  /** Position in the committee (seeds and the checkpoint namespace derive from it). */
  index: number;
  run: CvddRunConfig;
  valPerClass: number;
  seed: number;
  runKey: string;
}

/** A trained, frozen member (spec §2.2 `committee` row, by reference). */
export interface CommitteeMemberRef {
  index: number;
  id: string;
  arch: CommitteeArchSpec;
  checkpoint: ArtifactRef;
  valAcc: number;
  /** Prior in percent (§4.2): validation top-1, or its single-model student's (priorSource). */
  prior: number;
  /** Where `prior` comes from (absent: 'validation'). */
  priorSource?: 'validation' | 'single_model_post_eval';
}

export interface TrainCommitteeMemberResult extends CommitteeMemberRef {
  steps: number;
  /** Epoch whose checkpoint this attempt resumed from (null: fresh start or already done). */
  resumedFromEpoch: number | null;
  reused: boolean;
}

/** §4.2 prior of one member by its own single-model pipeline (settings.priorSource 'single_model'). */
export interface EstimateCommitteePriorInput {
  train: ArtifactRef;
  member: CommitteeMemberRef;
  run: CvddRunConfig;
  /** The same hold-out as trainCommitteeMember's (the prior student is scored on it). */
  valPerClass: number;
  student: CommitteeArchSpec;
  seed: number;
  cache: boolean;
}

export interface EstimateCommitteePriorResult {
  index: number;
  /** Validation top-1 of the member's single-model student, in percent. */
  prior: number;
  steps: number;
}

export interface RecoverSlotChunkInput {
  train: ArtifactRef;
  committee: CommitteeMemberRef[];
  run: CvddRunConfig;
  slot: number;
  fromIteration: number;
  /** At most this many iterations (the chunk ends at the schedule's last iteration). */
  iterations: number;
  /** Checkpoint at `fromIteration` (absent at 0). */
  from?: ArtifactRef;
  /** Also checkpoint (and move LATEST) at every iteration that is a multiple of this. */
  checkpointEvery?: number;
  seed: number;
  runKey: string;
}

export interface RecoverSlotChunkResult {
  slot: number;
  checkpoint: ArtifactRef;
  iteration: number;
  /** Iterations of the slot's whole schedule (settings.iterations or the profile's). */
  total: number;
  voters: string[];
  weights: number[];
  /** Objective, per-voter CE and BN terms at the chunk's last iteration (augmented view). */
  loss: number;
  ce: number[];
  bn: number[];
  resumedFrom: number | null;
  reused: boolean;
}

export interface ExportRecoveredInput {
  train: ArtifactRef;
  committee: CommitteeMemberRef[];
  run: CvddRunConfig;
  /** Final checkpoint of every slot, in slot order. */
  slots: ArtifactRef[];
  seed: number;
  cache: boolean;
}

export interface ExportRecoveredResult {
  /** `images` table of the recovered set (metadata: committee, voters, recovery config). */
  distilled: ArtifactRef;
  /** Per slot: voters and, at the final images, CE / BN terms and the voters' accuracy (§8.5). */
  slots: {
    slot: number;
    voters: string[];
    weights: number[];
    ce: number[];
    bn: number[];
    accuracy: number[];
  }[];
}

export interface PostEvalCommitteeInput {
  /** The recovered set, or the real train table with `subset`. */
  train: ArtifactRef;
  test: ArtifactRef;
  /** Teachers of the KL soft labels; [] = hard labels with cross-entropy. */
  committee: CommitteeMemberRef[];
  student: CommitteeArchSpec;
  run: CvddRunConfig;
  /** Train on `ipc` random real images per class of `train`, drawn from `seed`. */
  subset?: { ipc: number };
  seed: number;
  cache: boolean;
}

export interface PostEvalCommitteeResult {
  method: string;
  seed: number;
  accuracy: number;
  steps: number;
  finalLoss: number;
}

export interface CvddAccuracy {
  method: 'committee' | 'random_real';
  mean: number;
  /** Sample std (n − 1). */
  std: number;
  values: number[];
}

export interface DistillCommitteeResult {
  runKey: string;
  ipc: number;
  committee: CommitteeMemberRef[];
  distilled: ArtifactRef;
  recovery: ExportRecoveredResult['slots'];
  accuracy: CvddAccuracy[];
  evaluations: PostEvalCommitteeResult[];
  manifest: ArtifactRef;
}

export interface DistillCommitteeProgress {
  stage:
    'validate' | 'ingest' | 'committee' | 'prior' | 'recover' | 'export' | 'evaluate' | 'manifest' | 'done';
  runKey: string;
  members: { done: number; total: number };
  /** Single-model prior pipelines done (settings.priorSource 'single_model'; total 0 otherwise). */
  priors: { done: number; total: number };
  /** Recovery iterations done over all slots, of ipc × iterations. */
  recovery: { done: number; total: number; slotsDone: number; slots: number };
  evaluations: { done: number; total: number };
  lastLoss: number | null;
}
