// Aioli's configuration (specs/mixing-aioli.md §6): the hyperparameters of paper Algorithms 1–2 with
// retort's CPU-scale defaults, the reference repo's published presets, validation that names every
// problem, and how a run's S steps split into prior phase, LearnParams probes and main phases (§5.1).
import {
  type MixingScheduleConfig,
  isPositiveInteger,
  proportionsErrors,
  validateMixingSchedule,
} from './lmo.js';
import { learnParamsMixture, smallestRealisingBatch, tryBatchGroupCounts } from './learn-params.js';

/** Restricted ("transfer") mode, §5.5: train `proportions` for `steps` (S_init) steps first. */
export interface AioliPrior {
  proportions: number[];
  steps: number;
}

export interface AioliConfig extends MixingScheduleConfig {
  /** k, sweeps over all groups per LearnParams call (repo --lp_rounds). */
  sweeps: number;
  /** s, training steps per LearnParams interval (repo --lp_steps). */
  stepsPerInterval: number;
  /** φ, share of the probed group in its smoothed one-hot mixture (repo --one_hot_factor); in (1/m, 1]. */
  oneHotFactor: number;
  /** η, EGD step size. */
  eta: number;
  /** γ, EMA weight on the history (repo --ema); null = cumulative EGD as in paper Algorithm 1. */
  ema: number | null;
  /** Normalise A before the update (repo --aioli_normalize_A; spec: always on). */
  normalize: boolean;
  /** Diagonal ablation (repo --aioli_diagonal): A_ii = β_ii / φ, off-diagonals 0. */
  diagonal: boolean;
  /** Restricted mode; null = unrestricted. */
  prior: AioliPrior | null;
  /** If set, LearnParams mixtures must be realisable exactly by batches of this many rows (§8.9). */
  batchSize: number | null;
  /** Seeds the sweep permutations; round t uses the stream (seed, t). */
  seed: number;
}

/**
 * Default φ = 1 − ε + ε/m with ε = 0.75: gives the spec's CPU defaults (0.625 for m = 2, 0.5 for
 * m = 3) and keeps W's small eigenvalue at 0.25 (condition number 4) for every m.
 */
export function defaultOneHotFactor(m: number): number {
  return oneHotFactorFromEpsilon(0.75, m);
}

/** The paper's smoothing ε (q = (1−ε)e_j + ε·Unif) as the repo's φ (§5.2): φ = 1 − ε + ε/m. */
export function oneHotFactorFromEpsilon(epsilon: number, m: number): number {
  return 1 - epsilon + epsilon / m;
}

/** CPU-scale defaults for retort (§6), everything but the schedule and groups. */
export const AIOLI_DEFAULTS = {
  sweeps: 2,
  stepsPerInterval: 4,
  eta: 0.3,
  ema: null,
  normalize: true,
  diagonal: false,
  prior: null,
  batchSize: null,
  seed: 0,
} as const satisfies Partial<AioliConfig>;

/** Fills the defaults of §6 (φ from `defaultOneHotFactor`). Does not validate; see `validateAioliConfig`. */
export function aioliConfig(partial: Partial<AioliConfig> & MixingScheduleConfig): AioliConfig {
  return { ...AIOLI_DEFAULTS, oneHotFactor: defaultOneHotFactor(partial.groups.length), ...partial };
}

/** The three published run scripts (§6 table; repo scripts/<setting>/aioli/run.sh), batch 8. */
export const AIOLI_REPO_PRESETS = {
  arxivStackexchange: {
    groups: ['arxiv', 'stackexchange'],
    totalSteps: 5000,
    roundSteps: 250,
    sweeps: 4,
    stepsPerInterval: 4,
    oneHotFactor: 0.625,
    eta: 0.2,
    ema: 0.1,
  },
  arxivBooksStackexchange: {
    groups: ['arxiv', 'book', 'stackexchange'],
    totalSteps: 5000,
    roundSteps: 250,
    sweeps: 4,
    stepsPerInterval: 6,
    oneHotFactor: 0.5,
    eta: 0.1,
    ema: 0.5,
  },
  slimPajama7: {
    groups: ['arxiv', 'book', 'c4', 'cc', 'github', 'stackexchange', 'wikipedia'],
    totalSteps: 40000,
    roundSteps: 200,
    sweeps: 2,
    stepsPerInterval: 10,
    oneHotFactor: 0.75,
    eta: 1.0,
    ema: 0.1,
  },
} satisfies Record<string, Partial<AioliConfig>>;

/** Every problem with an Aioli config, as readable sentences; [] when valid. */
export function validateAioliConfig(config: AioliConfig): string[] {
  const m = config.groups.length;
  const priorSteps = config.prior?.steps ?? 0;
  const errors: string[] = [];
  if (config.prior !== null) {
    if (!Number.isSafeInteger(priorSteps) || priorSteps < 0 || priorSteps >= config.totalSteps) {
      errors.push(`prior.steps (S_init) must be an integer in [0, S), got ${priorSteps}`);
    }
    errors.push(
      ...proportionsErrors(config.prior.proportions, config.groups, 'prior.proportions', {
        normalised: false,
      }),
    );
  }
  errors.push(...validateMixingSchedule(config, errors.length === 0 ? priorSteps : null));
  if (!isPositiveInteger(config.sweeps))
    errors.push(`sweeps (k, --lp_rounds) must be a positive integer, got ${config.sweeps}`);
  if (!isPositiveInteger(config.stepsPerInterval))
    errors.push(
      `stepsPerInterval (s, --lp_steps) must be a positive integer, got ${config.stepsPerInterval}`,
    );
  const lp = config.sweeps * m * config.stepsPerInterval;
  if (
    [config.sweeps, config.stepsPerInterval, config.roundSteps].every(isPositiveInteger) &&
    !(lp < config.roundSteps)
  ) {
    errors.push(
      `LearnParams needs k·m·s = ${config.sweeps}·${m}·${config.stepsPerInterval} = ${lp} steps per round, which must be < roundSteps (U = ${config.roundSteps})`,
    );
  }
  const phi = config.oneHotFactor;
  if (!(Number.isFinite(phi) && phi > 1 / m && phi <= 1)) {
    errors.push(
      `oneHotFactor (φ) must lie in (1/m, 1] = (${(1 / m).toFixed(4)}, 1], got ${phi}` +
        (Math.abs(phi - 1 / m) < 1e-12
          ? ': at φ = 1/m every probe mixture is uniform and W is singular'
          : ''),
    );
  }
  if (!(Number.isFinite(config.eta) && config.eta >= 0))
    errors.push(`eta (η) must be a finite number ≥ 0, got ${config.eta}`);
  if (config.ema !== null && !(config.ema >= 0 && config.ema < 1))
    errors.push(`ema (γ) must be null or in [0, 1), got ${config.ema}`);
  if (!Number.isSafeInteger(config.seed)) errors.push(`seed must be a safe integer, got ${config.seed}`);
  if (config.batchSize !== null) {
    if (!isPositiveInteger(config.batchSize))
      errors.push(`batchSize must be null or a positive integer, got ${config.batchSize}`);
    else if (errors.length === 0) {
      for (let j = 0; j < m; j++) {
        const q = learnParamsMixture(m, j, phi);
        if (tryBatchGroupCounts(q, config.batchSize) === null) {
          const fits = smallestRealisingBatch(q);
          errors.push(
            `batchSize ${config.batchSize} cannot realise the LearnParams mixture for "${config.groups[j]}" ` +
              `(shares ${q.map((v) => v.toFixed(4)).join(', ')})` +
              (fits === null ? '' : `; the smallest batch that does has ${fits} rows`),
          );
          break;
        }
      }
    }
  }
  return errors;
}

/** Throws one Error listing every problem of `validateAioliConfig`. */
export function assertValidAioliConfig(config: AioliConfig): void {
  const errors = validateAioliConfig(config);
  if (errors.length > 0) throw new Error(`Invalid Aioli config: ${errors.join('; ')}`);
}

/** How the S steps of a run are spent (§5.1, oracle 8). */
export interface AioliStepBudget {
  priorSteps: number;
  /** T' = (S − S_init) / U Aioli rounds. */
  rounds: number;
  /** k·m·s LearnParams training steps per round. */
  learnParamsStepsPerRound: number;
  /** U − k·m·s steps on the updated mixture per round. */
  mainStepsPerRound: number;
  /** 1 + k·m validation passes per round (the start-of-round pass plus one per interval). */
  evaluationsPerRound: number;
  /** δ = k·m·s / U. */
  learnParamsFraction: number;
  /** Optimizer and LR-schedule steps in all: always S. */
  totalSteps: number;
}

export function aioliStepBudget(config: AioliConfig): AioliStepBudget {
  const m = config.groups.length;
  const priorSteps = config.prior?.steps ?? 0;
  const rounds = (config.totalSteps - priorSteps) / config.roundSteps;
  const lp = config.sweeps * m * config.stepsPerInterval;
  const main = config.roundSteps - lp;
  return {
    priorSteps,
    rounds,
    learnParamsStepsPerRound: lp,
    mainStepsPerRound: main,
    evaluationsPerRound: 1 + config.sweeps * m,
    learnParamsFraction: lp / config.roundSteps,
    totalSteps: priorSteps + rounds * (lp + main),
  };
}
