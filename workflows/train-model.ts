// trainModel: a training run as a loop of `trainChunk` activities on the compute queue (DESIGN.md §6).
// Each chunk ends in a committed checkpoint and a LATEST pointer, so a killed worker costs at most
// the steps since the last checkpoint; the loop hands over to a fresh run (continueAsNew) when the
// history grows; then `evaluate` and the run manifest. Only refs cross Temporal.
import { ApplicationFailure, continueAsNew, setHandler } from '@temporalio/workflow';
import { progressQuery } from '../schemas/messages.js';
import {
  type TrainModelCarry as Carry,
  TrainModelCarry,
  type TrainModelInput,
  type TrainModelResult,
  type TrainProgress,
  TrainingSpec,
} from '../schemas/training.js';
import {
  computeActivities,
  currentRun,
  enterStage,
  ioActivities,
  parseInput,
  surfaceFailures,
  progressDisplay,
} from './common.js';
import { resolveRunKey, runTrainingChunks } from './chunk-loop.js';

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
  const runKey = resolveRunKey(parsed);
  const spec = { ...parsed, runKey };
  const compute = computeActivities(spec.profile);
  const io = ioActivities(spec.profile);

  const state: Carry = { ...carry };
  Object.assign(progress, {
    runKey,
    step: state.step,
    total: spec.totalSteps,
    chunks: carry.chunks,
    lastLoss: carry.lastLoss,
    lastCheckpointUri: state.checkpoint?.uri ?? null,
  });
  const startedAt = Date.now();
  const startStep = state.step;

  const show = progressDisplay();
  const stage = (s: TrainProgress['stage']) => {
    progress.stage = s;
    enterStage('trainModel', runKey, s);
    const loss = progress.lastLoss === null ? '' : `, loss ${progress.lastLoss.toFixed(4)}`;
    show(`**trainModel** \`${runKey}\`: ${s}, step ${progress.step}/${progress.total}${loss}`, {
      stage: s,
      done: progress.step,
      total: progress.total,
    });
  };

  return surfaceFailures(async () => {
    stage('train');
    const checkpoint = await runTrainingChunks({
      spec,
      compute,
      state,
      handOver: () => continueAsNew<typeof trainModel>({ ...spec, carry: state }),
      afterChunk: () => {
        const elapsed = (Date.now() - startedAt) / 1000;
        Object.assign(progress, {
          step: state.step,
          chunks: state.chunks,
          lastLoss: state.lastLoss,
          lastCheckpointUri: state.checkpoint?.uri ?? null,
          etaSeconds:
            state.step > startStep
              ? Math.round((elapsed / (state.step - startStep)) * (spec.totalSteps - state.step))
              : null,
        });
        stage('train');
      },
    });
    const step = state.step;
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
