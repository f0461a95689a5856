// CV-DD §3: train one committee member epoch by epoch on the train table minus a seeded validation
// hold-out; checkpoint + LATEST after every epoch, resume from LATEST on retry; its validation top-1
// is its voting prior (§4.2 "test_acc" proxy).
import * as tf from '@tensorflow/tfjs-core';
import {
  type MemberTrainingState,
  initMemberTraining,
  disposeMemberTraining,
  memberSchedule,
  setAccuracy,
  trainMemberSteps,
} from '../../ml/methods/cvdd/index.js';
import { committeeArchId, memberOptimizer } from '../../ml/methods/cvdd/index.js';
import { buffersToStats, statsToBuffers } from '../../ml/train/loops.js';
import { deserializeOptimizerState, serializeOptimizerState } from '../../ml/train/optimizers.js';
import type { NamedTensors } from '../../ml/train/param-tree.js';
import { deriveSeed } from '../../ml/train/rng.js';
import type { ArtifactRef } from '../../schemas/artifact.js';
import type { TrainCommitteeMemberInput, TrainCommitteeMemberResult } from '../../schemas/cvdd.js';
import { configError, incompatible } from '../failures.js';
import { findChunkStart, saveCheckpoint } from '../resumable-chunk.js';
import { activityContext, pacer } from '../heartbeat.js';
import { type CvddDeps } from './deps.js';
import { committeeArch, resolveCvddConfig, splitValidation } from './config.js';
import { type MemberMeta, decodeCheckpoint, encodeCheckpoint, memberRunKey } from './checkpoint.js';

/** Trains committee member `index` epoch by epoch (checkpointed, resumable); prior = validation top-1. */
export async function trainCommitteeMember(
  deps: CvddDeps,
  input: TrainCommitteeMemberInput,
): Promise<TrainCommitteeMemberResult> {
  const { checkpoints, readImages } = deps;
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

  const load = async (ref: ArtifactRef) => {
    const decoded = decodeCheckpoint<MemberMeta>(await checkpoints.load(ref), ref.uri, 'member');
    if (decoded.meta.identity !== identity) {
      tf.dispose(Object.values(decoded.tensors));
      throw incompatible(`checkpoint ${ref.uri} belongs to another committee run; choose another runKey`);
    }
    return decoded;
  };
  const start = await findChunkStart({ checkpoints, runKey, from: 0, target: epochs, load });
  if (start.kind === 'done') {
    tf.dispose(Object.values(start.value.tensors));
    return result(start.ref, start.value.meta.valAcc ?? 0, null, true);
  }

  const optimizer = memberOptimizer();
  let state: MemberTrainingState | undefined;
  let resumedFromEpoch: number | null = null;
  if (start.kind === 'resume') {
    const { tensors, meta } = start.value;
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
    resumedFromEpoch = start.step;
    ctx?.log.info(`trainCommitteeMember ${id}: resumes from epoch ${start.step}`);
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
    return saveCheckpoint(checkpoints, runKey, epoch, await encodeCheckpoint(tensors, meta));
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
}
