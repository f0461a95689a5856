// selectWarmup (GOT-D warm-up data selection, specs/warmup-selection-gotd.md): input with the spec's
// §5 CPU defaults, the activity contracts, the result and the progress shape.
import { z } from 'zod';
import { ArtifactRef } from './artifact.js';
import { BUILTIN_TEXT_GROUPS, SPLITS } from './ingest.js';
import { Profile } from './temporal.js';

const positiveInt = z.number().int().positive();

/** Upper bound on pool shards (also for chunked pools above 32 × maxExactPool: chunks grow instead). */
export const MAX_SHARDS = 32;

/** A store object named by the user (no hash yet): `file://`, `s3://` or an absolute path. */
export const ObjectUri = z
  .string()
  .regex(
    /^(file:\/\/|s3:\/\/|\/)/,
    'expected a file://, s3:// URI or an absolute path (workers may run elsewhere)',
  );

/**
 * Builtin text groups, ingested on the fly by the `ingestTextCorpus` activity (memoized): one split
 * of `ingestCorpus`'s output without running that workflow. Makes examples store-independent.
 */
export const BuiltinTextTable = z.strictObject({
  builtin: z.array(z.enum(BUILTIN_TEXT_GROUPS)).min(1),
  split: z.enum(SPLITS).default('train'),
  maxBytesPerGroup: positiveInt.default(1_000_000),
  passageBytes: z.number().int().min(256).default(4096),
  /** The ingest split seed (which passages land in which split). */
  seed: z.number().int().nonnegative().default(0),
});

/**
 * A text-corpus table (`id utf8, group, text utf8`, `source` optional): a committed ref (e.g.
 * `ingestCorpus`'s `corpus.train`), a URI of a Parquet file, or builtin groups.
 */
export const TextTableInput = z.union([ArtifactRef, ObjectUri, BuiltinTextTable]);
export type TextTableInput = z.input<typeof TextTableInput>;

/** An embeddings table (`id utf8, embedding FixedSizeList<float32>[d]`): a ref or a URI. */
export const EmbeddingTableInput = z.union([ArtifactRef, ObjectUri]);

/** ml/methods/gotd/ngram-embedder.ts: hashed character n-gram TF-IDF, L2-normalised (model-free). */
export const NgramEmbedderSpec = z.strictObject({
  kind: z.literal('ngram'),
  dim: positiveInt.max(65_536).default(1024),
  ngramMin: positiveInt.default(3),
  ngramMax: positiveInt.default(5),
  sublinearTf: z.boolean().default(true),
  /** Seeds the n-gram hash. */
  seed: z.number().int().default(0),
});

/** Retort's byte-level LM (ml/models/lm.ts), mean-pooled last hidden state (spec §4.3). */
export const LmEmbedderSpec = z.strictObject({
  kind: z.literal('lm'),
  /** A `trainModel` checkpoint of an LM (model.json ref). */
  checkpoint: ArtifactRef,
  /** Light fine-tuning on the target texts before embedding (paper: a few epochs; 0 = off). */
  fineTuneSteps: z.number().int().nonnegative().default(0),
  fineTuneLr: z.number().positive().default(1e-4),
  /** Rows per forward pass. */
  batchSize: positiveInt.default(32),
  /** L2-normalise embeddings, so squared Euclidean costs lie in [0, 4] like the ε default assumes (spec §5). */
  normalize: z.boolean().default(true),
});

/** Embeddings computed elsewhere, joined to the text rows BY ID (every text id needs one). */
export const PrecomputedEmbedderSpec = z.strictObject({
  kind: z.literal('precomputed'),
  pool: EmbeddingTableInput,
  target: EmbeddingTableInput,
});

export const EmbedderSpec = z.discriminatedUnion('kind', [
  NgramEmbedderSpec,
  LmEmbedderSpec,
  PrecomputedEmbedderSpec,
]);
export type EmbedderSpec = z.output<typeof EmbedderSpec>;

/**
 * Length equalisation before embedding (spec §4.1), applied alike to pool and target:
 * `truncate` embeds the first `length` characters and drops rows shorter than `minLength` (the
 * selection keeps each row's full text); `pack` concatenates a group's rows and cuts them into pieces
 * of exactly `length` characters (new ids `<id>#k` / `<first id>+<count>`; the selection holds pieces).
 */
export const PreprocessSpec = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('none') }),
  z.strictObject({
    kind: z.literal('truncate'),
    length: positiveInt.default(1000),
    minLength: z.number().int().nonnegative().default(1),
  }),
  z.strictObject({ kind: z.literal('pack'), length: positiveInt.default(1000) }),
]);
export type PreprocessSpec = z.output<typeof PreprocessSpec>;

/** Sinkhorn settings (spec §4.4, §5 CPU column). */
export const SolverSpec = z.strictObject({
  /** Over-relaxation ω; the spec allows up to 1.3 (1 = plain Sinkhorn). */
  omega: z.number().min(1).max(1.3).default(1),
  /** L1 row-marginal error to stop at. */
  tol: z.number().positive().default(1e-3),
  maxIter: positiveInt.default(2000),
  /** Candidate rows per streamed cost block. */
  blockSize: positiveInt.default(4096),
  /** Cache the cost blocks when n·N is at most this. */
  cacheCostLimit: z.number().positive().default(1e8),
  precision: z.enum(['float32', 'float64']).default('float32'),
});
export type SolverSpec = z.output<typeof SolverSpec>;

export const Budget = z.union([
  positiveInt,
  /** A share of the (preprocessed, deduplicated) pool, rounded, at least 1. */
  z.strictObject({ fraction: z.number().gt(0).max(1) }),
]);

/**
 * Default ε per embedder. 0.1 is the spec's (§5) for sentence-encoder / LM embeddings. The hashed
 * n-gram embeddings crowd their costs into a narrow band (at the default dim 1024 the mean cost is
 * ≈ 0.49 and groups differ by a few hundredths). There, ε = 0.1 makes every g_j a soft minimum of its
 * costs over the whole target (Sinkhorn converges in 2–3 iterations), and GOT-D stops picking the
 * under-covered rows first. On the spec §8 scenario (pool 900 speeches + 100 code passages, target
 * 100 + 100, K = 100) it took 19 % code at ε = 0.1, 65 % at 0.05, 87 % at 0.02 and 91 % at 0.01 and
 * 0.005; nearest-neighbour matching took 52 %. `epsilon_evidence` in bench/gotd-effect.ts reproduces this.
 */
export const DEFAULT_EPSILON = { ngram: 0.01, lm: 0.1, precomputed: 0.1 } as const;

export const SelectWarmupInput = z
  .object({
    /** Label for the search attribute `RetortDataset` and the UI. */
    dataset: z
      .string()
      .regex(/^[A-Za-z0-9._-]+$/)
      .default('warmup'),
    /** D_S: the candidate pool, also the stand-in for the model's pre-training data. */
    pool: TextTableInput,
    /** D_R: target-task rows (labels unused). */
    target: TextTableInput,
    /** K rows to select (spec §5: 1–5 % of the pool). */
    budget: Budget.default({ fraction: 0.02 }),
    embedder: EmbedderSpec.prefault({ kind: 'ngram' }),
    preprocess: PreprocessSpec.prefault({ kind: 'truncate' }),
    /** Drop exact duplicate (preprocessed) texts from the pool: they would score alike and all be taken. */
    dedup: z.boolean().default(true),
    /** Uniform seeded subsample of the target above this size (spec §5: ≤ 1,000). */
    targetMaxRows: positiveInt.default(1000),
    /**
     * Entropic regularisation: absolute, or × mean cost with `relativeEpsilon`. Default by embedder
     * (`DEFAULT_EPSILON`): 0.01 for `ngram`, 0.1 (the spec's, on L2-normalised embeddings) otherwise.
     */
    epsilon: z.number().positive().optional(),
    relativeEpsilon: z.boolean().default(false),
    solver: SolverSpec.prefault({}),
    /** `clean` selects the most negative calibrated gradients; `contrast` the most positive (negative target). */
    mode: z.enum(['clean', 'contrast']).default('clean'),
    /**
     * Pool shards: embedding (and, when chunked, scoring) run as this many parallel activities. At most
     * 32, so that the refs of every shard fit in one Temporal payload (< 64 KiB, DESIGN.md §2).
     */
    shards: positiveInt.max(MAX_SHARDS).default(4),
    /** `auto`: one exact solve up to `maxExactPool` candidates, random-chunk approximation above (spec §4.6). */
    strategy: z.enum(['auto', 'exact', 'chunked']).default('auto'),
    maxExactPool: positiveInt.default(100_000),
    /** The OT cost before/after in the summary is solved on a seeded pool sample of at most this many rows. */
    summaryMaxPool: positiveInt.default(20_000),
    /** Seeds shuffling into shards, target subsampling and the summary's pool sample. */
    seed: z.number().int().nonnegative().default(0),
    /** Reuse committed artifacts with the same identity (DESIGN.md §3). */
    cache: z.boolean().default(true),
    profile: Profile,
  })
  .superRefine((input, ctx) => {
    if (input.embedder.kind === 'precomputed' && input.preprocess.kind === 'pack') {
      ctx.addIssue({
        code: 'custom',
        path: ['preprocess'],
        message:
          'packing creates new row ids, which precomputed embeddings cannot be joined to; use "none" or "truncate"',
      });
    }
    if (input.embedder.kind === 'ngram' && input.embedder.ngramMax < input.embedder.ngramMin) {
      ctx.addIssue({ code: 'custom', path: ['embedder', 'ngramMax'], message: 'must be at least ngramMin' });
    }
  })
  .transform((input) => ({ ...input, epsilon: input.epsilon ?? DEFAULT_EPSILON[input.embedder.kind] }));
export type SelectWarmupInput = z.input<typeof SelectWarmupInput>;
export type SelectWarmupConfig = z.output<typeof SelectWarmupInput>;

// -------------------------------------------------------------------------------------------------
// Activity contracts

export interface PrepareSelectionInput {
  pool: ArtifactRef | string;
  target: ArtifactRef | string;
  /** Precomputed embeddings to validate and join by id (embedder kind `precomputed`). */
  embeddings?: { pool: ArtifactRef | string; target: ArtifactRef | string };
  preprocess: PreprocessSpec;
  dedup: boolean;
  targetMaxRows: number;
  budget: z.output<typeof Budget>;
  shards: number;
  strategy: 'auto' | 'exact' | 'chunked';
  maxExactPool: number;
  seed: number;
  cache: boolean;
}

export interface GroupCount {
  group: string;
  rows: number;
}

export interface PreparedSelection {
  /** Preprocessed pool, split into random shards (one text-corpus table each). */
  poolShards: ArtifactRef[];
  /** Preprocessed, subsampled target (one text-corpus table). */
  target: ArtifactRef;
  poolRows: number;
  targetRows: number;
  /** Rows per group, largest first (at most 50 listed). */
  poolGroups: GroupCount[];
  targetGroups: GroupCount[];
  /** Precomputed embeddings joined by id, one table per pool shard (embedder `precomputed`). */
  embeddings?: { poolShards: ArtifactRef[]; target: ArtifactRef; dim: number };
  /** Resolved K. */
  budget: number;
  strategy: 'exact' | 'chunked';
  dropped: { duplicates: number; short: number; targetSubsampled: number };
  /** Where the inputs came from, for messages and the summary. */
  sources: { pool: string; target: string };
}

/** The n-gram embedder's config as the activities take it (schema defaults resolved). */
export type NgramEmbedderConfig = Omit<z.output<typeof NgramEmbedderSpec>, 'kind'>;

export interface CountNgramsInput {
  table: ArtifactRef;
  embedder: z.output<typeof NgramEmbedderSpec>;
  preprocess: PreprocessSpec;
  cache: boolean;
}

export interface EmbedShardInput {
  /** A text-corpus table: the target or one pool shard. */
  table: ArtifactRef;
  /** "target", "pool shard 3": used in messages. */
  name: string;
  embedder: z.output<typeof NgramEmbedderSpec> | z.output<typeof LmEmbedderSpec>;
  preprocess: PreprocessSpec;
  /** n-gram embedder: document-frequency artifacts of the target and every pool shard (merged). */
  frequencies?: ArtifactRef[];
  cache: boolean;
}

export interface EmbedShardResult {
  embeddings: ArtifactRef;
  rows: number;
  dim: number;
}

export interface ScoreShardInput {
  target: ArtifactRef;
  /** One pool shard (chunked), or every shard (exact: solved as one problem, rows ordered by id). */
  pool: ArtifactRef[];
  name: string;
  /** Absolute ε shared by every solve of the selection. */
  epsilon: number;
  solver: SolverSpec;
  cache: boolean;
}

/** One OT solve's facts (spec §3 `solver_report`); ml/methods/gotd/ uses this type. */
export interface SolveStatsJson {
  nTarget: number;
  nCandidates: number;
  dim: number;
  epsilon: number;
  meanCost: number;
  omega: number;
  iterations: number;
  marginalError: number;
  converged: boolean;
  transportCost: number;
  dualObjective: number;
}

export interface ScoreShardResult {
  /** `candidate_scores` table: id, potential_g, calibrated_grad (solve stats in its metadata). */
  scores: ArtifactRef;
  stats: SolveStatsJson;
}

export interface LmFineTuneDataInput {
  checkpoint: ArtifactRef;
  /** The prepared target text table. */
  target: ArtifactRef;
  preprocess: PreprocessSpec;
  cache: boolean;
}

export interface LmFineTuneData {
  /** Target texts as byte-level token windows of the checkpoint's context length. */
  windows: ArtifactRef;
  /** The checkpoint's LM config as `trainModel` takes it (schemas/training.ts LmModelConfig). */
  model: {
    layers: number;
    dModel: number;
    heads: number;
    ctx: number;
    mlpRatio: number;
    tieEmbeddings: boolean;
    initStd: number;
    layerNormEps: number;
  };
}

export interface MeanCostInput {
  target: ArtifactRef;
  pool: ArtifactRef[];
}

export interface MergeSelectionInput {
  scores: ArtifactRef[];
  poolShards: ArtifactRef[];
  budget: number;
  mode: 'clean' | 'contrast';
  cache: boolean;
}

export interface GroupComposition {
  group: string;
  pool: number;
  selected: number;
  target: number;
  poolShare: number;
  selectedShare: number;
  targetShare: number;
}

export interface SolverReportJson extends SolveStatsJson {
  mode: 'exact' | 'chunked';
  chunks: number;
}

export interface MergeSelectionResult {
  /** `selected_subset` table (id, group, text, score), best first. */
  selection: ArtifactRef;
  rows: number;
  /**
   * Pool and selection rows per group (target counts are filled in by the summary): the 100 largest
   * pool groups and the 100 most selected, so that the payload stays small.
   */
  composition: { group: string; pool: number; selected: number }[];
  report: SolverReportJson;
  /** Calibrated gradient of the last selected row and the pool's range. */
  scoreRange: { min: number; max: number; threshold: number };
}

export interface SummarizeSelectionInput {
  targetEmbeddings: ArtifactRef;
  poolEmbeddings: ArtifactRef[];
  selection: ArtifactRef;
  merge: MergeSelectionResult;
  /** What the summary reports of the prepared inputs (no shard refs: payloads stay small). */
  prepared: Pick<
    PreparedSelection,
    'poolRows' | 'targetRows' | 'targetGroups' | 'budget' | 'strategy' | 'dropped' | 'sources'
  > & { shards: number };
  epsilon: number;
  solver: SolverSpec;
  summaryMaxPool: number;
  seed: number;
  /** The workflow's parsed input (recorded in the summary). */
  config: unknown;
  cache: boolean;
}

export interface OtCostSummary {
  /** OT(D_S, D_R) and OT(λ·D_U + (1−λ)·D_S, D_R), entropic (dual objective). */
  before: number;
  after: number;
  lambda: number;
  /** First-order prediction of after − before (paper Eq. 4). */
  firstOrderDelta: number;
  transportCostBefore: number;
  transportCostAfter: number;
  /** Pool rows the two solves used (a seeded sample above `summaryMaxPool`). */
  poolRows: number;
  selectedRows: number;
  converged: boolean;
}

export interface SummarizeSelectionResult {
  summary: ArtifactRef;
  composition: GroupComposition[];
  /** null when the summary's pool sample holds no selected row (tiny budget share of a huge pool). */
  otCost: OtCostSummary | null;
}

// -------------------------------------------------------------------------------------------------
// Workflow result and progress

export interface SelectWarmupResult {
  dataset: string;
  /** `selected_subset`: id, group, text, score (calibrated OT gradient), best first. */
  selection: ArtifactRef;
  /** JSON report: composition of the selection vs the pool and target, OT cost before/after, solver. */
  summary: ArtifactRef;
  manifest: ArtifactRef;
  budget: number;
  poolRows: number;
  targetRows: number;
  strategy: 'exact' | 'chunked';
  shards: number;
  /** Per group (largest pool groups first, at most 20 listed here; all in the summary). */
  composition: GroupComposition[];
  otCost: { before: number; after: number; lambda: number } | null;
  converged: boolean;
}

export const SELECT_WARMUP_STAGES = [
  'validate',
  'ingest',
  'prepare',
  'finetune',
  'frequencies',
  'embed',
  'epsilon',
  'score',
  'merge',
  'summary',
  'manifest',
  'done',
] as const;

export interface SelectWarmupProgress {
  stage: (typeof SELECT_WARMUP_STAGES)[number];
  /** Shards finished in the current fan-out stage, of `total` (e.g. 3 of 8 pool shards embedded). */
  shard: { done: number; total: number };
  poolRows: number | null;
  targetRows: number | null;
  budget: number | null;
  strategy: 'exact' | 'chunked' | null;
  /** Sinkhorn iterations of the slowest finished solve, and whether all converged so far. */
  iterations: number | null;
  converged: boolean | null;
}
