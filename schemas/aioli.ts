// mixAioli: input, carry, result, progress and the steering updates (specs/mixing-aioli.md; DESIGN.md
// §6 "Steering"). The workflow trains ONE run (one optimizer state, one LR schedule on the global
// step) whose sampling mixture changes round by round; see schemas/training.ts `TrainChunkInput.mixture`.
import { defineUpdate } from '@temporalio/workflow';
import { z } from 'zod';
import { ArtifactRef } from './artifact.js';
import { TrainingSpec } from './training.js';

const positiveInt = z.number().int().positive();

/** Aioli's knobs (spec §6; defaults = the CPU-scale row). S is `training.totalSteps`. */
export const AioliSettings = z.strictObject({
  /** U, steps per round; S must be divisible by it. */
  roundSteps: positiveInt,
  /** k, LearnParams sweeps over all groups per round (repo --lp_rounds). */
  sweeps: positiveInt.default(2),
  /** s, steps per LearnParams interval (repo --lp_steps). */
  stepsPerInterval: positiveInt.default(4),
  /** φ, share of the probed group (default 1 − ε + ε/m with ε = 0.75: 0.625 for m = 2, 0.5 for m = 3). */
  oneHotFactor: z.number().positive().max(1).optional(),
  /** η, EGD step size (changeable while running: the `setEta` update). */
  eta: z.number().nonnegative().finite().default(0.3),
  /** γ, EMA weight on the history (repo --ema); null = cumulative EGD (paper Algorithm 1). */
  ema: z.number().min(0).lt(1).nullable().default(null),
  normalize: z.boolean().default(true),
  diagonal: z.boolean().default(false),
  /**
   * LearnParams estimate: "detrended" (default) fits the probe losses jointly with the loss trend, so
   * A measures group interactions even while every loss falls fast; "repo" = the paper code's
   * sequential differences (ml/methods/aioli/detrended.ts says where and why they differ).
   */
  estimator: z.enum(['repo', 'detrended']).default('detrended'),
});
export type AioliSettings = z.infer<typeof AioliSettings>;

/** Carried across continueAsNew: where the round loop stands. */
export const MixAioliCarry = z.strictObject({
  step: z.number().int().nonnegative(),
  checkpoint: ArtifactRef.optional(),
  /** The provider's JSON state (ml/methods/aioli/lmo.ts MixtureProviderState and its extensions). */
  state: z.record(z.string(), z.unknown()),
  eta: z.number().nonnegative(),
  /** Operator interventions so far; part of the checkpoint namespace (runKey) of the rounds after them. */
  interventions: z.array(
    z.strictObject({
      round: z.number().int().nonnegative(),
      kind: z.enum(['setMixture', 'setEta']),
      value: z.unknown(),
    }),
  ),
  /** Accepted but not yet applied. */
  pendingMixture: z.array(z.number()).nullable(),
  pendingEta: z.number().nullable(),
  /** History table of the rounds before this run (appended to, never rewritten). */
  history: ArtifactRef.optional(),
  lastLosses: z.array(z.number()).nullable(),
  lastA: z.array(z.array(z.number())).nullable(),
  runs: z.number().int().nonnegative(),
  /** What the baselines learned before the first round (DoReMi's reference, Skill-It's graph). */
  learned: z
    .strictObject({
      referenceLosses: z.array(z.number()).optional(),
      skillGraph: z.array(z.array(z.number())).optional(),
    })
    .optional(),
});
export type MixAioliCarry = z.infer<typeof MixAioliCarry>;

export const MixAioliInput = z
  .strictObject({
    /**
     * The run: an LM on a token_windows table (`data.train`), validated on `data.eval` (the fixed
     * validation table that drives LearnParams; required). `data.mixture` must be absent: the mixture
     * is the workflow's. `totalSteps` is S; the LR schedule runs on the global step across rounds.
     */
    training: TrainingSpec,
    /** Group names, in the order of every vector and matrix (the `group` column's values). */
    groups: z.array(z.string().min(1)).min(2),
    /**
     * aioli: the online method; stratified / static / doremi / skillit: the baselines of the paper's
     * LMO table (spec §3), all through the same round loop (U = `aioli.roundSteps` for each).
     */
    method: z.enum(['aioli', 'stratified', 'static', 'doremi', 'skillit']).default('aioli'),
    aioli: AioliSettings,
    /** method "static": the proportions, by group. */
    staticMixture: z.record(z.string(), z.number()).optional(),
    /**
     * Aioli's restricted ("transfer") mode (spec §5.5): train these proportions, by group, for
     * `priorSteps` steps, then run Aioli from uniform weights for the rest. Method "aioli" only.
     */
    initialProportions: z.record(z.string(), z.number()).optional(),
    /** S_init of the restricted mode (default one round, U); S − S_init must be divisible by U. */
    priorSteps: positiveInt.optional(),
    /**
     * Groups whose average validation loss the method minimises (default: all). The others are still
     * sampled and evaluated; Aioli leaves their rows out of A, Skill-It out of its graph.
     */
    objectiveGroups: z.array(z.string().min(1)).min(1).optional(),
    /**
     * DoReMi (spec §3): A^t = diag(max(L^t − L^ref, 0)), EGD step μ, uniform smoothing. Without
     * `referenceLosses` (by group) the workflow first trains the reference model: a stratified run of
     * the same spec (DoReMi's second run).
     */
    doremi: z
      .strictObject({
        referenceLosses: z.record(z.string(), z.number().finite()).optional(),
        eta: z.number().nonnegative().finite().default(1),
        smoothing: z.number().min(0).max(1).default(1e-3),
      })
      .default({ eta: 1, smoothing: 1e-3 }),
    /**
     * Skill-It (spec §3): A^t_ij = A^SG_ij · (sum of the last `window` start-of-round losses of i), EGD
     * from uniform. Without `graph` (rows evaluated, columns trained, in `groups` order) the workflow
     * learns it first: one run per group of `graphSteps` steps (default U) trained on that group only,
     * A^SG_ij = relative drop of group i's loss (the repo's m extra runs). Repo run.sh: η 0.2, window 3.
     */
    skillit: z
      .strictObject({
        graph: z.array(z.array(z.number().finite())).optional(),
        eta: z.number().nonnegative().finite().default(0.2),
        window: positiveInt.default(3),
        graphSteps: positiveInt.optional(),
      })
      .default({ eta: 0.2, window: 3 }),
    /** Evaluate the first n windows of each group of `training.data.eval` (spec §6: 64). */
    valRowsPerGroup: positiveInt.default(64),
    /** Held-out table for the final per-group test losses (spec §4 test split); optional. */
    test: ArtifactRef.optional(),
    /** Continue as new after this many rounds in one run (default: when Temporal suggests it). */
    roundsPerRun: positiveInt.optional(),
    carry: MixAioliCarry.optional(),
  })
  .superRefine((input, ctx) => {
    if (input.training.model.kind !== 'lm')
      ctx.addIssue({
        code: 'custom',
        path: ['training', 'model', 'kind'],
        message: 'mixAioli trains an LM ("lm") on token windows',
      });
    if (input.training.data.mixture)
      ctx.addIssue({
        code: 'custom',
        path: ['training', 'data', 'mixture'],
        message: 'must be absent: mixAioli chooses the mixture',
      });
    if (!input.training.data.eval)
      ctx.addIssue({
        code: 'custom',
        path: ['training', 'data', 'eval'],
        message: 'required: the validation windows that drive LearnParams',
      });
    if (new Set(input.groups).size !== input.groups.length)
      ctx.addIssue({ code: 'custom', path: ['groups'], message: 'group names must be unique' });
    if (input.method === 'static' && !input.staticMixture)
      ctx.addIssue({ code: 'custom', path: ['staticMixture'], message: 'required for method "static"' });
    if (input.initialProportions && input.method !== 'aioli')
      ctx.addIssue({
        code: 'custom',
        path: ['initialProportions'],
        message: `restricted mode applies to method "aioli", not "${input.method}"`,
      });
    if (input.priorSteps !== undefined && !input.initialProportions)
      ctx.addIssue({ code: 'custom', path: ['priorSteps'], message: 'needs initialProportions' });
    const known = new Set(input.groups);
    for (const [field, names] of [
      ['objectiveGroups', input.objectiveGroups ?? []],
      ['doremi.referenceLosses', Object.keys(input.doremi.referenceLosses ?? {})],
    ] as const) {
      const unknown = names.filter((g) => !known.has(g));
      if (unknown.length > 0)
        ctx.addIssue({
          code: 'custom',
          path: field.split('.'),
          message: `unknown group(s) ${unknown.map((g) => `"${g}"`).join(', ')} (known: ${input.groups.join(', ')})`,
        });
    }
    if (input.objectiveGroups && new Set(input.objectiveGroups).size !== input.objectiveGroups.length)
      ctx.addIssue({ code: 'custom', path: ['objectiveGroups'], message: 'group names must be unique' });
    const m = input.groups.length;
    if (
      input.skillit.graph &&
      (input.skillit.graph.length !== m || input.skillit.graph.some((r) => r.length !== m))
    )
      ctx.addIssue({
        code: 'custom',
        path: ['skillit', 'graph'],
        message: `must be ${m}×${m} (groups × groups)`,
      });
    if (
      input.doremi.referenceLosses &&
      input.method === 'doremi' &&
      input.groups.some((g) => input.doremi.referenceLosses![g] === undefined)
    )
      ctx.addIssue({
        code: 'custom',
        path: ['doremi', 'referenceLosses'],
        message: `needs every group (${input.groups.join(', ')})`,
      });
  });
export type MixAioliInput = z.input<typeof MixAioliInput>;
export type MixAioliConfig = z.output<typeof MixAioliInput>;

export interface MixAioliResult {
  runKey: string;
  method: string;
  checkpoint: ArtifactRef;
  step: number;
  rounds: number;
  /** Proportions of the last round, by group. */
  proportions: Record<string, number>;
  /** HISTORY table (long format step/key/value): round, proportions, weights, val losses, A per round. */
  history: ArtifactRef;
  /** Final per-group validation (and test, if given) loss. */
  val: Record<string, number>;
  test: Record<string, number> | null;
  manifest: ArtifactRef;
  interventions: MixAioliCarry['interventions'];
  /** `report.html` (proportions, per-group validation loss and Â per round); standalone runs only. */
  reportHtml?: ArtifactRef;
}

export interface MixAioliProgress {
  stage: 'validate' | 'reference' | 'train' | 'evaluate' | 'report' | 'manifest' | 'done';
  method: string;
  runKey: string;
  /** Rounds completed, of `rounds`. */
  round: number;
  rounds: number;
  step: number;
  total: number;
  /** The mixture the current (or last) main phase trains on, by group. */
  proportions: Record<string, number>;
  /** Per-group validation losses at the start of the last round (then the final ones). */
  losses: Record<string, number> | null;
  /** Last normalised A (rows evaluated group, columns trained group), Aioli only. */
  a: number[][] | null;
  eta: number;
  /** An accepted setMixture waiting for its round. */
  pendingMixture: Record<string, number> | null;
  lastCheckpointUri: string | null;
}

export interface SetMixtureRequest {
  /** Proportions by group name: every group, none other, each ≥ 0, summing to 1. */
  mixture: Record<string, number>;
}
export interface SteeringAccepted {
  /** The round whose main phase first uses it. */
  appliesToRound: number;
}
/** Override the next round's mixture (validated: simplex, known groups); Aioli continues from it. */
export const setMixtureUpdate = defineUpdate<SteeringAccepted, [SetMixtureRequest]>('setMixture');
/** Change η from the next round's update on. */
export const setEtaUpdate = defineUpdate<SteeringAccepted, [{ eta: number }]>('setEta');
