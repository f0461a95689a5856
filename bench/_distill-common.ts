// Trajectory-matching steps shared by bench/distill-mtt.ts and bench/distill-cvdd.ts (the latter runs
// MTT side by side with CV-DD on its own data split): train the experts, then distil one IPC with MTT
// or DATM and summarise the run. Only the product's code (ml/methods/trajectory-matching/training.ts,
// ml/methods/trajectory-matching/); progress goes through the caller's `say`.
import {
  type ImageSet,
  type StudentTrainSet,
  trainExpertTrajectory,
} from '../ml/methods/trajectory-matching/training.js';
import {
  type DistillLogRow,
  type ExpertTrainingProfile,
  type ExpertTrajectories,
  type MnistIpc,
  type TrajectoryMatchingConfig,
  createDistillState,
  disposeDistillState,
  distillIterations,
  distillStateToArrays,
  initializeSyntheticSet,
  mnistProfile,
  synLrValue,
  trajectoriesFromArrays,
  trajectoryMatchingConfig,
} from '../ml/methods/trajectory-matching/index.js';

export type Json = Record<string, unknown>;
export type Say = (msg: string) => void;

export const round = (x: number, digits = 2): number => Number(x.toFixed(digits));

export function mean(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

export interface TrainedExperts {
  experts: ExpertTrajectories;
  /** testAccuracy[k][e]: expert k's test accuracy (fraction) after epoch e (0 = init). */
  testAccuracy: number[][];
  seconds: number;
}

/** Expert k trains with seed 100 + k (spec §10.2 experts: plain SGD on real images). */
export function trainExperts(
  train: ImageSet,
  test: ImageSet,
  profile: ExpertTrainingProfile & { count: number },
  net: TrajectoryMatchingConfig['net'],
  say: Say,
): TrainedExperts {
  const t = Date.now();
  const trajectories: Float32Array[][] = [];
  const testAccuracy: number[][] = [];
  for (let k = 0; k < profile.count; k++) {
    const traj = trainExpertTrajectory(train, profile, net, 100 + k, {
      test,
      onEpoch: (e, _p, loss, info) =>
        say(
          `expert ${k} epoch ${e}: loss ${loss.toFixed(3)}, test acc ${((info.testAccuracy ?? 0) * 100).toFixed(2)}%`,
        ),
    });
    trajectories.push(traj.params);
    testAccuracy.push(traj.testAccuracy);
  }
  return { experts: trajectoriesFromArrays(trajectories), testAccuracy, seconds: (Date.now() - t) / 1000 };
}

export interface TrajectoryMatchingRun {
  /** The distilled set (hard classes; DATM also its learned label logits). */
  distilled: StudentTrainSet;
  /** The learned α. */
  alpha: number;
  /** syn_lr, iterations, s/iteration (wall and CPU), distill_s, matching loss first/last 10, skipped. */
  stats: Json;
  /** The distillation settings that matter for reading the result. */
  config: Json;
}

/**
 * Distil one IPC with `method` from mnistProfile(ipc, method, resolution) plus `overrides`, for
 * `iterations` outer iterations; DATM's window grows over the first half of the iterations run.
 */
export function runTrajectoryMatching(args: {
  ipc: MnistIpc;
  method: 'mtt' | 'datm';
  resolution: 'native-28' | 'cpu-14';
  overrides: Partial<TrajectoryMatchingConfig>;
  /** DSA in the distillation (the digit strategy); the experts must have been trained with it. */
  dsa?: boolean;
  iterations: number;
  seed: number;
  train: ImageSet;
  experts: ExpertTrajectories;
  say: Say;
}): TrajectoryMatchingRun {
  const { ipc, method, iterations, experts, say } = args;
  const profile = mnistProfile(ipc, method, args.resolution, { dsa: args.dsa ? {} : false });
  const config = trajectoryMatchingConfig({
    ...profile.distill,
    ...args.overrides,
    seed: args.seed,
    expansionEndIteration: Math.max(1, Math.floor(iterations / 2)),
  });
  const init = initializeSyntheticSet(
    config,
    { pixels: args.train.images, labels: args.train.labels },
    experts,
  );
  const start = createDistillState(config, init);
  const log: DistillLogRow[] = [];
  const t = Date.now();
  const cpu0 = process.cpuUsage();
  const { state } = distillIterations(start, experts, config, iterations, {
    onIteration: (r) => {
      log.push(r);
      if (r.iteration % 10 === 0 || r.iteration === iterations - 1)
        say(
          `ipc ${ipc} ${method} it ${r.iteration}: loss ${r.loss.toFixed(4)}, α ${r.synLr.toPrecision(3)}, start epoch ${r.startEpoch} < ${r.upperBound}${r.skipped ? ' (skipped)' : ''}`,
        );
    },
  });
  const distillS = (Date.now() - t) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const distillCpuS = (cpu.user + cpu.system) / 1e6;
  disposeDistillState(start);
  const alpha = synLrValue(config, state.synLr);
  const arrays = distillStateToArrays(state);
  disposeDistillState(state);
  const losses = log.map((r) => r.loss);
  return {
    distilled: { images: arrays.pixels, labels: arrays.classes, labelLogits: arrays.labelLogits },
    alpha,
    stats: {
      syn_lr: round(alpha, 5),
      iterations,
      s_per_iteration: round(distillS / iterations, 3),
      cpu_s_per_iteration: round(distillCpuS / iterations, 3),
      distill_s: round(distillS, 1),
      loss_first10: round(mean(losses.slice(0, 10)), 4),
      loss_last10: round(mean(losses.slice(-10)), 4),
      skipped: log.filter((r) => r.skipped).length,
    },
    config: {
      dsa: config.dsa ? config.dsa.strategy : false,
      syntheticSteps: config.syntheticSteps,
      expertEpochs: config.expertEpochs,
      batchSyn: config.batchSyn,
      minStartEpoch: config.minStartEpoch,
      maxStartEpoch: config.maxStartEpoch,
      sequentialGeneration: config.sequentialGeneration,
      initialMaxStartEpoch: config.initialMaxStartEpoch,
      expansionEndIteration: config.expansionEndIteration,
      initialSynLr: config.initialSynLr,
      synLrParametrisation: config.synLrParametrisation,
      lrImages: config.lrImages,
      lrSynLr: config.lrSynLr,
      lrLabels: config.lrLabels,
      softLabels: config.softLabels,
      init: config.init,
      updateThreshold: config.updateThreshold,
    },
  };
}
