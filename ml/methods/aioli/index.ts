// Aioli: online data mixing in the Linear Mixing Optimization (LMO) framework.
//
// Paper: M. F. Chen, M. Y. Hu, N. Lourie, K. Cho, C. Ré, "Aioli: A Unified Optimization Framework for
// Language Model Data Mixing", 2024 (arXiv:2411.05735, ICLR 2025). Reference code: HazyResearch/aioli
// at a236112 (`trainer/aioli_trainer.py`). Spec: specs/mixing-aioli.md (section numbers below are its).
//
// Pure math, plain JSON numbers, no tfjs, no I/O (the mixAioli workflow runs it):
// - config.ts: hyperparameters, defaults, repo presets, validation, step budget    (§6, §5.1)
// - learn-params.ts: LearnParams (paper Algorithm 2): k interleaved sweeps over φ-smoothed one-hot
//   mixtures q^(j), sequential loss differences β, the solve A_raw[i,:] = W^{-1} β[i,:] (§5.2)
// - here: normalisation of A (repo --aioli_normalize_A)                            (§5.3)
// - the Aioli outer loop (paper Algorithm 1) as a round-by-round state machine a Temporal workflow
//   drives: cumulative EGD p^{t+1}_j ∝ p^t_j · exp(η Σ_i Ā^t_ij) or the repo's EMA variant, the
//   diagonal ablation, restricted ("transfer") mode with a static prior phase       (§5.1, §5.4, §5.5)
// The EGD step itself, the MixtureProvider interface shared with the baselines (`baselines.ts`)
// and mixture validation live in `lmo.ts` (the LMO framework, paper Sec. 3).
//
// Orientation everywhere: A[i][j] = loss decrease of evaluated group i per unit of training on group j;
// updates use column sums (§2, §11). Group order is the order of `config.groups`, everywhere.
import { type AioliConfig, aioliStepBudget, assertValidAioliConfig } from './config.js';
import { estimateInteractionMatrix, planLearnParams } from './learn-params.js';
import {
  type MixtureProvider,
  type MixtureProviderState,
  assertNotComplete,
  assertValidProportions,
  checkRoundObservations,
  multiplicativeWeightsUpdate,
  normalise,
} from './lmo.js';
import { type Matrix, combineMatrices } from './numerics.js';

export * from './config.js';
export * from './learn-params.js';
export type { Matrix } from './numerics.js';

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
