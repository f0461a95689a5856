// CV-DD §5.2: iterations [from, from + n) of one IPC slot's recovery. The slot state (images, Adam
// moments, iteration) is checkpointed at the chunk's end and on cancellation; retries resume from
// LATEST; results depend only on the global iteration, so the chunking never changes the images.
import * as tf from '@tensorflow/tfjs-core';
import { slotInitImages, slotSeed } from '../../ml/methods/cvdd/index.js';
import {
  type RecoveryState,
  disposeRecoveryState,
  initRecoveryState,
  recoverSyntheticImages,
  recoveryOptimizer,
  recoverySlotPlan,
} from '../../ml/methods/cvdd/index.js';
import { deserializeOptimizerState } from '../../ml/train/optimizers.js';
import type { ArtifactRef } from '../../schemas/artifact.js';
import type { RecoverSlotChunkInput, RecoverSlotChunkResult } from '../../schemas/cvdd.js';
import { configError, incompatible, ipcExceedsClassSize, lossDiverged } from '../failures.js';
import { findChunkStart, saveCheckpoint } from '../resumable-chunk.js';
import { activityContext, pacer } from '../heartbeat.js';
import { type CvddDeps } from './deps.js';
import { asImageSet, resolveCvddConfig } from './config.js';
import { type SlotMeta, decodeCheckpoint, encodeCheckpoint, slotRunKey } from './checkpoint.js';

/** Recovery iterations [fromIteration, fromIteration + iterations) of one slot (§5.2). */
export async function recoverSlotChunk(
  deps: CvddDeps,
  input: RecoverSlotChunkInput,
): Promise<RecoverSlotChunkResult> {
  const { checkpoints, readImages, leaseCommittee } = deps;
  const ctx = activityContext();
  const config = resolveCvddConfig(input.run);
  const target = Math.min(input.fromIteration + input.iterations, config.iterations);
  if (!(target > input.fromIteration))
    throw configError(
      `recoverSlotChunk: fromIteration ${input.fromIteration} is not before settings.iterations ${config.iterations}`,
    );
  const table = await readImages(input.train, input.run.classes);
  const lease = await leaseCommittee(input.committee, table, input.run.classes);
  try {
    const committee = lease.members;
    const runKey = slotRunKey(input.runKey, input.slot);
    const identity = JSON.stringify({
      committee: input.committee.map((m) => m.checkpoint.sha256),
      data: input.train.sha256,
      config,
      seed: input.seed,
      slot: input.slot,
    });
    const plan = recoverySlotPlan(input.slot, committee, config, input.seed);
    const names = plan.voters.map((i) => committee[i]!.id);
    const optimizer = recoveryOptimizer(config);

    const loadState = async (ref: ArtifactRef): Promise<{ state: RecoveryState; meta: SlotMeta }> => {
      const { tensors, meta } = decodeCheckpoint<SlotMeta>(await checkpoints.load(ref), ref.uri, 'slot');
      if (meta.identity !== identity) {
        tf.dispose(Object.values(tensors));
        throw incompatible(`checkpoint ${ref.uri} belongs to another recovery run; choose another runKey`);
      }
      const images = tensors.images as tf.Tensor4D;
      const adam = deserializeOptimizerState(optimizer, images, {
        step: meta.adamStep,
        tensors: { m: tensors['optimizer/m']!, v: tensors['optimizer/v']! },
      });
      return {
        state: {
          images,
          labels: meta.labels,
          voters: meta.voters,
          weights: meta.weights,
          seed: meta.seed,
          iteration: meta.iteration,
          adam,
        },
        meta,
      };
    };
    const chunkResult = (
      checkpoint: ArtifactRef,
      last: SlotMeta['last'],
      resumedFrom: number | null,
      reused: boolean,
    ): RecoverSlotChunkResult => ({
      slot: input.slot,
      checkpoint,
      iteration: target,
      total: config.iterations,
      voters: names,
      weights: plan.weights,
      loss: last?.loss ?? NaN,
      ce: last?.ce ?? [],
      bn: last?.bn ?? [],
      resumedFrom,
      reused,
    });

    const start = await findChunkStart({
      checkpoints,
      runKey,
      from: input.fromIteration,
      target,
      load: loadState,
    });
    if (start.kind === 'done') {
      disposeRecoveryState(start.value.state);
      return chunkResult(start.ref, start.value.meta.last, null, true);
    }
    let state: RecoveryState | undefined;
    let last: SlotMeta['last'] = null;
    let resumedFrom: number | null = null;
    const loaded =
      start.kind === 'resume' ? start.value : input.from ? await loadState(input.from) : undefined;
    if (loaded) {
      state = loaded.state;
      last = loaded.meta.last;
      if (start.kind === 'resume') resumedFrom = state.iteration;
    } else if (input.fromIteration > 0) {
      throw configError(
        `recoverSlotChunk: no checkpoint of slot ${input.slot} at iteration ${input.fromIteration} and no "from" ref`,
      );
    } else {
      let init: { images: tf.Tensor4D; labels: number[] };
      try {
        init = slotInitImages(
          asImageSet(table),
          input.run.classes,
          config,
          input.slot,
          input.seed,
          committee,
        );
      } catch (err) {
        if (err instanceof RangeError)
          throw ipcExceedsClassSize(`field "ipc" = ${config.ipc} with ${input.train.uri}: ${err.message}`);
        throw err;
      }
      state = initRecoveryState(
        { ...init, voters: plan.voters, weights: plan.weights, seed: slotSeed(input.seed, input.slot) },
        config,
      );
      init.images.dispose();
    }
    const beat = pacer(ctx);
    const save = async (s: RecoveryState): Promise<ArtifactRef> => {
      const meta: SlotMeta = {
        kind: 'slot',
        slot: input.slot,
        iteration: s.iteration,
        adamStep: s.adam.step,
        labels: s.labels,
        voters: s.voters,
        weights: s.weights,
        seed: s.seed,
        last,
        identity,
      };
      return saveCheckpoint(
        checkpoints,
        runKey,
        s.iteration,
        await encodeCheckpoint(
          { images: s.images, 'optimizer/m': s.adam.slots.m!, 'optimizer/v': s.adam.slots.v! },
          meta,
        ),
      );
    };
    try {
      while (state.iteration < target) {
        if (ctx?.cancellationSignal.aborted) {
          if (state.iteration > input.fromIteration) await save(state);
          throw ctx.cancellationSignal.reason;
        }
        let next: RecoveryState;
        try {
          next = recoverSyntheticImages(
            state,
            committee,
            config,
            1,
            (step) => (last = { loss: step.loss, ce: step.ce, bn: step.bn }),
          ).state;
        } catch (err) {
          if (err instanceof Error && err.message.startsWith('recovery diverged'))
            throw lossDiverged(`slot ${input.slot}: ${err.message}`);
          throw err;
        }
        disposeRecoveryState(state);
        state = next;
        const every = input.checkpointEvery;
        const mid = every !== undefined && state.iteration % every === 0 && state.iteration < target;
        if (mid) await save(state);
        await beat(
          {
            slot: input.slot,
            iteration: state.iteration,
            of: config.iterations,
            loss: last?.loss ?? null,
          },
          mid,
        );
      }
      return chunkResult(await save(state), last, resumedFrom, false);
    } finally {
      disposeRecoveryState(state);
    }
  } finally {
    lease.release();
  }
}
