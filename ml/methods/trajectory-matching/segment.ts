// Sampling a segment (expert, start epoch, minibatches): every draw from (seed, iteration).
import { convNetLayout, paramCount } from '../../models/convnet.js';
import { Rng, deriveSeed, permutation } from '../../train/rng.js';
import { type TrajectoryMatchingConfig, syntheticSetSize, type ExpertTrajectories } from './config.js';

/** U(it), the exclusive upper end of the start-epoch window (DATM §6.1). */
export function startEpochUpperBound(config: TrajectoryMatchingConfig, iteration: number): number {
  if (!config.sequentialGeneration) return config.maxStartEpoch;
  const { initialMaxStartEpoch: t, maxStartEpoch: tPlus, expansionEndIteration: iExp } = config;
  // DATM.py: current_max + int((max − current_max) · it / expansion_end), then min with max.
  return Math.min(tPlus, t + Math.floor(((tPlus - t) * iteration) / iExp));
}

export interface SegmentPlan {
  iteration: number;
  expert: number;
  startEpoch: number;
  /** U(it): start epochs were drawn from [minStartEpoch, upperBound). */
  upperBound: number;
  /** N minibatches, indices into the synthetic set. */
  batches: Int32Array[];
  /** Seed of each step's augmentation draw. */
  augmentSeeds: number[];
  /** Seed of the AST weight perturbation. */
  perturbSeed: number;
}

/** What `planSegment` needs to know of the trajectories. */
export type TrajectoryShape = Pick<ExpertTrajectories, 'experts' | 'lastEpoch'>;

/** The last expert epoch a matching window reads: start epochs below T+ plus M epochs ahead. */
export function lastEpochNeeded(
  config: Pick<TrajectoryMatchingConfig, 'maxStartEpoch' | 'expertEpochs'>,
): number {
  return config.maxStartEpoch - 1 + config.expertEpochs;
}

/** The random draws of outer iteration `iteration`: a pure function of (config, experts' shape, iteration). */
export function planSegment(
  config: TrajectoryMatchingConfig,
  experts: TrajectoryShape,
  iteration: number,
): SegmentPlan {
  if (!(Number.isInteger(iteration) && iteration >= 0))
    throw new RangeError(`planSegment: iteration must be a non-negative integer, got ${iteration}`);
  const needed = lastEpochNeeded(config);
  if (needed > experts.lastEpoch) {
    throw new RangeError(
      `expert trajectories end at epoch ${experts.lastEpoch}, but start epochs up to ${config.maxStartEpoch - 1} ` +
        `with M = ${config.expertEpochs} need epoch ${needed}`,
    );
  }
  const upperBound = startEpochUpperBound(config, iteration);
  const rng = new Rng(deriveSeed(config.seed, 'tm-iteration', iteration));
  // MTT/DATM with load_all draw the expert uniformly (DATM without it cycles through a shuffled order
  // of files; a uniform draw keeps each iteration independent of the ones before it).
  const expert = rng.int(experts.experts);
  const startEpoch = config.minStartEpoch + rng.int(upperBound - config.minStartEpoch);
  const n = syntheticSetSize(config);
  const batches = syntheticBatches(n, Math.min(config.batchSyn ?? n, n), config.syntheticSteps, rng);
  const augmentSeeds = batches.map(() => rng.nextSeed());
  return { iteration, expert, startEpoch, upperBound, batches, augmentSeeds, perturbSeed: rng.nextSeed() };
}

/**
 * Minibatches as the MTT/DATM code takes them: split a fresh permutation into chunks of `batch`
 * (the last chunk may be short) and pop chunks from the end; permute again when none is left.
 */
function syntheticBatches(n: number, batch: number, steps: number, rng: Rng): Int32Array[] {
  const out: Int32Array[] = [];
  const chunks: Int32Array[] = [];
  for (let s = 0; s < steps; s++) {
    if (chunks.length === 0) {
      const p = permutation(n, rng);
      for (let i = 0; i < n; i += batch) chunks.push(p.slice(i, Math.min(i + batch, n)));
    }
    out.push(chunks.pop()!);
  }
  return out;
}

/** (expert, epoch) rows iterations [from, from + count) will read, deduplicated — for prefetching from Parquet. */
export function requiredCheckpoints(
  config: TrajectoryMatchingConfig,
  experts: TrajectoryShape,
  from: number,
  count: number,
): { expert: number; epoch: number }[] {
  const seen = new Set<string>();
  const out: { expert: number; epoch: number }[] = [];
  for (let it = from; it < from + count; it++) {
    const plan = planSegment(config, experts, it);
    const epochs =
      config.ast.intermediateMatching === 'off' ? [0, config.expertEpochs] : range(config.expertEpochs + 1);
    for (const offset of epochs) {
      const key = `${plan.expert}/${plan.startEpoch + offset}`;
      if (!seen.has(key)) {
        seen.add(key);
        out.push({ expert: plan.expert, epoch: plan.startEpoch + offset });
      }
    }
  }
  return out;
}

/** The checkpoints one segment matches: start θ_0 (AST-perturbed if on), target θ*_{t+M}, and θ*_{t+i} for AST. */
export interface SegmentCheckpoints {
  start: Float32Array;
  target: Float32Array;
  /** θ*_{k,t+i}, i = 1..M−1 (empty unless AST intermediate matching is on). */
  intermediate: Float32Array[];
}

export function segmentCheckpoints(
  config: TrajectoryMatchingConfig,
  experts: ExpertTrajectories,
  plan: SegmentPlan,
): SegmentCheckpoints {
  const p = paramCount(config.net);
  const get = (epoch: number): Float32Array => {
    const v = experts.params(plan.expert, epoch);
    if (v.length !== p)
      throw new RangeError(
        `expert ${plan.expert} epoch ${epoch}: ${v.length} parameters, the ConvNet has ${p}`,
      );
    return v;
  };
  let start = get(plan.startEpoch);
  if (config.ast.weightPerturb > 0) start = perturbConvWeights(config, start, plan.perturbSeed);
  const target = get(plan.startEpoch + config.expertEpochs);
  const intermediate =
    config.ast.intermediateMatching === 'off'
      ? []
      : range(config.expertEpochs - 1).map((i) => get(plan.startEpoch + i + 1));
  if (squaredDistance(start, target) === 0) {
    throw new RangeError(
      `expert ${plan.expert}: epochs ${plan.startEpoch} and ${plan.startEpoch + config.expertEpochs} are identical (L = 0/0)`,
    );
  }
  return { start, target, intermediate };
}

/** AST weight perturbation (spec §7): W + a·(Z/‖Z‖_F)⊙W for every conv weight, Z ~ N(0, I). */
function perturbConvWeights(
  config: TrajectoryMatchingConfig,
  start: Float32Array,
  seed: number,
): Float32Array {
  const out = start.slice();
  const a = config.ast.weightPerturb;
  for (const slot of convNetLayout(config.net)) {
    if (!/^conv\d+\.w$/.test(slot.name)) continue;
    const rng = new Rng(deriveSeed(seed, slot.name));
    const z = Float64Array.from({ length: slot.size }, () => rng.normal());
    const norm = Math.sqrt(z.reduce((s, v) => s + v * v, 0));
    for (let i = 0; i < slot.size; i++)
      out[slot.offset + i] = start[slot.offset + i]! * (1 + (a * z[i]!) / norm);
  }
  return out;
}

/** AST balanced inner loss factor s(t) (spec §7); 1 when the option is off. */
export function innerLossScale(config: TrajectoryMatchingConfig, startEpoch: number): number {
  if (!config.ast.balancedInnerLoss) return 1;
  const half = Math.floor(config.maxStartEpoch / 2);
  const log5 = (x: number): number => Math.log(x) / Math.log(5);
  return startEpoch >= half ? log5(startEpoch - half + 8) : 1 / log5(half - startEpoch + 8);
}

function squaredDistance(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i]! - b[i]!) ** 2;
  return s;
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_x, i) => i);
}
