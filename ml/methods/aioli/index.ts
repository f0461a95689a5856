// Aioli: online data mixing in the Linear Mixing Optimization (LMO) framework.
//
// Paper: M. F. Chen, M. Y. Hu, N. Lourie, K. Cho, C. Ré, "Aioli: A Unified Optimization Framework for
// Language Model Data Mixing", 2024 (arXiv:2411.05735, ICLR 2025). Reference code: HazyResearch/aioli
// at a236112 (`trainer/aioli_trainer.py`). Spec: specs/mixing-aioli.md (section numbers below are its).
//
// Implemented here (pure math, plain JSON numbers, no tfjs, no I/O):
// - LearnParams (paper Algorithm 2): k interleaved sweeps over φ-smoothed one-hot mixtures q^(j),
//   sequential loss differences β, and the exact solve A_raw[i,:] = W^{-1} β[i,:]    (§5.2)
// - normalisation of A (repo --aioli_normalize_A)                                    (§5.3)
// - the Aioli outer loop (paper Algorithm 1) as a round-by-round state machine a Temporal workflow
//   drives: cumulative EGD p^{t+1}_j ∝ p^t_j · exp(η Σ_i Ā^t_ij) or the repo's EMA variant, the
//   diagonal ablation, restricted ("transfer") mode with a static prior phase       (§5.1, §5.4, §5.5)
// The EGD step itself, the MixtureProvider interface shared with the baselines (`baselines.ts`)
// and mixture validation live in `lmo.ts` (the LMO framework, paper Sec. 3).
//
// Orientation everywhere: A[i][j] = loss decrease of evaluated group i per unit of training on group j;
// updates use column sums (§2, §11). Group order is the order of `config.groups`, everywhere.
import {
  type Matrix,
  SingularSystemError,
  combineMatrices,
  leastSquares,
  randomPermutation,
  seededUniform,
  solveLinearSystem,
  transpose,
} from './numerics.js';

import {
  type MixingScheduleConfig,
  type MixtureProbe,
  type MixtureProvider,
  type MixtureProviderState,
  assertFiniteVector,
  assertNotComplete,
  assertValidProportions,
  checkRoundObservations,
  isPositiveInteger,
  multiplicativeWeightsUpdate,
  normalise,
  proportionsErrors,
  validateMixingSchedule,
} from './lmo.js';

export type { Matrix } from './numerics.js';

// ---- configuration ---------------------------------------------------------------------------------

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

// ---- LearnParams (paper Algorithm 2, §5.2) ------------------------------------------------------------

/** q^(j): share φ on group j and (1−φ)/(m−1) on every other group. */
export function learnParamsMixture(m: number, trainedGroup: number, oneHotFactor: number): number[] {
  const rest = (1 - oneHotFactor) / (m - 1);
  return Array.from({ length: m }, (_, l) => (l === trainedGroup ? oneHotFactor : rest));
}

/** W, row j = q^(j) (symmetric). Eigenvalues 1 (once) and (mφ−1)/(m−1) (m−1 times). */
export function learnParamsMixtureMatrix(m: number, oneHotFactor: number): Matrix {
  return Array.from({ length: m }, (_, j) => learnParamsMixture(m, j, oneHotFactor));
}

/** cond₂(W) = (m−1)/(mφ−1) for φ in (1/m, 1] (§11: near-singular as φ → 1/m). */
export function learnParamsConditionNumber(m: number, oneHotFactor: number): number {
  const small = (m * oneHotFactor - 1) / (m - 1);
  return Math.max(1, small) / Math.min(1, small);
}

/** Concatenation of `sweeps` independent random permutations of 0..m−1 (interleaved sweeps). */
export function learnParamsOrder(m: number, sweeps: number, uniform: () => number): number[] {
  return Array.from({ length: sweeps }, () => randomPermutation(m, uniform)).flat();
}

/** The LearnParams intervals of round `round`; the order is seeded by (config.seed, round). */
export function planLearnParams(config: AioliConfig, round: number): MixtureProbe[] {
  const m = config.groups.length;
  const order = learnParamsOrder(m, config.sweeps, seededUniform(config.seed, round));
  return order.map((j, position) => {
    const mixture = learnParamsMixture(m, j, config.oneHotFactor);
    return {
      position,
      sweep: Math.floor(position / m),
      trainedGroup: j,
      mixture,
      steps: config.stepsPerInterval,
      batchCounts: config.batchSize === null ? null : batchGroupCounts(mixture, config.batchSize),
    };
  });
}

/** What the workflow observed for one interval: the group losses measured right after it. */
export interface LearnParamsInterval {
  trainedGroup: number;
  /** The shares actually trained on (realised batch composition), not necessarily the nominal q^(j). */
  mixture: number[];
  steps: number;
  losses: number[];
}

export interface LearnParamsObservations {
  /** L0: losses at the start of the round, before the first interval. */
  initialLosses: number[];
  /** In the order they were run. */
  intervals: LearnParamsInterval[];
}

export interface InteractionEstimate {
  /** β[i][j]: mean decrease of group i's loss over the intervals probing j, per s steps. */
  beta: Matrix;
  /** A_raw, per s steps (= s·A_step on a linear law); the scale is removed by normalisation. */
  aRaw: Matrix;
  /** 'exact': m×m solve with W; 'least-squares': realised mixtures varied; 'diagonal': ablation. */
  solve: 'exact' | 'least-squares' | 'diagonal';
  /** The W used by the exact solve (rows = mixture probing group j), else null. */
  mixtureMatrix: Matrix | null;
}

/**
 * A_raw from a LearnParams call (paper Algorithm 2). Each interval's loss decrease is attributed only
 * to its own mixture; its "before" value is the measurement after the previous interval (no resets).
 * β[:, j] averages the decreases of the intervals that probed j, and A_raw[i, :] = W^{-1} β[i, :] is
 * an exact m×m solve, W built from the mixtures the observations report. If the realised mixtures of
 * some group differ between its intervals, A_raw is instead the least-squares fit of
 * decrease_n ≈ (steps_n / s) · A_raw · mixture_n over all intervals (§5.2, §10: never fall back to
 * the nominal W silently).
 */
export function estimateInteractionMatrix(
  observations: LearnParamsObservations,
  options: { stepsPerInterval: number; diagonal?: boolean },
): InteractionEstimate {
  const { initialLosses, intervals } = observations;
  const m = initialLosses.length;
  const s = options.stepsPerInterval;
  assertFiniteVector(initialLosses, m, 'LearnParams initialLosses');
  const beta: Matrix = Array.from({ length: m }, () => new Array<number>(m).fill(0));
  const counts = new Array<number>(m).fill(0);
  const byGroup: number[][][] = Array.from({ length: m }, () => []);
  const design: Matrix = [];
  const decreases: Matrix = [];
  let previous = initialLosses;
  intervals.forEach((iv, n) => {
    const where = `LearnParams interval ${n}`;
    if (!(Number.isInteger(iv.trainedGroup) && iv.trainedGroup >= 0 && iv.trainedGroup < m)) {
      throw new Error(`${where}: trainedGroup must be an integer in [0, ${m}), got ${iv.trainedGroup}`);
    }
    if (!isPositiveInteger(iv.steps))
      throw new Error(`${where}: steps must be a positive integer, got ${iv.steps}`);
    assertFiniteVector(iv.mixture, m, `${where} mixture`);
    assertFiniteVector(iv.losses, m, `${where} losses`);
    const decrease = previous.map((v, i) => v - iv.losses[i]!);
    const perS = s / iv.steps;
    for (let i = 0; i < m; i++) beta[i]![iv.trainedGroup]! += decrease[i]! * perS;
    counts[iv.trainedGroup]! += 1;
    byGroup[iv.trainedGroup]!.push(iv.mixture);
    design.push(iv.mixture.map((q) => q / perS));
    decreases.push(decrease);
    previous = iv.losses;
  });
  const missing = counts.flatMap((c, j) => (c === 0 ? [j] : []));
  if (missing.length > 0) {
    throw new Error(
      `LearnParams observations never probed group(s) ${missing.join(', ')}: every group needs at least one interval`,
    );
  }
  for (let i = 0; i < m; i++) for (let j = 0; j < m; j++) beta[i]![j]! /= counts[j]!;

  const sameMixture = (a: readonly number[], b: readonly number[]) =>
    a.every((v, l) => Math.abs(v - b[l]!) <= 1e-12);
  const consistent = byGroup.every((mixes) => mixes.every((q) => sameMixture(q, mixes[0]!)));
  if (options.diagonal === true) {
    // Repo --aioli_diagonal: A_ii = β_ii / φ, with φ the (realised, averaged) share of i when probing i.
    const aRaw = beta.map((row, i) =>
      row.map((b, j) =>
        i === j ? b / (byGroup[i]!.reduce((acc, q) => acc + q[i]!, 0) / byGroup[i]!.length) : 0,
      ),
    );
    return { beta, aRaw, solve: 'diagonal', mixtureMatrix: null };
  }
  if (consistent) {
    const w = byGroup.map((mixes) => [...mixes[0]!]);
    try {
      return { beta, aRaw: beta.map((row) => solveLinearSystem(w, row)), solve: 'exact', mixtureMatrix: w };
    } catch (e) {
      if (e instanceof SingularSystemError)
        throw new Error(
          `LearnParams: the probe mixtures are linearly dependent (W singular; is φ = 1/m?): ${e.message}`,
        );
      throw e;
    }
  }
  try {
    return {
      beta,
      aRaw: transpose(leastSquares(design, decreases)),
      solve: 'least-squares',
      mixtureMatrix: null,
    };
  } catch (e) {
    if (e instanceof SingularSystemError)
      throw new Error(`LearnParams: the realised probe mixtures do not span all ${m} groups: ${e.message}`);
    throw e;
  }
}

// ---- normalisation and updates (§5.3, §5.4) --------------------------------------------------------

/**
 * Repo --aioli_normalize_A: shift by the most negative entry (if any), then divide by the entry sum.
 * Returns null when the sum is 0 (all entries equal after the shift): the caller skips the update.
 */
export function normalizeInteractionMatrix(a: readonly (readonly number[])[]): Matrix | null {
  const min = Math.min(...a.flat());
  const shifted = a.map((row) => row.map((v) => (min < 0 ? v - min : v)));
  const total = shifted.flat().reduce((s, v) => s + v, 0);
  if (!(total > 0)) return null;
  return shifted.map((row) => row.map((v) => v / total));
}

/** The two Aioli weight rules of §5.1/§5.4 applied to a normalised Ā. */
export function aioliWeightUpdate(
  weights: readonly number[],
  aNormalized: Matrix,
  smoothed: Matrix | null,
  config: Pick<AioliConfig, 'eta' | 'ema'>,
): { weights: number[]; smoothed: Matrix | null } {
  if (config.ema === null) {
    // Paper Algorithm 1: cumulative, w ← w ⊙ exp(η colsum Ā).
    return { weights: multiplicativeWeightsUpdate(weights, aNormalized, config.eta), smoothed: null };
  }
  // Repo --ema γ (code only, §10): E ← Ā first, then (1−γ)Ā + γE; weights restart from ones each round.
  const e =
    smoothed === null ? aNormalized : combineMatrices(1 - config.ema, aNormalized, config.ema, smoothed);
  return {
    weights: multiplicativeWeightsUpdate(new Array<number>(weights.length).fill(1), e, config.eta),
    smoothed: e,
  };
}

// ---- batches (§8.9) ---------------------------------------------------------------------------------

function tryBatchGroupCounts(mixture: readonly number[], batchSize: number): number[] | null {
  const counts = mixture.map((q) => Math.round(q * batchSize));
  const exact = mixture.every((q, l) => Math.abs(q * batchSize - counts[l]!) <= 1e-9 * batchSize);
  return exact && counts.reduce((s, c) => s + c, 0) === batchSize ? counts : null;
}

/**
 * Rows per group in a batch of `batchSize` rows that realises `mixture` exactly; throws otherwise
 * (the repo silently quantises with max(1, ⌊share·B⌋) and keeps the nominal W — §10). Example:
 * batchGroupCounts([0.625, 0.375], 8) → [5, 3].
 */
export function batchGroupCounts(mixture: readonly number[], batchSize: number): number[] {
  const counts = tryBatchGroupCounts(mixture, batchSize);
  if (counts === null) {
    const fits = smallestRealisingBatch(mixture);
    throw new Error(
      `A batch of ${batchSize} rows cannot realise the mixture [${mixture.map((v) => v.toFixed(4)).join(', ')}]` +
        (fits === null ? '' : `; the smallest batch that does has ${fits} rows`),
    );
  }
  return counts;
}

/** The smallest batch size (≤ maxRows) whose rows realise `mixture` exactly, or null. */
export function smallestRealisingBatch(mixture: readonly number[], maxRows = 4096): number | null {
  for (let b = 1; b <= maxRows; b++) if (tryBatchGroupCounts(mixture, b) !== null) return b;
  return null;
}

// ---- Aioli as a provider (paper Algorithm 1, §5.1) ----------------------------------------------------

export interface AioliState extends MixtureProviderState {
  method: 'aioli';
  /** Aioli rounds completed (t − 1 in Algorithm 1; excludes the prior phase). */
  aioliRound: number;
  /** E, the EMA of Ā (null without EMA or before the first update). */
  smoothed: Matrix | null;
}

/**
 * Aioli (paper Algorithm 1). Each Aioli round: evaluate L0, run k·m LearnParams probes, estimate and
 * normalise A, update the weights, then train U − k·m·s steps on p = w / Σw. In restricted mode
 * round 0 trains the prior for S_init steps and the weights then restart from ones (§5.5).
 */
export function aioliProvider(config: AioliConfig): MixtureProvider<AioliState> {
  assertValidAioliConfig(config);
  const m = config.groups.length;
  const priorSteps = config.prior?.steps ?? 0;
  const budget = aioliStepBudget(config);
  const ones = () => new Array<number>(m).fill(1);
  const inPrior = (state: AioliState) => state.stepsDone < priorSteps;

  const provider: MixtureProvider<AioliState> = {
    method: 'aioli',
    groups: config.groups,
    totalSteps: config.totalSteps,
    initialState: () => ({
      method: 'aioli',
      round: 0,
      stepsDone: 0,
      weights: config.prior !== null && priorSteps > 0 ? [...config.prior.proportions] : ones(),
      proportions:
        config.prior !== null && priorSteps > 0 ? normalise(config.prior.proportions) : normalise(ones()),
      aioliRound: 0,
      smoothed: null,
    }),
    isComplete: (state) => state.stepsDone >= config.totalSteps,
    planRound(state) {
      assertNotComplete(provider, state);
      if (inPrior(state)) {
        return {
          method: 'aioli',
          round: state.round,
          phase: 'prior',
          stepStart: state.stepsDone,
          evaluateAtStart: false,
          probes: [],
          mainSteps: priorSteps - state.stepsDone,
        };
      }
      return {
        method: 'aioli',
        round: state.round,
        phase: 'aioli',
        stepStart: state.stepsDone,
        evaluateAtStart: true,
        probes: planLearnParams(config, state.round),
        // Rounds are U steps counted from S_init (validation requires U | S − S_init). The repo instead
        // ends main phases when the global step count hits a multiple of U; identical when U | S_init.
        mainSteps: budget.mainStepsPerRound,
      };
    },
    completeRound(state, observations) {
      const plan = provider.planRound(state);
      const base = {
        method: 'aioli',
        round: plan.round,
        phase: plan.phase,
        stepStart: plan.stepStart,
        mainSteps: plan.mainSteps,
      };
      if (plan.phase === 'prior') {
        checkRoundObservations(plan, config.groups, observations);
        const proportions = normalise(state.weights);
        return {
          state: { ...state, round: state.round + 1, stepsDone: priorSteps, weights: ones(), proportions },
          proportions,
          record: {
            ...base,
            weights: [...state.weights],
            proportions,
            beta: null,
            aRaw: null,
            aNormalized: null,
            aSmoothed: null,
            note: null,
          },
        };
      }
      const { initialLosses, probes } = checkRoundObservations(plan, config.groups, observations);
      const estimate = estimateInteractionMatrix(
        {
          initialLosses: initialLosses!,
          intervals: plan.probes.map((probe, n) => ({
            trainedGroup: probe.trainedGroup,
            mixture: probes[n]!.realizedShares ?? probe.mixture,
            steps: probe.steps,
            losses: probes[n]!.losses,
          })),
        },
        { stepsPerInterval: config.stepsPerInterval, diagonal: config.diagonal },
      );
      const aUsed = config.normalize ? normalizeInteractionMatrix(estimate.aRaw) : estimate.aRaw;
      let weights = state.weights;
      let smoothed = state.smoothed;
      let note: string | null = null;
      if (aUsed === null) {
        note = 'A is constant after the shift (entry sum 0): update skipped, mixture kept';
      } else {
        ({ weights, smoothed } = aioliWeightUpdate(state.weights, aUsed, state.smoothed, config));
      }
      const proportions = normalise(weights);
      return {
        state: {
          ...state,
          round: state.round + 1,
          stepsDone: state.stepsDone + budget.learnParamsStepsPerRound + budget.mainStepsPerRound,
          aioliRound: state.aioliRound + 1,
          weights,
          proportions,
          smoothed,
        },
        proportions,
        record: {
          ...base,
          weights: [...weights],
          proportions,
          beta: estimate.beta,
          aRaw: estimate.aRaw,
          aNormalized: config.normalize ? aUsed : null,
          aSmoothed: config.ema === null ? null : smoothed,
          note,
        },
      };
    },
    steer(state, proportions) {
      // Cumulative EGD continues from the steered mixture; with EMA the next round recomputes p
      // from E (from uniform), so steering lasts until then. During the prior phase it replaces p_init.
      const p = assertValidProportions(proportions, config.groups, 'aioli steer');
      return { ...state, weights: [...p], proportions: p };
    },
  };
  return provider;
}
