// The Linear Mixing Optimization (LMO) framework of Aioli (Chen et al., "Aioli: A Unified Optimization
// Framework for Language Model Data Mixing", 2024; paper Sec. 3, spec specs/mixing-aioli.md §3): what
// every mixing method shares so Aioli and its baselines run through one round loop.
// - the exponentiated-gradient step p^{t+1}_j ∝ p^t_j · exp(η Σ_i A^t_ij), the one-step KL-proximal
//   solution of the dynamic linear law L^{t+1} = L^t − A^t p^t (§3 "EGD");
// - MixtureProvider: a mixing method as a pure state machine over plain-JSON state, planned and
//   completed round by round by a workflow;
// - validation of schedules and of user-supplied mixtures (the workflow's `setMixture` update).
// Orientation: A[i][j] = loss decrease of evaluated group i per unit of training on group j (§2).
import { type Matrix, columnSums } from './numerics.js';

export const isPositiveInteger = (v: number) => Number.isSafeInteger(v) && v > 0;

/** The step layout every mixing method shares: S total optimizer steps split into rounds of U steps. */
export interface MixingScheduleConfig {
  /** Group names; their order is the index order of every vector and matrix. */
  groups: string[];
  /** S: total optimizer (and LR-schedule) steps of the run. */
  totalSteps: number;
  /** U: steps per round. */
  roundSteps: number;
}

/**
 * Problems with the shared step layout: S divisible by U after an optional prior phase of
 * `priorSteps` (null: the prior is itself invalid, skip the divisibility check).
 */
export function validateMixingSchedule(
  config: MixingScheduleConfig,
  priorSteps: number | null = 0,
): string[] {
  const errors: string[] = [];
  const m = config.groups.length;
  if (m < 2) errors.push(`groups: need at least 2 groups, got ${m}`);
  if (new Set(config.groups).size !== m)
    errors.push(`groups: names must be unique, got [${config.groups.join(', ')}]`);
  if (config.groups.some((g) => typeof g !== 'string' || g.length === 0))
    errors.push('groups: names must be non-empty strings');
  const stepsOk = isPositiveInteger(config.totalSteps) && isPositiveInteger(config.roundSteps);
  if (!isPositiveInteger(config.totalSteps))
    errors.push(`totalSteps (S) must be a positive integer, got ${config.totalSteps}`);
  if (!isPositiveInteger(config.roundSteps))
    errors.push(`roundSteps (U) must be a positive integer, got ${config.roundSteps}`);
  if (stepsOk && priorSteps !== null && (config.totalSteps - priorSteps) % config.roundSteps !== 0) {
    errors.push(
      priorSteps > 0
        ? `totalSteps − prior.steps (S − S_init = ${config.totalSteps - priorSteps}) must be divisible by roundSteps (U = ${config.roundSteps})`
        : `totalSteps (S = ${config.totalSteps}) must be divisible by roundSteps (U = ${config.roundSteps})`,
    );
  }
  return errors;
}

// ---- the EGD step ----------------------------------------------------------------------------------

/**
 * One EGD step (§3): p'_j ∝ p_j · exp(η · Σ_i A_ij). Zero proportions stay zero; computed with a
 * max shift so large η·colsum cannot overflow. Example: p = (½, ½), A = [[1, 0], [0, 0]], η = ln 3
 * → (¾, ¼).
 */
export function exponentiatedGradientUpdate(
  p: readonly number[],
  a: readonly (readonly number[])[],
  eta: number,
): number[] {
  const g = columnSums(a);
  if (g.length !== p.length)
    throw new Error(`exponentiatedGradientUpdate: A has ${g.length} columns but p has ${p.length} entries`);
  const logits = p.map((pj, j) => (pj > 0 ? Math.log(pj) + eta * g[j]! : -Infinity));
  const shift = Math.max(...logits);
  if (!Number.isFinite(shift)) throw new Error('exponentiatedGradientUpdate: p has no positive entry');
  return normalise(logits.map((z) => Math.exp(z - shift)));
}

/** w / Σ w. */
export function normalise(w: readonly number[]): number[] {
  const total = w.reduce((s, v) => s + v, 0);
  if (!(total > 0) || !Number.isFinite(total))
    throw new Error(`normalise: weights must have a positive finite sum, got [${w.join(', ')}]`);
  return w.map((v) => v / total);
}

/** w ⊙ exp(η · colsum(A)), rescaled by its maximum only if it would otherwise leave double range. */
export function multiplicativeWeightsUpdate(
  w: readonly number[],
  a: readonly (readonly number[])[],
  eta: number,
): number[] {
  const g = columnSums(a);
  const next = w.map((v, j) => v * Math.exp(eta * g[j]!));
  const max = Math.max(...next);
  if (Number.isFinite(max) && max < 1e150 && max > 1e-150) return next;
  const logs = w.map((v, j) => (v > 0 ? Math.log(v) + eta * g[j]! : -Infinity));
  const top = Math.max(...logs);
  return logs.map((z) => Math.exp(z - top));
}

// ---- validation of user-supplied mixtures (the `setMixture` update) -----------------------------------

export type MixtureValidation =
  { ok: true; proportions: number[] } | { ok: false; errors: string[]; message: string };

/** Problems with a proportions (or, unnormalised, weights) vector in group order, prefixed by `what`. */
export function proportionsErrors(
  p: readonly number[],
  groups: readonly string[],
  what: string,
  opts: { normalised: boolean; tolerance?: number },
): string[] {
  const errors: string[] = [];
  if (p.length !== groups.length)
    return [`${what}: expected ${groups.length} entries (${groups.join(', ')}), got ${p.length}`];
  p.forEach((v, i) => {
    if (!Number.isFinite(v))
      errors.push(`${what}: proportion for group "${groups[i]}" is not a finite number (${v})`);
    else if (v < 0) errors.push(`${what}: proportion for group "${groups[i]}" is negative (${v})`);
  });
  if (errors.length > 0) return errors;
  const total = p.reduce((s, v) => s + v, 0);
  const tol = opts.tolerance ?? 1e-6;
  if (opts.normalised && Math.abs(total - 1) > tol)
    errors.push(`${what}: proportions sum to ${total}, expected 1 (± ${tol})`);
  if (!opts.normalised && !(total > 0)) errors.push(`${what}: weights must have a positive sum`);
  return errors;
}

/**
 * Checks a mixture keyed by group name (as a `setMixture` update sends it): every group present,
 * no unknown names, entries finite and ≥ 0, sum 1 within `tolerance`. On success returns the
 * proportions in `groups` order, renormalised to sum exactly 1.
 */
export function validateMixture(
  mixture: Readonly<Record<string, number>>,
  groups: readonly string[],
  tolerance = 1e-6,
): MixtureValidation {
  const known = new Set(groups);
  const errors: string[] = [];
  const unknown = Object.keys(mixture).filter((g) => !known.has(g));
  if (unknown.length > 0)
    errors.push(
      `unknown group${unknown.length > 1 ? 's' : ''} ${unknown.map((g) => `"${g}"`).join(', ')} (known: ${groups.join(', ')})`,
    );
  const missing = groups.filter((g) => !Object.hasOwn(mixture, g));
  if (missing.length > 0)
    errors.push(`missing group${missing.length > 1 ? 's' : ''} ${missing.map((g) => `"${g}"`).join(', ')}`);
  if (errors.length === 0) {
    const values = groups.map((g) => mixture[g]!);
    errors.push(
      ...proportionsErrors(values, groups, 'mixture', { normalised: true, tolerance }).map((e) =>
        e.replace(/^mixture: /, ''),
      ),
    );
    if (errors.length === 0) return { ok: true, proportions: normalise(values) };
  }
  return { ok: false, errors, message: `Invalid mixture: ${errors.join('; ')}` };
}

/** Same checks for a proportions vector in group order; throws one Error naming `where`. */
export function assertValidProportions(
  p: readonly number[],
  groups: readonly string[],
  where: string,
  tolerance = 1e-6,
): number[] {
  const errors = proportionsErrors(p, groups, where, { normalised: true, tolerance });
  if (errors.length > 0) throw new Error(errors.join('; '));
  return normalise(p);
}

/** Throws unless `v` is an array of `m` finite numbers; messages start with `where`. */
export function assertFiniteVector(
  v: readonly number[] | null | undefined,
  m: number,
  where: string,
): asserts v is number[] {
  if (!Array.isArray(v) || v.length !== m)
    throw new Error(`${where}: expected ${m} numbers, got ${Array.isArray(v) ? v.length : String(v)}`);
  const bad = v.findIndex((x) => typeof x !== 'number' || !Number.isFinite(x));
  if (bad >= 0) throw new Error(`${where}: entry ${bad} is not a finite number (${v[bad]})`);
}

// ---- the provider interface every mixing method implements ------------------------------------------

/**
 * One probe interval (Aioli's LearnParams, paper Algorithm 2): train `steps` steps on `mixture`,
 * then evaluate every group.
 */
export interface MixtureProbe {
  /** Index of this interval within the round's LearnParams call. */
  position: number;
  sweep: number;
  /** j: the group this mixture favours; its loss differences fill column j of β. */
  trainedGroup: number;
  mixture: number[];
  steps: number;
  /** Rows per group in every batch when `config.batchSize` is set (§8.9), else null. */
  batchCounts: number[] | null;
}

/**
 * One round as the workflow must run it: optionally evaluate every group, run each probe (train
 * `steps` on `mixture`, then evaluate), hand the losses to `completeRound`, then train `mainSteps`
 * on the proportions it returns.
 */
export interface MixtureRoundPlan {
  method: string;
  /** 0-based over the whole run (a restricted-mode prior phase is round 0); seeds the round's randomness. */
  round: number;
  phase: string;
  /** Optimizer steps completed before this round. */
  stepStart: number;
  /** Whether `completeRound` needs start-of-round validation losses. */
  evaluateAtStart: boolean;
  probes: MixtureProbe[];
  /** Steps on the mixture `completeRound` returns. */
  mainSteps: number;
}

export interface ProbeObservation {
  /** Validation loss of every group (config order) right after the probe's steps. */
  losses: number[];
  /** Realised shares if the batches did not match the probe's nominal mixture exactly. */
  realizedShares?: number[] | null;
}

export interface MixtureRoundObservations {
  initialLosses?: number[] | null;
  probes?: ProbeObservation[];
}

/** One row group of the proportions / mixing-matrix history tables (§4). */
export interface MixtureRoundRecord {
  method: string;
  round: number;
  phase: string;
  stepStart: number;
  mainSteps: number;
  /** Unnormalised weights w (defined up to a positive factor). */
  weights: number[];
  proportions: number[];
  beta: Matrix | null;
  aRaw: Matrix | null;
  aNormalized: Matrix | null;
  aSmoothed: Matrix | null;
  /** Why the update was skipped or anything else unusual, else null. */
  note: string | null;
}

/** Plain JSON state every provider keeps; providers add their own fields. */
export interface MixtureProviderState {
  method: string;
  /** Rounds completed. */
  round: number;
  /** Optimizer steps accounted for by completed rounds. */
  stepsDone: number;
  weights: number[];
  /** The mixture of the most recent main phase. */
  proportions: number[];
}

export interface MixtureRoundOutcome<S extends MixtureProviderState> {
  state: S;
  /** Train `plan.mainSteps` on these. */
  proportions: number[];
  record: MixtureRoundRecord;
}

/**
 * A mixing method as a pure state machine over JSON state. Providers are rebuilt from their
 * (JSON) config, so a workflow keeps only the state across activities and continue-as-new.
 */
export interface MixtureProvider<S extends MixtureProviderState = MixtureProviderState> {
  readonly method: string;
  readonly groups: readonly string[];
  readonly totalSteps: number;
  initialState(): S;
  isComplete(state: S): boolean;
  planRound(state: S): MixtureRoundPlan;
  completeRound(state: S, observations: MixtureRoundObservations): MixtureRoundOutcome<S>;
  /** Replace the current mixture (operator steering); validated, throws on a bad mixture. */
  steer(state: S, proportions: readonly number[]): S;
}

/** Checks the start-of-round losses and probe observations against a plan; returns them typed. */
export function checkRoundObservations(
  plan: MixtureRoundPlan,
  groups: readonly string[],
  observations: MixtureRoundObservations,
): { initialLosses: number[] | null; probes: ProbeObservation[] } {
  const m = groups.length;
  const where = `${plan.method} round ${plan.round}`;
  let initialLosses: number[] | null = null;
  if (plan.evaluateAtStart) {
    assertFiniteVector(
      observations.initialLosses,
      m,
      `${where}: initialLosses (groups ${groups.join(', ')})`,
    );
    initialLosses = observations.initialLosses;
  }
  const probes = observations.probes ?? [];
  if (probes.length !== plan.probes.length)
    throw new Error(`${where}: expected ${plan.probes.length} probe observations, got ${probes.length}`);
  probes.forEach((p, n) => {
    assertFiniteVector(p.losses, m, `${where}: probe ${n} losses (groups ${groups.join(', ')})`);
    if (p.realizedShares !== undefined && p.realizedShares !== null)
      assertValidProportions(p.realizedShares, groups, `${where}: probe ${n} realizedShares`);
  });
  return { initialLosses, probes };
}

export function assertNotComplete<S extends MixtureProviderState>(
  provider: MixtureProvider<S>,
  state: S,
): void {
  if (state.method !== provider.method)
    throw new Error(`State belongs to method "${state.method}", not "${provider.method}"`);
  if (provider.isComplete(state))
    throw new Error(`${provider.method}: all ${provider.totalSteps} steps are done; no round left to plan`);
}
