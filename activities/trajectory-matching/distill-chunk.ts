// Trajectory matching: outer iterations [from, from + n) of MTT/DATM. Heartbeats {iteration, loss} every
// iteration; checkpoints the synthetic set + α + optimiser velocities + iteration + the distill log every
// `checkpointEvery` iterations and at the chunk end; a retry resumes from LATEST. Iteration `it` depends
// only on (state, config, it), so where a chunk boundary or a crash fell never changes the bytes.
import { ApplicationFailure } from '@temporalio/common';
import {
  type DistillState,
  type DistillStateArrays,
  createDistillState,
  disposeDistillState,
  distillIterations,
  distillStateFromArrays,
  distillStateToArrays,
  initializeSyntheticSet,
} from '../../ml/methods/trajectory-matching/index.js';
import { convNetLayout } from '../../ml/models/convnet.js';
import type { ArtifactRef } from '../../schemas/artifact.js';
import {
  type DistillChunkInput,
  type DistillChunkResult,
  type DistillLogRow,
} from '../../schemas/trajectory-matching.js';
import { checkImagesPerClass, countClasses } from '../images.js';
import { asConfigError, configError, incompatible, lossDiverged } from '../failures.js';
import { findChunkStart, saveCheckpoint } from '../resumable-chunk.js';
import { activityContext, yieldToEventLoop } from '../heartbeat.js';
import { type TrajectoryMatchingDeps } from './deps.js';
import { checkShape, resolveTm } from './config.js';
import {
  CHECKPOINT_VERSION,
  type DistillCheckpointMeta,
  arraysToState,
  decodeArrays,
  encodeArrays,
  identityHash,
  stateArrays,
} from './checkpoint.js';

/** Outer iterations [fromIteration, fromIteration + iterations), resumable from LATEST. */
export async function distillChunk(
  deps: TrajectoryMatchingDeps,
  input: DistillChunkInput,
): Promise<DistillChunkResult> {
  const { checkpoints, images, trajectories } = deps;
  const config = resolveTm(input.config);
  const { fromIteration, runKey } = input;
  const target = fromIteration + input.iterations;
  const ctx = activityContext();
  const attempt = ctx?.info.attempt ?? 1;
  const identity = identityHash({
    config,
    trajectories: input.trajectories.map((r) => r.sha256),
    train: input.train.sha256,
  });
  const load = async (ref: ArtifactRef) => {
    const { arrays, meta: m } = decodeArrays<DistillCheckpointMeta>(await checkpoints.load(ref), ref.uri);
    if (m.kind !== 'distill' || m.identity !== identity)
      throw incompatible(
        `checkpoint ${ref.uri} belongs to another distillation (checkpoints/${runKey} reused with other inputs); choose another runKey`,
      );
    return { state: arraysToState(arrays, m.iteration, ref.uri), log: m.log };
  };
  const chunkLog = (log: DistillLogRow[]) =>
    log.filter((r) => r.iteration >= fromIteration && r.iteration < target);

  // Already committed (a retry after the commit, or a repeat of the same run), or a crash retry.
  const found = await findChunkStart({
    checkpoints,
    runKey,
    from: fromIteration,
    target,
    load,
    tolerateBadLatest: true,
  });
  if (found.kind === 'done') {
    const { state, log } = found.value;
    await checkpoints.advanceLatest(runKey, target, found.ref);
    return {
      checkpoint: found.ref,
      iteration: target,
      log: chunkLog(log),
      synLr: config.synLrParametrisation === 'log' ? Math.exp(state.synLr) : state.synLr,
      resumedFrom: null,
      attempt,
      trainedIterations: 0,
      reused: true,
    };
  }

  const experts = await trajectories(
    input.trajectories,
    convNetLayout(config.net).reduce((n, s) => n + s.size, 0),
  );
  // Start: LATEST past fromIteration (a crash retry), else the chunk's input, else a fresh init.
  let start: { state: DistillStateArrays; log: DistillLogRow[] } | undefined;
  let resumedFrom: number | null = null;
  let startRef: ArtifactRef | undefined;
  if (found.kind === 'resume') {
    start = found.value;
    resumedFrom = found.step;
    startRef = found.ref;
    ctx?.log.info(
      `distillChunk ${runKey}: attempt ${attempt} resumes from LATEST iteration ${found.step} (chunk [${fromIteration}, ${target}))`,
    );
  } else if (input.from) {
    start = await load(input.from);
    startRef = input.from;
  } else if (fromIteration > 0) {
    const at = await checkpoints.find(runKey, fromIteration);
    if (!at)
      throw configError(
        `distillChunk: no checkpoint of ${runKey} at iteration ${fromIteration} and no "from" ref`,
      );
    start = await load(at);
    startRef = at;
  }
  let state: DistillState;
  let log: DistillLogRow[];
  if (start) {
    if (start.state.iteration !== (resumedFrom ?? fromIteration))
      throw incompatible(
        `distillChunk: the start checkpoint is at iteration ${start.state.iteration}, expected ${resumedFrom ?? fromIteration}`,
      );
    state = asConfigError('distill state', () => distillStateFromArrays(config, start!.state));
    log = start.log;
  } else {
    const data = await images(input.train);
    checkShape(config.net, data);
    const counts = countClasses(data.labels, data.ids, config.net.classes, data.uri);
    checkImagesPerClass(counts, config.ipc, 'ipc', data.uri);
    const init = asConfigError('initial synthetic set', () =>
      initializeSyntheticSet(config, { pixels: data.pixels, labels: data.labels }, experts),
    );
    state = createDistillState(config, init);
    log = [];
  }

  let saved: { iteration: number; ref: ArtifactRef | undefined } = {
    iteration: state.iteration,
    ref: startRef,
  };
  const save = async (): Promise<ArtifactRef> => {
    if (saved.iteration === state.iteration && saved.ref) return saved.ref;
    const meta: DistillCheckpointMeta = {
      version: CHECKPOINT_VERSION,
      kind: 'distill',
      identity,
      iteration: state.iteration,
      log,
    };
    const ref = await saveCheckpoint(
      checkpoints,
      runKey,
      state.iteration,
      await encodeArrays(stateArrays(distillStateToArrays(state)), meta),
    );
    saved = { iteration: state.iteration, ref };
    return ref;
  };
  let trained = 0;
  let lastLoss: number | null = null;
  try {
    ctx?.heartbeat({ iteration: state.iteration, loss: null });
    while (state.iteration < target) {
      if (ctx?.cancellationSignal.aborted) {
        if (state.iteration > fromIteration) await save();
        if (ctx.cancellationDetails?.workerShutdown)
          throw ApplicationFailure.retryable(
            `worker shutting down during distillChunk ${runKey} (iteration ${state.iteration})`,
            'WorkerShutdown',
          );
        throw ctx.cancellationSignal.reason;
      }
      const before = state;
      let r: ReturnType<typeof distillIterations>;
      try {
        r = distillIterations(before, experts, config, 1);
      } catch (err) {
        if (err instanceof Error && err.message.startsWith('trajectory matching diverged'))
          throw lossDiverged(`${err.message} (run ${runKey})`);
        if (err instanceof RangeError) throw configError(`distillChunk: ${err.message}`);
        throw err;
      }
      disposeDistillState(before);
      state = r.state;
      log = [...log, ...r.log];
      lastLoss = r.log[0]?.loss ?? lastLoss;
      trained += 1;
      if (state.iteration % input.checkpointEvery === 0 && state.iteration < target) await save();
      ctx?.heartbeat({
        iteration: state.iteration,
        loss: lastLoss,
        checkpointIteration: saved.ref ? saved.iteration : null,
      });
      await yieldToEventLoop();
    }
    const checkpoint = await save();
    const synLr =
      config.synLrParametrisation === 'log'
        ? Math.exp(state.synLr.dataSync()[0]!)
        : state.synLr.dataSync()[0]!;
    return {
      checkpoint,
      iteration: target,
      log: chunkLog(log),
      synLr,
      resumedFrom,
      attempt,
      trainedIterations: trained,
      reused: false,
    };
  } finally {
    disposeDistillState(state);
  }
}
