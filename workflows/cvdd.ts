// CV-DD (specs/distill-committee-voting.md) as a durable workflow:
//
//   distillCommittee  committee members trained in parallel (trainCommitteeMember, one activity each on
//                     the compute queue) → (settings.priorSource 'single_model') each member's §4.2 prior
//                     from its own single-model pipeline (estimateCommitteePrior, in parallel) → every
//                     IPC slot recovered in parallel as a chain of recoverSlotChunk activities (each
//                     ends in a committed checkpoint) → exportRecovered → post-evaluation fanned out
//                     over seeds (committee soft labels with KL; optionally IPC random real images with
//                     hard labels, the same way) → manifest. `progress` query.
// `distillDataset` with `method: 'cvdd'` (and its alias `distillCvdd`, what `retort run
// examples/distill-cvdd.json` starts; workflows/distill-dataset.ts) runs ingestImages → distillCommittee.
// History stays small (members (×2 with single-model priors) + ipc × ⌈iterations / chunkIterations⌉ +
// 2·seeds activities), so there is no continueAsNew here; a crashed worker costs at most one chunk of
// one slot (or one prior pipeline).
import { setHandler, uuid4 } from '@temporalio/workflow';
import type { ArtifactRef } from '../schemas/artifact.js';
import {
  type CommitteeMemberRef,
  type CvddAccuracy,
  type CvddRunConfig,
  type DistillCommitteeInput as DistillCommitteeRaw,
  type DistillCommitteeProgress,
  type DistillCommitteeResult,
  type PostEvalCommitteeResult,
  DistillCommitteeInput,
} from '../schemas/cvdd.js';
import { progressQuery } from '../schemas/messages.js';
import { fnv1a64, stableJson } from '../schemas/training.js';
import {
  computeActivities,
  currentRun,
  enterStage,
  ioActivities,
  parseInput,
  surfaceFailures,
  progressDisplay,
} from './common.js';

function accuracyOf(method: CvddAccuracy['method'], results: PostEvalCommitteeResult[]): CvddAccuracy {
  const values = results.map((r) => r.accuracy);
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const std =
    values.length > 1 ? Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / (values.length - 1)) : 0;
  return { method, mean, std, values };
}

export async function distillCommittee(raw: DistillCommitteeRaw): Promise<DistillCommitteeResult> {
  const progress: DistillCommitteeProgress = {
    stage: 'validate',
    runKey: '',
    members: { done: 0, total: 0 },
    priors: { done: 0, total: 0 },
    recovery: { done: 0, total: 0, slotsDone: 0, slots: 0 },
    evaluations: { done: 0, total: 0 },
    lastLoss: null,
  };
  setHandler(progressQuery, () => ({ ...progress }), {
    description:
      'Stage, members trained, single-model priors estimated, recovery iterations done (all slots), evaluations done, last recovery loss',
  });
  const input = parseInput(DistillCommitteeInput, raw, 'distillCommittee');
  const identity = {
    train: input.train.sha256,
    test: input.test.sha256,
    committee: input.committee,
    student: input.student ?? null,
    settings: input.settings,
    ipc: input.ipc,
    classes: input.classes,
    valPerClass: input.valPerClass,
    seed: input.seed,
  };
  const derived = `cvdd-${fnv1a64(stableJson(identity))}`;
  const runKey = input.runKey ?? (input.cache ? derived : `${derived}-${uuid4().slice(0, 8)}`);
  const compute = computeActivities(input.profile);
  const io = ioActivities(input.profile);
  const run: CvddRunConfig = { ipc: input.ipc, classes: input.classes, settings: input.settings };
  const first = input.committee[0]!;
  const student =
    input.student ??
    (first.family === 'convnet' ? first : { family: 'convnet' as const, width: 16, depth: 2 });
  progress.runKey = runKey;
  progress.members.total = input.committee.length;
  progress.recovery.slots = input.ipc;

  const show = progressDisplay();
  const stage = (s: DistillCommitteeProgress['stage']) => {
    progress.stage = s;
    enterStage('distillCommittee', runKey, s);
    const r = progress.recovery;
    // Done/total over every unit of work: members, priors, recovery iterations, evaluations.
    const units = [progress.members, progress.priors, r, progress.evaluations];
    show(
      `**distillCommittee** \`${runKey}\`: ${s}; members ${progress.members.done}/${progress.members.total}, priors ${progress.priors.done}/${progress.priors.total}, recovery ${r.done}/${r.total || '?'} iterations (${r.slotsDone}/${r.slots} slots), evaluations ${progress.evaluations.done}/${progress.evaluations.total}`,
      {
        stage: s,
        done: units.reduce((n, u) => n + u.done, 0),
        total: units.reduce((n, u) => n + u.total, 0),
      },
    );
  };

  /** §3 the committee: members trained in parallel; validation top-1 = voting prior. */
  async function trainCommittee(): Promise<CommitteeMemberRef[]> {
    stage('committee');
    return Promise.all(
      input.committee.map(async (arch, index) => {
        const r = await compute.trainCommitteeMember({
          train: input.train,
          arch,
          index,
          run,
          valPerClass: input.valPerClass,
          seed: input.seed,
          runKey,
        });
        progress.members.done += 1;
        stage('committee');
        return {
          index: r.index,
          id: r.id,
          arch: r.arch,
          checkpoint: r.checkpoint,
          valAcc: r.valAcc,
          prior: r.prior,
          priorSource: 'validation' as const,
        };
      }),
    );
  }

  /** §4.2 the paper's priors: each member's own single-model pipeline, scored on the validation split. */
  async function singleModelPriors(committee: CommitteeMemberRef[]): Promise<CommitteeMemberRef[]> {
    stage('prior');
    progress.priors.total = committee.length;
    return Promise.all(
      committee.map(async (member) => {
        const r = await compute.estimateCommitteePrior({
          train: input.train,
          member,
          run,
          valPerClass: input.valPerClass,
          student,
          seed: input.seed,
          cache: input.cache,
        });
        progress.priors.done += 1;
        stage('prior');
        return { ...member, prior: r.prior, priorSource: 'single_model_post_eval' as const };
      }),
    );
  }

  /** §5.2 recovery: slots in parallel, each a chain of checkpointed chunks; the final checkpoints. */
  async function recoverSlots(committee: CommitteeMemberRef[]): Promise<ArtifactRef[]> {
    stage('recover');
    return Promise.all(
      Array.from({ length: input.ipc }, async (_x, slot) => {
        let iteration = 0;
        let checkpoint: ArtifactRef | undefined;
        let total = Infinity;
        while (iteration < total) {
          const r = await compute.recoverSlotChunk({
            train: input.train,
            committee,
            run,
            slot,
            fromIteration: iteration,
            iterations: input.chunkIterations,
            checkpointEvery: input.checkpointEvery,
            ...(checkpoint ? { from: checkpoint } : {}),
            seed: input.seed,
            runKey,
          });
          if (!Number.isFinite(total)) progress.recovery.total += r.total;
          total = r.total;
          progress.recovery.done += r.iteration - iteration;
          progress.lastLoss = Number.isFinite(r.loss) ? r.loss : progress.lastLoss;
          iteration = r.iteration;
          checkpoint = r.checkpoint;
          stage('recover');
        }
        progress.recovery.slotsDone += 1;
        return checkpoint!;
      }),
    );
  }

  /** §5.4 post-evaluation fanned out over seeds: committee soft labels, and optionally random real. */
  async function postEvaluate(committee: CommitteeMemberRef[], distilled: ArtifactRef) {
    stage('evaluate');
    const seeds = Array.from({ length: input.seeds }, (_x, i) => input.seed * 1000 + i);
    progress.evaluations.total = seeds.length * (input.randomReal ? 2 : 1);
    const evaluate = async (method: 'committee' | 'random_real', seed: number) => {
      const r = await compute.postEvalCommittee({
        train: method === 'committee' ? distilled : input.train,
        test: input.test,
        committee: method === 'committee' ? committee : [],
        student,
        run,
        ...(method === 'random_real' ? { subset: { ipc: input.ipc } } : {}),
        seed,
        cache: input.cache,
      });
      progress.evaluations.done += 1;
      stage('evaluate');
      return r;
    };
    const [distilledEvals, realEvals] = await Promise.all([
      Promise.all(seeds.map((s) => evaluate('committee', s))),
      input.randomReal ? Promise.all(seeds.map((s) => evaluate('random_real', s))) : Promise.resolve([]),
    ]);
    const accuracy = [accuracyOf('committee', distilledEvals)];
    if (realEvals.length) accuracy.push(accuracyOf('random_real', realEvals));
    return { accuracy, evaluations: [...distilledEvals, ...realEvals] };
  }

  return surfaceFailures(async () => {
    let committee = await trainCommittee();
    if (input.settings.priorSource === 'single_model') committee = await singleModelPriors(committee);
    const slots = await recoverSlots(committee);

    stage('export');
    const exported = await compute.exportRecovered({
      train: input.train,
      committee,
      run,
      slots,
      seed: input.seed,
      cache: input.cache,
    });

    const { accuracy, evaluations } = await postEvaluate(committee, exported.distilled);

    stage('manifest');
    const manifest = await io.commitManifest({
      ...currentRun(),
      input,
      outputs: { committee, distilled: exported.distilled, recovery: exported.slots, accuracy, evaluations },
    });
    stage('done');
    return {
      runKey,
      ipc: input.ipc,
      committee,
      distilled: exported.distilled,
      recovery: exported.slots,
      accuracy,
      evaluations,
      manifest,
    };
  });
}
