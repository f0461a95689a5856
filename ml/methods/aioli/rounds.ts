// One round of a mixing method (Aioli paper Algorithm 1, one iteration of the outer loop; spec
// specs/mixing-aioli.md §5.1), driven through two callbacks so the same code runs inside the
// `mixAioli` Temporal workflow (callbacks = trainChunk / evaluate activities) and in bench/aioli.ts
// (callbacks = the same activity functions called directly):
//   [evaluate L0] → for each probe: train s steps on q^(j) (exact batch counts), evaluate →
//   provider.completeRound (estimate A, EGD) → [operator override] → train the main steps on p.
// Plain JS, no tfjs, no I/O: workflows may import it (eslint exception for ml/methods/aioli/).
import type { MixtureProvider, MixtureProviderState, MixtureRoundOutcome, MixtureRoundPlan } from './lmo.js';

export interface MixtureRoundOps {
  /**
   * Train `steps` optimizer steps sampling groups by `proportions` (provider group order). `exact`:
   * every batch realises the proportions exactly (LearnParams probes, §8.9).
   */
  train(proportions: number[], steps: number, exact: boolean, phase: 'probe' | 'main'): Promise<void>;
  /** Validation loss of every group (provider group order) at the current step. */
  evaluate(): Promise<number[]>;
}

export interface MixtureRoundOptions {
  /** Evaluate at the start of the round even when the provider does not need it (progress, history). */
  evaluateAtStart?: boolean;
  /**
   * Operator override (the `setMixture` update): train the round's main phase on these proportions
   * instead of the method's, and continue the method from them (`provider.steer`).
   */
  override?: number[] | null;
}

export interface MixtureRoundResult<S extends MixtureProviderState> extends MixtureRoundOutcome<S> {
  plan: MixtureRoundPlan;
  /** Start-of-round validation losses, when evaluated. */
  initialLosses: number[] | null;
  /** Losses after each probe interval, in plan order. */
  probeLosses: number[][];
  /** The method's own proposal when an override replaced it, else null. */
  proposed: number[] | null;
}

export async function runMixtureRound<S extends MixtureProviderState>(
  provider: MixtureProvider<S>,
  state: S,
  ops: MixtureRoundOps,
  options: MixtureRoundOptions = {},
): Promise<MixtureRoundResult<S>> {
  const plan = provider.planRound(state);
  const initialLosses =
    plan.evaluateAtStart || options.evaluateAtStart === true ? await ops.evaluate() : null;
  const probeLosses: number[][] = [];
  for (const probe of plan.probes) {
    await ops.train(probe.mixture, probe.steps, probe.batchCounts !== null, 'probe');
    probeLosses.push(await ops.evaluate());
  }
  let outcome = provider.completeRound(state, {
    initialLosses,
    probes: probeLosses.map((losses) => ({ losses })),
  });
  let proposed: number[] | null = null;
  if (options.override) {
    proposed = outcome.proportions;
    const steered = provider.steer(outcome.state, options.override);
    const note = `operator override (setMixture); the method proposed [${proposed.map((p) => p.toFixed(4)).join(', ')}]`;
    outcome = {
      state: steered,
      proportions: [...steered.proportions],
      record: {
        ...outcome.record,
        weights: [...steered.weights],
        proportions: [...steered.proportions],
        note: outcome.record.note ? `${outcome.record.note}; ${note}` : note,
      },
    };
  }
  if (plan.mainSteps > 0) await ops.train(outcome.proportions, plan.mainSteps, false, 'main');
  return { ...outcome, plan, initialLosses, probeLosses, proposed };
}
