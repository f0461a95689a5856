// The training chunk loop shared by trainModel and continualPretrain: `trainChunk` activities from
// the carried step to `until`, each ending in a committed checkpoint (DESIGN.md §6). A caller may
// cut chunks at extra steps (evaluation points) and runs its own code after every chunk; when the
// history grows the caller's `handOver` continues as new with the state.
import { allHandlersFinished, condition, uuid4, workflowInfo } from '@temporalio/workflow';
import type { ArtifactRef } from '../schemas/artifact.js';
import {
  type TrainChunkResult,
  type TrainModelCarry,
  type TrainingSpecConfig,
  defaultRunKey,
} from '../schemas/training.js';
import type { computeActivities } from './common.js';

export interface ChunkLoopOptions {
  spec: TrainingSpecConfig & { runKey: string };
  compute: ReturnType<typeof computeActivities>;
  /** Where the loop stands (mutated: step, checkpoint, chunks, retriedChunks, lastLoss). */
  state: TrainModelCarry;
  /** Stop at this global step (default spec.totalSteps). */
  until?: number;
  /** Also end a chunk at the first of these steps after the current one (e.g. evaluation points). */
  nextStop?: (step: number) => number | undefined;
  /** Runs after every chunk, with the loop state already advanced. */
  afterChunk?: (chunk: TrainChunkResult) => Promise<void> | void;
  /** Called when Temporal suggests continue-as-new, between chunks; it does not return. */
  handOver: () => Promise<never>;
}

/** Trains until `until`; returns the last checkpoint (undefined only if no step was trained). */
export async function runTrainingChunks(options: ChunkLoopOptions): Promise<ArtifactRef | undefined> {
  const { spec, compute, state } = options;
  const until = options.until ?? spec.totalSteps;
  while (state.step < until) {
    if (workflowInfo().continueAsNewSuggested) {
      await condition(allHandlersFinished);
      await options.handOver();
    }
    const stop = Math.min(
      until,
      state.step + spec.chunkSteps,
      options.nextStop?.(state.step) ?? Number.POSITIVE_INFINITY,
    );
    const chunk = await compute.trainChunk({
      spec,
      fromStep: state.step,
      steps: stop - state.step,
      ...(state.checkpoint ? { from: state.checkpoint } : {}),
    });
    state.step = chunk.step;
    state.checkpoint = chunk.checkpoint;
    state.chunks += 1;
    if (chunk.resumedFrom !== null || chunk.attempt > 1) state.retriedChunks += 1;
    if (Number.isFinite(chunk.losses.last)) state.lastLoss = chunk.losses.last;
    await options.afterChunk?.(chunk);
  }
  return state.checkpoint;
}

/** Same spec → same run key → the same checkpoints (a repeat returns them); cache off → a fresh key. */
export function resolveRunKey(spec: TrainingSpecConfig): string {
  return spec.runKey ?? (spec.cache ? defaultRunKey(spec) : `${defaultRunKey(spec)}-${uuid4().slice(0, 8)}`);
}
