// A synthetic linear mixing law (specs/mixing-aioli.md §8 "Simulator"): every optimizer step on
// mixture q lowers the group losses by A_step · q; observations may carry Gaussian noise, the state
// never does. It also drives any MixtureProvider through the round loop a workflow runs, so the §8
// oracles exercise the same code path as `mixAioli`.
import type {
  MixtureProvider,
  MixtureProviderState,
  MixtureRoundRecord,
} from '../../../ml/methods/aioli/lmo.js';
import type { Matrix } from '../../../ml/methods/aioli/numerics.js';
import { seededUniform, standardNormal } from '../../../ml/methods/aioli/numerics.js';

export interface LinearLawOptions {
  /** A_step, or a function of the global step index (non-stationary laws). */
  aStep: Matrix | ((step: number) => Matrix);
  initialLoss?: number;
  /** σ of the Gaussian noise added to each observation. */
  noiseStd?: number;
  seed?: number;
}

export class LinearMixingLaw {
  readonly losses: number[];
  step = 0;
  evaluations = 0;
  private readonly aAt: (step: number) => Matrix;
  private readonly noiseStd: number;
  private readonly uniform: () => number;

  constructor(options: LinearLawOptions) {
    const a = options.aStep;
    this.aAt = typeof a === 'function' ? a : () => a;
    const m = this.aAt(0).length;
    this.losses = new Array<number>(m).fill(options.initialLoss ?? 4);
    this.noiseStd = options.noiseStd ?? 0;
    this.uniform = seededUniform(options.seed ?? 0, 7919);
  }

  train(mixture: readonly number[], steps: number): void {
    for (let n = 0; n < steps; n++) {
      const a = this.aAt(this.step);
      for (let i = 0; i < this.losses.length; i++) {
        this.losses[i] = this.losses[i]! - a[i]!.reduce((s, v, j) => s + v * mixture[j]!, 0);
      }
      this.step += 1;
    }
  }

  evaluate(): number[] {
    this.evaluations += 1;
    return this.losses.map((l) => (this.noiseStd > 0 ? l + this.noiseStd * standardNormal(this.uniform) : l));
  }

  averageLoss(): number {
    return this.losses.reduce((s, v) => s + v, 0) / this.losses.length;
  }
}

export interface SimulatedRun<S extends MixtureProviderState> {
  records: MixtureRoundRecord[];
  state: S;
  law: LinearMixingLaw;
}

/**
 * The workflow's loop: plan → (evaluate) → probes (train, evaluate) → completeRound → main steps.
 * `roundTrip` serialises the state through JSON between rounds, as Temporal history would.
 */
export function runOnLinearLaw<S extends MixtureProviderState>(
  provider: MixtureProvider<S>,
  law: LinearMixingLaw,
  options: { roundTrip?: boolean } = {},
): SimulatedRun<S> {
  let state = provider.initialState();
  const records: MixtureRoundRecord[] = [];
  while (!provider.isComplete(state)) {
    const plan = provider.planRound(state);
    const initialLosses = plan.evaluateAtStart ? law.evaluate() : null;
    const probes = plan.probes.map((probe) => {
      law.train(probe.mixture, probe.steps);
      return { losses: law.evaluate() };
    });
    const outcome = provider.completeRound(state, { initialLosses, probes });
    law.train(outcome.proportions, plan.mainSteps);
    records.push(outcome.record);
    state = options.roundTrip === true ? (JSON.parse(JSON.stringify(outcome.state)) as S) : outcome.state;
  }
  return { records, state, law };
}
