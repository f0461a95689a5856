// trainExperts: E expert trajectories (specs/distill-trajectory-matching.md §4) as E PARALLEL
// `trainExpert` activities on the compute queue — more compute workers finish them sooner. Each
// activity checkpoints θ after every epoch (a killed worker costs at most one epoch) and ends in one
// `trajectories` table; expert k's seed derives from (seed, k), so the run is deterministic per seed.
import { setCurrentDetails, setHandler, uuid4 } from '@temporalio/workflow';
import { TrainExpertsInput, type TrainExpertsProgress, type TrainExpertsResult } from '../schemas/distill.js';
import { progressQuery } from '../schemas/messages.js';
import { fnv1a64, stableJson } from '../schemas/training.js';
import {
  computeActivities,
  currentRun,
  enterStage,
  ioActivities,
  parseInput,
  surfaceFailures,
} from './common.js';

export async function trainExperts(rawInput: TrainExpertsInput): Promise<TrainExpertsResult> {
  const progress: TrainExpertsProgress = { stage: 'validate', done: 0, total: 0 };
  setHandler(progressQuery, () => ({ ...progress }), { description: 'Experts finished of total' });
  const input = parseInput(TrainExpertsInput, rawInput, 'trainExperts');
  const key = fnv1a64(
    stableJson({ train: input.train.sha256, net: input.net, experts: input.experts, seed: input.seed }),
  );
  // Same inputs → same checkpoints (a repeat reuses them); cache off → a fresh namespace.
  const runKey = input.runKey ?? (input.cache ? `experts-${key}` : `experts-${key}-${uuid4().slice(0, 8)}`);
  const compute = computeActivities(input.profile);
  const io = ioActivities(input.profile);
  progress.total = input.experts.count;
  const stage = (s: TrainExpertsProgress['stage']) => {
    progress.stage = s;
    enterStage('trainExperts', runKey, s);
    setCurrentDetails(`**trainExperts** \`${runKey}\`: ${s}, ${progress.done}/${progress.total} experts`);
  };

  return surfaceFailures(async () => {
    stage('train');
    const experts = await Promise.all(
      Array.from({ length: input.experts.count }, (_x, k) =>
        compute
          .trainExpert({
            train: input.train,
            ...(input.test ? { test: input.test } : {}),
            net: input.net,
            experts: input.experts,
            expert: k,
            seed: input.seed,
            runKey,
            cache: input.cache,
          })
          .then((r) => {
            progress.done += 1;
            stage('train');
            return r;
          }),
      ),
    );
    stage('manifest');
    const trajectories = experts.map((e) => e.trajectory);
    const manifest = await io.commitManifest({ ...currentRun(), input, outputs: { trajectories } });
    stage('done');
    return { runKey, trajectories, experts, manifest };
  });
}
