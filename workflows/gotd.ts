// selectWarmup: GOT-D warm-up data selection (specs/warmup-selection-gotd.md) as a fan-out over pool
// shards. prepare (validate, preprocess alike, random shards) → n-gram statistics → embed target and
// pool shards in parallel → one exact solve, or one solve per shard in parallel (chunked, §4.6) →
// merge by id → top-K selection → summary (composition, OT cost before/after) → run manifest.
// More workers on `retort-compute` finish the shards sooner; only refs cross Temporal. Each stage is
// a function below, called in order by `selectWarmup`; the order of their activity calls is what
// recorded histories replay, so it does not change.
import { executeChild, setHandler, workflowInfo } from '@temporalio/workflow';
import type { ArtifactRef } from '../schemas/artifact.js';
import { progressQuery } from '../schemas/messages.js';
import {
  type EmbedShardResult,
  type MergeSelectionResult,
  type PreparedSelection,
  type ScoreShardResult,
  SelectWarmupInput,
  type SelectWarmupConfig,
  type SelectWarmupProgress,
  type SelectWarmupResult,
  type SummarizeSelectionResult,
} from '../schemas/gotd.js';
import type { TrainModelResult } from '../schemas/training.js';
import {
  childOptions,
  computeActivities,
  currentRun,
  enterStage,
  ioActivities,
  parseInput,
  surfaceFailures,
  progressDisplay,
} from './common.js';
import { reportStage } from './report-stage.js';

type Input = SelectWarmupConfig;
type Embedder = Input['embedder'];
interface Embeddings {
  target: ArtifactRef;
  pool: ArtifactRef[];
}

/** What every stage uses: the parsed input, the activities, the progress and its display. */
interface Selection {
  input: Input;
  io: ReturnType<typeof ioActivities>;
  compute: ReturnType<typeof computeActivities>;
  progress: SelectWarmupProgress;
  stage: (s: SelectWarmupProgress['stage'], shards?: number) => void;
  /** Runs a stage's activities in parallel, counting each one that finishes. */
  fanOut: <T>(calls: (() => Promise<T>)[]) => Promise<T[]>;
}

export async function selectWarmup(rawInput: SelectWarmupInput): Promise<SelectWarmupResult> {
  const progress: SelectWarmupProgress = {
    stage: 'validate',
    shard: { done: 0, total: 0 },
    poolRows: null,
    targetRows: null,
    budget: null,
    strategy: null,
    iterations: null,
    converged: null,
  };
  setHandler(progressQuery, () => ({ ...progress, shard: { ...progress.shard } }), {
    description: 'GOT-D stage, shards done of total, pool/target rows, budget, solver iterations',
  });
  const input = parseInput(SelectWarmupInput, rawInput, 'selectWarmup');
  const run = selection(input, progress);

  return surfaceFailures(async () => {
    const [pool, target] = await resolveTables(run);
    const prepared = await prepare(run, pool, target);
    const embedder = await fineTuneEmbedder(run, prepared);
    const embeddings = await embed(run, prepared, embedder);
    const epsilon = await absoluteEpsilon(run, embeddings);
    const scored = await score(run, prepared, embeddings, epsilon);
    const merge = await mergeScores(run, prepared, scored);
    const summary = await summarize(run, prepared, embeddings, merge, epsilon);
    return commit(run, prepared, embeddings, scored, merge, summary);
  });
}

function selection(input: Input, progress: SelectWarmupProgress): Selection {
  const display = progressDisplay();
  const show = () => {
    const s = progress.shard.total ? ` (shard ${progress.shard.done}/${progress.shard.total})` : '';
    const rows = progress.poolRows === null ? '' : `, pool ${progress.poolRows} rows → K ${progress.budget}`;
    display(`**selectWarmup** \`${input.dataset}\`: ${progress.stage}${s}${rows}`, {
      stage: progress.stage,
      done: progress.shard.done,
      total: progress.shard.total,
    });
  };
  return {
    input,
    io: ioActivities(input.profile),
    compute: computeActivities(input.profile),
    progress,
    stage: (s, shards = 0) => {
      progress.stage = s;
      progress.shard = { done: 0, total: shards };
      enterStage('selectWarmup', input.dataset, s);
      show();
    },
    fanOut: (calls) =>
      Promise.all(
        calls.map((call) =>
          call().then((r) => {
            progress.shard.done += 1;
            show();
            return r;
          }),
        ),
      ),
  };
}

type TableRef = ArtifactRef | string;

/** Pool and target as text-table refs; builtin groups are ingested on the fly (memoized). */
async function resolveTables({ input, io, stage }: Selection): Promise<[TableRef, TableRef]> {
  const resolve = async (t: Input['pool']): Promise<ArtifactRef | string> => {
    if (typeof t === 'string' || !('builtin' in t)) return t;
    const ingested = await io.ingestTextCorpus({
      source: { builtin: t.builtin },
      maxBytesPerGroup: t.maxBytesPerGroup,
      passageBytes: t.passageBytes,
      split: { val: 0.1, test: 0.1 },
      seed: t.seed,
      cache: input.cache,
    });
    return ingested.corpus[t.split];
  };
  const needsIngest = [input.pool, input.target].some((t) => typeof t === 'object' && 'builtin' in t);
  if (needsIngest) stage('ingest');
  return Promise.all([resolve(input.pool), resolve(input.target)]);
}

/** Validates everything, preprocesses pool and target alike and shards the pool at random. */
async function prepare(
  { input, io, progress, stage }: Selection,
  pool: ArtifactRef | string,
  target: ArtifactRef | string,
): Promise<PreparedSelection> {
  stage('prepare');
  const prepared = await io.prepareSelection({
    pool,
    target,
    ...(input.embedder.kind === 'precomputed'
      ? { embeddings: { pool: input.embedder.pool, target: input.embedder.target } }
      : {}),
    preprocess: input.preprocess,
    dedup: input.dedup,
    targetMaxRows: input.targetMaxRows,
    budget: input.budget,
    shards: input.shards,
    strategy: input.strategy,
    maxExactPool: input.maxExactPool,
    seed: input.seed,
    cache: input.cache,
  });
  Object.assign(progress, {
    poolRows: prepared.poolRows,
    targetRows: prepared.targetRows,
    budget: prepared.budget,
    strategy: prepared.strategy,
  });
  return prepared;
}

/**
 * The LM embedder is first fine-tuned briefly on the target texts (a trainModel child run from the
 * checkpoint); the pool and target are then embedded with the fine-tuned weights.
 */
async function fineTuneEmbedder(
  { input, compute, stage }: Selection,
  prepared: PreparedSelection,
): Promise<Embedder> {
  const embedder = input.embedder;
  if (embedder.kind !== 'lm' || embedder.fineTuneSteps <= 0) return embedder;
  stage('finetune');
  const data = await compute.lmFineTuneData({
    checkpoint: embedder.checkpoint,
    target: prepared.target,
    preprocess: input.preprocess,
    cache: input.cache,
  });
  const tuned = await executeChild<(spec: unknown) => Promise<TrainModelResult>>('trainModel', {
    workflowId: `${workflowInfo().workflowId}/finetune`,
    ...childOptions(
      `trainModel · fine-tune the LM embedder, ${embedder.fineTuneSteps} steps`,
      '**trainModel**: light fine-tuning of the LM embedder on the target texts before embedding (GOT-D §4.3).',
    ),
    args: [
      {
        model: { kind: 'lm', config: data.model },
        data: { train: data.windows },
        init: embedder.checkpoint,
        totalSteps: embedder.fineTuneSteps,
        chunkSteps: Math.min(embedder.fineTuneSteps, 100),
        batchSize: Math.min(embedder.batchSize, data.windows.rows ?? embedder.batchSize),
        optimizer: { kind: 'adamw', weightDecay: 0 },
        schedule: { kind: 'constant', lr: embedder.fineTuneLr },
        seed: input.seed,
        cache: input.cache,
        profile: input.profile,
      },
    ],
  });
  return { ...embedder, checkpoint: tuned.checkpoint, fineTuneSteps: 0 };
}

/** Target and pool-shard embeddings: given (precomputed), or embedded shard by shard in parallel. */
async function embed(
  { input, compute, stage, fanOut }: Selection,
  prepared: PreparedSelection,
  embedder: Embedder,
): Promise<Embeddings> {
  if (embedder.kind === 'precomputed') {
    return { target: prepared.embeddings!.target, pool: prepared.embeddings!.poolShards };
  }
  const S = prepared.poolShards.length;
  const common = { embedder, preprocess: input.preprocess, cache: input.cache };
  let frequencies: ArtifactRef[] | undefined;
  if (embedder.kind === 'ngram') {
    // IDF statistics over pool AND target, so both sides are weighted alike (spec §10).
    stage('frequencies', S + 1);
    frequencies = await fanOut(
      [prepared.target, ...prepared.poolShards].map(
        (table) => () => compute.countNgrams({ table, ...common, embedder }),
      ),
    );
  }
  stage('embed', S + 1);
  const embedded: EmbedShardResult[] = await fanOut([
    () =>
      compute.embedShard({
        table: prepared.target,
        name: 'target',
        ...common,
        ...(frequencies ? { frequencies } : {}),
      }),
    ...prepared.poolShards.map(
      (table, s) => () =>
        compute.embedShard({
          table,
          name: `pool shard ${s + 1}/${S}`,
          ...common,
          ...(frequencies ? { frequencies } : {}),
        }),
    ),
  ]);
  return { target: embedded[0]!.embeddings, pool: embedded.slice(1).map((e) => e.embeddings) };
}

/** One absolute ε for every solve of this selection (chunks are comparable only then, §4.6). */
async function absoluteEpsilon(
  { input, compute, stage }: Selection,
  embeddings: Embeddings,
): Promise<number> {
  if (!input.relativeEpsilon) return input.epsilon;
  stage('epsilon');
  return input.epsilon * (await compute.poolMeanCost({ target: embeddings.target, pool: embeddings.pool }));
}

/** One exact solve over the whole pool, or one solve per shard in parallel (chunked, §4.6). */
async function score(
  { input, compute, progress, stage, fanOut }: Selection,
  prepared: PreparedSelection,
  embeddings: Embeddings,
  epsilon: number,
): Promise<ScoreShardResult[]> {
  const chunks = prepared.strategy === 'exact' ? [embeddings.pool] : embeddings.pool.map((ref) => [ref]);
  stage('score', chunks.length);
  return fanOut(
    chunks.map(
      (refs, c) => () =>
        compute
          .scoreShard({
            target: embeddings.target,
            pool: refs,
            name: chunks.length === 1 ? 'pool' : `pool shard ${c + 1}/${chunks.length}`,
            epsilon,
            solver: input.solver,
            cache: input.cache,
          })
          .then((r) => {
            progress.iterations = Math.max(progress.iterations ?? 0, r.stats.iterations);
            progress.converged = (progress.converged ?? true) && r.stats.converged;
            return r;
          }),
    ),
  );
}

/** Shard scores by id → top-K → the selected subset joined by id with the pool text. */
async function mergeScores(
  { input, io, stage }: Selection,
  prepared: PreparedSelection,
  scored: ScoreShardResult[],
): Promise<MergeSelectionResult> {
  stage('merge');
  return io.mergeSelection({
    scores: scored.map((s) => s.scores),
    poolShards: prepared.poolShards,
    budget: prepared.budget,
    mode: input.mode,
    cache: input.cache,
  });
}

/** Composition of the selection and the OT cost before/after adding it. */
async function summarize(
  { input, compute, stage }: Selection,
  prepared: PreparedSelection,
  embeddings: Embeddings,
  merge: MergeSelectionResult,
  epsilon: number,
): Promise<SummarizeSelectionResult> {
  stage('summary');
  const { profile: _profile, cache: _cache, ...recorded } = input;
  return compute.summarizeSelection({
    targetEmbeddings: embeddings.target,
    poolEmbeddings: embeddings.pool,
    selection: merge.selection,
    merge,
    prepared: {
      poolRows: prepared.poolRows,
      targetRows: prepared.targetRows,
      targetGroups: prepared.targetGroups,
      budget: prepared.budget,
      strategy: prepared.strategy,
      shards: prepared.poolShards.length,
      dropped: prepared.dropped,
      sources: prepared.sources,
    },
    epsilon,
    solver: input.solver,
    summaryMaxPool: input.summaryMaxPool,
    seed: input.seed,
    config: recorded,
    cache: input.cache,
  });
}

/** The run manifest (the commit point), then the result. */
async function commit(
  { input, io, stage }: Selection,
  prepared: PreparedSelection,
  embeddings: Embeddings,
  scored: ScoreShardResult[],
  merge: MergeSelectionResult,
  summary: SummarizeSelectionResult,
): Promise<SelectWarmupResult> {
  const { profile: _profile, cache: _cache, ...recorded } = input;
  const report = await reportStage(io, {
    dataset: input.dataset,
    contents: [
      {
        kind: 'selectWarmup',
        selection: merge.selection,
        composition: summary.composition.slice(0, 20),
        otCost: summary.otCost,
        budget: prepared.budget,
        poolRows: prepared.poolRows,
        targetRows: prepared.targetRows,
      },
    ],
    input: recorded,
    cache: input.cache,
    headline: summary.otCost?.after ?? null,
  });
  stage('manifest');
  const outputs = {
    ...report,
    selection: merge.selection,
    summary: summary.summary,
    poolShards: prepared.poolShards,
    targetEmbeddings: embeddings.target,
    poolEmbeddings: embeddings.pool,
    scores: scored.map((s) => s.scores),
  };
  const manifest = await io.commitManifest({ ...currentRun(), input, outputs });
  stage('done');
  return {
    dataset: input.dataset,
    selection: merge.selection,
    summary: summary.summary,
    manifest,
    budget: prepared.budget,
    poolRows: prepared.poolRows,
    targetRows: prepared.targetRows,
    strategy: prepared.strategy,
    shards: prepared.poolShards.length,
    composition: summary.composition.slice(0, 20),
    otCost: summary.otCost && {
      before: summary.otCost.before,
      after: summary.otCost.after,
      lambda: summary.otCost.lambda,
    },
    converged: merge.report.converged,
    ...report,
  };
}
