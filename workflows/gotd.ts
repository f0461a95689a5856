// selectWarmup: GOT-D warm-up data selection (specs/warmup-selection-gotd.md) as a fan-out over pool
// shards. prepare (validate, preprocess alike, random shards) → n-gram statistics → embed target and
// pool shards in parallel → one exact solve, or one solve per shard in parallel (chunked, §4.6) →
// merge by id → top-K selection → summary (composition, OT cost before/after) → run manifest.
// More workers on `retort-compute` finish the shards sooner; only refs cross Temporal.
import {
  ParentClosePolicy,
  executeChild,
  setCurrentDetails,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { ArtifactRef } from '../schemas/artifact.js';
import { progressQuery } from '../schemas/messages.js';
import {
  type EmbedShardResult,
  SelectWarmupInput,
  type SelectWarmupProgress,
  type SelectWarmupConfig,
  type SelectWarmupResult,
} from '../schemas/gotd.js';
import type { TrainModelResult } from '../schemas/training.js';
import {
  computeActivities,
  currentRun,
  enterStage,
  ioActivities,
  parseInput,
  surfaceFailures,
} from './common.js';

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
  const io = ioActivities(input.profile);
  const compute = computeActivities(input.profile);

  const show = () => {
    const s = progress.shard.total ? ` (shard ${progress.shard.done}/${progress.shard.total})` : '';
    const rows = progress.poolRows === null ? '' : `, pool ${progress.poolRows} rows → K ${progress.budget}`;
    setCurrentDetails(`**selectWarmup** \`${input.dataset}\`: ${progress.stage}${s}${rows}`);
  };
  const stage = (s: SelectWarmupProgress['stage'], shards = 0) => {
    progress.stage = s;
    progress.shard = { done: 0, total: shards };
    enterStage('selectWarmup', input.dataset, s);
    show();
  };
  /** Runs a stage's activities in parallel, counting each one that finishes. */
  const fanOut = <T>(calls: (() => Promise<T>)[]): Promise<T[]> =>
    Promise.all(
      calls.map((call) =>
        call().then((r) => {
          progress.shard.done += 1;
          show();
          return r;
        }),
      ),
    );

  return surfaceFailures(async () => {
    // Builtin groups are ingested on the fly (memoized): the example runs on any store.
    const resolve = async (t: SelectWarmupConfig['pool']): Promise<ArtifactRef | string> => {
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
    const [pool, target] = await Promise.all([resolve(input.pool), resolve(input.target)]);

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
    const S = prepared.poolShards.length;

    // The LM embedder is first fine-tuned briefly on the target texts (a trainModel child run from the
    // checkpoint); the pool and target are then embedded with the fine-tuned weights.
    let embedder = input.embedder;
    if (embedder.kind === 'lm' && embedder.fineTuneSteps > 0) {
      stage('finetune');
      const data = await compute.lmFineTuneData({
        checkpoint: embedder.checkpoint,
        target: prepared.target,
        preprocess: input.preprocess,
        cache: input.cache,
      });
      const tuned = await executeChild<(spec: unknown) => Promise<TrainModelResult>>('trainModel', {
        workflowId: `${workflowInfo().workflowId}/finetune`,
        parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
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
      embedder = { ...embedder, checkpoint: tuned.checkpoint, fineTuneSteps: 0 };
    }

    let targetEmbeddings: ArtifactRef;
    let poolEmbeddings: ArtifactRef[];
    if (embedder.kind === 'precomputed') {
      targetEmbeddings = prepared.embeddings!.target;
      poolEmbeddings = prepared.embeddings!.poolShards;
    } else {
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
      targetEmbeddings = embedded[0]!.embeddings;
      poolEmbeddings = embedded.slice(1).map((e) => e.embeddings);
    }

    // One absolute ε for every solve of this selection (chunks are comparable only then, §4.6).
    let epsilon = input.epsilon;
    if (input.relativeEpsilon) {
      stage('epsilon');
      epsilon =
        input.epsilon * (await compute.poolMeanCost({ target: targetEmbeddings, pool: poolEmbeddings }));
    }

    const chunks = prepared.strategy === 'exact' ? [poolEmbeddings] : poolEmbeddings.map((ref) => [ref]);
    stage('score', chunks.length);
    const scored = await fanOut(
      chunks.map(
        (refs, c) => () =>
          compute
            .scoreShard({
              target: targetEmbeddings,
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

    stage('merge');
    const merge = await io.mergeSelection({
      scores: scored.map((s) => s.scores),
      poolShards: prepared.poolShards,
      budget: prepared.budget,
      mode: input.mode,
      cache: input.cache,
    });

    stage('summary');
    const { profile: _profile, cache: _cache, ...recorded } = input;
    const summary = await compute.summarizeSelection({
      targetEmbeddings,
      poolEmbeddings,
      selection: merge.selection,
      merge,
      prepared: {
        poolRows: prepared.poolRows,
        targetRows: prepared.targetRows,
        targetGroups: prepared.targetGroups,
        budget: prepared.budget,
        strategy: prepared.strategy,
        shards: S,
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

    stage('manifest');
    const outputs = {
      selection: merge.selection,
      summary: summary.summary,
      poolShards: prepared.poolShards,
      targetEmbeddings,
      poolEmbeddings,
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
      shards: S,
      composition: summary.composition.slice(0, 20),
      otCost: summary.otCost && {
        before: summary.otCost.before,
        after: summary.otCost.after,
        lambda: summary.otCost.lambda,
      },
      converged: merge.report.converged,
    };
  });
}
