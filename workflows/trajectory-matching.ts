// Trajectory matching (MTT/DATM, specs/distill-trajectory-matching.md) as two child workflows of
// distillDataset:
//
//   trainExperts: E expert trajectories (specs/distill-trajectory-matching.md §4) as E PARALLEL
//   `trainExpert` activities on the compute queue — more compute workers finish them sooner. Each
//   activity checkpoints θ after every epoch (a killed worker costs at most one epoch) and ends in one
//   `trajectories` table; expert k's seed derives from (seed, k), so the run is deterministic per seed.
//
//   distillTrajectory: MTT / DATM outer iterations (specs/distill-trajectory-matching.md §5, §6) as a
//   loop of `distillChunk` activities on the compute queue. Each chunk ends in a committed checkpoint
//   (synthetic images, soft labels, α, optimiser velocities, iteration, log) and LATEST, so a killed
//   worker costs at most `checkpointEvery` iterations and the result does not depend on where a chunk
//   or a crash fell. `progress` answers iteration, matching loss and the current start-epoch sampling
//   range; the loop continues as new when the history grows; the end exports the distilled set.
import {
  ApplicationFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  setHandler,
  uuid4,
  workflowInfo,
} from '@temporalio/workflow';
import type { ArtifactRef } from '../schemas/artifact.js';
import { progressQuery } from '../schemas/messages.js';
import { fnv1a64, stableJson } from '../schemas/training.js';
import {
  DistillCarry,
  type DistillProgress,
  DistillTrajectoryInput,
  type DistillTrajectoryResult,
  TrainExpertsInput,
  type TrainExpertsProgress,
  type TrainExpertsResult,
} from '../schemas/trajectory-matching.js';
import {
  computeActivities,
  currentRun,
  enterStage,
  ioActivities,
  parseInput,
  surfaceFailures,
  progressDisplay,
} from './common.js';

export async function trainExperts(rawInput: TrainExpertsInput): Promise<TrainExpertsResult> {
  const progress: TrainExpertsProgress = { stage: 'validate', done: 0, total: 0 };
  setHandler(progressQuery, () => ({ ...progress }), { description: 'Experts finished of total' });
  const input = parseInput(TrainExpertsInput, rawInput, 'trainExperts');
  const key = fnv1a64(
    stableJson({ train: input.train.sha256, net: input.net, experts: input.experts, seed: input.seed }),
  );
  // Same inputs → same checkpoints (a repeat reuses them); cache off → a fresh namespace.
  const runKey = input.runKey ?? (input.cache ? `experts-${key}` : `experts-${key}-${uuid4().slice(0, 8)}`);
  const compute = computeActivities(input.profile);
  const io = ioActivities(input.profile);
  progress.total = input.experts.count;
  const show = progressDisplay();
  const stage = (s: TrainExpertsProgress['stage']) => {
    progress.stage = s;
    enterStage('trainExperts', runKey, s);
    show(`**trainExperts** \`${runKey}\`: ${s}, ${progress.done}/${progress.total} experts`, {
      stage: s,
      done: progress.done,
      total: progress.total,
    });
  };

  return surfaceFailures(async () => {
    stage('train');
    const experts = await Promise.all(
      Array.from({ length: input.experts.count }, (_x, k) =>
        compute
          .trainExpert({
            train: input.train,
            ...(input.test ? { test: input.test } : {}),
            net: input.net,
            experts: input.experts,
            expert: k,
            seed: input.seed,
            runKey,
            cache: input.cache,
          })
          .then((r) => {
            progress.done += 1;
            stage('train');
            return r;
          }),
      ),
    );
    stage('manifest');
    const trajectories = experts.map((e) => e.trajectory);
    const manifest = await io.commitManifest({ ...currentRun(), input, outputs: { trajectories } });
    stage('done');
    return { runKey, trajectories, experts, manifest };
  });
}

export async function distillTrajectory(rawInput: DistillTrajectoryInput): Promise<DistillTrajectoryResult> {
  const progress: DistillProgress = {
    stage: 'validate',
    runKey: '',
    iteration: 0,
    total: 0,
    chunks: 0,
    lastLoss: null,
    samplingRange: null,
    synLr: null,
    lastCheckpointUri: null,
  };
  setHandler(progressQuery, () => ({ ...progress }), {
    description: 'Outer iteration/total, matching loss, start-epoch sampling range, learned α',
  });
  const { carry: rawCarry, ...rest } = rawInput ?? ({} as DistillTrajectoryInput);
  const input = parseInput(DistillTrajectoryInput, rest, 'distillTrajectory');
  const carry: DistillCarry = rawCarry
    ? parseInput(DistillCarry, rawCarry, 'distillTrajectory.carry')
    : { iteration: 0, chunks: 0, retriedChunks: 0, lastLoss: null, upperBound: null, synLr: null };
  const key = fnv1a64(
    stableJson({
      config: input.config,
      trajectories: input.trajectories.map((t) => t.sha256),
      train: input.train.sha256,
    }),
  );
  const runKey = input.runKey ?? (input.cache ? `distill-${key}` : `distill-${key}-${uuid4().slice(0, 8)}`);
  const spec = { ...input, runKey };
  const compute = computeActivities(input.profile);
  const io = ioActivities(input.profile);
  const minStart = typeof input.config.minStartEpoch === 'number' ? input.config.minStartEpoch : 0;

  const state = { ...carry };
  let checkpoint: ArtifactRef | undefined = carry.checkpoint;
  Object.assign(progress, {
    runKey,
    iteration: state.iteration,
    total: input.iterations,
    chunks: state.chunks,
    lastLoss: state.lastLoss,
    synLr: state.synLr,
    samplingRange: state.upperBound === null ? null : { min: minStart, upperBound: state.upperBound },
    lastCheckpointUri: checkpoint?.uri ?? null,
  });
  const show = progressDisplay();
  const stage = (s: DistillProgress['stage']) => {
    progress.stage = s;
    enterStage('distillTrajectory', runKey, s);
    const loss = progress.lastLoss === null ? '' : `, loss ${progress.lastLoss.toFixed(4)}`;
    const range = progress.samplingRange
      ? `, start epochs [${progress.samplingRange.min}, ${progress.samplingRange.upperBound})`
      : '';
    show(
      `**distillTrajectory** \`${runKey}\`: ${s}, iteration ${progress.iteration}/${progress.total}${loss}${range}`,
      { stage: s, done: progress.iteration, total: progress.total },
    );
  };

  return surfaceFailures(async () => {
    stage('distill');
    while (state.iteration < input.iterations) {
      if (workflowInfo().continueAsNewSuggested) {
        await condition(allHandlersFinished);
        const next: DistillCarry = { ...state, ...(checkpoint ? { checkpoint } : {}) };
        await continueAsNew<typeof distillTrajectory>({ ...spec, carry: next });
      }
      const chunk = await compute.distillChunk({
        config: input.config,
        trajectories: input.trajectories,
        train: input.train,
        fromIteration: state.iteration,
        iterations: Math.min(input.chunkIterations, input.iterations - state.iteration),
        ...(checkpoint ? { from: checkpoint } : {}),
        runKey,
        checkpointEvery: input.checkpointEvery,
      });
      checkpoint = chunk.checkpoint;
      state.iteration = chunk.iteration;
      state.chunks += 1;
      if (chunk.resumedFrom !== null || chunk.attempt > 1) state.retriedChunks += 1;
      const last = chunk.log[chunk.log.length - 1];
      if (last) {
        state.lastLoss = last.loss;
        state.upperBound = last.upperBound;
      }
      state.synLr = chunk.synLr;
      Object.assign(progress, {
        iteration: state.iteration,
        chunks: state.chunks,
        lastLoss: state.lastLoss,
        synLr: state.synLr,
        samplingRange: state.upperBound === null ? null : { min: minStart, upperBound: state.upperBound },
        lastCheckpointUri: checkpoint.uri,
      });
      stage('distill');
    }
    if (!checkpoint)
      throw ApplicationFailure.nonRetryable(
        `distillTrajectory ${runKey}: no checkpoint after ${state.iteration} iterations`,
        'InvalidPipelineInput',
      );
    stage('export');
    const exported = await compute.exportDistilled({
      config: input.config,
      checkpoint,
      train: input.train,
      trajectories: input.trajectories,
      cache: input.cache,
    });
    stage('manifest');
    const manifest = await io.commitManifest({
      ...currentRun(),
      input: spec,
      outputs: { distilled: exported.distilled, log: exported.log, checkpoint },
    });
    stage('done');
    return {
      ...exported,
      checkpoint,
      runKey,
      chunks: state.chunks,
      retriedChunks: state.retriedChunks,
      manifest,
    };
  });
}
