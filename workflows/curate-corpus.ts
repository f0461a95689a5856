// curateCorpus: the recurring data-curation pipeline (DESIGN.md §6). One run:
//   resolve   the newest partition under the source prefix and the lineage's latest checkpoint;
//   ingest    that partition (ingestCorpus child: splits + byte windows);
//   select    optionally, GOT-D warm-up selection from it towards a target (selectWarmup child);
//   train     continual pre-training from the lineage checkpoint with the re-warmed schedule under the
//             chosen mixing (static: continualPretrain child, or trainModel from scratch on the same
//             schedule for a lineage's first run without `init`; aioli: mixAioli child, either way);
//   evaluate  per-group loss on this partition's and the previous partition's validation windows;
//   report, manifest (the commit point), then the lineage pointer moves to this run's checkpoint.
// On a Temporal Schedule (`retort schedule create`), each run thus continues the previous one.
import {
  ApplicationFailure,
  ChildWorkflowFailure,
  ParentClosePolicy,
  executeChild,
  setCurrentDetails,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { ArtifactRef } from '../schemas/artifact.js';
import { type ContinualPretrainInput, type ContinualPretrainResult, PAPER_ADAMW } from '../schemas/rewarm.js';
import { CurateCorpusInput, type CurateCorpusResult, type CurateProgress } from '../schemas/curate.js';
import type { IngestCorpusInput, IngestCorpusResult } from '../schemas/ingest.js';
import type { MixAioliInput, MixAioliResult } from '../schemas/aioli.js';
import { progressQuery } from '../schemas/messages.js';
import type { SelectWarmupInput, SelectWarmupResult } from '../schemas/gotd.js';
import type { TrainModelResult, TrainingSpecInput } from '../schemas/training.js';
import {
  computeActivities,
  currentRun,
  enterStage,
  ioActivities,
  parseInput,
  surfaceFailures,
} from './common.js';

/** One child per stage, id `<parent>/<stage>`; a child's non-retryable failure becomes this run's own. */
const child = async <R>(type: string, stage: string, input: unknown): Promise<R> => {
  try {
    return await executeChild<(input: unknown) => Promise<R>>(type, {
      workflowId: `${workflowInfo().workflowId}/${stage}`,
      parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
      args: [input],
    });
  } catch (err) {
    const cause = err instanceof ChildWorkflowFailure ? err.cause : undefined;
    if (cause instanceof ApplicationFailure && cause.nonRetryable) {
      throw ApplicationFailure.create({
        message: `${stage} (${type}): ${cause.message}`,
        type: cause.type ?? 'ChildFailed',
        nonRetryable: true,
        cause: err as Error,
      });
    }
    throw err;
  }
};

export async function curateCorpus(rawInput: CurateCorpusInput): Promise<CurateCorpusResult> {
  const progress: CurateProgress = { stage: 'validate', lineage: '', partition: null, generation: null };
  setHandler(progressQuery, () => ({ ...progress }), {
    description: 'Stage, lineage, the partition this run ingests and its generation',
  });
  const input = parseInput(CurateCorpusInput, rawInput, 'curateCorpus');
  const lineage = input.lineage ?? input.dataset;
  progress.lineage = lineage;
  const io = ioActivities(input.profile);
  const compute = computeActivities(input.profile);
  const stage = (s: CurateProgress['stage']) => {
    progress.stage = s;
    enterStage('curateCorpus', input.dataset, s);
    setCurrentDetails(
      `**curateCorpus** \`${lineage}\`: ${s}${progress.partition ? `, partition \`${progress.partition}\`` : ''}${progress.generation ? `, generation ${progress.generation}` : ''}`,
    );
  };
  const common = { seed: input.seed, cache: input.cache, profile: input.profile };

  return surfaceFailures(async () => {
    stage('resolve');
    const [found, previous] = await Promise.all([
      'partitions' in input.source ? io.newestPartition({ prefix: input.source.partitions }) : undefined,
      io.readLineage({ lineage }),
    ]);
    const src = input.source;
    const partition =
      found?.partition ??
      ('builtin' in src ? `builtin:${src.builtin.join('+')}` : 'uri' in src ? src.uri : src.partitions);
    const generation = (previous?.generation ?? 0) + 1;
    Object.assign(progress, { partition, generation });

    stage('ingest');
    const source = found ? { uri: found.uri } : 'partitions' in src ? undefined : src;
    const ingested = await child<IngestCorpusResult>('ingestCorpus', 'ingest', {
      dataset: input.dataset,
      source,
      ...input.ingest,
      ...common,
    } satisfies IngestCorpusInput);
    let train = ingested.windows.train;
    const val = ingested.windows.val;

    let selection: ArtifactRef | null = null;
    if (input.selection) {
      stage('select');
      const selected = await child<SelectWarmupResult>('selectWarmup', 'select', {
        dataset: input.dataset,
        pool: ingested.corpus.train,
        target: input.selection.target,
        ...(input.selection.budget ? { budget: input.selection.budget } : {}),
        ...common,
      } satisfies SelectWarmupInput);
      selection = selected.selection;
      // The selected rows (id, group, text) are a text corpus: train on their byte windows.
      const corpus = await io.ingestTextCorpus({
        source: { uri: selected.selection.uri, format: 'parquet' },
        maxBytesPerGroup: Number.MAX_SAFE_INTEGER,
        passageBytes: input.ingest.passageBytes,
        split: { val: 0, test: 0 },
        seed: input.seed,
        cache: input.cache,
      });
      train = (await io.tokenizeCorpus({ corpus: corpus.corpus, ctx: input.ingest.ctx, cache: input.cache }))
        .windows.train;
    }

    stage('train');
    const startedFrom = previous?.checkpoint ?? input.init ?? null;
    const upstreamVal = previous?.val ?? val;
    const mixture = input.mixing.kind === 'static' ? input.mixing.mixture : undefined;
    const runSpec = {
      // Continuing: the checkpoint's own model; a lineage's first run without `init`: `model`, from scratch.
      model: startedFrom
        ? (await compute.describeCheckpoint(startedFrom)).model
        : { kind: 'lm' as const, config: { ...input.model, ctx: input.model.ctx ?? input.ingest.ctx } },
      optimizer: PAPER_ADAMW,
      schedule: input.schedule,
      totalSteps: input.totalSteps,
      chunkSteps: input.chunkSteps,
      batchSize: input.batchSize,
      ...(input.evalMaxRows ? { evalMaxRows: input.evalMaxRows } : {}),
      ...(startedFrom ? { init: startedFrom } : {}),
      ...common,
    };
    let checkpoint: ArtifactRef;
    let training: Record<string, unknown>;
    if (input.mixing.kind === 'aioli') {
      // One run whose mixture Aioli re-estimates every round, from the lineage checkpoint (or scratch).
      const groups = ingested.groups.filter((g) => (g.windows?.train ?? 0) > 0).map((g) => g.group);
      const mixed = await child<MixAioliResult>('mixAioli', 'train', {
        training: { ...runSpec, data: { train, eval: val } },
        groups,
        method: 'aioli',
        aioli: input.mixing.aioli,
        valRowsPerGroup: input.mixing.valRowsPerGroup,
      } satisfies MixAioliInput);
      checkpoint = mixed.checkpoint;
      training = {
        workflow: 'mixAioli',
        runKey: mixed.runKey,
        proportions: mixed.proportions,
        history: mixed.history,
        manifest: mixed.manifest,
      };
    } else if (!startedFrom) {
      // The paper's scratch baseline: random init, the same schedule.
      const scratch = await child<TrainModelResult>('trainModel', 'train', {
        ...runSpec,
        data: { train, eval: val, ...(mixture ? { mixture } : {}) },
      } satisfies TrainingSpecInput);
      checkpoint = scratch.checkpoint;
      training = { workflow: 'trainModel', runKey: scratch.runKey, manifest: scratch.manifest };
    } else {
      const continued = await child<ContinualPretrainResult>('continualPretrain', 'train', {
        dataset: input.dataset,
        init: startedFrom,
        model: runSpec.model,
        data: { train, ...(mixture ? { mixture } : {}) },
        upstreamVal,
        downstreamVal: val,
        schedule: input.schedule,
        totalSteps: input.totalSteps,
        chunkSteps: input.chunkSteps,
        batchSize: input.batchSize,
        ...(input.evalMaxRows ? { evalMaxRows: input.evalMaxRows } : {}),
        ...common,
      } satisfies ContinualPretrainInput);
      checkpoint = continued.checkpoint;
      training = {
        workflow: 'continualPretrain',
        runKey: continued.runKey,
        curve: continued.curve,
        metrics: continued.metrics,
        manifest: continued.manifest,
      };
    }

    stage('evaluate');
    const limit = input.evalMaxRows ? { maxRows: input.evalMaxRows } : {};
    const [down, up] = await Promise.all([
      compute.evaluate({ checkpoint, data: val, ...limit }),
      previous ? compute.evaluate({ checkpoint, data: previous.val, ...limit }) : undefined,
    ]);
    const perGroup = (r: { groups: Record<string, { loss: number }> }) =>
      Object.fromEntries(Object.entries(r.groups).map(([g, m]) => [g, m.loss]));
    const evaluation = { downstream: perGroup(down), upstream: up ? perGroup(up) : null };

    stage('report');
    const run = currentRun();
    const summary = {
      lineage,
      generation,
      partition,
      partitions: found?.partitions ?? [partition],
      previousRun: previous?.workflowId ?? null,
      previousPartition: previous?.partition ?? null,
      startedFrom,
      checkpoint,
      selection,
      mixing: input.mixing,
      schedule: input.schedule,
      training,
      evaluation,
    };
    const report = await io.writeCurateReport({ workflowId: run.workflowId, report: { ...run, ...summary } });
    const manifest = await io.commitManifest({
      ...run,
      input,
      outputs: {
        ...summary,
        ingest: { corpus: ingested.corpus, windows: ingested.windows, manifest: ingested.manifest },
        report,
      },
    });
    await io.advanceLineage({
      lineage,
      workflowId: run.workflowId,
      runId: run.runId,
      checkpoint,
      partition,
      val,
      generation,
    });
    stage('done');
    return {
      dataset: input.dataset,
      lineage,
      partition,
      startedFrom,
      previousRun: previous?.workflowId ?? null,
      generation,
      checkpoint,
      evaluation,
      report,
      manifest,
    };
  });
}
