// curateCorpus: the recurring data-curation pipeline (DESIGN.md §6). One run:
//   resolve   the partition under the source prefix (the input's `partition`, else the one of the
//             schedule's nominal time with `partitionFromSchedule`, else the newest) with all of its
//             data files, and the checkpoint it continues: the lineage's record of the newest partition
//             older than it (a backfill sees the lineage as it stood before its partition);
//   ingest    that partition, its files as shards (ingestCorpus child: splits + byte windows);
//   select    optionally, GOT-D warm-up selection from it towards a target (selectWarmup child);
//   train     continual pre-training from the lineage checkpoint with the re-warmed schedule under the
//             chosen mixing (static: continualPretrain child, or trainModel from scratch on the same
//             schedule for a lineage's first run without `init`; aioli: mixAioli child, either way);
//   evaluate  per-group loss on this partition's and the previous partition's validation windows;
//   report, manifest (the commit point), then the lineage records this run for its partition and its
//             pointer moves here unless it names a newer partition (it only moves forward in time).
// On a Temporal Schedule (`retort schedule create`), each run thus continues the previous one.
// Each stage is a function below, called in order by `curateCorpus`; the order of their activity and
// child calls is what recorded histories replay: runs from before whole partitions (one file per
// partition, the latest checkpoint) replay through `resolveSingleFile` (`patched` is false there).
import {
  ApplicationFailure,
  ChildWorkflowFailure,
  executeChild,
  patched,
  setCurrentDetails,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { ArtifactRef } from '../schemas/artifact.js';
import { type ContinualPretrainInput, type ContinualPretrainResult, PAPER_ADAMW } from '../schemas/rewarm.js';
import {
  type CurateCorpusConfig,
  CurateCorpusInput,
  type CurateCorpusResult,
  type CurateProgress,
  type LineageRecord,
  MAX_LINEAGE_SIGNATURES,
  partitionAt,
} from '../schemas/curate.js';
import type { IngestCorpusInput, IngestCorpusResult, TextSource } from '../schemas/ingest.js';
import { TemporalScheduledStartTime } from '../schemas/temporal.js';
import type { MixAioliInput, MixAioliResult } from '../schemas/aioli.js';
import { childProgressSignal, progressQuery } from '../schemas/messages.js';
import type { ReportContent } from '../schemas/report.js';
import type { SelectWarmupInput, SelectWarmupResult } from '../schemas/gotd.js';
import type { TrainModelResult, TrainingSpecInput } from '../schemas/training.js';
import {
  childOptions,
  computeActivities,
  currentRun,
  enterStage,
  ioActivities,
  parseInput,
  surfaceFailures,
} from './common.js';
import { meanOf, reportStage } from './report-stage.js';

/** What each child does for the curation (its summary in the Web UI). */
const CHILD_ROLES: Record<string, string> = {
  ingestCorpus: 'ingest the partition',
  selectWarmup: 'warm-up selection',
  mixAioli: 'Aioli-mixed training',
  trainModel: 'training from scratch',
  continualPretrain: 're-warmed continual pre-training',
};

/** One child per stage, id `<parent>/<stage>`; a child's non-retryable failure becomes this run's own. */
const child = async <R>(type: string, stage: string, input: unknown): Promise<R> => {
  try {
    return await executeChild<(input: unknown) => Promise<R>>(type, {
      workflowId: `${workflowInfo().workflowId}/${stage}`,
      ...childOptions(
        `${type} · ${CHILD_ROLES[type] ?? stage}`,
        `**${type}**: the \`${stage}\` stage of a curation run.`,
      ),
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
    description: 'Stage, lineage, the partition this run ingests and its generation, the running child',
  });
  const input = parseInput(CurateCorpusInput, rawInput, 'curateCorpus');
  const lineage = input.lineage ?? input.dataset;
  progress.lineage = lineage;
  const run = curation(input, lineage, progress);

  return surfaceFailures(async () => {
    const resolved = await resolve(run);
    const ingested = await ingest(run, resolved.source, resolved.previous);
    const { train, selected } = await select(run, ingested);
    const trained = await trainOn(run, resolved.previous, ingested, train);
    const evaluation = await evaluate(run, trained.checkpoint, ingested.windows.val, resolved.previous);
    return report(run, resolved, ingested, selected, trained, evaluation);
  });
}

/** What every stage uses: the parsed input, its lineage, the activities, the stage marker. */
interface Curation {
  input: CurateCorpusConfig;
  lineage: string;
  progress: CurateProgress;
  io: ReturnType<typeof ioActivities>;
  compute: ReturnType<typeof computeActivities>;
  stage: (s: CurateProgress['stage']) => void;
  /** Settings every child takes from this run. */
  common: { seed: number; cache: boolean; profile: CurateCorpusConfig['profile'] };
}

/** Current details: the run's line, then its running child's (rolled up by the childProgress signal). */
function showCurationDetails(lineage: string, progress: CurateProgress) {
  const c = progress.childProgress;
  setCurrentDetails(
    `**curateCorpus** \`${lineage}\`: ${progress.stage}${progress.partition ? `, partition \`${progress.partition}\`` : ''}${progress.generation ? `, generation ${progress.generation}` : ''}${c ? `\n\n↳ ${c.details}` : ''}`,
  );
}

function curation(input: CurateCorpusConfig, lineage: string, progress: CurateProgress): Curation {
  setHandler(childProgressSignal, (p) => {
    progress.childProgress = p;
    showCurationDetails(lineage, progress);
  });
  return {
    input,
    lineage,
    progress,
    io: ioActivities(input.profile),
    compute: computeActivities(input.profile),
    stage: (s) => {
      progress.stage = s;
      progress.childProgress = null;
      enterStage('curateCorpus', input.dataset, s);
      showCurationDetails(lineage, progress);
    },
    common: { seed: input.seed, cache: input.cache, profile: input.profile },
  };
}

interface Resolved {
  /** What the ingest child reads: the partition's files as shards, or the input's fixed source. */
  source: TextSource;
  /** The lineage record this run continues (null: `init` or scratch). */
  previous: LineageRecord | null;
  partition: string;
  generation: number;
  /** Partition names under the prefix (the newest few) and how many there are. */
  partitions: string[];
  partitionCount?: number;
  /** How the partition was chosen. */
  partitionFrom?: 'input' | 'schedule' | 'newest';
}

/** Runs on whole partitions; `patched` is false while replaying a run from before them. */
const WHOLE_PARTITIONS = 'curate-whole-partitions';

/** The partition to ingest and the lineage record to continue. */
async function resolve(run: Curation): Promise<Resolved> {
  run.stage('resolve');
  const resolved = patched(WHOLE_PARTITIONS) ? await resolvePartition(run) : await resolveSingleFile(run);
  Object.assign(run.progress, { partition: resolved.partition, generation: resolved.generation });
  return resolved;
}

/** A fixed source's label in reports and the lineage (partition names are reserved for partitions). */
function sourceLabel(src: TextSource): string {
  if ('builtin' in src) return `builtin:${src.builtin.join('+')}`;
  if ('uri' in src) return src.uri;
  return `${src.shards[0]}${src.shards.length > 1 ? ` (+${src.shards.length - 1} shards)` : ''}`;
}

/**
 * The partition the input names, else (`partitionFromSchedule`) the one holding the schedule's
 * nominal time, else the newest; all of its data files; and the lineage's record of the newest
 * partition older than it. A fixed source continues the lineage's latest run.
 */
async function resolvePartition({ input, lineage, io }: Curation): Promise<Resolved> {
  const src = input.source;
  if (!('partitions' in src)) {
    const previous = await io.readLineage({ lineage });
    const partition = sourceLabel(src);
    return {
      source: src,
      previous,
      partition,
      generation: (previous?.generation ?? 0) + 1,
      partitions: [partition],
    };
  }
  let wanted = input.partition;
  let partitionFrom: Resolved['partitionFrom'] = wanted ? 'input' : 'newest';
  if (!wanted && input.partitionFromSchedule) {
    const nominal = scheduledStartTime();
    if (nominal) {
      wanted = partitionAt(nominal, input.partitionFromSchedule.unit, input.partitionFromSchedule.lag);
      partitionFrom = 'schedule';
    }
  }
  const found = await io.resolvePartition({
    prefix: src.partitions,
    ...(wanted ? { partition: wanted } : {}),
  });
  const previous = await io.readLineage({ lineage, before: found.partition });
  return {
    source: { shards: found.uris },
    previous,
    partition: found.partition,
    generation: (previous?.generation ?? 0) + 1,
    partitions: found.partitions,
    partitionCount: found.partitionCount,
    partitionFrom,
  };
}

/**
 * The nominal time of a run a Schedule started (a backfill's too): the `TemporalScheduledStartTime`
 * search attribute, fixed in the start event, so replay reads the same value. Undefined when the run
 * was started directly.
 */
function scheduledStartTime(): Date | undefined {
  return workflowInfo().typedSearchAttributes.get(TemporalScheduledStartTime);
}

/** Before whole partitions: the newest partition's single file, and the lineage's latest run. */
async function resolveSingleFile({ input, lineage, io }: Curation): Promise<Resolved> {
  const [found, previous] = await Promise.all([
    'partitions' in input.source ? io.newestPartition({ prefix: input.source.partitions }) : undefined,
    io.readLineage({ lineage }),
  ]);
  const src = input.source;
  const partition = found?.partition ?? ('partitions' in src ? src.partitions : sourceLabel(src));
  const source = found ? { uri: found.uri } : 'partitions' in src ? { uri: src.partitions } : src;
  const generation = (previous?.generation ?? 0) + 1;
  return { source, previous, partition, generation, partitions: found?.partitions ?? [partition] };
}

/**
 * The partition (or the builtin/URI source) through an ingestCorpus child: optional quality filters
 * and near-duplicate removal, splits + byte windows. With `dedup.crossPartition`, the signature
 * tables of the partitions this run continues count as already kept.
 */
async function ingest(
  { input, stage, common }: Curation,
  source: TextSource,
  previous: LineageRecord | null,
): Promise<IngestCorpusResult> {
  stage('ingest');
  const { dedup, ...settings } = input.ingest;
  const earlier = dedup?.crossPartition ? (previous?.signatures ?? []) : [];
  return child<IngestCorpusResult>('ingestCorpus', 'ingest', {
    dataset: input.dataset,
    source,
    ...settings,
    ...(dedup ? { dedup: { ...dedup, previous: [...dedup.previous, ...earlier] } } : {}),
    ...common,
  } satisfies IngestCorpusInput);
}

/** This run's signature table after those of the runs it continued: what the next partition checks. */
function lineageSignatures(
  previous: LineageRecord | null,
  ingested: IngestCorpusResult,
): { signatures?: ArtifactRef[] } {
  const own = ingested.curation?.signatures;
  const chain = [...(previous?.signatures ?? []), ...(own ? [own] : [])].slice(-MAX_LINEAGE_SIGNATURES);
  return chain.length ? { signatures: chain } : {};
}

/** Optional GOT-D selection (selectWarmup child); training then uses the selected rows' windows. */
async function select(
  { input, io, stage, common }: Curation,
  ingested: IngestCorpusResult,
): Promise<{ train: ArtifactRef; selected: SelectWarmupResult | null }> {
  if (!input.selection) return { train: ingested.windows.train, selected: null };
  stage('select');
  const selected = await child<SelectWarmupResult>('selectWarmup', 'select', {
    dataset: input.dataset,
    pool: ingested.corpus.train,
    target: input.selection.target,
    ...(input.selection.budget ? { budget: input.selection.budget } : {}),
    ...common,
  } satisfies SelectWarmupInput);
  // The selected rows (id, group, text) are a text corpus: train on their byte windows.
  const corpus = await io.ingestTextCorpus({
    source: { uri: selected.selection.uri, format: 'parquet' },
    maxBytesPerGroup: Number.MAX_SAFE_INTEGER,
    passageBytes: input.ingest.passageBytes,
    split: { val: 0, test: 0 },
    seed: input.seed,
    cache: input.cache,
  });
  const train = (
    await io.tokenizeCorpus({ corpus: corpus.corpus, ctx: input.ingest.ctx, cache: input.cache })
  ).windows.train;
  return { train, selected };
}

interface Trained {
  startedFrom: ArtifactRef | null;
  checkpoint: ArtifactRef;
  training: Record<string, unknown>;
}

/**
 * Continual pre-training from the lineage checkpoint (or `init`) with the re-warmed schedule under
 * the chosen mixing: a mixAioli child for Aioli, a continualPretrain child for a static mixture, or
 * trainModel from scratch on the same schedule for a lineage's first run without `init`.
 */
async function trainOn(
  { input, compute, stage, common }: Curation,
  previous: LineageRecord | null,
  ingested: IngestCorpusResult,
  train: ArtifactRef,
): Promise<Trained> {
  stage('train');
  const val = ingested.windows.val;
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
    return {
      startedFrom,
      checkpoint: mixed.checkpoint,
      training: {
        workflow: 'mixAioli',
        runKey: mixed.runKey,
        proportions: mixed.proportions,
        history: mixed.history,
        manifest: mixed.manifest,
      },
    };
  }
  if (!startedFrom) {
    // The paper's scratch baseline: random init, the same schedule.
    const scratch = await child<TrainModelResult>('trainModel', 'train', {
      ...runSpec,
      data: { train, eval: val, ...(mixture ? { mixture } : {}) },
    } satisfies TrainingSpecInput);
    return {
      startedFrom,
      checkpoint: scratch.checkpoint,
      training: { workflow: 'trainModel', runKey: scratch.runKey, manifest: scratch.manifest },
    };
  }
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
  return {
    startedFrom,
    checkpoint: continued.checkpoint,
    training: {
      workflow: 'continualPretrain',
      runKey: continued.runKey,
      curve: continued.curve,
      metrics: continued.metrics,
      manifest: continued.manifest,
    },
  };
}

type Evaluation = CurateCorpusResult['evaluation'];

/** Per-group loss on this partition's and the previous partition's validation windows. */
async function evaluate(
  { input, compute, stage }: Curation,
  checkpoint: ArtifactRef,
  val: ArtifactRef,
  previous: LineageRecord | null,
): Promise<Evaluation> {
  stage('evaluate');
  const limit = input.evalMaxRows ? { maxRows: input.evalMaxRows } : {};
  const [down, up] = await Promise.all([
    compute.evaluate({ checkpoint, data: val, ...limit }),
    previous ? compute.evaluate({ checkpoint, data: previous.val, ...limit }) : undefined,
  ]);
  const perGroup = (r: { groups: Record<string, { loss: number }> }) =>
    Object.fromEntries(Object.entries(r.groups).map(([g, m]) => [g, m.loss]));
  return { downstream: perGroup(down), upstream: up ? perGroup(up) : null };
}

/** The report, the manifest (the commit point), then the lineage pointer moves to this run. */
async function report(
  { input, lineage, io, stage }: Curation,
  { previous, partition, generation, partitions, partitionCount, partitionFrom, source }: Resolved,
  ingested: IngestCorpusResult,
  selected: SelectWarmupResult | null,
  { startedFrom, checkpoint, training }: Trained,
  evaluation: Evaluation,
): Promise<CurateCorpusResult> {
  stage('report');
  const run = currentRun();
  const selection = selected?.selection ?? null;
  const summary = {
    lineage,
    generation,
    partition,
    partitions,
    ...(partitionCount !== undefined ? { partitionCount } : {}),
    ...(partitionFrom ? { partitionFrom } : {}),
    ...('shards' in source ? { partitionFiles: source.shards.length } : {}),
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
  const reportRef = await io.writeCurateReport({
    workflowId: run.workflowId,
    report: { ...run, ...summary },
  });
  const html = await reportStage(io, {
    dataset: input.dataset,
    contents: reportContents(ingested, selected, training, evaluation, partition, previous),
    input,
    cache: input.cache,
    headline: meanOf(Object.values(evaluation.downstream)),
  });
  const manifest = await io.commitManifest({
    ...run,
    input,
    outputs: {
      ...summary,
      ingest: {
        corpus: ingested.corpus,
        windows: ingested.windows,
        manifest: ingested.manifest,
        ...(ingested.curation ? { curation: ingested.curation } : {}),
      },
      report: reportRef,
      ...html,
    },
  });
  const moved = await io.advanceLineage({
    lineage,
    workflowId: run.workflowId,
    runId: run.runId,
    checkpoint,
    partition,
    val: ingested.windows.val,
    generation,
    ...lineageSignatures(previous, ingested),
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
    report: reportRef,
    manifest,
    // Runs from before ordered advances got nothing back: their pointer always moved.
    lineageAdvanced: moved?.advanced ?? true,
    ...html,
  };
}

/** What the run's report.html plots: ingest, the selection, the mixing history, the evaluation. */
function reportContents(
  ingested: IngestCorpusResult,
  selected: SelectWarmupResult | null,
  training: Record<string, unknown>,
  evaluation: Evaluation,
  partition: string,
  previous: LineageRecord | null,
): ReportContent[] {
  const contents: ReportContent[] = [
    ...(ingested.curation
      ? [{ kind: 'curation', summary: ingested.curation.summary } satisfies ReportContent]
      : []),
    { kind: 'ingest', groups: ingested.groups },
  ];
  if (selected)
    contents.push({
      kind: 'selectWarmup',
      selection: selected.selection,
      composition: selected.composition,
      otCost: selected.otCost,
      budget: selected.budget,
      poolRows: selected.poolRows,
      targetRows: selected.targetRows,
    });
  if (training.workflow === 'mixAioli')
    contents.push({ kind: 'mixing', history: training.history as ArtifactRef });
  contents.push({
    kind: 'curateEvaluation',
    partition,
    previousPartition: previous?.partition ?? null,
    ...evaluation,
  });
  return contents;
}
