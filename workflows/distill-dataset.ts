// distillDataset: ingest images → one branch per method → manifest.
//   ingest    ingestImages: MNIST or a user image Parquet → train/test `images` tables (checks IPC
//             against the smallest class before anything is written)
// Committee voting (cvdd) branches right after ingest into a `distillCommittee` child (members,
// chunked slot recovery, export, post-evaluation over seeds; its own manifest), then this run's
// manifest. Trajectory matching (mtt, datm) goes on:
//   plan      planDistillation: spec §10.2's MNIST profile + the run's overrides, as JSON
//   distill   a `trainExperts` child (E experts in parallel) then a `distillTrajectory` child
//             (resumable chunks).
//   evaluate  `evaluateDistilled` fanned out over students: the distilled set (its learned α, soft
//             labels when it has them) and the baselines (IPC random real images per class; the
//             full training split), each reported as mean ± population std of test accuracy
//   report    eval_results table, accuracy table, PNG grid of the synthetic images, loss curve SVG
// `distillCvdd` (examples/distill-cvdd.json) is an alias: the same run with `method: 'cvdd'` implied.
import {
  ApplicationFailure,
  executeChild,
  setCurrentDetails,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { ArtifactRef } from '../schemas/artifact.js';
import {
  type AccuracyRow,
  type DistillTrajectoryResult,
  type DistillationPlan,
  type EvaluateDistilledResult,
  type TrainExpertsResult,
} from '../schemas/trajectory-matching.js';
import {
  type CvddDistillConfig,
  type CvddDistillResult,
  type DistillCvddInput,
  DistillDatasetInput,
  type DistillDatasetProgress,
  type DistillDatasetResult,
  type TrajectoryDistillConfig,
  type TrajectoryDistillResult,
} from '../schemas/distill.js';
import { type IngestImagesResult } from '../schemas/images.js';
import { meanStd } from '../ml/eval/mean-std.js';
import { childProgressSignal, progressQuery } from '../schemas/messages.js';
import type { ReportContent } from '../schemas/report.js';
import {
  childOptions,
  computeActivities,
  currentRun,
  enterStage,
  ioActivities,
  parseInput,
  surfaceFailures,
} from './common.js';
import type { distillCommittee } from './cvdd.js';
import { reportStage } from './report-stage.js';
import type { distillTrajectory, trainExperts } from './trajectory-matching.js';

/** What a distill branch hands to evaluation and the report. */
interface DistilledOutput {
  distilled: ArtifactRef;
  log: ArtifactRef;
  synLr: number;
  trajectories: ArtifactRef[];
  methodTag: string;
}

/** Mean and max of the students' final training losses, when every result carries one. */
function finalTrainLoss(results: readonly { trainLoss?: number }[]): {
  finalTrainLoss?: { mean: number; max: number };
} {
  const losses = results.map((e) => e.trainLoss);
  if (!losses.every((l): l is number => typeof l === 'number')) return {};
  return { finalTrainLoss: { mean: meanStd(losses).mean, max: Math.max(...losses) } };
}

export async function distillDataset(rawInput: DistillDatasetInput): Promise<DistillDatasetResult> {
  return runDistillDataset(rawInput, 'distillDataset');
}

/** CV-DD under its own workflow type: `distillDataset` with `method: 'cvdd'`. */
export async function distillCvdd(rawInput: DistillCvddInput): Promise<CvddDistillResult> {
  return (await runDistillDataset({ ...rawInput, method: 'cvdd' }, 'distillCvdd')) as CvddDistillResult;
}

/** Both workflow types run this; `workflow` names the type in input errors and stage logs. */
async function runDistillDataset(
  rawInput: DistillDatasetInput,
  workflow: string,
): Promise<DistillDatasetResult> {
  const progress: DistillDatasetProgress = {
    stage: 'validate',
    evaluations: { done: 0, total: 0 },
    child: null,
    childProgress: null,
  };
  setHandler(progressQuery, () => ({ ...progress, evaluations: { ...progress.evaluations } }), {
    description: 'Stage, running child workflow, evaluations done of total',
  });
  // Every default together is the paper-scale MNIST run (hours on a CPU): an empty input is refused
  // rather than silently starting it.
  const { method: _implied, ...given } = rawInput ?? {};
  if (Object.keys(given).length === 0)
    throw ApplicationFailure.nonRetryable(
      `${workflow} input is empty: its defaults are a full-scale run; give at least "dataset" and "ipc" (examples/${workflow === 'distillCvdd' ? 'distill-cvdd' : 'distill-dataset'}.json is a small profile)`,
      'InvalidPipelineInput',
    );
  const input = parseInput(DistillDatasetInput, rawInput, workflow);
  const io = ioActivities(input.profile);
  const compute = computeActivities(input.profile);
  const id = workflowInfo().workflowId;
  // Current details: this run's line, then its running child's (rolled up by the childProgress signal).
  const showDetails = () => {
    const { stage: s, child, childProgress: c } = progress;
    const ev = s === 'evaluate' ? ` (${progress.evaluations.done}/${progress.evaluations.total})` : '';
    setCurrentDetails(
      `**${workflow}** \`${input.dataset}\` ${input.method} IPC ${input.ipc}: ${s}${ev}${child ? ` — child \`${child}\`` : ''}${c && c.workflowId === child ? `\n\n↳ ${c.details}` : ''}`,
    );
  };
  setHandler(childProgressSignal, (p) => {
    progress.childProgress = p;
    showDetails();
  });
  const stage = (s: DistillDatasetProgress['stage'], child: string | null = null) => {
    progress.stage = s;
    progress.child = child;
    enterStage(workflow, input.dataset, s);
    showDetails();
  };

  /** The run's `report.html`, the last stage before the manifest. */
  async function writeReport(
    contents: ReportContent[],
    accuracy: { method: string; mean: number } | undefined,
  ): Promise<{ reportHtml?: ArtifactRef }> {
    return reportStage(io, {
      dataset: input.dataset,
      contents,
      input,
      cache: input.cache,
      topLevelOnly: false,
      onStage: () => stage('report'),
      // Headline: test accuracy (%) of students trained on the distilled set.
      headline: accuracy && 100 * accuracy.mean,
    });
  }

  /** Trajectory matching: experts (parallel activities) → resumable distillation. */
  async function trajectoryMatching(
    cfg: TrajectoryDistillConfig,
    images: IngestImagesResult,
    plan: DistillationPlan,
  ): Promise<DistilledOutput> {
    const expertsId = `${id}/experts`;
    stage('experts', expertsId);
    const experts = await executeChild<typeof trainExperts>('trainExperts', {
      workflowId: expertsId,
      ...childOptions(
        `trainExperts · ${plan.experts.count} experts × ${plan.experts.epochs} epochs on ${input.dataset}`,
        `**trainExperts**: expert training trajectories (θ every epoch) for ${cfg.method.toUpperCase()} at IPC ${cfg.ipc}.`,
      ),
      args: [
        {
          train: images.train,
          test: images.test,
          net: plan.net,
          experts: plan.experts,
          seed: cfg.seed,
          cache: cfg.cache,
          profile: cfg.profile,
        },
      ],
    });
    const distillId = `${id}/distill`;
    stage('distill', distillId);
    const d: DistillTrajectoryResult = await executeChild<typeof distillTrajectory>('distillTrajectory', {
      workflowId: distillId,
      ...childOptions(
        `distillTrajectory · ${cfg.method.toUpperCase()} IPC ${cfg.ipc}, ${plan.iterations} iterations on ${input.dataset}`,
        `**distillTrajectory**: ${cfg.method.toUpperCase()} outer iterations in resumable chunks of ${cfg.chunkIterations}.`,
      ),
      args: [
        {
          config: plan.distill,
          trajectories: (experts as TrainExpertsResult).trajectories,
          train: images.train,
          iterations: plan.iterations,
          chunkIterations: cfg.chunkIterations,
          checkpointEvery: cfg.checkpointEvery,
          cache: cfg.cache,
          profile: cfg.profile,
        },
      ],
    });
    return {
      distilled: d.distilled,
      log: d.log,
      synLr: d.synLr,
      trajectories: experts.trajectories,
      methodTag: d.method,
    };
  }

  /** Committee voting: the `distillCommittee` child does everything after ingest; then this run's manifest. */
  async function committeeVoting(
    cfg: CvddDistillConfig,
    images: IngestImagesResult,
  ): Promise<CvddDistillResult> {
    const childId = `${id}/committee`;
    stage('distill', childId);
    const { dataset: _dataset, source: _source, method: _method, ...settings } = cfg;
    const c = await executeChild<typeof distillCommittee>('distillCommittee', {
      workflowId: childId,
      ...childOptions(
        `distillCommittee · CV-DD IPC ${cfg.ipc}, ${cfg.committee?.length ?? 4} members on ${input.dataset}`,
        `**distillCommittee**: committee training, per-slot recovery by voting, relabelling and post-evaluation (${cfg.seeds} seeds).`,
      ),
      args: [{ ...settings, train: images.train, test: images.test }],
    });
    const { manifest: committeeManifest, ...committee } = c;
    // The committee evaluated in the child: its count is this run's too.
    progress.evaluations = { done: c.evaluations.length, total: c.evaluations.length };
    const reportHtml = await writeReport(
      [
        {
          kind: 'cvdd',
          ipc: c.ipc,
          distilled: c.distilled,
          committee: c.committee.map(({ index, id, valAcc, prior, priorSource }) => ({
            index,
            id,
            valAcc,
            prior,
            ...(priorSource ? { priorSource } : {}),
          })),
          recovery: c.recovery,
          accuracy: c.accuracy,
        },
      ],
      c.accuracy.find((a) => a.method === 'committee'),
    );
    stage('manifest');
    const outputs = {
      images: { train: images.train, test: images.test },
      ...committee,
      committeeManifest,
      ...reportHtml,
    };
    const manifest = await io.commitManifest({ ...currentRun(), input: cfg, outputs });
    stage('done');
    return { dataset: cfg.dataset, method: 'cvdd', ...outputs, manifest };
  }

  /** Trajectory matching after ingest: plan → experts → distillation → evaluation → report → manifest. */
  async function trajectoryRun(
    cfg: TrajectoryDistillConfig,
    images: IngestImagesResult,
  ): Promise<TrajectoryDistillResult> {
    stage('plan');
    const plan = await io.planDistillation({
      method: cfg.method,
      ipc: cfg.ipc,
      data: {
        h: images.h,
        w: images.w,
        c: images.c,
        classes: images.classes,
        minTrainPerClass: Math.min(...images.trainPerClass),
      },
      preset: cfg.preset,
      net: cfg.net,
      distill: cfg.distill,
      experts: cfg.experts,
      evaluation: cfg.evaluation,
      ...(cfg.iterations ? { iterations: cfg.iterations } : {}),
      seed: cfg.seed,
    });

    const out = await trajectoryMatching(cfg, images, plan);

    stage('evaluate');
    const students = plan.evaluation.students;
    const runs: {
      method: string;
      ipc: number | null;
      lr: number;
      train: ArtifactRef;
      subset?: { ipc: number };
    }[] = [{ method: cfg.method, ipc: cfg.ipc, lr: out.synLr, train: out.distilled }];
    if (cfg.baselines.randomReal)
      runs.push({
        method: 'random_real',
        ipc: cfg.ipc,
        lr: out.synLr,
        train: images.train,
        subset: { ipc: cfg.ipc },
      });
    if (cfg.baselines.fullData)
      runs.push({ method: 'full_data', ipc: null, lr: plan.experts.lr, train: images.train });
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
                seed: cfg.seed,
                student,
                ...(r.subset ? { subset: r.subset } : {}),
                cache: cfg.cache,
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
      return {
        method: r.method,
        ipc: r.ipc,
        // The one convention of every distillation figure: sample std (n − 1), ml/eval/mean-std.ts.
        mean: meanStd(values).mean,
        std: meanStd(values).std,
        ...finalTrainLoss(results[i]!),
        values,
        lr: r.lr,
        steps: Math.max(...results[i]!.map((e) => e.steps)),
      };
    });

    stage('report');
    const report = await io.distillReport({
      dataset: cfg.dataset,
      method: out.methodTag,
      ipc: cfg.ipc,
      distilled: out.distilled,
      log: out.log,
      accuracy,
      evaluations: runs.map((r, i) => ({ method: r.method, results: results[i]! })),
      cache: cfg.cache,
    });

    const reportHtml = await writeReport(
      [
        {
          kind: 'trajectory',
          method: out.methodTag,
          ipc: cfg.ipc,
          distilled: out.distilled,
          log: out.log,
          accuracy,
        },
      ],
      accuracy.find((a) => a.method !== 'random_real' && a.method !== 'full_data'),
    );

    stage('manifest');
    const outputs = {
      images: { train: images.train, test: images.test },
      trajectories: out.trajectories,
      distilled: out.distilled,
      log: out.log,
      report,
      ...reportHtml,
    };
    const manifest = await io.commitManifest({
      ...currentRun(),
      input: cfg,
      outputs: { ...outputs, accuracy, plan },
    });
    stage('done');
    return {
      dataset: cfg.dataset,
      method: cfg.method,
      ipc: cfg.ipc,
      ...outputs,
      synLr: out.synLr,
      accuracy,
      manifest,
    };
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
    if (input.method === 'cvdd') return committeeVoting(input, images);
    return trajectoryRun(input, images);
  });
}
