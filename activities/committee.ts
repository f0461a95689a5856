// CV-DD activities (queue `retort-compute`; specs/distill-committee-voting.md §2 activities):
//
//   trainCommitteeMember  one member (BatchNorm ConvNet or MLP) trained on the train table minus a
//                         seeded validation hold-out; checkpoint + LATEST after every epoch, resume from
//                         LATEST on retry, heartbeats; returns the final checkpoint and validation top-1
//                         (its voting prior, §4.2 "test_acc" proxy).
//   estimateCommitteePrior  (settings.priorSource 'single_model') §4.2's prior of one member: every slot
//                         recovered by that member alone, relabelled by it, a student trained on the set,
//                         its validation top-1 in percent (memoized; heartbeats per slot / student chunk).
//   recoverSlotChunk      iterations [from, from + n) of one IPC slot's recovery (§5.2); the slot state
//                         (images, Adam moments, iteration) is checkpointed at the chunk's end and on
//                         cancellation; retries resume from LATEST; results depend only on the global
//                         iteration (same images whatever the chunking).
//   exportRecovered       the final images of every slot → an `images` table (memoized, all-or-nothing)
//                         plus the §8.5 per-voter report at the final images.
//   postEvalCommittee     one evaluation seed (§5.4): a fresh student on the recovered set with KL on
//                         online committee soft labels (BSSL), or on IPC random real images with hard
//                         labels; test top-1 (memoized).
// The math lives in ml/methods/committee-voting.ts and committee-distill.ts.
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import * as tf from '@tensorflow/tfjs-core';
import { convNetConfig } from '../ml/models/convnet.js';
import { committeeMlpConfig } from '../ml/methods/committee-mlp.js';
import {
  type ImageSet,
  type MemberTrainingState,
  disposeCommitteeMembers,
  initMemberTraining,
  disposeMemberTraining,
  estimateSingleModelPrior,
  memberSchedule,
  postEvaluate,
  randomRealIndices,
  setAccuracy,
  slotInitImages,
  slotSeed,
  subsetImages,
  trainMemberSteps,
  validationSplit,
} from '../ml/methods/committee-distill.js';
import {
  type CommitteeArch,
  type CommitteeMember,
  type CommitteeVotingConfig,
  type RecoveryState,
  committeeArchId,
  disposeRecoveryState,
  initRecoveryState,
  mnistCpuConfig,
  recoverSyntheticImages,
  recoveryOptimizer,
  recoveryReport,
  recoverySlotPlan,
  validateCommitteeVotingConfig,
  memberOptimizer,
} from '../ml/methods/committee-voting.js';
import { buffersToStats, statsToBuffers } from '../ml/train/loops.js';
import { deserializeOptimizerState, serializeOptimizerState } from '../ml/train/optimizers.js';
import type { NamedTensors } from '../ml/train/param-tree.js';
import { deriveSeed } from '../ml/train/rng.js';
import type { ArtifactRef } from '../schemas/artifact.js';
import type {
  CommitteeArchSpec,
  CommitteeMemberRef,
  CvddRunConfig,
  EstimateCommitteePriorInput,
  EstimateCommitteePriorResult,
  ExportRecoveredInput,
  ExportRecoveredResult,
  PostEvalCommitteeInput,
  PostEvalCommitteeResult,
  RecoverSlotChunkInput,
  RecoverSlotChunkResult,
  TrainCommitteeMemberInput,
  TrainCommitteeMemberResult,
} from '../schemas/committee.js';
import { IMAGES, contractFingerprint } from '../schemas/tables.js';
import type { ArtifactStore } from '../storage/artifacts.js';
import { CheckpointStore } from '../storage/checkpoints.js';
import { memoized } from './memo.js';
import { imageTableBytes } from './images.js';
import { type ImageData, trainingTableReader } from './training-data.js';
import { configError, encodeRetortCheckpoint, incompatible } from './training-state.js';

const HEARTBEAT_INTERVAL_MS = 2000;
const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

function activityContext(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined;
  }
}

/** Throttled heartbeats plus cancellation checks between synchronous tf stretches. */
function pacer(ctx: Context | undefined) {
  let last = 0;
  return async (details: unknown, force = false): Promise<void> => {
    if (ctx && (force || Date.now() - last >= HEARTBEAT_INTERVAL_MS)) {
      last = Date.now();
      ctx.heartbeat(details);
    }
    await yieldToEventLoop();
  };
}

// -------------------------------------------------------------------------------------------------
// Settings → ml/ config, arch specs → ml/ archs

/** The §7.2 profile for the run's IPC with its overrides, validated (ConfigError names the keys). */
export function resolveCvddConfig(run: CvddRunConfig): CommitteeVotingConfig {
  const { jitter, studentRoll, mlpBnTerm, priorSource: _priorSource, ...overrides } = run.settings;
  const profile = run.ipc === 1 ? 1 : run.ipc <= 10 ? 10 : 50;
  const base = mnistCpuConfig(profile);
  const defined = Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined));
  const config: CommitteeVotingConfig = {
    ...base,
    ...defined,
    ipc: run.ipc,
    classes: run.classes,
    ...(mlpBnTerm !== undefined ? { bnTermFamilies: mlpBnTerm ? ['convnet', 'mlp'] : ['convnet'] } : {}),
    recoverAugment: { ...base.recoverAugment, ...(jitter !== undefined ? { jitter } : {}) },
    studentAugment: { ...base.studentAugment, ...(studentRoll !== undefined ? { roll: studentRoll } : {}) },
  };
  const errors = validateCommitteeVotingConfig(config);
  if (errors.length) throw configError(`CV-DD settings: ${errors.join('; ')}`);
  return config;
}

export function committeeArch(
  spec: CommitteeArchSpec,
  data: { h: number; w: number; c: number },
  classes: number,
): CommitteeArch {
  const { h, w, c } = data;
  try {
    return spec.family === 'convnet'
      ? {
          family: 'convnet',
          config: convNetConfig({
            h,
            w,
            c,
            classes,
            width: spec.width,
            depth: spec.depth,
            norm: 'batchnorm',
            firstPadding: 1,
          }),
        }
      : { family: 'mlp', config: committeeMlpConfig({ h, w, c, classes, hidden: spec.hidden }) };
  } catch (err) {
    if (err instanceof RangeError)
      throw configError(`committee architecture ${JSON.stringify(spec)} on ${h}×${w}×${c}: ${err.message}`);
    throw err;
  }
}

const asImageSet = (t: ImageData): ImageSet => ({
  pixels: t.pixels,
  labels: t.labels,
  h: t.h,
  w: t.w,
  c: t.c,
});

function checkLabels(t: ImageData, classes: number): void {
  for (let i = 0; i < t.labels.length; i++) {
    const y = t.labels[i]!;
    if (!(y >= 0 && y < classes))
      throw ApplicationFailure.nonRetryable(
        `Parquet column "label" in ${t.uri}: label ${y} at row ${i} (id "${t.ids[i]}") is outside [0, ${classes}) (field "classes")`,
        'LabelOutOfRange',
      );
  }
}

/** The members' seeded per-class validation hold-out (ConfigError naming valPerClass when too large). */
function splitValidation(
  table: ImageData,
  input: { run: CvddRunConfig; valPerClass: number; seed: number; train: ArtifactRef },
): { train: ImageSet; val: ImageSet } {
  let split: { train: Int32Array; val: Int32Array };
  try {
    split = validationSplit(
      table.labels,
      input.run.classes,
      input.valPerClass,
      deriveSeed(input.seed, 'validation'),
    );
  } catch (err) {
    if (err instanceof RangeError)
      throw configError(`field "valPerClass" = ${input.valPerClass} with ${input.train.uri}: ${err.message}`);
    throw err;
  }
  const all = asImageSet(table);
  return { train: subsetImages(all, split.train), val: subsetImages(all, split.val) };
}

// -------------------------------------------------------------------------------------------------
// Checkpoint codec: named tensors + JSON metadata (`retort.cvdd`)

async function encodeCheckpoint(
  tensors: NamedTensors,
  meta: MemberMeta | SlotMeta,
): Promise<tf.io.ModelArtifacts> {
  const named = Object.entries(tensors)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, tensor]) => ({ name, tensor }));
  return encodeRetortCheckpoint(named, { cvdd: meta });
}

function decodeCheckpoint<M>(
  art: tf.io.ModelArtifacts,
  where: string,
  kind: string,
): { tensors: NamedTensors; meta: M } {
  const meta = (art.userDefinedMetadata as { retort?: { cvdd?: M & { kind?: string } } } | undefined)?.retort
    ?.cvdd;
  if (!meta || meta.kind !== kind || !art.weightData || !art.weightSpecs)
    throw incompatible(`checkpoint ${where} is not a CV-DD ${kind} checkpoint`);
  return { tensors: tf.io.decodeWeights(art.weightData, art.weightSpecs), meta };
}

interface MemberMeta {
  kind: 'member';
  id: string;
  epoch: number;
  step: number;
  optimizerStep: number;
  layers: number;
  valAcc: number | null;
  identity: string;
}

interface SlotMeta {
  kind: 'slot';
  slot: number;
  iteration: number;
  adamStep: number;
  labels: number[];
  voters: number[];
  weights: number[];
  seed: number;
  last: { loss: number; ce: number[]; bn: number[] } | null;
  identity: string;
}

const memberRunKey = (runKey: string, index: number) => `${runKey}.member-${index}`;
const slotRunKey = (runKey: string, slot: number) => `${runKey}.slot-${slot}`;

export function createCommitteeActivities({ artifacts }: { artifacts: ArtifactStore }) {
  const checkpoints = new CheckpointStore(artifacts.store);
  const readTable = trainingTableReader(artifacts);
  const readTest = trainingTableReader(artifacts);

  /** Loads the frozen members of these refs (their optimizer tensors dropped); all-or-nothing. */
  async function loadMembers(
    refs: CommitteeMemberRef[],
    data: ImageData,
    classes: number,
  ): Promise<CommitteeMember[]> {
    const members: CommitteeMember[] = [];
    try {
      for (const ref of refs) {
        const arch = committeeArch(ref.arch, data, classes);
        const art = await checkpoints.load(ref.checkpoint);
        const { tensors, meta } = decodeCheckpoint<MemberMeta>(art, ref.checkpoint.uri, 'member');
        const params = tensors.params as tf.Tensor1D | undefined;
        if (!params) throw incompatible(`checkpoint ${ref.checkpoint.uri}: tensor "params" is missing`);
        members.push({
          id: ref.id,
          arch,
          params,
          runningStats: buffersToStats(tensors, meta.layers),
          prior: ref.prior,
        });
        tf.dispose(
          Object.entries(tensors)
            .filter(([n]) => n.startsWith('optimizer/'))
            .map(([, t]) => t),
        );
      }
      return members;
    } catch (err) {
      disposeCommitteeMembers(members);
      throw err;
    }
  }

  /**
   * Committees loaded on this worker, by checkpoint hashes and input shape. Activities running at once
   * share an entry (the load is one promise, so two first callers load once) and count themselves in
   * `users`; an entry is disposed only when nobody uses it and another committee is released, so a
   * slot never loses its members mid-recovery (e.g. to a concurrent prior pipeline's single member)
   * and consecutive chunks of one committee reuse them.
   */
  const committees = new Map<string, { members: Promise<CommitteeMember[]>; users: number }>();
  async function leaseCommittee(
    refs: CommitteeMemberRef[],
    data: ImageData,
    classes: number,
  ): Promise<{ members: CommitteeMember[]; release: () => void }> {
    const key = refs.map((r) => r.checkpoint.sha256).join(',') + `@${data.h}x${data.w}x${data.c}/${classes}`;
    let entry = committees.get(key);
    if (!entry) {
      const created = { members: loadMembers(refs, data, classes), users: 0 };
      created.members.catch(() => committees.get(key) === created && committees.delete(key));
      committees.set(key, created);
      entry = created;
    }
    entry.users += 1;
    const leased = entry;
    let members: CommitteeMember[];
    try {
      members = await leased.members;
    } catch (err) {
      leased.users -= 1;
      throw err;
    }
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      leased.users -= 1;
      for (const [k, e] of committees)
        if (k !== key && e.users === 0) {
          committees.delete(k);
          void e.members.then(disposeCommitteeMembers, () => undefined);
        }
    };
    return { members, release };
  }

  async function readImages(ref: ArtifactRef, classes: number): Promise<ImageData> {
    const t = (await readTable(ref, 'images')) as ImageData;
    checkLabels(t, classes);
    return t;
  }

  return {
    /** Trains committee member `index` epoch by epoch (checkpointed, resumable); prior = validation top-1. */
    async trainCommitteeMember(input: TrainCommitteeMemberInput): Promise<TrainCommitteeMemberResult> {
      const ctx = activityContext();
      const config = resolveCvddConfig(input.run);
      const table = await readImages(input.train, input.run.classes);
      const arch = committeeArch(input.arch, table, input.run.classes);
      const id = `${committeeArchId(arch)}#${input.index}`;
      const { train, val } = splitValidation(table, input);
      let schedule: { stepsPerEpoch: number; totalSteps: number };
      try {
        schedule = memberSchedule(train.labels.length, config);
      } catch (err) {
        if (err instanceof RangeError)
          throw configError(`settings.memberBatchSize with ${input.train.uri}: ${err.message}`);
        throw err;
      }
      const runKey = memberRunKey(input.runKey, input.index);
      const seed = deriveSeed(input.seed, 'member', input.index);
      const identity = JSON.stringify({
        arch,
        data: input.train.sha256,
        config: [config.memberEpochs, config.memberBatchSize, config.memberLr, config.bnMomentum],
        val: input.valPerClass,
        seed,
      });
      const epochs = config.memberEpochs;
      const result = (
        checkpoint: ArtifactRef,
        valAcc: number,
        resumedFromEpoch: number | null,
        reused: boolean,
      ): TrainCommitteeMemberResult => ({
        index: input.index,
        id,
        arch: input.arch,
        checkpoint,
        valAcc,
        prior: 100 * valAcc,
        steps: schedule.totalSteps,
        resumedFromEpoch,
        reused,
      });

      const done = await checkpoints.find(runKey, epochs);
      if (done) {
        const { tensors, meta } = decodeCheckpoint<MemberMeta>(
          await checkpoints.load(done),
          done.uri,
          'member',
        );
        tf.dispose(Object.values(tensors));
        if (meta.identity !== identity)
          throw incompatible(
            `checkpoint ${done.uri} belongs to another committee run; choose another runKey`,
          );
        return result(done, meta.valAcc ?? 0, null, true);
      }

      const optimizer = memberOptimizer();
      let state: MemberTrainingState | undefined;
      let resumedFromEpoch: number | null = null;
      const latest = await checkpoints.readLatest(runKey);
      if (latest && latest.step > 0 && latest.step < epochs) {
        const { tensors, meta } = decodeCheckpoint<MemberMeta>(
          await checkpoints.load(latest.checkpoint),
          latest.checkpoint.uri,
          'member',
        );
        if (meta.identity !== identity)
          throw incompatible(
            `checkpoint ${latest.checkpoint.uri} belongs to another committee run; choose another runKey`,
          );
        const params = tensors.params as tf.Tensor1D;
        const optTensors = Object.fromEntries(
          Object.entries(tensors)
            .filter(([n]) => n.startsWith('optimizer/'))
            .map(([n, t]) => [n.slice('optimizer/'.length), t]),
        );
        state = {
          params,
          optState: deserializeOptimizerState(optimizer, params, {
            step: meta.optimizerStep,
            tensors: optTensors,
          }),
          runningStats: buffersToStats(tensors, meta.layers),
          step: meta.step,
        };
        resumedFromEpoch = latest.step;
        ctx?.log.info(`trainCommitteeMember ${id}: resumes from epoch ${latest.step}`);
      }
      state ??= initMemberTraining(arch, seed);
      const beat = pacer(ctx);
      let lastLoss: number | null = null;
      let epoch = state.step / schedule.stepsPerEpoch;
      const save = async (s: MemberTrainingState, valAcc: number | null): Promise<ArtifactRef> => {
        const opt = serializeOptimizerState(s.optState);
        const tensors: NamedTensors = { params: s.params, ...statsToBuffers(s.runningStats) };
        for (const [n, t] of Object.entries(opt.tensors)) tensors[`optimizer/${n}`] = t;
        const meta: MemberMeta = {
          kind: 'member',
          id,
          epoch,
          step: s.step,
          optimizerStep: opt.step,
          layers: s.runningStats.length,
          valAcc,
          identity,
        };
        const ref = await checkpoints.save(runKey, epoch, await encodeCheckpoint(tensors, meta));
        await checkpoints.advanceLatest(runKey, epoch, ref);
        return ref;
      };
      try {
        const chunk = 20;
        while (epoch < epochs) {
          const epochEnd = (epoch + 1) * schedule.stepsPerEpoch;
          while (state.step < epochEnd) {
            if (ctx?.cancellationSignal.aborted) throw ctx.cancellationSignal.reason;
            const next = trainMemberSteps(
              arch,
              state,
              train,
              config,
              seed,
              Math.min(chunk, epochEnd - state.step),
              (info) => (lastLoss = info.loss),
            );
            disposeMemberTraining(state);
            state = next;
            await beat({ member: id, epoch, step: state.step, of: schedule.totalSteps, loss: lastLoss });
          }
          epoch += 1;
          const valAcc = epoch === epochs ? setAccuracy(arch, state.params, state.runningStats, val) : null;
          const ref = await save(state, valAcc);
          await beat({ member: id, epoch, step: state.step, of: schedule.totalSteps, loss: lastLoss }, true);
          if (epoch === epochs) return result(ref, valAcc!, resumedFromEpoch, false);
        }
        throw new Error('unreachable: member training ended without a final epoch');
      } finally {
        disposeMemberTraining(state);
      }
    },

    /** Recovery iterations [fromIteration, fromIteration + iterations) of one slot (§5.2). */
    async recoverSlotChunk(input: RecoverSlotChunkInput): Promise<RecoverSlotChunkResult> {
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
            throw incompatible(
              `checkpoint ${ref.uri} belongs to another recovery run; choose another runKey`,
            );
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

        const done = await checkpoints.find(runKey, target);
        if (done) {
          const { state, meta } = await loadState(done);
          disposeRecoveryState(state);
          return chunkResult(done, meta.last, null, true);
        }
        let state: RecoveryState | undefined;
        let last: SlotMeta['last'] = null;
        let resumedFrom: number | null = null;
        const latest = await checkpoints.readLatest(runKey);
        const start =
          latest && latest.step > input.fromIteration && latest.step < target
            ? latest.checkpoint
            : input.from;
        if (start) {
          const loaded = await loadState(start);
          state = loaded.state;
          last = loaded.meta.last;
          if (start !== input.from) resumedFrom = state.iteration;
        } else if (input.fromIteration > 0) {
          throw configError(
            `recoverSlotChunk: no checkpoint of slot ${input.slot} at iteration ${input.fromIteration} and no "from" ref`,
          );
        } else {
          let init: { images: tf.Tensor4D; labels: number[] };
          try {
            init = slotInitImages(asImageSet(table), input.run.classes, config, input.slot, input.seed);
          } catch (err) {
            if (err instanceof RangeError)
              throw ApplicationFailure.nonRetryable(
                `field "ipc" = ${config.ipc} with ${input.train.uri}: ${err.message}`,
                'IpcExceedsClassSize',
              );
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
          const ref = await checkpoints.save(
            runKey,
            s.iteration,
            await encodeCheckpoint(
              { images: s.images, 'optimizer/m': s.adam.slots.m!, 'optimizer/v': s.adam.slots.v! },
              meta,
            ),
          );
          await checkpoints.advanceLatest(runKey, s.iteration, ref);
          return ref;
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
                throw ApplicationFailure.nonRetryable(`slot ${input.slot}: ${err.message}`, 'LossDiverged');
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
    },

    /** The recovered slots → one `images` table, plus the per-voter report at the final images. */
    async exportRecovered(input: ExportRecoveredInput): Promise<ExportRecoveredResult> {
      const config = resolveCvddConfig(input.run);
      const table = await readImages(input.train, input.run.classes);
      const lease = await leaseCommittee(input.committee, table, input.run.classes);
      try {
        const committee = lease.members;
        const identity = {
          activity: 'exportRecovered@1',
          inputs: input.slots.map((s) => s.sha256),
          config: { committee: input.committee.map((m) => m.checkpoint.sha256), run: input.run },
          seed: input.seed,
        };
        return await memoized(artifacts, identity, input.cache, async () => {
          const { h, w, c } = table;
          const size = h * w * c;
          const pixels = new Float32Array(input.slots.length * config.classes * size);
          const labels: number[] = [];
          const ids: string[] = [];
          const slots: ExportRecoveredResult['slots'] = [];
          for (const [j, ref] of input.slots.entries()) {
            const { tensors, meta } = decodeCheckpoint<SlotMeta>(
              await checkpoints.load(ref),
              ref.uri,
              'slot',
            );
            const images = tensors.images as tf.Tensor4D;
            const voters = meta.voters.map((i) => committee[i]!);
            const report = recoveryReport(images, meta.labels, voters, meta.weights, config);
            pixels.set(images.dataSync(), labels.length * size);
            meta.labels.forEach((y) => {
              ids.push(`cvdd-s${j}-${ids.length}`);
              labels.push(y);
            });
            tf.dispose(Object.values(tensors));
            slots.push({
              slot: j,
              voters: voters.map((m) => m.id),
              weights: meta.weights,
              ce: report.ce,
              bn: report.bn,
              accuracy: report.accuracy,
            });
          }
          const bytes = imageTableBytes(
            { ids, labels: Int32Array.from(labels), pixels: pixels.subarray(0, labels.length * size) },
            { h, w, c },
            {
              method: 'cvdd',
              classes: String(config.classes),
              'retort.committee': JSON.stringify(
                input.committee.map((m) => ({
                  id: m.id,
                  prior: m.prior,
                  priorSource: m.priorSource ?? 'validation',
                  checkpoint: m.checkpoint.uri,
                })),
              ),
              'retort.recover': JSON.stringify(config),
              'retort.voters': JSON.stringify(slots.map((s) => ({ voters: s.voters, weights: s.weights }))),
            },
          );
          return {
            outputs: [
              {
                output: 'distilled',
                bytes,
                kind: 'table',
                format: 'parquet',
                rows: labels.length,
                schema: contractFingerprint(IMAGES),
              },
            ],
            result: (refs) => ({ distilled: refs.distilled!, slots }),
          };
        });
      } finally {
        lease.release();
      }
    },

    /** §4.2 prior of one member by its own single-model pipeline, on the validation hold-out (memoized). */
    async estimateCommitteePrior(input: EstimateCommitteePriorInput): Promise<EstimateCommitteePriorResult> {
      const ctx = activityContext();
      const config = resolveCvddConfig(input.run);
      const identity = {
        activity: 'estimateCommitteePrior@1',
        inputs: [input.train.sha256, input.member.checkpoint.sha256],
        config: { run: input.run, student: input.student, val: input.valPerClass },
        seed: input.seed,
      };
      return memoized(artifacts, identity, input.cache, async () => {
        const table = await readImages(input.train, input.run.classes);
        const { train, val } = splitValidation(table, input);
        const lease = await leaseCommittee([input.member], table, input.run.classes);
        try {
          const member = lease.members[0]!;
          const beat = pacer(ctx);
          const check = async (details: Record<string, unknown>) => {
            if (ctx?.cancellationSignal.aborted) throw ctx.cancellationSignal.reason;
            await beat({ member: input.member.id, ...details });
          };
          let steps = 0;
          const r = await estimateSingleModelPrior({
            member: member!,
            train,
            val,
            student: committeeArch(input.student, table, input.run.classes),
            config,
            seed: deriveSeed(input.seed, 'prior', input.member.index),
            afterSlot: (done, of) => check({ stage: 'recover', slot: done, of }),
            between: (done, total) => {
              steps = total;
              return check({ stage: 'student', step: done, of: total });
            },
          });
          return {
            outputs: [],
            result: () => ({ index: input.member.index, prior: r.prior, steps }),
          };
        } finally {
          lease.release();
        }
      });
    },

    /** One post-evaluation student (§5.4); memoized per (train, test, committee, settings, seed). */
    async postEvalCommittee(input: PostEvalCommitteeInput): Promise<PostEvalCommitteeResult> {
      const ctx = activityContext();
      const config = resolveCvddConfig(input.run);
      const method = input.subset ? 'random_real' : input.committee.length > 0 ? 'committee' : 'hard_labels';
      const identity = {
        activity: 'postEvalCommittee@1',
        inputs: [input.train.sha256, input.test.sha256, ...input.committee.map((m) => m.checkpoint.sha256)],
        config: { run: input.run, student: input.student, subset: input.subset ?? null },
        seed: input.seed,
      };
      return memoized(artifacts, identity, input.cache, async () => {
        const table = await readImages(input.train, input.run.classes);
        const test = (await readTest(input.test, 'images')) as ImageData;
        checkLabels(test, input.run.classes);
        if (test.h !== table.h || test.w !== table.w || test.c !== table.c)
          throw configError(
            `test table ${input.test.uri} is ${test.h}×${test.w}×${test.c}, train ${input.train.uri} is ${table.h}×${table.w}×${table.c}`,
          );
        let train = asImageSet(table);
        if (input.subset) {
          try {
            train = subsetImages(
              train,
              randomRealIndices(
                train.labels,
                input.run.classes,
                input.subset.ipc,
                deriveSeed(input.seed, 'random-real'),
              ),
            );
          } catch (err) {
            if (err instanceof RangeError)
              throw ApplicationFailure.nonRetryable(
                `field "ipc" = ${input.subset.ipc} with ${input.train.uri}: ${err.message}`,
                'IpcExceedsClassSize',
              );
            throw err;
          }
        }
        const lease = input.committee.length
          ? await leaseCommittee(input.committee, table, input.run.classes)
          : null;
        try {
          const teacher = lease?.members ?? null;
          const beat = pacer(ctx);
          const r = await postEvaluate({
            train,
            teacher,
            student: committeeArch(input.student, table, input.run.classes),
            config,
            test: asImageSet(test),
            seed: input.seed,
            chunkSteps: 10,
            between: async (done, total) => {
              if (ctx?.cancellationSignal.aborted) throw ctx.cancellationSignal.reason;
              await beat({ method, seed: input.seed, step: done, of: total });
            },
          });
          return {
            outputs: [],
            result: () => ({
              method,
              seed: input.seed,
              accuracy: r.testAcc,
              steps: r.steps,
              finalLoss: r.finalLoss,
            }),
          };
        } finally {
          lease?.release();
        }
      });
    },
  };
}
