// Baseline data-mixing methods read through the LMO framework of Aioli (Chen et al., "Aioli: A Unified
// Optimization Framework for Language Model Data Mixing", 2024; paper Sec. 3, spec
// specs/mixing-aioli.md §3 table), as MixtureProviders so every comparison runs through the same
// round loop as `aioliProvider`:
// - stratified: A^t = 0, p = 1/m forever;
// - static mixtures and the grid-search sweep (GS row of the table; sweep as in the repo's
//   scripts/*/sweep: a 1/10 grid for m = 2, a Dirichlet simplex cover for m ≥ 3);
// - DoReMi: diagonal A^t_jj = max(L^t_j − L^ref_j, 0), EGD with step μ and uniform smoothing;
// - Skill-It: A^t_ij = A^SG_ij · L^t_i, EGD from uniform over a look-back window of losses.
import {
  type MixingScheduleConfig,
  type MixtureProvider,
  type MixtureProviderState,
  type MixtureRoundPlan,
  assertNotComplete,
  assertValidProportions,
  checkRoundObservations,
  exponentiatedGradientUpdate,
  multiplicativeWeightsUpdate,
  normalise,
  validateMixingSchedule,
} from './lmo.js';
import { type Matrix, sampleDirichlet, seededUniform, transpose } from './numerics.js';

function assertValidSchedule(config: MixingScheduleConfig, method: string): void {
  const errors = validateMixingSchedule(config);
  if (errors.length > 0) throw new Error(`Invalid ${method} config: ${errors.join('; ')}`);
}

const noMatrices = { beta: null, aRaw: null, aNormalized: null, aSmoothed: null, note: null } as const;

/** Plan shared by the providers without probes: (maybe) evaluate, then U steps on the mixture. */
function simpleRoundPlan(
  method: string,
  config: MixingScheduleConfig,
  state: MixtureProviderState,
  evaluateAtStart: boolean,
): MixtureRoundPlan {
  return {
    method,
    round: state.round,
    phase: method,
    stepStart: state.stepsDone,
    evaluateAtStart,
    probes: [],
    mainSteps: config.roundSteps,
  };
}

// ---- static mixtures and stratified ---------------------------------------------------------------------

export interface StaticMixtureConfig extends MixingScheduleConfig {
  proportions: number[];
  /** Name recorded in plans and histories; default 'static'. */
  method?: string;
}

/** Trains one fixed mixture for the whole run, in rounds of U steps (LMO: no law, no update). */
export function staticMixtureProvider(config: StaticMixtureConfig): MixtureProvider {
  const method = config.method ?? 'static';
  assertValidSchedule(config, method);
  const p0 = assertValidProportions(config.proportions, config.groups, `${method} proportions`);
  const provider: MixtureProvider = {
    method,
    groups: config.groups,
    totalSteps: config.totalSteps,
    initialState: () => ({ method, round: 0, stepsDone: 0, weights: [...p0], proportions: [...p0] }),
    isComplete: (state) => state.stepsDone >= config.totalSteps,
    planRound(state) {
      assertNotComplete(provider, state);
      return simpleRoundPlan(method, config, state, false);
    },
    completeRound(state, observations) {
      const plan = provider.planRound(state);
      checkRoundObservations(plan, config.groups, observations);
      const proportions = [...state.proportions];
      return {
        state: { ...state, round: state.round + 1, stepsDone: state.stepsDone + plan.mainSteps },
        proportions,
        record: {
          method,
          round: plan.round,
          phase: plan.phase,
          stepStart: plan.stepStart,
          mainSteps: plan.mainSteps,
          weights: [...state.weights],
          proportions,
          ...noMatrices,
        },
      };
    },
    steer(state, proportions) {
      const p = assertValidProportions(proportions, config.groups, `${method} steer`);
      return { ...state, weights: [...p], proportions: p };
    },
  };
  return provider;
}

/** Stratified sampling, p = 1/m every round (LMO: A^t = 0, or η = 0). */
export function stratifiedProvider(config: MixingScheduleConfig): MixtureProvider {
  const m = config.groups.length;
  return staticMixtureProvider({
    ...config,
    proportions: new Array<number>(m).fill(1 / m),
    method: 'stratified',
  });
}

// ---- grid search over static mixtures ---------------------------------------------------------------------

/** Every p with entries in {0, 1/d, …, 1} summing to 1 (optionally only those with all entries > 0). */
export function simplexLatticeMixtures(
  m: number,
  divisions: number,
  options: { interiorOnly?: boolean } = {},
): number[][] {
  const out: number[][] = [];
  const walk = (prefix: number[], left: number) => {
    if (prefix.length === m - 1) {
      out.push([...prefix, left].map((c) => c / divisions));
      return;
    }
    for (let c = left; c >= 0; c--) walk([...prefix, c], left - c);
  };
  walk([], divisions);
  return options.interiorOnly === true ? out.filter((p) => p.every((v) => v > 0)) : out;
}

/**
 * n points covering the simplex: draw n·2^oversampleFactor Dirichlet(alpha) points, then repeatedly
 * replace the closest pair by its midpoint until n remain (the repo's `dirichlet_cover.py` procedure,
 * which produced its m = 3 sweep files).
 */
export function dirichletSimplexCover(
  m: number,
  n: number,
  options: { alpha?: number; seed?: number; oversampleFactor?: number } = {},
): number[][] {
  const uniform = seededUniform(options.seed ?? 0);
  const alpha = new Array<number>(m).fill(options.alpha ?? 1.5);
  const points = Array.from({ length: n * 2 ** (options.oversampleFactor ?? 4) }, () =>
    sampleDirichlet(alpha, uniform),
  );
  const dist2 = (a: readonly number[], b: readonly number[]) =>
    a.reduce((s, v, l) => s + (v - b[l]!) ** 2, 0);
  while (points.length > n) {
    let best = [0, 1];
    let bestD = Infinity;
    for (let a = 0; a < points.length; a++) {
      for (let b = a + 1; b < points.length; b++) {
        const d = dist2(points[a]!, points[b]!);
        if (d < bestD) [bestD, best] = [d, [a, b]];
      }
    }
    const [a, b] = best as [number, number];
    const mid = points[a]!.map((v, l) => (v + points[b]![l]!) / 2);
    points.splice(b, 1);
    points.splice(a, 1);
    points.push(mid);
  }
  return points;
}

/**
 * The static mixtures a grid-search (GS) baseline trains, `runs` of them (paper: 10). Following the
 * repo's sweep scripts: for m = 2 the shares i/runs, i = 0..runs−1, on group 0 (`--proportions w 10−w`
 * with the base script's `0 10`); for m ≥ 3 the one-hot mixture on the last group (base script
 * `0 0 1`) plus a seeded Dirichlet cover of runs − 1 points.
 */
export function gridSearchMixtures(
  m: number,
  options: { runs?: number; seed?: number; alpha?: number } = {},
): number[][] {
  const runs = options.runs ?? 10;
  if (!(Number.isInteger(m) && m >= 2)) throw new Error(`gridSearchMixtures: need m ≥ 2 groups, got ${m}`);
  if (!(Number.isInteger(runs) && runs >= 1))
    throw new Error(`gridSearchMixtures: runs must be a positive integer, got ${runs}`);
  if (m === 2) return Array.from({ length: runs }, (_, i) => [i / runs, 1 - i / runs]);
  const vertex = Array.from({ length: m }, (_, l) => (l === m - 1 ? 1 : 0));
  const seedAndAlpha = {
    ...(options.seed === undefined ? {} : { seed: options.seed }),
    ...(options.alpha === undefined ? {} : { alpha: options.alpha }),
  };
  return [vertex, ...(runs > 1 ? dirichletSimplexCover(m, runs - 1, seedAndAlpha) : [])];
}

/** The candidate with the lowest metric (e.g. average validation perplexity); ties keep the first. */
export function bestStaticMixture<T extends { proportions: number[]; metric: number }>(
  results: readonly T[],
): T {
  if (results.length === 0) throw new Error('bestStaticMixture: no results');
  return results.reduce((best, r) => (r.metric < best.metric ? r : best));
}

// ---- DoReMi -----------------------------------------------------------------------------------------------

export interface DoremiConfig extends MixingScheduleConfig {
  /** L^ref: per-group loss of the reference model (trained stratified), config group order. */
  referenceLosses: number[];
  /** μ, the EGD step (repo --doremi_mu, 1.0). */
  eta: number;
  /** Uniform smoothing c: p ← (1 − c)p + c/m after each step (repo 1e-3). */
  smoothing: number;
}

export interface DoremiState extends MixtureProviderState {
  method: 'doremi';
  /** Σ of the proportions used so far; DoReMi's output mixture is their average. */
  proportionSum: number[];
  updates: number;
}

/**
 * DoReMi as an LMO method: A^t = diag(max(L^t − L^ref, 0)) (not normalised), p^{t+1} ∝ p^t ·
 * exp(μ · diag A^t), then uniform smoothing. The repo updates every step inside the proxy run; here
 * the step is taken once per round on start-of-round validation losses.
 */
export function doremiProvider(config: DoremiConfig): MixtureProvider<DoremiState> {
  assertValidSchedule(config, 'doremi');
  const m = config.groups.length;
  if (config.referenceLosses.length !== m || !config.referenceLosses.every(Number.isFinite)) {
    throw new Error(
      `Invalid doremi config: referenceLosses must be ${m} finite numbers (groups ${config.groups.join(', ')})`,
    );
  }
  if (!(Number.isFinite(config.eta) && config.eta >= 0))
    throw new Error(`Invalid doremi config: eta must be ≥ 0, got ${config.eta}`);
  if (!(config.smoothing >= 0 && config.smoothing <= 1))
    throw new Error(`Invalid doremi config: smoothing must be in [0, 1], got ${config.smoothing}`);
  const uniform = new Array<number>(m).fill(1 / m);
  const provider: MixtureProvider<DoremiState> = {
    method: 'doremi',
    groups: config.groups,
    totalSteps: config.totalSteps,
    initialState: () => ({
      method: 'doremi',
      round: 0,
      stepsDone: 0,
      weights: [...uniform],
      proportions: [...uniform],
      proportionSum: new Array<number>(m).fill(0),
      updates: 0,
    }),
    isComplete: (state) => state.stepsDone >= config.totalSteps,
    planRound(state) {
      assertNotComplete(provider, state);
      return simpleRoundPlan('doremi', config, state, true);
    },
    completeRound(state, observations) {
      const plan = provider.planRound(state);
      const { initialLosses } = checkRoundObservations(plan, config.groups, observations);
      const excess = initialLosses!.map((l, j) => Math.max(l - config.referenceLosses[j]!, 0));
      const a = excess.map((e, i) => excess.map((_, j) => (i === j ? e : 0)));
      const stepped = exponentiatedGradientUpdate(state.proportions, a, config.eta);
      const proportions = stepped.map((p) => (1 - config.smoothing) * p + config.smoothing / m);
      return {
        state: {
          ...state,
          round: state.round + 1,
          stepsDone: state.stepsDone + plan.mainSteps,
          weights: [...proportions],
          proportions,
          proportionSum: state.proportionSum.map((s, j) => s + proportions[j]!),
          updates: state.updates + 1,
        },
        proportions,
        record: {
          method: 'doremi',
          round: plan.round,
          phase: plan.phase,
          stepStart: plan.stepStart,
          mainSteps: plan.mainSteps,
          weights: [...proportions],
          proportions,
          ...noMatrices,
          aRaw: a,
        },
      };
    },
    steer(state, proportions) {
      const p = assertValidProportions(proportions, config.groups, 'doremi steer');
      return { ...state, weights: [...p], proportions: p };
    },
  };
  return provider;
}

/** DoReMi's output: the average of the proportions over its (proxy) run. */
export function doremiAverageMixture(state: DoremiState): number[] {
  if (state.updates === 0) return [...state.proportions];
  return state.proportionSum.map((s) => s / state.updates);
}

// ---- Skill-It ---------------------------------------------------------------------------------------------

export interface SkillItConfig extends MixingScheduleConfig {
  /** A^SG with rows = evaluated group i, columns = trained group j (see `skillItGraphFromRepo`). */
  skillGraph: Matrix;
  eta: number;
  /** Look-back window of start-of-round losses (repo --skillit_window, 3). */
  window: number;
}

export interface SkillItState extends MixtureProviderState {
  method: 'skillit';
  /** The last `window` start-of-round loss vectors, oldest first. */
  lossHistory: number[][];
}

/** The repo stores Skill-It graphs as [trained, evaluated]; the LMO orientation is its transpose (§3). */
export function skillItGraphFromRepo(graph: Matrix): Matrix {
  return transpose(graph);
}

/**
 * Skill-It as an LMO method: A^t_ij = A^SG_ij · ℓ_i with ℓ the sum of the last `window` start-of-round
 * losses, and p ∝ exp(η colsum A^t) from uniform each round. Follows the repo rather than the spec's
 * "L^t" shorthand: the mixture of round r uses the losses measured at the starts of rounds r−window..r−1
 * (the current round's start-of-round evaluation first counts in round r + 1), and round 0 uses ℓ = 1.
 */
export function skillItProvider(config: SkillItConfig): MixtureProvider<SkillItState> {
  assertValidSchedule(config, 'skillit');
  const m = config.groups.length;
  if (
    config.skillGraph.length !== m ||
    config.skillGraph.some((row) => row.length !== m || !row.every(Number.isFinite))
  ) {
    throw new Error(`Invalid skillit config: skillGraph must be a finite ${m}×${m} matrix`);
  }
  if (!(Number.isInteger(config.window) && config.window >= 1))
    throw new Error(`Invalid skillit config: window must be a positive integer, got ${config.window}`);
  if (!(Number.isFinite(config.eta) && config.eta >= 0))
    throw new Error(`Invalid skillit config: eta must be ≥ 0, got ${config.eta}`);
  const ones = new Array<number>(m).fill(1);
  const provider: MixtureProvider<SkillItState> = {
    method: 'skillit',
    groups: config.groups,
    totalSteps: config.totalSteps,
    initialState: () => ({
      method: 'skillit',
      round: 0,
      stepsDone: 0,
      weights: [...ones],
      proportions: normalise(ones),
      lossHistory: [],
    }),
    isComplete: (state) => state.stepsDone >= config.totalSteps,
    planRound(state) {
      assertNotComplete(provider, state);
      return simpleRoundPlan('skillit', config, state, true);
    },
    completeRound(state, observations) {
      const plan = provider.planRound(state);
      const { initialLosses } = checkRoundObservations(plan, config.groups, observations);
      const summed =
        state.lossHistory.length === 0
          ? ones
          : ones.map((_, i) => state.lossHistory.reduce((s, l) => s + l[i]!, 0));
      const a = config.skillGraph.map((row, i) => row.map((v) => v * summed[i]!));
      const weights = multiplicativeWeightsUpdate(ones, a, config.eta);
      const proportions = normalise(weights);
      return {
        state: {
          ...state,
          round: state.round + 1,
          stepsDone: state.stepsDone + plan.mainSteps,
          weights,
          proportions,
          lossHistory: [...state.lossHistory, initialLosses!].slice(-config.window),
        },
        proportions,
        record: {
          method: 'skillit',
          round: plan.round,
          phase: plan.phase,
          stepStart: plan.stepStart,
          mainSteps: plan.mainSteps,
          weights: [...weights],
          proportions,
          ...noMatrices,
          aRaw: a,
        },
      };
    },
    steer(state, proportions) {
      const p = assertValidProportions(proportions, config.groups, 'skillit steer');
      return { ...state, weights: [...p], proportions: p };
    },
  };
  return provider;
}
