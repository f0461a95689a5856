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
// Each activity is a file here; this one wires them to the worker's store. The property names are the
// activity types registered with Temporal.
import { type ExpertTrajectories } from '../../ml/methods/trajectory-matching/index.js';
import type { ArtifactRef } from '../../schemas/artifact.js';
import {
  type DistillChunkInput,
  type EvaluateDistilledInput,
  type ExportDistilledInput,
  type TrainExpertInput,
} from '../../schemas/trajectory-matching.js';
import { type ArtifactStore } from '../../storage/artifacts.js';
import { CheckpointStore } from '../../storage/checkpoints.js';
import { schemaMismatch } from '../../storage/errors.js';
import { type ImageData, trainingTableReader } from '../training-data.js';
import { type TrajectoryMatchingDeps } from './deps.js';
import { readTrajectories } from './trajectories.js';
import { distillChunk } from './distill-chunk.js';
import { evaluateDistilled } from './evaluate-distilled.js';
import { exportDistilled } from './export-distilled.js';
import { trainExpert } from './train-expert.js';

export function createTrajectoryMatchingActivities({ artifacts }: { artifacts: ArtifactStore }) {
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

  const deps: TrajectoryMatchingDeps = { artifacts, checkpoints, images, readTest, trajectories };
  return {
    trainExpert: (input: TrainExpertInput) => trainExpert(deps, input),
    distillChunk: (input: DistillChunkInput) => distillChunk(deps, input),
    exportDistilled: (input: ExportDistilledInput) => exportDistilled(deps, input),
    evaluateDistilled: (input: EvaluateDistilledInput) => evaluateDistilled(deps, input),
  };
}
