// Durable training (queue `retort-compute`, DESIGN.md §3, §6; specs/temporal.md §c.2):
//
//   trainChunk  trains steps [fromStep, fromStep + steps) of a run. It resumes from the run's LATEST
//               checkpoint when a previous attempt got past `fromStep` (the store is the truth;
//               heartbeat details are only a hint), heartbeats {step, loss} every ~2 s, checkpoints
//               every `checkpointEvery` global steps and at the chunk's end, and on cancellation
//               checkpoints first, then stops. The result depends only on (spec, global step): never
//               on where a chunk boundary or a crash fell.
//   evaluate    per-group mean loss (LM: per-window next-byte NLL; ConvNet: cross-entropy and accuracy
//               per class) of a checkpoint on a table.
//
// Over 500 lines because trainChunk's resume protocol (LATEST, identity check, per-step mixture
// records, cancellation checkpoint) is one unit for both model kinds; it is shared by every method.
import { activityContext, stepCounter, yieldToEventLoop } from './heartbeat.js';
import { ApplicationFailure } from '@temporalio/common';
import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import { convNetForward } from '../ml/models/convnet.js';
import { lmPerExampleLoss } from '../ml/models/lm.js';
import { softmaxCrossEntropy } from '../ml/ops/index.js';
import { gatherImages, gatherLabels, gatherTokenWindows } from '../ml/train/batches.js';
import { trainConvNetSteps, trainLmSteps } from '../ml/train/loops.js';
import type { Optimizer } from '../ml/train/optimizers.js';
import { sgd } from '../ml/train/optimizers.js';
import type { NamedTensors } from '../ml/train/param-tree.js';
import { ArtifactRef } from '../schemas/artifact.js';
import {
  type EvaluateInput,
  type EvaluateResult,
  type GroupMetrics,
  type LossSummary,
  type MixtureSegment,
  type TrainChunkInput,
  type TrainChunkResult,
  TrainingSpec,
  type TrainingSpecConfig,
  stableJson,
  trainingIdentity,
} from '../schemas/training.js';
import { type ArtifactStore, canonicalJson, sha256Hex } from '../storage/artifacts.js';
import { CheckpointStore } from '../storage/checkpoints.js';
import { RetortDataError } from '../storage/errors.js';
import {
  type BatchPlan,
  type TrainingTable,
  exactMixturePlan,
  mixturePlan,
  shuffledPlan,
  trainingTableReader,
} from './training-data.js';
import {
  type ResolvedModel,
  type TrainState,
  buildOptimizer,
  buildSchedule,
  checkpointMeta,
  checkpointMixtures,
  configError,
  describeMixtureSegments,
  decodeState,
  disposeState,
  encodeState,
  extendMixtureSegments,
  incompatible,
  initState,
  recordLoss,
  resolveModel,
} from './training-state.js';

/** Heartbeat at most this often (the SDK throttles further, to 0.8 × heartbeatTimeout). */
export const HEARTBEAT_INTERVAL_MS = 2000;

const TrainChunkInputSchema = z.object({
  spec: TrainingSpec.refine((s) => s.runKey !== undefined, {
    message: 'runKey is required (trainModel derives it)',
    path: ['runKey'],
  }),
  fromStep: z.number().int().nonnegative(),
  // 0: commit the start state as the checkpoint at fromStep (e.g. to evaluate an untrained model).
  steps: z.number().int().nonnegative(),
  from: ArtifactRef.optional(),
  mixture: z
    .record(z.string(), z.number().nonnegative().finite())
    .refine((m) => Object.values(m).some((w) => w > 0), 'at least one group needs a positive weight')
    .optional(),
  exactMixture: z.boolean().optional(),
});

const EvaluateInputSchema = z.object({
  checkpoint: ArtifactRef,
  data: ArtifactRef,
  groups: z.array(z.string()).optional(),
  batchSize: z.number().int().positive().optional(),
  maxRows: z.number().int().positive().optional(),
  maxRowsPerGroup: z.number().int().positive().optional(),
});

/** Details of every trainChunk heartbeat (shown in the UI's pending-activity panel). */
export interface TrainHeartbeat {
  step: number;
  loss: number | null;
  checkpointStep: number | null;
}

/** sha256 of the training identity: what a checkpoint of this run must carry. */
export const trainingIdentityHash = (spec: TrainingSpecConfig) =>
  sha256Hex(canonicalJson(trainingIdentity(spec)));

function summarize(losses: TrainState['losses'], fromStep: number, toStep: number): LossSummary {
  const values = losses.values.slice(
    Math.max(0, fromStep - losses.fromStep),
    Math.max(0, toStep - losses.fromStep),
  );
  if (values.length === 0) return { first: NaN, last: NaN, mean: NaN, min: NaN, max: NaN, count: 0 };
  return {
    first: values[0]!,
    last: values[values.length - 1]!,
    mean: values.reduce((a, b) => a + b, 0) / values.length,
    min: Math.min(...values),
    max: Math.max(...values),
    count: values.length,
  };
}

/** The mixture a chunk trains on: its own (mixAioli), else null = the spec's plan. */
type ChunkMixture = Pick<MixtureSegment, 'mixture' | 'exact'>;

/** Rows `evaluate` reads, in table order: the first `maxRows`, or the first `maxRowsPerGroup` of each group. */
function evaluationRows(table: TrainingTable, maxRows?: number, maxRowsPerGroup?: number): Int32Array {
  const n = Math.min(table.ids.length, maxRows ?? Infinity);
  if (maxRowsPerGroup === undefined) return Int32Array.from({ length: n }, (_x, i) => i);
  const taken = new Map<string, number>();
  const out: number[] = [];
  for (let i = 0; i < table.ids.length && out.length < n; i++) {
    const g = table.kind === 'token_windows' ? table.groups[i]! : String(table.labels[i]);
    const k = taken.get(g) ?? 0;
    if (k < maxRowsPerGroup) {
      taken.set(g, k + 1);
      out.push(i);
    }
  }
  return Int32Array.from(out);
}

function batchPlan(spec: TrainingSpecConfig, table: TrainingTable, chunk: ChunkMixture): BatchPlan {
  try {
    if (chunk.mixture !== null) {
      if (table.kind !== 'token_windows')
        throw configError(`trainChunk: a chunk mixture applies to token windows; ${table.uri} is images`);
      return chunk.exact
        ? exactMixturePlan(table.groups, chunk.mixture, spec.batchSize, spec.seed, table.uri)
        : mixturePlan(table.groups, chunk.mixture, spec.batchSize, spec.seed, table.uri);
    }
    if (table.kind === 'token_windows' && spec.data.mixture) {
      return mixturePlan(table.groups, spec.data.mixture, spec.batchSize, spec.seed, table.uri);
    }
    return shuffledPlan(table.ids.length, spec.batchSize, spec.seed);
  } catch (err) {
    if (err instanceof RangeError) throw configError(`${table.uri}: ${err.message}`);
    throw err;
  }
}

/** One optimizer step from `state`; returns the next state and disposes the previous one's tensors. */
function trainOneStep(
  state: TrainState,
  optimizer: Optimizer,
  lr: (s: number) => number,
  plan: BatchPlan,
  table: TrainingTable,
  clipNorm: number | undefined,
  mixture: ChunkMixture,
): { next: TrainState; loss: number } {
  const common = {
    optimizer,
    startStep: state.step,
    steps: 1,
    lr,
    ...(clipNorm !== undefined ? { clipNorm } : {}),
  };
  let next: Omit<TrainState, 'model' | 'losses' | 'step' | 'mixtures'>;
  let loss: number;
  try {
    if (state.model.kind === 'convnet' && table.kind === 'images') {
      const layers = state.model.config.norm === 'batchnorm' ? state.model.config.depth : 0;
      const runningStats = Array.from({ length: layers }, (_x, l) => ({
        mean: state.buffers[`bn${l}.mean`] as tf.Tensor1D,
        variance: state.buffers[`bn${l}.variance`] as tf.Tensor1D,
      }));
      const r = trainConvNetSteps({
        ...common,
        config: state.model.config,
        params: state.params as tf.Tensor1D,
        optState: state.optState as never,
        runningStats,
        batchAt: (step) => {
          const idx = plan(step);
          return { x: gatherImages(table.pixels, table, idx), y: gatherLabels(table.labels, idx) };
        },
      });
      const buffers: NamedTensors = {};
      r.runningStats.forEach((s, l) => {
        buffers[`bn${l}.mean`] = s.mean;
        buffers[`bn${l}.variance`] = s.variance;
      });
      next = { params: r.params, optState: r.optState, buffers };
      loss = r.losses[0]!;
    } else if (state.model.kind === 'lm' && table.kind === 'token_windows') {
      const r = trainLmSteps({
        ...common,
        config: state.model.config,
        params: state.params as NamedTensors,
        optState: state.optState as never,
        batchAt: (step) => gatherTokenWindows(table.tokens, table.ctx, plan(step)),
      });
      next = { params: r.params, optState: r.optState, buffers: {} };
      loss = r.losses[0]!;
    } else {
      throw configError(`model ${state.model.kind} cannot train on a ${table.kind} table`);
    }
  } catch (err) {
    if (err instanceof Error && err.message.startsWith('training diverged')) {
      throw ApplicationFailure.nonRetryable(`${err.message} (data ${table.uri})`, 'LossDiverged');
    }
    throw err;
  }
  // Free the previous generation, keeping any tensor the new one still shares (e.g. unchanged buffers).
  const keep = new Set<tf.Tensor>([...Object.values(next.buffers)]);
  const old = [
    ...(state.params instanceof tf.Tensor ? [state.params] : Object.values(state.params)),
    ...Object.values(state.optState.slots).flatMap((t) => (t instanceof tf.Tensor ? [t] : Object.values(t))),
    ...Object.values(state.buffers),
  ].filter((t) => !keep.has(t));
  tf.dispose(old);
  return {
    next: {
      ...next,
      model: state.model,
      step: state.step + 1,
      losses: recordLoss(state.losses, loss),
      mixtures: extendMixtureSegments(state.mixtures, state.step, state.step + 1, mixture),
    },
    loss,
  };
}

export function createTrainingActivities({ artifacts }: { artifacts: ArtifactStore }) {
  const checkpoints = new CheckpointStore(artifacts.store);
  const readTrain = trainingTableReader(artifacts);
  const readEval = trainingTableReader(artifacts);

  /** Loads a checkpoint of THIS run (same training identity) at its own step. */
  async function loadRunCheckpoint(
    ref: ArtifactRef,
    model: ResolvedModel,
    optimizer: Optimizer,
    identity: string,
    runKey: string,
  ): Promise<TrainState> {
    const art = await checkpoints.load(ref);
    const meta = checkpointMeta(art, ref.uri);
    if (meta.identity !== identity) {
      throw incompatible(
        `checkpoint ${ref.uri} belongs to another training run (identity ${meta.identity.slice(0, 12)}…, this spec ${identity.slice(0, 12)}…): checkpoints/${runKey} was reused with a different spec; choose another runKey`,
      );
    }
    return decodeState(art, model, optimizer, ref.uri, true);
  }

  return {
    /**
     * Trains steps [fromStep, fromStep + steps) and commits the checkpoint at fromStep + steps (and
     * LATEST). Retries resume from LATEST; a chunk whose checkpoint is committed returns it at once.
     */
    async trainChunk(raw: TrainChunkInput): Promise<TrainChunkResult> {
      const input = TrainChunkInputSchema.parse(raw);
      const spec = input.spec;
      const runKey = spec.runKey!;
      const { fromStep } = input;
      const target = fromStep + input.steps;
      if (target > spec.totalSteps)
        throw configError(
          `trainChunk: steps [${fromStep}, ${target}) run past totalSteps ${spec.totalSteps}`,
        );
      const ctx = activityContext();
      const attempt = ctx?.info.attempt ?? 1;
      const identity = trainingIdentityHash(spec);
      const chunkMixture: ChunkMixture = input.mixture
        ? { mixture: input.mixture, exact: input.exactMixture ?? false }
        : { mixture: null, exact: false };
      if (input.mixture && spec.model.kind !== 'lm')
        throw configError('trainChunk: a chunk mixture applies to token windows (model kind "lm") only');
      // The mixture history a checkpoint of this chunk at `step` must carry: the start checkpoint's
      // history extended by this chunk's mixture. Loaded lazily (only to verify a reused checkpoint).
      let startMixtures: MixtureSegment[] | null | undefined;
      const expectedMixtures = async (step: number): Promise<MixtureSegment[] | null> => {
        if (startMixtures === undefined) {
          const start = input.from ?? (fromStep > 0 ? await checkpoints.find(runKey, fromStep) : undefined);
          startMixtures = start
            ? checkpointMixtures(checkpointMeta(await checkpoints.load(start), start.uri))
            : fromStep === 0
              ? []
              : null;
        }
        return startMixtures && extendMixtureSegments(startMixtures, fromStep, step, chunkMixture);
      };
      const sameHistory = async (step: number, mixtures: MixtureSegment[]) => {
        const want = await expectedMixtures(step);
        return want === null || stableJson(want) === stableJson(mixtures);
      };

      // 1. Already committed (a retry after the commit, or a repeat of the same run): return it.
      const done = await checkpoints.find(runKey, target);
      if (done) {
        const meta = checkpointMeta(await checkpoints.load(done), done.uri);
        if (meta.identity !== identity)
          throw incompatible(
            `checkpoint ${done.uri} belongs to another training run: checkpoints/${runKey} was reused with a different spec; choose another runKey`,
          );
        if (!(await sameHistory(target, checkpointMixtures(meta))))
          throw incompatible(
            `checkpoint ${done.uri} was trained on other mixtures (${describeMixtureSegments(checkpointMixtures(meta))}) than this chunk asks for (${describeMixtureSegments((await expectedMixtures(target))!)}): checkpoints/${runKey} was reused with different mixtures; choose another runKey`,
          );
        await checkpoints.advanceLatest(runKey, target, done);
        return {
          checkpoint: done,
          step: target,
          losses: summarize(meta.losses, fromStep, target),
          resumedFrom: null,
          attempt,
          trainedSteps: 0,
          reused: true,
        };
      }

      const table = await readTrain(
        spec.data.train,
        spec.model.kind === 'convnet' ? 'images' : 'token_windows',
      );
      const model = resolveModel(spec.model, table);
      const optimizer = buildOptimizer(spec.optimizer);
      const lr = buildSchedule(spec.schedule, spec.totalSteps);
      const plan = batchPlan(spec, table, chunkMixture);

      // 2. Where to start: LATEST if an earlier attempt got past fromStep, else the chunk's input.
      let state: TrainState | undefined;
      let resumedFrom: number | null = null;
      const latest = await checkpoints.readLatest(runKey).catch((err: unknown) => {
        ctx?.log.warn(`ignoring unreadable LATEST of ${runKey}: ${(err as Error).message}`);
        return undefined;
      });
      if (latest && latest.step > fromStep && latest.step < target) {
        try {
          state = await loadRunCheckpoint(latest.checkpoint, model, optimizer, identity, runKey);
          if (!(await sameHistory(latest.step, state.mixtures))) {
            ctx?.log.warn(
              `LATEST of ${runKey} (step ${latest.step}) was trained on other mixtures (${describeMixtureSegments(state.mixtures)}); restarting the chunk from step ${fromStep}`,
            );
            disposeState(state);
            state = undefined;
          } else resumedFrom = latest.step;
          ctx?.log.info(
            `trainChunk ${runKey}: attempt ${attempt} resumes from LATEST step ${latest.step} (chunk [${fromStep}, ${target}); heartbeat hint ${JSON.stringify(ctx?.info.heartbeatDetails ?? null)})`,
          );
        } catch (err) {
          if (!(err instanceof RetortDataError && err.type === 'CorruptDataset')) throw err;
          ctx?.log.warn(
            `LATEST checkpoint of ${runKey} is unusable, restarting the chunk from step ${fromStep}: ${err.message}`,
          );
        }
      }
      if (!state) {
        if (input.from) state = await loadRunCheckpoint(input.from, model, optimizer, identity, runKey);
        else if (fromStep > 0) {
          const at = await checkpoints.find(runKey, fromStep);
          if (!at)
            throw configError(`trainChunk: no checkpoint of ${runKey} at step ${fromStep} and no "from" ref`);
          state = await loadRunCheckpoint(at, model, optimizer, identity, runKey);
        } else if (spec.init) {
          state = decodeState(await checkpoints.load(spec.init), model, optimizer, spec.init.uri, false);
        } else state = initState(model, optimizer, spec.seed);
      }
      if (state.step !== (resumedFrom ?? fromStep)) {
        const s = state.step;
        disposeState(state);
        throw incompatible(
          `trainChunk: the start checkpoint is at step ${s}, expected ${resumedFrom ?? fromStep}`,
        );
      }

      // 3. Train, heartbeating, checkpointing, and honouring cancellation between steps.
      let saved: { step: number; ref: ArtifactRef | undefined } = {
        step: state.step,
        ref: resumedFrom !== null ? latest!.checkpoint : input.from,
      };
      const save = async (s: TrainState): Promise<ArtifactRef> => {
        if (saved.step === s.step && saved.ref) return saved.ref;
        const ref = await checkpoints.save(
          runKey,
          s.step,
          await encodeState(s, identity, spec.seed, optimizer),
        );
        await checkpoints.advanceLatest(runKey, s.step, ref);
        saved = { step: s.step, ref };
        return ref;
      };
      let lastBeat = 0;
      let lastLoss: number | null = null;
      const beat = (force: boolean) => {
        if (!ctx || (!force && Date.now() - lastBeat < HEARTBEAT_INTERVAL_MS)) return;
        lastBeat = Date.now();
        const details: TrainHeartbeat = {
          step: state!.step,
          loss: lastLoss,
          checkpointStep: saved.ref ? saved.step : null,
        };
        ctx.heartbeat(details);
      };
      let trainedSteps = 0;
      const countStep = stepCounter(ctx, spec.model.kind);
      try {
        beat(true);
        while (state.step < target) {
          if (ctx?.cancellationSignal.aborted) {
            // Checkpoint first, so a later attempt (or a later run) loses no finished step.
            const ref = state.step > fromStep ? await save(state) : undefined;
            const where = ref
              ? `checkpoint at step ${state.step}: ${ref.uri}`
              : `no new checkpoint (step ${state.step})`;
            ctx.log.info(`trainChunk ${runKey} cancelled; ${where}`);
            if (ctx.cancellationDetails?.workerShutdown) {
              throw ApplicationFailure.retryable(
                `worker shutting down during trainChunk ${runKey}; ${where}`,
                'WorkerShutdown',
              );
            }
            throw ctx.cancellationSignal.reason;
          }
          const { next, loss } = trainOneStep(
            state,
            optimizer,
            lr,
            plan,
            table,
            spec.optimizer.clipNorm,
            chunkMixture,
          );
          state = next;
          lastLoss = loss;
          trainedSteps += 1;
          countStep();
          if (spec.checkpointEvery && state.step % spec.checkpointEvery === 0 && state.step < target) {
            await save(state);
            beat(true);
          } else beat(false);
          await yieldToEventLoop();
        }
        const checkpoint = await save(state);
        beat(true);
        return {
          checkpoint,
          step: target,
          losses: summarize(state.losses, fromStep, target),
          resumedFrom,
          attempt,
          trainedSteps,
          reused: false,
        };
      } finally {
        disposeState(state);
      }
    },

    /** Per-group loss (and ConvNet accuracy) of a checkpoint on a table. */
    async evaluate(raw: EvaluateInput): Promise<EvaluateResult> {
      const input = EvaluateInputSchema.parse(raw);
      const art = await checkpoints.load(input.checkpoint);
      const meta = checkpointMeta(art, input.checkpoint.uri);
      const table = await readEval(input.data, meta.model.kind === 'convnet' ? 'images' : 'token_windows');
      const model = resolveModel(meta.model as never, table);
      const state = decodeState(art, model, sgd(), input.checkpoint.uri, false);
      try {
        const rows = evaluationRows(table, input.maxRows, input.maxRowsPerGroup);
        const n = rows.length;
        const batchSize = input.batchSize ?? (model.kind === 'convnet' ? 256 : 32);
        const sums = new Map<string, { count: number; loss: number; correct: number }>();
        const add = (group: string, loss: number, correct: number) => {
          const s = sums.get(group) ?? { count: 0, loss: 0, correct: 0 };
          s.count += 1;
          s.loss += loss;
          s.correct += correct;
          sums.set(group, s);
        };
        const ctx = activityContext();
        for (let start = 0; start < n; start += batchSize) {
          const idx = rows.subarray(start, Math.min(n, start + batchSize));
          if (model.kind === 'convnet' && table.kind === 'images') {
            const config = model.config;
            const layers = config.norm === 'batchnorm' ? config.depth : 0;
            const runningStats = Array.from({ length: layers }, (_x, l) => ({
              mean: state.buffers[`bn${l}.mean`] as tf.Tensor1D,
              variance: state.buffers[`bn${l}.variance`] as tf.Tensor1D,
            }));
            const [ce, pred] = tf.tidy(() => {
              const x = gatherImages(table.pixels, table, idx);
              const labels = gatherLabels(table.labels, idx);
              const logits = convNetForward(
                config,
                state.params as tf.Tensor,
                x,
                layers ? { runningStats } : {},
              );
              return [softmaxCrossEntropy(logits, tf.oneHot(labels, config.classes)), tf.argMax(logits, 1)];
            });
            const losses = ce!.dataSync();
            const preds = pred!.dataSync();
            tf.dispose([ce!, pred!]);
            idx.forEach((row, i) =>
              add(String(table.labels[row]), losses[i]!, preds[i] === table.labels[row] ? 1 : 0),
            );
          } else if (model.kind === 'lm' && table.kind === 'token_windows') {
            const perExample = tf.tidy(() =>
              lmPerExampleLoss(
                model.config,
                state.params as NamedTensors,
                gatherTokenWindows(table.tokens, table.ctx, idx),
              ),
            );
            const losses = perExample.dataSync();
            perExample.dispose();
            idx.forEach((row, i) => add(table.groups[row]!, losses[i]!, 0));
          }
          ctx?.heartbeat({ evaluated: Math.min(n, start + batchSize), of: n });
          await yieldToEventLoop();
        }
        const metrics = (s: { count: number; loss: number; correct: number }): GroupMetrics => ({
          count: s.count,
          loss: s.loss / s.count,
          ...(model.kind === 'convnet' ? { accuracy: s.correct / s.count } : {}),
        });
        const total = { count: 0, loss: 0, correct: 0 };
        for (const s of sums.values()) {
          total.count += s.count;
          total.loss += s.loss;
          total.correct += s.correct;
        }
        const wanted =
          input.groups ??
          [...sums.keys()].sort((a, b) =>
            model.kind === 'convnet' ? Number(a) - Number(b) : a < b ? -1 : a > b ? 1 : 0,
          );
        const groups: Record<string, GroupMetrics> = {};
        for (const g of wanted) {
          const s = sums.get(g);
          if (s) groups[g] = metrics(s);
        }
        return { model: model.kind, step: meta.step, overall: metrics(total), groups };
      } finally {
        disposeState(state);
      }
    },
  };
}
