// mixAioli: Aioli online data mixing (specs/mixing-aioli.md §5.1, paper Algorithm 1) as rounds of
// compute-queue activities. Each round: evaluate every group on the fixed validation subset, run the
// LearnParams probes (trainChunk s steps on q^(j) with exact batch counts, evaluate), estimate and
// normalise A, take the EGD step, then trainChunk the main steps on the new mixture. The method is
// `ml/methods/aioli/` (plain JS, imported here: eslint exception); this file only orchestrates.
//
// One training run, many mixtures: every chunk passes its own `mixture` to trainChunk, outside the
// training identity, so the optimizer state, the checkpoints and the LR schedule (on the global step)
// continue across rounds as in the paper's continuous training. Checkpoints record the mixture of
// every step; the namespace (runKey) is the input's hash, extended by a hash of the operator
// interventions so far, so a repeat of the same run reuses its checkpoints and a steered run never
// collides with an unsteered one.
//
// Steering: updates `setMixture` (validated: simplex, known groups; the next round's main phase
// trains on it and Aioli continues from it) and `setEta`; `progress` query; continueAsNew with the
// provider state when Temporal suggests it (or every `roundsPerRun` rounds).
import {
  ApplicationFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  setCurrentDetails,
  setHandler,
  uuid4,
  workflowInfo,
} from '@temporalio/workflow';
import type { HistoryRow } from '../activities/aioli-history.js';
import { aioliConfig, aioliProvider, validateAioliConfig } from '../ml/methods/aioli/index.js';
import { staticMixtureProvider, stratifiedProvider } from '../ml/methods/aioli/baselines.js';
import {
  type MixtureProvider,
  type MixtureProviderState,
  type MixtureRoundRecord,
  validateMixingSchedule,
  validateMixture,
} from '../ml/methods/aioli/lmo.js';
import { runMixtureRound } from '../ml/methods/aioli/rounds.js';
import type { ArtifactRef } from '../schemas/artifact.js';
import { progressQuery } from '../schemas/messages.js';
import {
  type MixAioliCarry,
  type MixAioliConfig,
  MixAioliInput,
  type MixAioliProgress,
  type MixAioliResult,
  setEtaUpdate,
  setMixtureUpdate,
} from '../schemas/aioli.js';
import { fnv1a64, stableJson, trainingIdentity } from '../schemas/training.js';
import {
  computeActivities,
  currentRun,
  enterStage,
  ioActivities,
  parseInput,
  surfaceFailures,
} from './common.js';

const invalid = (message: string) => ApplicationFailure.nonRetryable(message, 'InvalidPipelineInput');

/** The Aioli config of the input at step size `eta` (S, U from the input; batches realise the probes). */
function aioliConfigOf(input: MixAioliConfig, eta: number) {
  const { roundSteps, oneHotFactor, ...rest } = input.aioli;
  return aioliConfig({
    groups: input.groups,
    totalSteps: input.training.totalSteps,
    roundSteps,
    ...rest,
    ...(oneHotFactor !== undefined ? { oneHotFactor } : {}),
    eta,
    prior: null,
    batchSize: input.training.batchSize,
    seed: input.training.seed,
  });
}

/** The method as a provider (pure; rebuilt from config + the current η every round). */
function buildProvider(input: MixAioliConfig, eta: number): MixtureProvider {
  const schedule = {
    groups: input.groups,
    totalSteps: input.training.totalSteps,
    roundSteps: input.aioli.roundSteps,
  };
  if (input.method === 'stratified') return stratifiedProvider(schedule);
  if (input.method === 'static') {
    const checked = validateMixture(input.staticMixture!, input.groups);
    if (!checked.ok) throw invalid(`mixAioli input field "staticMixture": ${checked.message}`);
    return staticMixtureProvider({ ...schedule, proportions: checked.proportions });
  }
  return aioliProvider(aioliConfigOf(input, eta));
}

/** Every problem of the mixing config, as one InvalidPipelineInput naming the field. */
function checkConfig(input: MixAioliConfig): void {
  const schedule = {
    groups: input.groups,
    totalSteps: input.training.totalSteps,
    roundSteps: input.aioli.roundSteps,
  };
  const errors =
    input.method === 'aioli'
      ? validateAioliConfig(aioliConfigOf(input, input.aioli.eta))
      : validateMixingSchedule(schedule);
  if (errors.length > 0) throw invalid(`mixAioli input field "aioli": ${errors.join('; ')}`);
}

const byGroup = (groups: readonly string[], v: readonly number[]) =>
  Object.fromEntries(groups.map((g, i) => [g, v[i]!]));

/** History rows of one round (long format, step = the round's first step). */
function historyRows(
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

export async function mixAioli(rawInput: MixAioliInput): Promise<MixAioliResult> {
  const progress: MixAioliProgress = {
    stage: 'validate',
    method: '',
    runKey: '',
    round: 0,
    rounds: 0,
    step: 0,
    total: 0,
    proportions: {},
    losses: null,
    a: null,
    eta: 0,
    pendingMixture: null,
    lastCheckpointUri: null,
  };
  setHandler(progressQuery, () => ({ ...progress }), {
    description: 'Round, proportions, per-group validation losses, A estimate, η',
  });

  const input = parseInput(MixAioliInput, rawInput, 'mixAioli');
  const { carry: rawCarry, ...config } = input;
  checkConfig(config);
  const groups = config.groups;
  const spec = config.training;
  const compute = computeActivities(spec.profile);
  const io = ioActivities(spec.profile);

  // Checkpoint namespace: the input's hash (a repeat reuses its checkpoints), fresh when cache is off.
  const identity = {
    training: trainingIdentity(spec),
    method: config.method,
    aioli: config.aioli,
    groups,
    staticMixture: config.staticMixture ?? null,
    val: spec.data.eval!.sha256,
    valRows: config.valRowsPerGroup,
  };
  const baseKey = (
    spec.runKey ??
    (spec.cache
      ? `aioli-${fnv1a64(stableJson(identity))}`
      : `aioli-${fnv1a64(stableJson(identity))}-${uuid4().slice(0, 8)}`)
  ).slice(0, 100);

  let eta = rawCarry?.eta ?? config.aioli.eta;
  let provider = buildProvider(config, eta);
  const carry: MixAioliCarry = rawCarry ?? {
    step: 0,
    state: provider.initialState() as unknown as Record<string, unknown>,
    eta,
    interventions: [],
    pendingMixture: null,
    pendingEta: null,
    lastLosses: null,
    lastA: null,
    runs: 0,
  };
  let state = carry.state as unknown as MixtureProviderState;
  let step = carry.step;
  let checkpoint: ArtifactRef | undefined = carry.checkpoint;
  let history: ArtifactRef | undefined = carry.history;
  const interventions = [...carry.interventions];
  let pendingMixture = carry.pendingMixture;
  let pendingEta = carry.pendingEta;
  const rows: HistoryRow[] = [];
  const totalRounds = spec.totalSteps / config.aioli.roundSteps;
  /** The next round to plan: what an update accepted now applies to. */
  let nextRound = state.round;
  const runKey = () =>
    interventions.length === 0 ? baseKey : `${baseKey}-x${fnv1a64(stableJson(interventions))}`;

  Object.assign(progress, {
    method: config.method,
    runKey: runKey(),
    round: state.round,
    rounds: totalRounds,
    step,
    total: spec.totalSteps,
    proportions: byGroup(groups, state.proportions),
    losses: carry.lastLosses && byGroup(groups, carry.lastLosses),
    a: carry.lastA,
    eta,
    pendingMixture: pendingMixture && byGroup(groups, pendingMixture),
    lastCheckpointUri: checkpoint?.uri ?? null,
  });
  const stage = (s: MixAioliProgress['stage']) => {
    progress.stage = s;
    enterStage('mixAioli', runKey(), s);
    const p = groups.map((g) => `${g} ${(progress.proportions[g] ?? 0).toFixed(3)}`).join(', ');
    setCurrentDetails(
      `**mixAioli** (${config.method}) \`${runKey()}\`: ${s}, round ${progress.round}/${totalRounds}, step ${progress.step}/${spec.totalSteps}; mixture ${p}; η ${eta}`,
    );
  };

  const noRoundLeft = () => nextRound >= totalRounds;
  setHandler(
    setMixtureUpdate,
    ({ mixture }) => {
      const checked = validateMixture(mixture, groups);
      if (!checked.ok) throw new Error(checked.message);
      pendingMixture = checked.proportions;
      progress.pendingMixture = byGroup(groups, checked.proportions);
      return { appliesToRound: nextRound };
    },
    {
      validator: (request) => {
        if (
          !request ||
          typeof request !== 'object' ||
          typeof request.mixture !== 'object' ||
          request.mixture === null
        )
          throw new Error('setMixture expects { mixture: { <group>: proportion, … } }');
        const checked = validateMixture(request.mixture, groups);
        if (!checked.ok) throw new Error(checked.message);
        if (noRoundLeft())
          throw new Error(`no round left to apply a mixture to (all ${totalRounds} rounds planned)`);
      },
      description: 'Override the next round’s mixture (every group, each ≥ 0, summing to 1)',
    },
  );
  setHandler(
    setEtaUpdate,
    ({ eta: next }) => {
      pendingEta = next;
      return { appliesToRound: nextRound };
    },
    {
      validator: (request) => {
        const next = (request as { eta?: unknown } | undefined)?.eta;
        if (typeof next !== 'number' || !Number.isFinite(next) || next < 0)
          throw new Error(`setEta: eta must be a finite number ≥ 0, got ${JSON.stringify(next)}`);
        if (config.method !== 'aioli') throw new Error(`setEta: method "${config.method}" has no η`);
        if (noRoundLeft()) throw new Error(`no round left to apply η to (all ${totalRounds} rounds planned)`);
      },
      description: 'Change the EGD step size η from the next round on',
    },
  );

  const commitHistory = async () => {
    if (rows.length === 0 && history) return history;
    history = await io.appendMixingHistory({
      ...(history ? { previous: history } : {}),
      rows: rows.splice(0),
    });
    return history;
  };

  // Activities through the shared round driver.
  const chunkSpec = () => ({ ...spec, runKey: runKey() });
  const train = async (proportions: number[], steps: number, exact: boolean) => {
    const target = step + steps;
    do {
      // Probes are one chunk each (s steps); long main phases are cut at chunkSteps.
      const n = exact ? target - step : Math.min(spec.chunkSteps, target - step);
      const r = await compute.trainChunk({
        spec: chunkSpec(),
        fromStep: step,
        steps: n,
        ...(steps > 0 ? { mixture: byGroup(groups, proportions), exactMixture: exact } : {}),
        ...(checkpoint ? { from: checkpoint } : {}),
      });
      step = r.step;
      checkpoint = r.checkpoint;
      progress.step = step;
      progress.lastCheckpointUri = checkpoint.uri;
    } while (step < target);
  };
  const evaluateOn = async (data: ArtifactRef, perGroup?: number) => {
    if (!checkpoint) await train(state.proportions, 0, false); // the untrained state, for L0 of round 0
    const ev = await compute.evaluate({
      checkpoint: checkpoint!,
      data,
      groups,
      ...(perGroup ? { maxRowsPerGroup: perGroup } : {}),
    });
    const missing = groups.filter((g) => !ev.groups[g]);
    if (missing.length > 0)
      throw invalid(`mixAioli: group(s) ${missing.join(', ')} have no rows in ${data.uri} (groups field)`);
    return groups.map((g) => ev.groups[g]!.loss);
  };
  const ops = {
    train: (p: number[], steps: number, exact: boolean) => train(p, steps, exact),
    evaluate: () => evaluateOn(spec.data.eval!, config.valRowsPerGroup),
  };

  return surfaceFailures(async () => {
    stage('train');
    let roundsThisRun = 0;
    while (!provider.isComplete(state)) {
      if (
        workflowInfo().continueAsNewSuggested ||
        (config.roundsPerRun !== undefined && roundsThisRun >= config.roundsPerRun)
      ) {
        await condition(allHandlersFinished);
        const next: MixAioliCarry = {
          step,
          ...(checkpoint ? { checkpoint } : {}),
          state: state as unknown as Record<string, unknown>,
          eta,
          interventions,
          pendingMixture,
          pendingEta,
          history: await commitHistory(),
          lastLosses: progress.losses && groups.map((g) => progress.losses![g]!),
          lastA: progress.a,
          runs: carry.runs + 1,
        };
        await continueAsNew<typeof mixAioli>({ ...rawInput, carry: next });
      }
      // Apply what the operator sent during the previous round.
      const round = state.round;
      const override = pendingMixture;
      pendingMixture = null;
      progress.pendingMixture = null;
      if (override) interventions.push({ round, kind: 'setMixture', value: byGroup(groups, override) });
      if (pendingEta !== null) {
        eta = pendingEta;
        pendingEta = null;
        interventions.push({ round, kind: 'setEta', value: eta });
        provider = buildProvider(config, eta);
        progress.eta = eta;
      }
      nextRound = round + 1;
      progress.runKey = runKey();
      const r = await runMixtureRound(provider, state, ops, { evaluateAtStart: true, override });
      state = r.state;
      roundsThisRun += 1;
      rows.push(...historyRows(groups, r.record, r.initialLosses, eta, override !== null));
      Object.assign(progress, {
        round: state.round,
        proportions: byGroup(groups, r.proportions),
        losses: r.initialLosses && byGroup(groups, r.initialLosses),
        a: r.record.aNormalized,
      });
      stage('train');
    }
    if (!checkpoint) throw invalid(`mixAioli ${runKey()}: no checkpoint after ${step} steps`);

    stage('evaluate');
    const val = await ops.evaluate();
    const test = config.test ? await evaluateOn(config.test) : null;
    progress.losses = byGroup(groups, val);
    rows.push(...groups.map((g, i) => ({ step, key: `final_val_loss/${g}`, value: val[i]! })));
    if (test) rows.push(...groups.map((g, i) => ({ step, key: `final_test_loss/${g}`, value: test[i]! })));
    const historyRef = await commitHistory();

    stage('manifest');
    const result = {
      runKey: runKey(),
      method: config.method,
      checkpoint,
      step,
      rounds: state.round,
      proportions: byGroup(groups, state.proportions),
      history: historyRef,
      val: byGroup(groups, val),
      test: test && byGroup(groups, test),
      interventions,
    };
    const manifest = await io.commitManifest({ ...currentRun(), input: config, outputs: result });
    stage('done');
    return { ...result, manifest };
  });
}
