// distillDataset (issue 4): ingest images → plan → distill → evaluate → report → manifest.
//   ingest    ingestImages: MNIST or a user image Parquet → train/test `images` tables (checks IPC
//             against the smallest class before anything is written)
//   plan      planDistillation: spec §10.2's MNIST profile + the run's overrides, as JSON
//   distill   one branch per method. Trajectory matching (mtt, datm): a `trainExperts` child (E
//             experts in parallel) then a `distillTrajectory` child (resumable chunks).
//   evaluate  `evaluateDistilled` fanned out over students: the distilled set (its learned α, soft
//             labels when it has them) and the baselines (IPC random real images per class; the
//             full training split), each reported as mean ± population std of test accuracy
//   report    eval_results table, accuracy table, PNG grid of the synthetic images, loss curve SVG
import { ParentClosePolicy, executeChild, setCurrentDetails, setHandler, workflowInfo } from '@temporalio/workflow';
import type { ArtifactRef } from '../schemas/artifact.js';
import {
  type AccuracyRow,
  type DistillDatasetConfig,
  DistillDatasetInput,
  type DistillDatasetProgress,
  type DistillDatasetResult,
  type DistillTrajectoryResult,
  type DistillationPlan,
  type EvaluateDistilledResult,
  type IngestImagesResult,
  type TrainExpertsResult,
} from '../schemas/distill.js';
import { progressQuery } from '../schemas/messages.js';
import { computeActivities, currentRun, enterStage, ioActivities, parseInput, surfaceFailures } from './common.js';
import type { distillTrajectory } from './distill-trajectory.js';
import type { trainExperts } from './train-experts.js';

/** What a distill branch hands to evaluation and the report. */
interface DistilledOutput {
  distilled: ArtifactRef;
  log: ArtifactRef;
  synLr: number;
  trajectories: ArtifactRef[];
  methodTag: string;
}

/** Mean and population std (numpy default, spec §8). */
function meanStd(values: readonly number[]): { mean: number; std: number } {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  return { mean, std: Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length) };
}

export async function distillDataset(rawInput: DistillDatasetInput): Promise<DistillDatasetResult> {
  const progress: DistillDatasetProgress = { stage: 'validate', evaluations: { done: 0, total: 0 }, child: null };
  setHandler(progressQuery, () => ({ ...progress, evaluations: { ...progress.evaluations } }), {
    description: 'Stage, running child workflow, evaluations done of total',
  });
  const input: DistillDatasetConfig = parseInput(DistillDatasetInput, rawInput, 'distillDataset');
  const io = ioActivities(input.profile);
  const compute = computeActivities(input.profile);
  const id = workflowInfo().workflowId;
  const stage = (s: DistillDatasetProgress['stage'], child: string | null = null) => {
    progress.stage = s;
    progress.child = child;
    enterStage('distillDataset', input.dataset, s);
    const ev = s === 'evaluate' ? ` (${progress.evaluations.done}/${progress.evaluations.total})` : '';
    setCurrentDetails(`**distillDataset** \`${input.dataset}\` ${input.method} IPC ${input.ipc}: ${s}${ev}${child ? ` — child \`${child}\`` : ''}`);
  };

  /** Trajectory matching: experts (parallel activities) → resumable distillation. */
  async function trajectoryMatching(images: IngestImagesResult, plan: DistillationPlan): Promise<DistilledOutput> {
    const expertsId = `${id}/experts`;
    stage('experts', expertsId);
    const experts = await executeChild<typeof trainExperts>('trainExperts', {
      workflowId: expertsId,
      parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
      args: [
        {
          train: images.train,
          test: images.test,
          net: plan.net,
          experts: plan.experts,
          seed: input.seed,
          cache: input.cache,
          profile: input.profile,
        },
      ],
    });
    const distillId = `${id}/distill`;
    stage('distill', distillId);
    const d: DistillTrajectoryResult = await executeChild<typeof distillTrajectory>('distillTrajectory', {
      workflowId: distillId,
      parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
      args: [
        {
          config: plan.distill,
          trajectories: (experts as TrainExpertsResult).trajectories,
          train: images.train,
          iterations: plan.iterations,
          chunkIterations: input.chunkIterations,
          checkpointEvery: input.checkpointEvery,
          cache: input.cache,
          profile: input.profile,
        },
      ],
    });
    return { distilled: d.distilled, log: d.log, synLr: d.synLr, trajectories: experts.trajectories, methodTag: d.method };
  }

  return surfaceFailures(async () => {
    stage('ingest');
    const images = await io.ingestImages({
      source: input.source,
      classes: input.classes,
      seed: input.seed,
      minTrainPerClass: input.ipc,
      minTrainPerClassField: 'ipc',
      cache: input.cache,
    });

    stage('plan');
    const plan = await io.planDistillation({
      method: input.method,
      ipc: input.ipc,
      data: { h: images.h, w: images.w, c: images.c, classes: images.classes, minTrainPerClass: Math.min(...images.trainPerClass) },
      preset: input.preset,
      net: input.net,
      distill: input.distill,
      experts: input.experts,
      evaluation: input.evaluation,
      ...(input.iterations ? { iterations: input.iterations } : {}),
      seed: input.seed,
    });

    // One branch per method (committee voting adds its own here).
    let out: DistilledOutput;
    switch (input.method) {
      case 'mtt':
      case 'datm':
        out = await trajectoryMatching(images, plan);
        break;
    }

    stage('evaluate');
    const students = plan.evaluation.students;
    const runs: { method: string; ipc: number | null; lr: number; train: ArtifactRef; subset?: { ipc: number } }[] = [
      { method: input.method, ipc: input.ipc, lr: out.synLr, train: out.distilled },
    ];
    if (input.baselines.randomReal)
      runs.push({ method: 'random_real', ipc: input.ipc, lr: out.synLr, train: images.train, subset: { ipc: input.ipc } });
    if (input.baselines.fullData) runs.push({ method: 'full_data', ipc: null, lr: plan.experts.lr, train: images.train });
    progress.evaluations = { done: 0, total: runs.length * students };
    const results: EvaluateDistilledResult[][] = await Promise.all(
      runs.map((r) =>
        Promise.all(
          Array.from({ length: students }, (_x, student) =>
            compute
              .evaluateDistilled({
                train: r.train,
                test: images.test,
                net: plan.net,
                evaluation: plan.evaluation,
                lr: r.lr,
                seed: input.seed,
                student,
                ...(r.subset ? { subset: r.subset } : {}),
                cache: input.cache,
              })
              .then((e) => {
                progress.evaluations.done += 1;
                stage('evaluate');
                return e;
              }),
          ),
        ),
      ),
    );
    const accuracy: AccuracyRow[] = runs.map((r, i) => {
      const values = results[i]!.map((e) => e.accuracy);
      return { method: r.method, ipc: r.ipc, ...meanStd(values), values, lr: r.lr, steps: results[i]![0]!.steps };
    });

    stage('report');
    const report = await io.distillReport({
      dataset: input.dataset,
      method: out.methodTag,
      ipc: input.ipc,
      distilled: out.distilled,
      log: out.log,
      accuracy,
      evaluations: runs.map((r, i) => ({ method: r.method, results: results[i]! })),
      cache: input.cache,
    });

    stage('manifest');
    const outputs = {
      images: { train: images.train, test: images.test },
      trajectories: out.trajectories,
      distilled: out.distilled,
      log: out.log,
      report,
    };
    const manifest = await io.commitManifest({ ...currentRun(), input, outputs: { ...outputs, accuracy, plan } });
    stage('done');
    return { dataset: input.dataset, method: input.method, ipc: input.ipc, ...outputs, synLr: out.synLr, accuracy, manifest };
  });
}
