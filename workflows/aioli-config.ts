// mixAioli's pure helpers: the method as a provider (Aioli, its restricted mode, stratified, static,
// DoReMi, Skill-It) built from the validated input, the input's checks, and the history-table rows.
import { ApplicationFailure } from '@temporalio/workflow';
import type { HistoryRow } from '../activities/aioli-history.js';
import { aioliConfig, aioliProvider, validateAioliConfig } from '../ml/methods/aioli/index.js';
import {
  doremiProvider,
  skillItProvider,
  staticMixtureProvider,
  stratifiedProvider,
} from '../ml/methods/aioli/baselines.js';
import {
  type MixtureProvider,
  type MixtureRoundRecord,
  validateMixingSchedule,
  validateMixture,
} from '../ml/methods/aioli/lmo.js';
import type { MixAioliCarry, MixAioliConfig } from '../schemas/aioli.js';

export const invalid = (message: string) => ApplicationFailure.nonRetryable(message, 'InvalidPipelineInput');

/** Indices of the objective's groups (default: all). */
export const objectiveOf = (input: MixAioliConfig) =>
  (input.objectiveGroups ?? input.groups).map((g) => input.groups.indexOf(g));

/** S_init of the restricted mode: 0 without `initialProportions`, else `priorSteps` (default U). */
export const priorStepsOf = (input: MixAioliConfig) =>
  input.initialProportions ? (input.priorSteps ?? input.aioli.roundSteps) : 0;

/** The Aioli config of the input at step size `eta` (S, U from the input; batches realise the probes). */
export function aioliConfigOf(input: MixAioliConfig, eta: number) {
  const { roundSteps, oneHotFactor, ...rest } = input.aioli;
  const prior = input.initialProportions
    ? {
        proportions: input.groups.map((g) => input.initialProportions![g] ?? Number.NaN),
        steps: priorStepsOf(input),
      }
    : null;
  return aioliConfig({
    groups: input.groups,
    totalSteps: input.training.totalSteps,
    roundSteps,
    ...rest,
    ...(oneHotFactor !== undefined ? { oneHotFactor } : {}),
    eta,
    prior,
    objective: input.objectiveGroups ? objectiveOf(input) : null,
    batchSize: input.training.batchSize,
    seed: input.training.seed,
  });
}

/** DoReMi's reference losses and Skill-It's skills graph, once learned (config group order). */
export type Learned = NonNullable<MixAioliCarry['learned']>;

/** The method as a provider (pure; rebuilt from config, learned parameters and the current η). */
export function buildProvider(input: MixAioliConfig, eta: number, learned: Learned): MixtureProvider {
  const schedule = {
    groups: input.groups,
    totalSteps: input.training.totalSteps,
    roundSteps: input.aioli.roundSteps,
  };
  const zeros = () => input.groups.map(() => 0);
  switch (input.method) {
    case 'stratified':
      return stratifiedProvider(schedule);
    case 'static': {
      const checked = validateMixture(input.staticMixture!, input.groups);
      if (!checked.ok) throw invalid(`mixAioli input field "staticMixture": ${checked.message}`);
      return staticMixtureProvider({ ...schedule, proportions: checked.proportions });
    }
    // Until the reference / graph is learned (first thing the run does) only the initial state is
    // read, which does not depend on them: neutral zeros stand in.
    case 'doremi':
      return doremiProvider({
        ...schedule,
        referenceLosses: learned.referenceLosses ?? zeros(),
        eta: input.doremi.eta,
        smoothing: input.doremi.smoothing,
      });
    case 'skillit':
      return skillItProvider({
        ...schedule,
        skillGraph: learned.skillGraph ?? input.groups.map(zeros),
        eta: input.skillit.eta,
        window: input.skillit.window,
      });
    case 'aioli':
      return aioliProvider(aioliConfigOf(input, eta));
  }
}

/** Every problem of the mixing config, as one InvalidPipelineInput naming the field. */
export function checkConfig(input: MixAioliConfig): void {
  const S = input.training.totalSteps;
  const U = input.aioli.roundSteps;
  if (input.initialProportions) {
    const checked = validateMixture(input.initialProportions, input.groups);
    if (!checked.ok) throw invalid(`mixAioli input field "initialProportions": ${checked.message}`);
    const prior = priorStepsOf(input);
    if (!(prior < S && (S - prior) % U === 0))
      throw invalid(
        `mixAioli input field "priorSteps": S_init = ${prior} must be < totalSteps (${S}) with S − S_init divisible by roundSteps (U = ${U})`,
      );
  }
  const errors =
    input.method === 'aioli'
      ? validateAioliConfig(aioliConfigOf(input, input.aioli.eta))
      : validateMixingSchedule({ groups: input.groups, totalSteps: S, roundSteps: U });
  if (errors.length > 0) throw invalid(`mixAioli input field "aioli": ${errors.join('; ')}`);
}

export const byGroup = (groups: readonly string[], v: readonly number[]) =>
  Object.fromEntries(groups.map((g, i) => [g, v[i]!]));

/** History rows of one round (long format, step = the round's first step). */
export function historyRows(
  groups: readonly string[],
  record: MixtureRoundRecord,
  losses: number[] | null,
  eta: number,
  overridden: boolean,
): HistoryRow[] {
  const step = record.stepStart;
  const rows: HistoryRow[] = [
    { step, key: 'round', value: record.round },
    { step, key: 'main_steps', value: record.mainSteps },
    { step, key: 'eta', value: eta },
    { step, key: 'override', value: overridden ? 1 : 0 },
  ];
  groups.forEach((g, i) => {
    rows.push({ step, key: `proportion/${g}`, value: record.proportions[i]! });
    rows.push({ step, key: `weight/${g}`, value: record.weights[i]! });
    if (losses) rows.push({ step, key: `val_loss/${g}`, value: losses[i]! });
  });
  for (const [name, m] of [
    ['a_raw', record.aRaw],
    ['a_normalized', record.aNormalized],
  ] as const) {
    if (!m) continue;
    groups.forEach((gi, i) =>
      groups.forEach((gj, j) => rows.push({ step, key: `${name}/${gi}/${gj}`, value: m[i]![j]! })),
    );
  }
  return rows;
}
