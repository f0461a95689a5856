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
//
// `mixAioli` reads as the loop; its stages are functions below over one `MixingRun` (the state a run
// carries). The order of their activity calls is what recorded histories replay, so it does not change
// (the report stage, run after them, is behind `patched('report-stage')`).
import {
  allHandlersFinished,
  condition,
  continueAsNew,
  setHandler,
  uuid4,
  workflowInfo,
} from '@temporalio/workflow';
import type { HistoryRow } from '../activities/aioli-history.js';
import { type MixtureProvider, type MixtureProviderState, validateMixture } from '../ml/methods/aioli/lmo.js';
import { type MixtureRoundOps, runMixtureRound } from '../ml/methods/aioli/rounds.js';
import { skillItGraphFromOneHotRuns } from '../ml/methods/aioli/skillit-graph.js';
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
  progressDisplay,
  surfaceFailures,
} from './common.js';

import {
  type Learned,
  buildProvider,
  byGroup,
  checkConfig,
  historyRows,
  invalid,
  objectiveOf,
  priorStepsOf,
} from './aioli-config.js';
import { meanOf, reportStage } from './report-stage.js';

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
  const { carry, ...config } = input;
  checkConfig(config);
  const run = new MixingRun(config, carry, progress);
  acceptSteering(run);

  return surfaceFailures(async () => {
    await run.learnBaselineParameters();
    if (!carry) run.recordLearned();
    run.stage('train');
    let roundsThisRun = 0;
    while (!run.provider.isComplete(run.state)) {
      if (
        workflowInfo().continueAsNewSuggested ||
        (config.roundsPerRun !== undefined && roundsThisRun >= config.roundsPerRun)
      ) {
        await continueWithCarry(run, rawInput);
      }
      await playRound(run);
      roundsThisRun += 1;
      run.stage('train');
    }
    return finish(run);
  });
}

/**
 * One mixAioli run's state: what continue-as-new carries (step, checkpoint, provider state, η,
 * interventions, pending updates, history so far) and the activities that advance it.
 */
class MixingRun {
  readonly groups: string[];
  readonly spec: MixAioliConfig['training'];
  readonly compute: ReturnType<typeof computeActivities>;
  readonly io: ReturnType<typeof ioActivities>;
  /** Checkpoint namespace before interventions: the input's hash, fresh when cache is off. */
  readonly baseKey: string;
  readonly totalRounds: number;
  eta: number;
  /** DoReMi's reference losses, Skill-It's graph: learned by side runs before the first round. */
  learned: Learned;
  provider: MixtureProvider;
  state: MixtureProviderState;
  step: number;
  checkpoint: ArtifactRef | undefined;
  history: ArtifactRef | undefined;
  readonly interventions: MixAioliCarry['interventions'];
  pendingMixture: number[] | null;
  pendingEta: number | null;
  /** History rows not yet appended to the table. */
  readonly rows: HistoryRow[] = [];
  /** The next round to plan: what an update accepted now applies to. */
  nextRound: number;
  /** Activities through the shared round driver (ml/methods/aioli/rounds.ts). */
  readonly ops: MixtureRoundOps;

  constructor(
    readonly config: MixAioliConfig,
    rawCarry: MixAioliCarry | undefined,
    readonly progress: MixAioliProgress,
  ) {
    const groups = (this.groups = config.groups);
    const spec = (this.spec = config.training);
    this.compute = computeActivities(spec.profile);
    this.io = ioActivities(spec.profile);
    const identity = {
      training: trainingIdentity(spec),
      method: config.method,
      aioli: config.aioli,
      groups,
      staticMixture: config.staticMixture ?? null,
      val: spec.data.eval!.sha256,
      valRows: config.valRowsPerGroup,
    };
    this.baseKey = (
      spec.runKey ??
      (spec.cache
        ? `aioli-${fnv1a64(stableJson(identity))}`
        : `aioli-${fnv1a64(stableJson(identity))}-${uuid4().slice(0, 8)}`)
    ).slice(0, 100);

    this.eta = rawCarry?.eta ?? config.aioli.eta;
    this.learned = rawCarry?.learned ?? {
      ...(config.doremi.referenceLosses
        ? { referenceLosses: groups.map((g) => config.doremi.referenceLosses![g]!) }
        : {}),
      ...(config.skillit.graph ? { skillGraph: config.skillit.graph } : {}),
    };
    this.provider = buildProvider(config, this.eta, this.learned);
    const carry: MixAioliCarry = rawCarry ?? {
      step: 0,
      state: this.provider.initialState() as unknown as Record<string, unknown>,
      eta: this.eta,
      interventions: [],
      pendingMixture: null,
      pendingEta: null,
      lastLosses: null,
      lastA: null,
      runs: 0,
    };
    this.carriedRuns = carry.runs;
    this.state = carry.state as unknown as MixtureProviderState;
    this.step = carry.step;
    this.checkpoint = carry.checkpoint;
    this.history = carry.history;
    this.interventions = [...carry.interventions];
    this.pendingMixture = carry.pendingMixture;
    this.pendingEta = carry.pendingEta;
    const priorSteps = config.method === 'aioli' ? priorStepsOf(config) : 0;
    this.totalRounds = (priorSteps > 0 ? 1 : 0) + (spec.totalSteps - priorSteps) / config.aioli.roundSteps;
    this.nextRound = this.state.round;
    this.ops = {
      train: (p: number[], steps: number, exact: boolean) => this.train(p, steps, exact),
      evaluate: () => this.evaluateOn(spec.data.eval!, config.valRowsPerGroup),
    };

    Object.assign(progress, {
      method: config.method,
      runKey: this.runKey(),
      round: this.state.round,
      rounds: this.totalRounds,
      step: this.step,
      total: spec.totalSteps,
      proportions: byGroup(groups, this.state.proportions),
      losses: carry.lastLosses && byGroup(groups, carry.lastLosses),
      a: carry.lastA,
      eta: this.eta,
      pendingMixture: this.pendingMixture && byGroup(groups, this.pendingMixture),
      lastCheckpointUri: this.checkpoint?.uri ?? null,
    });
  }

  /** Runs before this one (continue-as-new count). */
  readonly carriedRuns: number;

  runKey(): string {
    return this.interventions.length === 0
      ? this.baseKey
      : `${this.baseKey}-x${fnv1a64(stableJson(this.interventions))}`;
  }

  /** Current details, rolled up to a parent. */
  private readonly show = progressDisplay();

  stage(s: MixAioliProgress['stage']): void {
    const { progress, groups, config } = this;
    progress.stage = s;
    enterStage('mixAioli', this.runKey(), s);
    const p = groups.map((g) => `${g} ${(progress.proportions[g] ?? 0).toFixed(3)}`).join(', ');
    this.show(
      `**mixAioli** (${config.method}) \`${this.runKey()}\`: ${s}, round ${progress.round}/${this.totalRounds}, step ${progress.step}/${this.spec.totalSteps}; mixture ${p}; η ${this.eta}`,
      { stage: s, done: progress.step, total: this.spec.totalSteps },
    );
  }

  noRoundLeft(): boolean {
    return this.nextRound >= this.totalRounds;
  }

  /** Appends the pending rows to the history table (a new content-addressed artifact). */
  async commitHistory(): Promise<ArtifactRef> {
    if (this.rows.length === 0 && this.history) return this.history;
    this.history = await this.io.appendMixingHistory({
      ...(this.history ? { previous: this.history } : {}),
      rows: this.rows.splice(0),
    });
    return this.history;
  }

  /** Trains `steps` steps on `proportions` (probes: one chunk; main phases: cut at chunkSteps). */
  async train(proportions: number[], steps: number, exact: boolean): Promise<void> {
    const target = this.step + steps;
    do {
      const n = exact ? target - this.step : Math.min(this.spec.chunkSteps, target - this.step);
      const r = await this.compute.trainChunk({
        spec: { ...this.spec, runKey: this.runKey() },
        fromStep: this.step,
        steps: n,
        ...(steps > 0 ? { mixture: byGroup(this.groups, proportions), exactMixture: exact } : {}),
        ...(this.checkpoint ? { from: this.checkpoint } : {}),
      });
      this.step = r.step;
      this.checkpoint = r.checkpoint;
      this.progress.step = this.step;
      this.progress.lastCheckpointUri = this.checkpoint.uri;
    } while (this.step < target);
  }

  /** Per-group losses of the current checkpoint on `data` (the untrained state before round 0's L0). */
  async evaluateOn(data: ArtifactRef, perGroup?: number): Promise<number[]> {
    if (!this.checkpoint) await this.train(this.state.proportions, 0, false);
    return this.evaluateCheckpoint(this.checkpoint!, data, perGroup);
  }

  /** Per-group losses of checkpoint `at` on `data`. */
  async evaluateCheckpoint(at: ArtifactRef, data: ArtifactRef, perGroup?: number): Promise<number[]> {
    const { groups } = this;
    const ev = await this.compute.evaluate({
      checkpoint: at,
      data,
      groups,
      ...(perGroup ? { maxRowsPerGroup: perGroup } : {}),
    });
    const missing = groups.filter((g) => !ev.groups[g]);
    if (missing.length > 0)
      throw invalid(`mixAioli: group(s) ${missing.join(', ')} have no rows in ${data.uri} (groups field)`);
    return groups.map((g) => ev.groups[g]!.loss);
  }

  /**
   * A separate run of the same spec (same initialisation and batch stream) in its own checkpoint
   * namespace: `steps` steps on `proportions` from the untrained model; its validation losses.
   */
  async sideRun(suffix: string, proportions: number[], steps: number, exact: boolean): Promise<number[]> {
    const { spec, groups, config } = this;
    const sideSpec = { ...spec, runKey: `${this.baseKey.slice(0, 90)}-${suffix}` };
    let at = 0;
    let from: ArtifactRef | undefined;
    do {
      const r = await this.compute.trainChunk({
        spec: sideSpec,
        fromStep: at,
        steps: Math.min(spec.chunkSteps, steps - at),
        mixture: byGroup(groups, proportions),
        exactMixture: exact,
        ...(from ? { from } : {}),
      });
      at = r.step;
      from = r.checkpoint;
    } while (at < steps);
    return this.evaluateCheckpoint(from, spec.data.eval!, config.valRowsPerGroup);
  }

  /** DoReMi's reference model (a stratified run of S steps) and Skill-It's m one-hot runs. */
  async learnBaselineParameters(): Promise<void> {
    const { config, groups, spec } = this;
    const m = groups.length;
    const uniform = groups.map(() => 1 / m);
    if (config.method === 'doremi' && !this.learned.referenceLosses) {
      this.stage('reference');
      this.learned = {
        ...this.learned,
        referenceLosses: await this.sideRun('ref', uniform, spec.totalSteps, false),
      };
    }
    if (config.method === 'skillit' && !this.learned.skillGraph) {
      this.stage('reference');
      const initial = await this.sideRun('sg-init', uniform, 0, false);
      const after: number[][] = [];
      for (let j = 0; j < m; j++) {
        const oneHot = groups.map((_g, l) => (l === j ? 1 : 0));
        after.push(
          await this.sideRun(`sg${j}`, oneHot, config.skillit.graphSteps ?? config.aioli.roundSteps, true),
        );
      }
      // Only the objective's rows pull the mixture (a group outside it is trained, never a target).
      const objective = new Set(objectiveOf(config));
      const skillGraph = skillItGraphFromOneHotRuns(initial, after).map((row, i) =>
        objective.has(i) ? row : row.map(() => 0),
      );
      this.learned = { ...this.learned, skillGraph };
    }
    this.provider = buildProvider(config, this.eta, this.learned);
  }

  /** History rows of what was learned before the first round (DoReMi reference, Skill-It graph). */
  recordLearned(): void {
    const { groups, learned, rows } = this;
    learned.referenceLosses?.forEach((v, i) =>
      rows.push({ step: 0, key: `doremi_reference/${groups[i]}`, value: v }),
    );
    learned.skillGraph?.forEach((row, i) =>
      row.forEach((v, j) => rows.push({ step: 0, key: `skillit_graph/${groups[i]}/${groups[j]}`, value: v })),
    );
  }
}

/** Updates `setMixture` and `setEta`: validated, then pending until the next round is planned. */
function acceptSteering(run: MixingRun): void {
  const { groups, config, progress } = run;
  setHandler(
    setMixtureUpdate,
    ({ mixture }) => {
      const checked = validateMixture(mixture, groups);
      if (!checked.ok) throw new Error(checked.message);
      run.pendingMixture = checked.proportions;
      progress.pendingMixture = byGroup(groups, checked.proportions);
      return { appliesToRound: run.nextRound };
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
        if (run.noRoundLeft())
          throw new Error(`no round left to apply a mixture to (all ${run.totalRounds} rounds planned)`);
      },
      description: 'Override the next round’s mixture (every group, each ≥ 0, summing to 1)',
    },
  );
  setHandler(
    setEtaUpdate,
    ({ eta: next }) => {
      run.pendingEta = next;
      return { appliesToRound: run.nextRound };
    },
    {
      validator: (request) => {
        const next = (request as { eta?: unknown } | undefined)?.eta;
        if (typeof next !== 'number' || !Number.isFinite(next) || next < 0)
          throw new Error(`setEta: eta must be a finite number ≥ 0, got ${JSON.stringify(next)}`);
        if (config.method !== 'aioli') throw new Error(`setEta: method "${config.method}" has no η`);
        if (run.noRoundLeft())
          throw new Error(`no round left to apply η to (all ${run.totalRounds} rounds planned)`);
      },
      description: 'Change the EGD step size η from the next round on',
    },
  );
}

/** Hands the round state to a new run once every update handler has finished. */
async function continueWithCarry(run: MixingRun, rawInput: MixAioliInput): Promise<never> {
  const { groups, progress } = run;
  await condition(allHandlersFinished);
  const next: MixAioliCarry = {
    step: run.step,
    ...(run.checkpoint ? { checkpoint: run.checkpoint } : {}),
    state: run.state as unknown as Record<string, unknown>,
    eta: run.eta,
    interventions: run.interventions,
    pendingMixture: run.pendingMixture,
    pendingEta: run.pendingEta,
    history: await run.commitHistory(),
    lastLosses: progress.losses && groups.map((g) => progress.losses![g]!),
    lastA: progress.a,
    runs: run.carriedRuns + 1,
    learned: run.learned,
  };
  return continueAsNew<typeof mixAioli>({ ...rawInput, carry: next });
}

/** Applies what the operator sent during the previous round, then plays one round of the method. */
async function playRound(run: MixingRun): Promise<void> {
  const { groups, progress } = run;
  const round = run.state.round;
  const override = run.pendingMixture;
  run.pendingMixture = null;
  progress.pendingMixture = null;
  if (override) run.interventions.push({ round, kind: 'setMixture', value: byGroup(groups, override) });
  if (run.pendingEta !== null) {
    run.eta = run.pendingEta;
    run.pendingEta = null;
    run.interventions.push({ round, kind: 'setEta', value: run.eta });
    run.provider = buildProvider(run.config, run.eta, run.learned);
    progress.eta = run.eta;
  }
  run.nextRound = round + 1;
  progress.runKey = run.runKey();
  const r = await runMixtureRound(run.provider, run.state, run.ops, { evaluateAtStart: true, override });
  run.state = r.state;
  run.rows.push(...historyRows(groups, r.record, r.initialLosses, run.eta, override !== null));
  Object.assign(progress, {
    round: run.state.round,
    proportions: byGroup(groups, r.proportions),
    losses: r.initialLosses && byGroup(groups, r.initialLosses),
    a: r.record.aNormalized,
  });
}

/** Final validation (and test) losses, the history table, the run manifest. */
async function finish(run: MixingRun): Promise<MixAioliResult> {
  const { groups, config, progress, checkpoint, step } = run;
  if (!checkpoint) throw invalid(`mixAioli ${run.runKey()}: no checkpoint after ${step} steps`);

  run.stage('evaluate');
  const val = await run.ops.evaluate();
  const test = config.test ? await run.evaluateOn(config.test) : null;
  progress.losses = byGroup(groups, val);
  run.rows.push(...groups.map((g, i) => ({ step, key: `final_val_loss/${g}`, value: val[i]! })));
  if (test) run.rows.push(...groups.map((g, i) => ({ step, key: `final_test_loss/${g}`, value: test[i]! })));
  const historyRef = await run.commitHistory();

  // Standalone runs only: under curateCorpus the parent's report holds these plots.
  const report = await reportStage(run.io, {
    dataset: run.runKey(),
    contents: [{ kind: 'mixing', history: historyRef }],
    input: config,
    cache: config.training.cache,
    onStage: () => run.stage('report'),
    headline: meanOf(val),
  });
  run.stage('manifest');
  const result = {
    runKey: run.runKey(),
    method: config.method,
    checkpoint,
    step,
    rounds: run.state.round,
    proportions: byGroup(groups, run.state.proportions),
    history: historyRef,
    val: byGroup(groups, val),
    test: test && byGroup(groups, test),
    interventions: run.interventions,
    ...report,
  };
  const manifest = await run.io.commitManifest({ ...currentRun(), input: config, outputs: result });
  run.stage('done');
  return { ...result, manifest };
}
