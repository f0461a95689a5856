// Trajectory-matching distillation on the compute queue (`retort-compute`; specs/
// distill-trajectory-matching.md). Thin adapters: read refs → ml/ → commit refs.
//
//   trainExpert       one expert (spec §4): an epoch at a time, θ_e checkpointed after every epoch
//                     (checkpoints/<runKey>/expert-<k>/step-<e>, LATEST), so a retry resumes at the last
//                     finished epoch; the end is its `trajectories` table (epochs 0..E, memoized).
//   distillChunk      outer iterations [from, from + n) of MTT/DATM; heartbeats {iteration, loss} every
//                     iteration, checkpoints the synthetic set + α + optimiser velocities + iteration +
//                     the distill log every `checkpointEvery` iterations and at the chunk end; a retry
//                     resumes from LATEST. Iteration `it` depends only on (state, config, it), so where a
//                     chunk boundary or a crash fell never changes the bytes.
//   exportDistilled   the final checkpoint → `distilled_images` + `distill_log` tables (memoized).
//   evaluateDistilled one fresh student ConvNet on a distilled set, a random real subset or the full
//                     split (spec §8) → test accuracy; the workflow fans it out over students.
import { ApplicationFailure } from '@temporalio/common';
import * as tf from '@tensorflow/tfjs-core';
import { type Table } from 'apache-arrow';
import {
  type ImageSet,
  evaluateConvNet,
  randomRealSubset,
  trainAndEvaluateStudent,
  trainExpertTrajectory,
} from '../ml/methods/distill-training.js';
import {
  type DistillLogRow,
  type DistillState,
  type DistillStateArrays,
  type EvaluationProfile,
  type TrajectoryMatchingConfig,
  createDistillState,
  disposeDistillState,
  distillIterations,
  distillStateFromArrays,
  distillStateToArrays,
  initializeSyntheticSet,
  syntheticSetSize,
  trajectoriesFromArrays,
  trajectoryMatchingConfig,
  trajectoryMatchingMethod,
  type ExpertTrajectories,
  type TrajectoryMatchingOverrides,
} from '../ml/methods/trajectory-matching.js';
import { type ConvNetConfig, convNetConfig, convNetLayout } from '../ml/models/convnet.js';
import { deriveSeed } from '../ml/train/rng.js';
import type { ArtifactRef } from '../schemas/artifact.js';
import {
  DISTILL_LOG,
  type DistillChunkInput,
  type DistillChunkResult,
  type DistillLogRowJson,
  type EvaluateDistilledInput,
  type EvaluateDistilledResult,
  type ExportDistilledInput,
  type ExportDistilledResult,
  type TrainExpertInput,
  type TrainExpertResult,
} from '../schemas/distill.js';
import { DISTILLED_IMAGES, TRAJECTORIES, contractFingerprint } from '../schemas/tables.js';
import { buildTable, fixedSizeListValues, validateTable } from '../storage/arrow-tables.js';
import { type ArtifactStore, canonicalJson, sha256Hex } from '../storage/artifacts.js';
import { CheckpointStore } from '../storage/checkpoints.js';
import { schemaMismatch } from '../storage/errors.js';
import { decodeParquet, encodeParquet } from '../storage/parquet.js';
import { checkImagesPerClass, countClasses } from './images.js';
import { memoized } from './memo.js';
import { activityContext, yieldToEventLoop } from './training.js';
import { type ImageData, trainingTableReader } from './training-data.js';
import { configError, encodeRetortCheckpoint, incompatible } from './training-state.js';

/** RangeErrors of ml/ (bad sizes, bad settings) are configuration errors a retry cannot fix. */
function asConfigError<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof RangeError) throw configError(`${what}: ${err.message}`);
    throw err;
  }
}

function resolveNet(raw: Record<string, unknown>): ConvNetConfig {
  return asConfigError('net', () => convNetConfig(raw as Partial<ConvNetConfig>));
}

function resolveTm(raw: Record<string, unknown>): TrajectoryMatchingConfig {
  return asConfigError('trajectory matching config', () =>
    trajectoryMatchingConfig(raw as TrajectoryMatchingOverrides),
  );
}

function checkShape(net: ConvNetConfig, data: ImageData): void {
  if (net.h !== data.h || net.w !== data.w || net.c !== data.c)
    throw configError(
      `ConvNet input ${net.h}×${net.w}×${net.c} does not match ${data.uri} (metadata h=${data.h}, w=${data.w}, c=${data.c})`,
    );
}

/** Named Float32 tensors (+ JSON metadata) → tfjs ModelArtifacts for CheckpointStore. */
async function encodeArrays(
  arrays: Record<string, Float32Array | Int32Array>,
  meta: Record<string, unknown>,
): Promise<tf.io.ModelArtifacts> {
  const tensors = Object.entries(arrays).map(([name, a]) => ({
    name,
    tensor: a instanceof Int32Array ? tf.tensor1d(a, 'int32') : tf.tensor1d(a, 'float32'),
  }));
  try {
    return await encodeRetortCheckpoint(tensors, meta);
  } finally {
    tf.dispose(tensors.map((t) => t.tensor));
  }
}

/** ModelArtifacts → named typed arrays + the `retort` metadata. */
function decodeArrays(
  art: tf.io.ModelArtifacts,
  where: string,
): { arrays: Record<string, Float32Array | Int32Array>; meta: Record<string, unknown> } {
  const meta = (art.userDefinedMetadata as { retort?: Record<string, unknown> } | undefined)?.retort;
  if (!meta || !art.weightData || !art.weightSpecs)
    throw incompatible(`checkpoint ${where} has no retort metadata or weights`);
  const tensors = tf.io.decodeWeights(art.weightData, art.weightSpecs);
  const arrays: Record<string, Float32Array | Int32Array> = {};
  for (const [name, t] of Object.entries(tensors)) {
    arrays[name] = t.dataSync().slice() as Float32Array | Int32Array;
    t.dispose();
  }
  return { arrays, meta };
}

const identityHash = (value: unknown) => sha256Hex(canonicalJson(value));

/** Reads `trajectories` tables (one per expert) into the lookup the method reads. */
async function readTrajectories(
  artifacts: ArtifactStore,
  refs: readonly ArtifactRef[],
  paramCount: number,
): Promise<ExpertTrajectories> {
  const rows: Float32Array[][] = [];
  for (const ref of refs) {
    const table: Table = decodeParquet(await artifacts.read(ref), ref.uri);
    validateTable(table, TRAJECTORIES, ref.uri, { sizes: { params: paramCount } });
    const { flat } = fixedSizeListValues<Float32Array>(table, 'params');
    const epochs = Array.from(table.getChild('epoch')!.toArray() as ArrayLike<number>);
    const byEpoch: Float32Array[] = [];
    epochs.forEach((e, i) => (byEpoch[e] = flat.slice(i * paramCount, (i + 1) * paramCount)));
    if (byEpoch.length !== epochs.length || byEpoch.some((p) => !p))
      throw schemaMismatch(
        `Parquet column "epoch" in ${ref.uri}: epochs must be 0..${epochs.length - 1} without gaps`,
      );
    rows.push(byEpoch);
  }
  return asConfigError('expert trajectories', () => trajectoriesFromArrays(rows));
}

const CHECKPOINT_VERSION = 1;

interface DistillCheckpointMeta {
  version: number;
  kind: 'distill';
  identity: string;
  iteration: number;
  log: DistillLogRowJson[];
}

function stateArrays(a: DistillStateArrays): Record<string, Float32Array | Int32Array> {
  const out: Record<string, Float32Array | Int32Array> = {
    pixels: a.pixels,
    classes: a.classes,
    syn_lr: Float32Array.of(a.synLr),
    'velocity/pixels': a.velocity.pixels,
    'velocity/syn_lr': Float32Array.of(a.velocity.synLr),
  };
  if (a.labelLogits) out.label_logits = a.labelLogits;
  if (a.velocity.labelLogits) out['velocity/label_logits'] = a.velocity.labelLogits;
  return out;
}

function arraysToState(
  arrays: Record<string, Float32Array | Int32Array>,
  iteration: number,
  where: string,
): DistillStateArrays {
  const f = (name: string): Float32Array => {
    const a = arrays[name];
    if (!(a instanceof Float32Array)) throw incompatible(`checkpoint ${where}: tensor "${name}" is missing`);
    return a;
  };
  const classes = arrays.classes;
  if (!(classes instanceof Int32Array))
    throw incompatible(`checkpoint ${where}: tensor "classes" is missing`);
  return {
    pixels: f('pixels'),
    classes,
    labelLogits: arrays.label_logits ? f('label_logits') : null,
    synLr: f('syn_lr')[0]!,
    velocity: {
      pixels: f('velocity/pixels'),
      labelLogits: arrays['velocity/label_logits'] ? f('velocity/label_logits') : null,
      synLr: f('velocity/syn_lr')[0]!,
    },
    iteration,
  };
}

const logRow = (r: DistillLogRow): DistillLogRowJson => ({ ...r });

/** Losses of the first and last `n` iterations (the activity result's quick convergence check). */
function summaryLosses(log: readonly DistillLogRowJson[], n: number) {
  return { first: log.slice(0, n).map((r) => r.loss), last: log.slice(-n).map((r) => r.loss) };
}

export function createDistillActivities({ artifacts }: { artifacts: ArtifactStore }) {
  const checkpoints = new CheckpointStore(artifacts.store);
  const readImages = trainingTableReader(artifacts);
  const readTest = trainingTableReader(artifacts);
  let trajectoryCache: { key: string; value: ExpertTrajectories } | undefined;

  async function images(ref: ArtifactRef, reader = readImages): Promise<ImageData> {
    const t = await reader(ref, 'images');
    if (t.kind !== 'images') throw schemaMismatch(`${ref.uri}: expected an images table`);
    return t;
  }

  async function trajectories(refs: readonly ArtifactRef[], p: number): Promise<ExpertTrajectories> {
    const key = refs.map((r) => r.sha256).join(',');
    if (trajectoryCache?.key !== key)
      trajectoryCache = { key, value: await readTrajectories(artifacts, refs, p) };
    return trajectoryCache.value;
  }

  return {
    /** One expert's trajectory θ_0..θ_E (spec §4), checkpointed per epoch; memoized as a table. */
    async trainExpert(input: TrainExpertInput): Promise<TrainExpertResult> {
      const net = resolveNet(input.net);
      const profile = input.experts;
      const k = input.expert;
      const runKey = `${input.runKey}/expert-${k}`;
      const identity = identityHash({ train: input.train.sha256, net, profile, expert: k, seed: input.seed });
      const ctx = activityContext();
      let resumedFromEpoch: number | null = null;
      let testAccuracy: number | null = null;
      let reused = true;
      const result = await memoized(
        artifacts,
        {
          activity: 'trainExpert@1',
          inputs: [input.train.sha256, input.test?.sha256 ?? ''],
          config: { net, profile, expert: k },
          seed: input.seed,
        },
        input.cache,
        async () => {
          reused = false;
          const data = await images(input.train);
          checkShape(net, data);
          countClasses(data.labels, data.ids, net.classes, data.uri);
          const set: ImageSet = { images: data.pixels, labels: data.labels };
          const seed = deriveSeed(input.seed, 'expert', k);
          // Resume: every epoch up to LATEST must be committed (each holds its own θ_e).
          const params: Float32Array[] = [];
          let velocity: Float32Array | undefined;
          const latest = await checkpoints.readLatest(runKey).catch(() => undefined);
          if (latest) {
            for (let e = 0; e <= latest.step; e++) {
              const ref = await checkpoints.find(runKey, e);
              if (!ref) break;
              const { arrays, meta } = decodeArrays(await checkpoints.load(ref), ref.uri);
              if (meta.identity !== identity)
                throw incompatible(
                  `checkpoint ${ref.uri} belongs to another expert run (checkpoints/${runKey} reused with other inputs)`,
                );
              params.push(arrays.params as Float32Array);
              velocity = arrays.velocity as Float32Array | undefined;
            }
            if (params.length > 1) resumedFromEpoch = params.length - 1;
            ctx?.log.info(`trainExpert ${runKey}: resuming after epoch ${params.length - 1}`);
          }
          const save = async (
            epoch: number,
            theta: Float32Array,
            v: Float32Array | null,
            loss: number | null,
          ) => {
            const art = await encodeArrays(
              { params: theta, ...(v ? { velocity: v } : {}) },
              { version: CHECKPOINT_VERSION, kind: 'expert', identity, epoch, loss },
            );
            const ref = await checkpoints.save(runKey, epoch, art);
            await checkpoints.advanceLatest(runKey, epoch, ref);
          };
          if (params.length === 0) {
            const init = asConfigError('trainExpert', () =>
              trainExpertTrajectory(set, { ...profile, epochs: 0 }, net, seed),
            );
            params.push(init.params[0]!);
            await save(0, init.params[0]!, null, null);
          }
          for (let e = params.length - 1; e < profile.epochs; e++) {
            if (ctx?.cancellationSignal.aborted) throw ctx.cancellationSignal.reason;
            let info: { velocity: Float32Array | null; loss: number } = { velocity: null, loss: NaN };
            const r = asConfigError('trainExpert', () =>
              trainExpertTrajectory(set, { ...profile, epochs: e + 1 }, net, seed, {
                fromEpoch: e,
                ...(e > 0 ? { fromParams: params[e]! } : {}),
                ...(velocity ? { fromVelocity: velocity } : {}),
                onEpoch: (_ep, _theta, loss, i) => (info = { velocity: i.velocity, loss }),
              }),
            );
            const theta = r.params[r.params.length - 1]!;
            if (!theta.every(Number.isFinite))
              throw ApplicationFailure.nonRetryable(
                `expert ${k} diverged in epoch ${e + 1} (lr ${profile.lr}, data ${data.uri})`,
                'LossDiverged',
              );
            params.push(theta);
            velocity = info.velocity ?? undefined;
            await save(e + 1, theta, info.velocity, info.loss);
            ctx?.heartbeat({ expert: k, epoch: e + 1, of: profile.epochs, loss: info.loss });
            await yieldToEventLoop();
          }
          if (input.test) {
            const test = await images(input.test, readTest);
            testAccuracy = evaluateConvNet(net, params[profile.epochs]!, {
              images: test.pixels,
              labels: test.labels,
            }).accuracy;
          }
          const p = params[0]!.length;
          const flat = new Float32Array(params.length * p);
          params.forEach((theta, e) => flat.set(theta, e * p));
          const table = buildTable(
            TRAJECTORIES,
            {
              expert: new Int32Array(params.length).fill(k),
              epoch: Int32Array.from(params, (_x, e) => e),
              params: { flat, size: p },
            },
            {
              'retort.arch': JSON.stringify({ family: 'convnet', ...net }),
              'retort.param_layout': JSON.stringify(
                convNetLayout(net).map((s) => ({ name: s.name, shape: s.shape })),
              ),
              'retort.expert_train': JSON.stringify({
                ...profile,
                seed: input.seed,
                expert: k,
                expertSeed: seed,
              }),
            },
          );
          return {
            outputs: [
              {
                output: 'trajectory',
                bytes: encodeParquet(table),
                kind: 'trajectory',
                format: 'parquet',
                rows: params.length,
                schema: contractFingerprint(TRAJECTORIES),
              },
            ],
            result: (refs) => ({
              expert: k,
              trajectory: refs.trajectory!,
              epochs: profile.epochs,
              resumedFromEpoch: null,
              testAccuracy,
              reused: false,
            }),
          };
        },
      );
      return { ...result, resumedFromEpoch, reused };
    },

    /** Outer iterations [fromIteration, fromIteration + iterations), resumable from LATEST. */
    async distillChunk(input: DistillChunkInput): Promise<DistillChunkResult> {
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
        const { arrays, meta } = decodeArrays(await checkpoints.load(ref), ref.uri);
        const m = meta as unknown as DistillCheckpointMeta;
        if (m.kind !== 'distill' || m.identity !== identity)
          throw incompatible(
            `checkpoint ${ref.uri} belongs to another distillation (checkpoints/${runKey} reused with other inputs); choose another runKey`,
          );
        return { state: arraysToState(arrays, m.iteration, ref.uri), log: m.log };
      };
      const chunkLog = (log: DistillLogRowJson[]) =>
        log.filter((r) => r.iteration >= fromIteration && r.iteration < target);

      // 1. Already committed (a retry after the commit, or a repeat of the same run).
      const done = await checkpoints.find(runKey, target);
      if (done) {
        const { state, log } = await load(done);
        await checkpoints.advanceLatest(runKey, target, done);
        return {
          checkpoint: done,
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
      // 2. Start: LATEST past fromIteration (a crash retry), else the chunk's input, else a fresh init.
      let start: { state: DistillStateArrays; log: DistillLogRowJson[] } | undefined;
      let resumedFrom: number | null = null;
      let startRef: ArtifactRef | undefined;
      const latest = await checkpoints.readLatest(runKey).catch(() => undefined);
      if (latest && latest.step > fromIteration && latest.step < target) {
        start = await load(latest.checkpoint);
        resumedFrom = latest.step;
        startRef = latest.checkpoint;
        ctx?.log.info(
          `distillChunk ${runKey}: attempt ${attempt} resumes from LATEST iteration ${latest.step} (chunk [${fromIteration}, ${target}))`,
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
      let log: DistillLogRowJson[];
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
        const ref = await checkpoints.save(
          runKey,
          state.iteration,
          await encodeArrays(
            stateArrays(distillStateToArrays(state)),
            meta as unknown as Record<string, unknown>,
          ),
        );
        await checkpoints.advanceLatest(runKey, state.iteration, ref);
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
              throw ApplicationFailure.nonRetryable(`${err.message} (run ${runKey})`, 'LossDiverged');
            if (err instanceof RangeError) throw configError(`distillChunk: ${err.message}`);
            throw err;
          }
          disposeDistillState(before);
          state = r.state;
          log = [...log, ...r.log.map(logRow)];
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
    },

    /** The final distillation checkpoint → `distilled_images` and `distill_log` tables (spec §2.3, §2.4). */
    async exportDistilled(input: ExportDistilledInput): Promise<ExportDistilledResult> {
      const config = resolveTm(input.config);
      return memoized(
        artifacts,
        {
          activity: 'exportDistilled@1',
          inputs: [input.checkpoint.sha256, input.train.sha256, ...input.trajectories.map((r) => r.sha256)],
          config: {},
        },
        input.cache,
        async () => {
          const { arrays, meta } = decodeArrays(
            await checkpoints.load(input.checkpoint),
            input.checkpoint.uri,
          );
          const m = meta as unknown as DistillCheckpointMeta;
          const s = arraysToState(arrays, m.iteration, input.checkpoint.uri);
          const { net } = config;
          const n = syntheticSetSize(config);
          const k = net.classes;
          const synLr = config.synLrParametrisation === 'log' ? Math.exp(s.synLr) : s.synLr;
          const method = trajectoryMatchingMethod(config);
          const soft = s.labelLogits ?? new Float32Array(n * k);
          if (!s.labelLogits) s.classes.forEach((y, i) => (soft[i * k + y] = 1));
          const distilled = buildTable(
            DISTILLED_IMAGES,
            {
              id: Array.from({ length: n }, (_x, i) => `syn-${String(i).padStart(5, '0')}`),
              label: s.classes,
              pixels: { flat: s.pixels, size: net.h * net.w * net.c },
              soft_label: { flat: soft, size: k },
            },
            {
              h: String(net.h),
              w: String(net.w),
              c: String(net.c),
              classes: String(k),
              /** 'soft': soft_label holds learned logits (DATM); 'hard': one-hot of `label`. */
              label_kind: s.labelLogits ? 'soft' : 'hard',
              'retort.syn_lr': String(synLr),
              'retort.method': method,
              'retort.ipc': String(config.ipc),
              'retort.config': JSON.stringify(config),
              'retort.source_hash': input.train.sha256,
              'retort.iterations': String(m.iteration),
            },
          );
          const log = m.log;
          const logTable = buildTable(DISTILL_LOG, {
            iteration: Int32Array.from(log, (r) => r.iteration),
            expert: Int32Array.from(log, (r) => r.expert),
            start_epoch: Int32Array.from(log, (r) => r.startEpoch),
            upper_bound: Int32Array.from(log, (r) => r.upperBound),
            loss: Float64Array.from(log, (r) => r.loss),
            syn_lr: Float64Array.from(log, (r) => r.synLr),
            skipped: Int32Array.from(log, (r) => (r.skipped ? 1 : 0)),
          });
          const losses = summaryLosses(log, 10);
          return {
            outputs: [
              {
                output: 'distilled',
                bytes: encodeParquet(distilled),
                kind: 'table',
                format: 'parquet',
                rows: n,
                schema: contractFingerprint(DISTILLED_IMAGES),
              },
              {
                output: 'log',
                bytes: encodeParquet(logTable),
                kind: 'table',
                format: 'parquet',
                rows: log.length,
                schema: contractFingerprint(DISTILL_LOG),
              },
            ],
            result: (refs) => ({
              distilled: refs.distilled!,
              log: refs.log!,
              synLr,
              iterations: m.iteration,
              method,
              firstLosses: losses.first,
              lastLosses: losses.last,
            }),
          };
        },
      );
    },

    /** One student trained on a distilled set / random real subset / full split, tested on `test`. */
    async evaluateDistilled(input: EvaluateDistilledInput): Promise<EvaluateDistilledResult> {
      const net = resolveNet(input.net);
      return memoized(
        artifacts,
        {
          activity: 'evaluateDistilled@1',
          inputs: [input.train.sha256, input.test.sha256],
          config: {
            net,
            evaluation: input.evaluation,
            lr: input.lr,
            student: input.student,
            subset: input.subset ?? null,
            softLabels: input.softLabels ?? true,
          },
          seed: input.seed,
        },
        input.cache,
        async () => {
          const test = await images(input.test, readTest);
          checkShape(net, test);
          const train = await studentSet(artifacts, input, net, images);
          const r = asConfigError('evaluateDistilled', () =>
            trainAndEvaluateStudent(
              train.set,
              { images: test.pixels, labels: test.labels },
              input.evaluation as EvaluationProfile,
              net,
              deriveSeed(input.seed, 'student', input.student),
              input.lr,
            ),
          );
          return {
            outputs: [],
            result: () => ({
              accuracy: r.accuracy,
              loss: r.loss,
              seed: input.seed,
              student: input.student,
              lr: input.lr,
              steps: r.steps,
              trainRows: train.set.labels.length,
              testRows: test.labels.length,
              softLabels: Boolean(train.set.labelLogits),
            }),
          };
        },
      );
    },
  };
}

/** What a student trains on: a distilled table (soft labels when it has them) or real images. */
async function studentSet(
  artifacts: ArtifactStore,
  input: EvaluateDistilledInput,
  net: ConvNetConfig,
  images: (ref: ArtifactRef) => Promise<ImageData>,
): Promise<{ set: ImageSet & { labelLogits?: Float32Array | null } }> {
  const isDistilled = input.train.schema?.startsWith('distilled_images(') ?? false;
  if (isDistilled) {
    const table = decodeParquet(await artifacts.read(input.train), input.train.uri);
    const size = net.h * net.w * net.c;
    validateTable(table, DISTILLED_IMAGES, input.train.uri, {
      sizes: { pixels: size, soft_label: net.classes },
    });
    const labels = Int32Array.from(table.getChild('label')!.toArray() as ArrayLike<number>);
    const pixels = fixedSizeListValues<Float32Array>(table, 'pixels').flat;
    const soft = table.schema.metadata.get('label_kind') === 'soft' && input.softLabels !== false;
    return {
      set: {
        images: pixels,
        labels,
        labelLogits: soft ? fixedSizeListValues<Float32Array>(table, 'soft_label').flat : null,
      },
    };
  }
  const data = await images(input.train);
  checkShape(net, data);
  const counts = countClasses(data.labels, data.ids, net.classes, data.uri);
  const set: ImageSet = { images: data.pixels, labels: data.labels };
  if (!input.subset) return { set };
  checkImagesPerClass(counts, input.subset.ipc, 'ipc', data.uri);
  return {
    set: asConfigError('random real subset', () =>
      randomRealSubset(set, net, input.subset!.ipc, deriveSeed(input.seed, 'random-real')),
    ),
  };
}
