// trainModel: a training run as a loop of `trainChunk` activities on the compute queue (DESIGN.md §6).
// Each chunk ends in a committed checkpoint and a LATEST pointer, so a killed worker costs at most
// the steps since the last checkpoint; the loop hands over to a fresh run (continueAsNew) when the
// history grows; then `evaluate` and the run manifest. Only refs cross Temporal.
import {
  ApplicationFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  setCurrentDetails,
  setHandler,
  uuid4,
  workflowInfo,
} from '@temporalio/workflow';
import type { ArtifactRef } from '../schemas/artifact.js';
import { progressQuery } from '../schemas/messages.js';
import {
  type TrainModelCarry as Carry,
  TrainModelCarry,
  type TrainModelInput,
  type TrainModelResult,
  type TrainProgress,
  TrainingSpec,
  defaultRunKey,
} from '../schemas/training.js';
import {
  computeActivities,
  currentRun,
  enterStage,
  ioActivities,
  parseInput,
  surfaceFailures,
} from './common.js';

export async function trainModel(rawInput: TrainModelInput): Promise<TrainModelResult> {
  const { carry: rawCarry, ...rawSpec } = rawInput ?? ({} as TrainModelInput);
  const progress: TrainProgress = {
    stage: 'validate',
    runKey: '',
    step: 0,
    total: 0,
    chunks: 0,
    lastLoss: null,
    lastCheckpointUri: null,
    etaSeconds: null,
  };
  setHandler(progressQuery, () => ({ ...progress }), {
    description: 'Training step/total, latest loss, checkpoint and ETA',
  });

  const parsed = parseInput(TrainingSpec, rawSpec, 'trainModel');
  const carry: Carry = rawCarry
    ? parseInput(TrainModelCarry, rawCarry, 'trainModel.carry')
    : { step: 0, chunks: 0, retriedChunks: 0, lastLoss: null };
  // Same spec → same run key → the same checkpoints (a repeat returns them); cache off → a fresh key.
  const runKey =
    parsed.runKey ??
    (parsed.cache ? defaultRunKey(parsed) : `${defaultRunKey(parsed)}-${uuid4().slice(0, 8)}`);
  const spec = { ...parsed, runKey };
  const compute = computeActivities(spec.profile);
  const io = ioActivities(spec.profile);

  let step = carry.step;
  let checkpoint: ArtifactRef | undefined = carry.checkpoint;
  Object.assign(progress, {
    runKey,
    step,
    total: spec.totalSteps,
    chunks: carry.chunks,
    lastLoss: carry.lastLoss,
    lastCheckpointUri: checkpoint?.uri ?? null,
  });
  const state = { chunks: carry.chunks, retriedChunks: carry.retriedChunks };
  const startedAt = Date.now();
  const startStep = step;

  const stage = (s: TrainProgress['stage']) => {
    progress.stage = s;
    enterStage('trainModel', runKey, s);
    const loss = progress.lastLoss === null ? '' : `, loss ${progress.lastLoss.toFixed(4)}`;
    setCurrentDetails(`**trainModel** \`${runKey}\`: ${s}, step ${progress.step}/${progress.total}${loss}`);
  };

  return surfaceFailures(async () => {
    stage('train');
    while (step < spec.totalSteps) {
      if (workflowInfo().continueAsNewSuggested) {
        await condition(allHandlersFinished);
        const next: Carry = {
          step,
          chunks: state.chunks,
          retriedChunks: state.retriedChunks,
          lastLoss: progress.lastLoss,
          ...(checkpoint ? { checkpoint } : {}),
        };
        await continueAsNew<typeof trainModel>({ ...spec, carry: next });
      }
      const steps = Math.min(spec.chunkSteps, spec.totalSteps - step);
      const chunk = await compute.trainChunk({
        spec,
        fromStep: step,
        steps,
        ...(checkpoint ? { from: checkpoint } : {}),
      });
      step = chunk.step;
      checkpoint = chunk.checkpoint;
      state.chunks += 1;
      if (chunk.resumedFrom !== null || chunk.attempt > 1) state.retriedChunks += 1;
      const elapsed = (Date.now() - startedAt) / 1000;
      Object.assign(progress, {
        step,
        chunks: state.chunks,
        lastLoss: Number.isFinite(chunk.losses.last) ? chunk.losses.last : progress.lastLoss,
        lastCheckpointUri: checkpoint.uri,
        etaSeconds:
          step > startStep ? Math.round((elapsed / (step - startStep)) * (spec.totalSteps - step)) : null,
      });
      stage('train');
    }
    if (!checkpoint)
      throw ApplicationFailure.nonRetryable(
        `trainModel ${runKey}: no checkpoint after ${step} steps`,
        'InvalidPipelineInput',
      );

    stage('evaluate');
    const evaluation = await compute.evaluate({
      checkpoint,
      data: spec.data.eval ?? spec.data.train,
      ...(spec.evalMaxRows ? { maxRows: spec.evalMaxRows } : {}),
    });
    stage('manifest');
    const manifest = await io.commitManifest({
      ...currentRun(),
      input: spec,
      outputs: { checkpoint, eval: evaluation },
    });
    progress.etaSeconds = 0;
    stage('done');
    return {
      runKey,
      checkpoint,
      step,
      eval: evaluation,
      manifest,
      chunks: state.chunks,
      retriedChunks: state.retriedChunks,
    };
  });
}
