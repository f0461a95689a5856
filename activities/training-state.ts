// A training run's state (params, optimizer slots, BatchNorm buffers, step, recent losses) and its
// checkpoint form: tfjs ModelArtifacts whose weights are named
//   params            ConvNet flat vector       params/<name>             LM parameter map
//   optimizer/<slot>  ConvNet slot              optimizer/<slot>/<name>   LM slots
//   buffers/<name>    BatchNorm running statistics (ConvNet, norm 'batchnorm')
// and whose `userDefinedMetadata.retort` records the model, the step and the run identity.
// Spec → ml/ objects (model config, optimizer, LR schedule) is resolved here too.
import * as tf from '@tensorflow/tfjs-core';
import { constantSchedule, rewarmedCosineSchedule, type LrSchedule } from '../ml/methods/rewarm.js';
import {
  type ConvNetConfig,
  convNetConfig,
  initBatchNormStats,
  initConvNetParams,
  paramCount,
} from '../ml/models/convnet.js';
import { type LmConfig, initLmParams, lmConfig, lmParamSpecs } from '../ml/models/lm.js';
import {
  type Optimizer,
  type OptimizerState,
  adamw,
  decayMatricesOnly,
  deserializeOptimizerState,
  disposeOptimizerState,
  serializeOptimizerState,
  sgd,
} from '../ml/train/optimizers.js';
import { type NamedTensors, type ParamTree, disposeTree } from '../ml/train/param-tree.js';
import {
  type MixtureSegment,
  type ModelSpec,
  type OptimizerSpec,
  type ScheduleSpec,
  stableJson,
} from '../schemas/training.js';
import { configError, incompatible } from './failures.js';
import type { TrainingTable } from './training-data.js';

export type ResolvedModel = { kind: 'convnet'; config: ConvNetConfig } | { kind: 'lm'; config: LmConfig };

export { configError, incompatible };

/** Losses of the most recent steps kept in a checkpoint (a function of the step, not of chunking). */
export const LOSS_HISTORY = 1000;

/** Fills model defaults from the data (image shape, context) and checks the two agree. */
export function resolveModel(spec: ModelSpec, data: TrainingTable): ResolvedModel {
  try {
    if (spec.kind === 'convnet') {
      if (data.kind !== 'images')
        throw configError(`model "convnet" trains on an images table; ${data.uri} is token windows`);
      const config = convNetConfig({
        ...spec.config,
        h: spec.config.h ?? data.h,
        w: spec.config.w ?? data.w,
        c: spec.config.c ?? data.c,
      });
      if (config.h !== data.h || config.w !== data.w || config.c !== data.c) {
        throw configError(
          `ConvNet input ${config.h}×${config.w}×${config.c} does not match ${data.uri} (metadata h=${data.h}, w=${data.w}, c=${data.c})`,
        );
      }
      for (let i = 0; i < data.labels.length; i++) {
        const y = data.labels[i]!;
        if (y < 0 || y >= config.classes) {
          throw configError(
            `Parquet column "label" in ${data.uri}: label ${y} at row ${i} (id "${data.ids[i]}") is outside [0, ${config.classes}) (model.config.classes)`,
          );
        }
      }
      return { kind: 'convnet', config };
    }
    if (data.kind !== 'token_windows')
      throw configError(`model "lm" trains on a token_windows table; ${data.uri} is images`);
    const config = lmConfig({ ...spec.config, ctx: spec.config.ctx ?? data.ctx });
    if (config.ctx < data.ctx)
      throw configError(
        `LM context ${config.ctx} is shorter than the windows of ${data.uri} (ctx ${data.ctx})`,
      );
    return { kind: 'lm', config };
  } catch (err) {
    if (err instanceof RangeError) throw configError(err.message);
    throw err;
  }
}

export function buildOptimizer(spec: OptimizerSpec): Optimizer {
  if (spec.kind === 'sgd')
    return sgd({ momentum: spec.momentum, weightDecay: spec.weightDecay, nesterov: spec.nesterov });
  return adamw({
    beta1: spec.beta1,
    beta2: spec.beta2,
    eps: spec.eps,
    weightDecay: spec.weightDecay,
    ...(spec.decayMatricesOnly ? { decayFilter: decayMatricesOnly } : {}),
  });
}

export function buildSchedule(spec: ScheduleSpec, totalSteps: number): LrSchedule {
  try {
    if (spec.kind === 'constant') return constantSchedule(spec.lr);
    const { kind: _kind, totalSteps: s, ...rest } = spec;
    return rewarmedCosineSchedule({ ...rest, totalSteps: s ?? totalSteps });
  } catch (err) {
    if (err instanceof RangeError) throw configError(err.message);
    throw err;
  }
}

export interface TrainState {
  model: ResolvedModel;
  /** Global step: the number of updates applied. */
  step: number;
  /** ConvNet: one flat Tensor1D; LM: the named map. */
  params: ParamTree;
  optState: OptimizerState;
  /** Non-trainable state (BatchNorm running statistics `bn<l>.mean` / `bn<l>.variance`). */
  buffers: NamedTensors;
  /** Losses of steps [fromStep, fromStep + values.length). */
  losses: { fromStep: number; values: number[] };
  /** The mixture of every step since step 0 of this run (a fresh or `init` state: []). */
  mixtures: MixtureSegment[];
}

export function disposeState(state: TrainState | undefined): void {
  if (!state) return;
  disposeTree(state.params);
  disposeOptimizerState(state.optState);
  tf.dispose(Object.values(state.buffers));
}

/** A fresh state at step 0: params drawn from `seed`, zero optimizer slots, initial BatchNorm buffers. */
export function initState(model: ResolvedModel, optimizer: Optimizer, seed: number): TrainState {
  const params: ParamTree =
    model.kind === 'convnet' ? initConvNetParams(model.config, seed) : initLmParams(model.config, seed);
  const buffers: NamedTensors = {};
  if (model.kind === 'convnet') {
    initBatchNormStats(model.config).forEach((s, l) => {
      buffers[`bn${l}.mean`] = s.mean;
      buffers[`bn${l}.variance`] = s.variance;
    });
  }
  return {
    model,
    step: 0,
    params,
    optState: optimizer.init(params),
    buffers,
    losses: { fromStep: 0, values: [] },
    mixtures: [],
  };
}

const sameMixture = (a: MixtureSegment, b: Pick<MixtureSegment, 'mixture' | 'exact'>) =>
  a.exact === b.exact && stableJson(a.mixture) === stableJson(b.mixture);

/**
 * `segments` extended by steps [from, to) on `mixture`, merged with the last segment when it ends at
 * `from` on the same mixture (so chunking and crash resumes never show in the list).
 */
export function extendMixtureSegments(
  segments: readonly MixtureSegment[],
  from: number,
  to: number,
  mixture: Pick<MixtureSegment, 'mixture' | 'exact'>,
): MixtureSegment[] {
  if (to <= from) return [...segments];
  const last = segments[segments.length - 1];
  if (last && last.to === from && sameMixture(last, mixture))
    return [...segments.slice(0, -1), { ...last, to }];
  return [...segments, { from, to, mixture: mixture.mixture, exact: mixture.exact }];
}

/** Human-readable form of a segment list, for error messages. */
export function describeMixtureSegments(segments: readonly MixtureSegment[]): string {
  if (segments.length === 0) return '(none)';
  return segments
    .map(
      (s) =>
        `[${s.from}, ${s.to}) ${s.mixture === null ? 'spec plan' : stableJson(s.mixture)}${s.exact ? ' exact' : ''}`,
    )
    .join(', ');
}

/** Appends one step's loss, keeping the last LOSS_HISTORY. */
export function recordLoss(losses: TrainState['losses'], loss: number): TrainState['losses'] {
  const values = [...losses.values, loss];
  const drop = Math.max(0, values.length - LOSS_HISTORY);
  return { fromStep: losses.fromStep + drop, values: values.slice(drop) };
}

export interface CheckpointMeta {
  version: 1;
  model: ResolvedModel;
  step: number;
  optimizer: { kind: Optimizer['kind']; step: number };
  /** sha256 of the run's training identity (schemas/training.ts `trainingIdentity`). */
  identity: string;
  seed: number;
  losses: TrainState['losses'];
  /** Mixture history (absent in checkpoints written before per-chunk mixtures: read as one spec-plan segment). */
  mixtures?: MixtureSegment[];
}

/** The mixture history a checkpoint records. */
export function checkpointMixtures(meta: CheckpointMeta): MixtureSegment[] {
  if (meta.mixtures) return meta.mixtures;
  return meta.step > 0 ? [{ from: 0, to: meta.step, mixture: null, exact: false }] : [];
}

function namedParams(state: TrainState): { name: string; tensor: tf.Tensor }[] {
  const out: { name: string; tensor: tf.Tensor }[] = [];
  if (state.params instanceof tf.Tensor) out.push({ name: 'params', tensor: state.params });
  else for (const [name, t] of Object.entries(state.params)) out.push({ name: `params/${name}`, tensor: t });
  const opt = serializeOptimizerState(state.optState);
  for (const [name, t] of Object.entries(opt.tensors)) out.push({ name: `optimizer/${name}`, tensor: t });
  for (const [name, t] of Object.entries(state.buffers)) out.push({ name: `buffers/${name}`, tensor: t });
  return out;
}

/** The checkpoint form of `state` (bytes depend only on the tensors and `meta`). */
export async function encodeState(
  state: TrainState,
  identity: string,
  seed: number,
  optimizer: Optimizer,
): Promise<tf.io.ModelArtifacts> {
  const meta: CheckpointMeta = {
    version: 1,
    model: state.model,
    step: state.step,
    optimizer: { kind: optimizer.kind, step: state.optState.step },
    identity,
    seed,
    losses: state.losses,
    mixtures: state.mixtures,
  };
  return encodeRetortCheckpoint(namedParams(state), meta);
}

/**
 * Named tensors + Retort's JSON metadata → the ModelArtifacts every Retort checkpoint is stored as
 * (trainChunk's, the distillation's and the committee's; read back under `userDefinedMetadata.retort`).
 */
export async function encodeRetortCheckpoint(
  tensors: Parameters<typeof tf.io.encodeWeights>[0],
  retort: unknown,
): Promise<tf.io.ModelArtifacts> {
  const { data, specs } = await tf.io.encodeWeights(tensors);
  return {
    format: 'retort-checkpoint',
    generatedBy: 'retort',
    weightSpecs: specs,
    weightData: data,
    userDefinedMetadata: { retort } as tf.io.ModelArtifacts['userDefinedMetadata'],
  };
}

export function checkpointMeta(artifacts: tf.io.ModelArtifacts, where: string): CheckpointMeta {
  const meta = (artifacts.userDefinedMetadata as { retort?: CheckpointMeta } | undefined)?.retort;
  if (!meta || meta.version !== 1 || !meta.model || typeof meta.step !== 'number') {
    throw incompatible(`checkpoint ${where} was not written by retort's trainChunk (no retort metadata v1)`);
  }
  return meta;
}

function sameModel(a: ResolvedModel, b: ResolvedModel): boolean {
  return (
    a.kind === b.kind &&
    JSON.stringify(Object.entries(a.config).sort()) === JSON.stringify(Object.entries(b.config).sort())
  );
}

/**
 * Tensors of a checkpoint back into a state. `restoreOptimizer` false (an `init` checkpoint of another
 * run) keeps params and buffers and starts a fresh optimizer at step 0. Throws CheckpointIncompatible
 * naming the checkpoint when the model or the tensors do not fit.
 */
export function decodeState(
  artifacts: tf.io.ModelArtifacts,
  model: ResolvedModel,
  optimizer: Optimizer,
  where: string,
  restoreOptimizer: boolean,
): TrainState {
  const meta = checkpointMeta(artifacts, where);
  if (!sameModel(meta.model, model)) {
    throw incompatible(
      `checkpoint ${where} holds a ${meta.model.kind} ${JSON.stringify(meta.model.config)}, the spec asks for a ${model.kind} ${JSON.stringify(model.config)}`,
    );
  }
  if (restoreOptimizer && meta.optimizer.kind !== optimizer.kind) {
    throw incompatible(
      `checkpoint ${where} was trained with ${meta.optimizer.kind}, the spec asks for ${optimizer.kind}`,
    );
  }
  const data = artifacts.weightData;
  if (!data || !artifacts.weightSpecs) throw incompatible(`checkpoint ${where} has no weights`);
  const tensors = tf.io.decodeWeights(data, artifacts.weightSpecs);
  const used = new Set<string>();
  const take = (name: string): tf.Tensor => {
    const t = tensors[name];
    if (!t) throw incompatible(`checkpoint ${where}: tensor "${name}" is missing`);
    used.add(name);
    return t;
  };
  try {
    let params: ParamTree;
    const buffers: NamedTensors = {};
    if (model.kind === 'convnet') {
      params = take('params');
      const n = paramCount(model.config);
      if (params.rank !== 1 || params.size !== n)
        throw incompatible(
          `checkpoint ${where}: "params" has shape [${params.shape}], the ConvNet has ${n} parameters`,
        );
      for (let l = 0; l < (model.config.norm === 'batchnorm' ? model.config.depth : 0); l++) {
        buffers[`bn${l}.mean`] = take(`buffers/bn${l}.mean`);
        buffers[`bn${l}.variance`] = take(`buffers/bn${l}.variance`);
      }
    } else {
      // Canonical order (lmParamSpecs), whatever order the file lists them in.
      const named: NamedTensors = {};
      for (const spec of lmParamSpecs(model.config)) {
        const t = take(`params/${spec.name}`);
        if (!tf.util.arraysEqual(t.shape, spec.shape))
          throw incompatible(
            `checkpoint ${where}: LM parameter "${spec.name}" has shape [${t.shape}], the model needs [${spec.shape}]`,
          );
        named[spec.name] = t;
      }
      const extra = Object.keys(tensors).find((n) => n.startsWith('params/') && !used.has(n));
      if (extra) throw incompatible(`checkpoint ${where}: tensor "${extra}" is not a parameter of the model`);
      params = named;
    }
    let optState: OptimizerState;
    if (restoreOptimizer) {
      const optTensors: NamedTensors = {};
      for (const [n, t] of Object.entries(tensors))
        if (n.startsWith('optimizer/')) optTensors[n.slice('optimizer/'.length)] = t;
      try {
        optState = deserializeOptimizerState(optimizer, params, {
          step: meta.optimizer.step,
          tensors: optTensors,
        });
      } catch (err) {
        throw incompatible(`checkpoint ${where}: ${(err as Error).message}`);
      }
      for (const n of Object.keys(optTensors)) used.add(`optimizer/${n}`);
    } else {
      optState = optimizer.init(params);
    }
    // Free what the state does not keep (e.g. optimizer slots of an init checkpoint).
    tf.dispose(
      Object.entries(tensors)
        .filter(([n]) => !used.has(n))
        .map(([, t]) => t),
    );
    const step = restoreOptimizer ? meta.step : 0;
    const losses = restoreOptimizer ? meta.losses : { fromStep: 0, values: [] };
    const mixtures = restoreOptimizer ? checkpointMixtures(meta) : [];
    return { model, step, params, optState, buffers, losses, mixtures };
  } catch (err) {
    tf.dispose(Object.values(tensors));
    throw err;
  }
}
