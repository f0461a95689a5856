// continualPretrain: continue a checkpoint on new data with the re-warmed LR schedule of
// specs/continual-pretraining-rewarm.md §3 (warm-up fraction, max LR, min LR, decay end; the horizon
// S may exceed this run), as the shared trainChunk loop (chunk-loop.ts; resumable from LATEST,
// continue-as-new). The init checkpoint and every chunk end are evaluated on the upstream (old) and
// downstream (new) validation windows: the forgetting and adaptation curves of the paper's figures.
import { continueAsNew, setHandler } from '@temporalio/workflow';
import {
  ContinualPretrainCarry,
  ContinualPretrainInput,
  type ContinualPretrainProgress,
  type ContinualPretrainResult,
  type CurvePoint,
} from '../schemas/rewarm.js';
import type { ArtifactRef } from '../schemas/artifact.js';
import { progressQuery } from '../schemas/messages.js';
import { type TrainModelCarry, TrainingSpec } from '../schemas/training.js';
import { resolveRunKey, runTrainingChunks } from './chunk-loop.js';
import {
  computeActivities,
  currentRun,
  enterStage,
  ioActivities,
  parseInput,
  surfaceFailures,
  progressDisplay,
} from './common.js';
import { reportStage } from './report-stage.js';

export type ContinualPretrainWorkflowInput = ContinualPretrainInput & { carry?: ContinualPretrainCarry };

export async function continualPretrain(
  rawInput: ContinualPretrainWorkflowInput,
): Promise<ContinualPretrainResult> {
  const { carry: rawCarry, ...rawSpec } = rawInput ?? ({} as ContinualPretrainWorkflowInput);
  const progress: ContinualPretrainProgress = {
    stage: 'validate',
    runKey: '',
    step: 0,
    total: 0,
    upstream: null,
    downstream: null,
    lastCheckpointUri: null,
  };
  setHandler(progressQuery, () => ({ ...progress }), {
    description: 'Step/total and the latest upstream/downstream validation loss',
  });
  const input = parseInput(ContinualPretrainInput, rawSpec, 'continualPretrain');
  const carry = rawCarry
    ? parseInput(ContinualPretrainCarry, rawCarry, 'continualPretrain.carry')
    : undefined;
  const compute = computeActivities(input.profile);
  const io = ioActivities(input.profile);

  const show = progressDisplay();
  const stage = (s: ContinualPretrainProgress['stage']) => {
    progress.stage = s;
    enterStage('continualPretrain', input.dataset, s);
    const losses =
      progress.upstream === null
        ? ''
        : `, upstream ${progress.upstream.toFixed(4)}, downstream ${progress.downstream!.toFixed(4)}`;
    show(
      `**continualPretrain** \`${progress.runKey}\`: ${s}, step ${progress.step}/${progress.total}${losses}`,
      {
        stage: s,
        done: progress.step,
        total: progress.total,
      },
    );
  };

  return surfaceFailures(async () => {
    const model = input.model ?? (await compute.describeCheckpoint(input.init)).model;
    const spec = parseInput(
      TrainingSpec,
      {
        model,
        data: input.data,
        optimizer: input.optimizer,
        schedule: input.schedule,
        batchSize: input.batchSize,
        totalSteps: input.totalSteps,
        chunkSteps: input.chunkSteps,
        seed: input.seed,
        init: input.init,
        cache: input.cache,
        profile: input.profile,
        ...(input.runKey ? { runKey: input.runKey } : {}),
      },
      'continualPretrain',
    );
    const runKey = resolveRunKey(spec);
    const run = { ...spec, runKey };
    const ctx = model.kind === 'lm' ? (model.config.ctx ?? 0) : 0;
    const tokensAt = (step: number) => step * input.batchSize * ctx;
    const evalEvery = input.evalEvery ?? input.chunkSteps;
    Object.assign(progress, { runKey, total: input.totalSteps });

    const evaluateBoth = async (
      checkpoint: ArtifactRef,
      step: number,
      train: number | null,
    ): Promise<CurvePoint> => {
      const limit = input.evalMaxRows ? { maxRows: input.evalMaxRows } : {};
      const [up, down] = await Promise.all([
        compute.evaluate({ checkpoint, data: input.upstreamVal, ...limit }),
        compute.evaluate({ checkpoint, data: input.downstreamVal, ...limit }),
      ]);
      const point = {
        step,
        tokens: tokensAt(step),
        upstream: up.overall.loss,
        downstream: down.overall.loss,
        train,
      };
      Object.assign(progress, {
        step,
        upstream: point.upstream,
        downstream: point.downstream,
        lastCheckpointUri: checkpoint.uri,
      });
      return point;
    };

    const curve: CurvePoint[] = carry?.curve ?? [];
    const loop: TrainModelCarry = carry?.loop ?? { step: 0, chunks: 0, retriedChunks: 0, lastLoss: null };
    if (curve.length === 0) {
      stage('evaluate-init');
      curve.push(await evaluateBoth(input.init, 0, null));
    }
    stage('train');
    const checkpoint = await runTrainingChunks({
      spec: run,
      compute,
      state: loop,
      // Chunks end at every step during the dense phase, then at multiples of evalEvery.
      nextStop: (step) =>
        step < input.denseEvalUntil ? step + 1 : (Math.floor(step / evalEvery) + 1) * evalEvery,
      handOver: () => continueAsNew<typeof continualPretrain>({ ...input, carry: { loop, curve } }),
      afterChunk: async (chunk) => {
        curve.push(
          await evaluateBoth(
            chunk.checkpoint,
            chunk.step,
            Number.isFinite(chunk.losses.mean) ? chunk.losses.mean : null,
          ),
        );
        stage('train');
      },
    });

    stage('manifest');
    const final = checkpoint ?? input.init;
    const metrics = await io.writeContinualMetrics({
      runKey,
      curve,
      schedule: run.schedule,
      totalSteps: run.totalSteps,
      cache: input.cache,
    });
    // Standalone runs only: under curateCorpus the parent's report holds the curation's plots.
    const report = await reportStage(io, {
      dataset: input.dataset,
      contents: [{ kind: 'continual', metrics }],
      input,
      cache: input.cache,
      onStage: () => stage('report'),
      headline: curve.at(-1)?.downstream ?? null,
    });
    const manifest = await io.commitManifest({
      ...currentRun(),
      input,
      outputs: {
        ...report,
        runKey,
        init: input.init,
        checkpoint: final,
        // The paper does not say; public Pythia checkpoints ship weights only (spec §7, §10).
        optimizerState: 'fresh',
        schedule: run.schedule,
        curve,
        metrics,
      },
    });
    stage('done');
    return { runKey, checkpoint: final, step: loop.step, curve, metrics, manifest, ...report };
  });
}
