// Configuration of trajectory-matching distillation: the config type with defaults, validation and the
// expert-trajectory lookup the method reads. Config is plain JSON-able data (no Infinity, no functions): it
// is stored as `retort.config` in the distilled set's metadata (spec §2.3) and hashed into artifact keys.
import { type ConvNetConfig, DEFAULT_CONVNET, convNetConfig } from '../../models/convnet.js';

/** How the synthetic images start (DATM `pix_init`). */
export type SyntheticInit = 'real' | 'samples_predicted_correctly' | 'noise';

/**
 * The learnable inner step size α. 'log': optimise u = log α (spec §5: α stays positive; the
 * equivalent step is lr_u = lr_lr / α²). 'linear': optimise α itself, as the MTT/DATM code does (it can
 * go negative; used by the paper presets so their lr_lr values mean what they meant there).
 */
export type SynLrParametrisation = 'log' | 'linear';

/** AST intermediate matching (spec §7): off, β_i = 1 ("agg") or β_i = i/M ("adaptive"). */
export type IntermediateMatching = 'off' | 'agg' | 'adaptive';

/** AST student-side options (spec §7; all off by default, and then the method is plain MTT/DATM). */
export interface AstStudentOptions {
  /** Scale the inner CE by s(t) = log_5(t − ⌊T+/2⌋ + 8) for t ≥ ⌊T+/2⌋, else 1 / log_5(⌊T+/2⌋ − t + 8). */
  balancedInnerLoss: boolean;
  /** Add β_i‖θ_{n_i} − θ_{k,t+i}‖² / ‖θ_start − θ_{k,t+i}‖² at n_i = ⌊N/M⌋·i, i = 1..M−1. */
  intermediateMatching: IntermediateMatching;
  /** Weight perturbation strength a: each conv weight W of the start becomes W + a·(Z/‖Z‖_F)⊙W. 0 = off. */
  weightPerturb: number;
  /** Heavy-ball momentum of the unrolled student (AST code: 0.9; MTT/DATM: 0 = plain SGD). */
  innerMomentum: number;
}

export interface TrajectoryMatchingConfig {
  /** The student = expert architecture (must match the trajectories' `retort.arch`). */
  net: ConvNetConfig;
  /** Images per class; the synthetic set has N_s = classes · ipc images, class-major. */
  ipc: number;
  /** Root seed: every draw of outer iteration `it` comes from deriveSeed(seed, …, it). */
  seed: number;

  // --- MTT core (spec §5) ---
  /** N (`syn_steps`): unrolled student SGD steps per outer iteration. */
  syntheticSteps: number;
  /** M (`expert_epochs`): the target is the expert checkpoint M epochs after the start. */
  expertEpochs: number;
  /** Student minibatch (`batch_syn`); null = the whole synthetic set. */
  batchSyn: number | null;
  /** T− (`min_start_epoch`): smallest start epoch. */
  minStartEpoch: number;
  /** T+ (`max_start_epoch`): start epochs are drawn below this (exclusive). */
  maxStartEpoch: number;

  // --- DATM difficulty alignment (spec §6.1) ---
  /** `Sequential_Generation`: grow the window's upper end from T to T+ over I_exp iterations. */
  sequentialGeneration: boolean;
  /** T (`current_max_start_epoch`): the upper end at iteration 0 when sequential generation is on. */
  initialMaxStartEpoch: number;
  /** I_exp (`expansion_end_epoch`, counted in outer iterations): when the upper end reaches T+. */
  expansionEndIteration: number;

  // --- learnable step size α ---
  /** α₀ (`lr_teacher`). */
  initialSynLr: number;
  synLrParametrisation: SynLrParametrisation;

  // --- outer optimisers: SGD with momentum, one per learnable (spec §5 step 5, §6.3) ---
  lrImages: number;
  momentumImages: number;
  /** Step size of the α parameter: lr_u for 'log', lr_lr for 'linear'. */
  lrSynLr: number;
  momentumSynLr: number;
  /** `lr_y` (DATM soft labels; ignored with hard labels). */
  lrLabels: number;
  /** `Momentum_y`. */
  momentumLabels: number;

  // --- labels and initialisation (spec §6.2, §6.3) ---
  /** DATM: learnable soft labels (logits) with a soft cross-entropy in the inner loop. false = MTT hard labels. */
  softLabels: boolean;
  init: SyntheticInit;
  /** Chunk size of the correctly-classified scan and of expert evaluations (DATM code: 256). */
  initChunk: number;
  /**
   * Which checkpoint labels and selects the initial images (`Label_Model_Timestamp`), Python-style:
   * −1 = each expert's last epoch.
   */
  labelExpertEpoch: number;
  /** DATM update gate (spec §6.4): skip the three optimiser steps when L > threshold. null = never skip (MTT). */
  updateThreshold: number | null;

  ast: AstStudentOptions;
  /** ConvNet kernels (see ConvNetForwardOptions): 'native' on tfjs-node, 'im2col' for backends without conv gradients. */
  kernels: 'native' | 'im2col';
}

export const DEFAULT_AST: AstStudentOptions = {
  balancedInnerLoss: false,
  intermediateMatching: 'off',
  weightPerturb: 0,
  innerMomentum: 0,
};

/**
 * Defaults: DATM's `utils/cfg.py` defaults (the method to implement), except that α is optimised in
 * log space (spec §5) with lr_u = 1e-5 / 0.01² = 0.1, the step lr_lr = 1e-5 takes at α₀ = 0.01.
 */
export const DEFAULT_TRAJECTORY_MATCHING: TrajectoryMatchingConfig = {
  net: DEFAULT_CONVNET,
  ipc: 1,
  seed: 0,
  syntheticSteps: 80,
  expertEpochs: 2,
  batchSyn: null,
  minStartEpoch: 0,
  maxStartEpoch: 25,
  sequentialGeneration: true,
  initialMaxStartEpoch: 20,
  expansionEndIteration: 3000,
  initialSynLr: 0.01,
  synLrParametrisation: 'log',
  lrImages: 1000,
  momentumImages: 0.5,
  lrSynLr: 0.1,
  momentumSynLr: 0.5,
  lrLabels: 2,
  momentumLabels: 0.9,
  softLabels: true,
  init: 'samples_predicted_correctly',
  initChunk: 256,
  labelExpertEpoch: -1,
  updateThreshold: 1,
  ast: DEFAULT_AST,
  kernels: 'native',
};

/**
 * What turns DATM into plain MTT: hard labels, real init, a fixed window [T−, T+), no update gate.
 * (The MTT code's own defaults besides these: N 20, M 3, T+ 25, lr_img 1000, lr_lr 1e-5, α₀ 0.01.)
 */
export const MTT_OVERRIDES: TrajectoryMatchingOverrides = {
  sequentialGeneration: false,
  softLabels: false,
  init: 'real',
  updateThreshold: null,
};

export type TrajectoryMatchingOverrides = Partial<Omit<TrajectoryMatchingConfig, 'net' | 'ast'>> & {
  net?: Partial<ConvNetConfig>;
  ast?: Partial<AstStudentOptions>;
};

/** Fills defaults (nested `net` and `ast` too) and validates; throws a RangeError naming the field. */
export function trajectoryMatchingConfig(
  overrides: TrajectoryMatchingOverrides = {},
): TrajectoryMatchingConfig {
  const { net, ast, ...rest } = overrides;
  const config: TrajectoryMatchingConfig = {
    ...DEFAULT_TRAJECTORY_MATCHING,
    ...rest,
    net: convNetConfig({ ...DEFAULT_TRAJECTORY_MATCHING.net, ...net }),
    ast: { ...DEFAULT_AST, ...ast },
  };
  validateTrajectoryMatchingConfig(config);
  return config;
}

export function validateTrajectoryMatchingConfig(config: TrajectoryMatchingConfig): void {
  const fail = (field: string, what: string, got: unknown): never => {
    throw new RangeError(`trajectory matching config: ${field} must be ${what}, got ${String(got)}`);
  };
  const posInt = ['ipc', 'syntheticSteps', 'expertEpochs', 'expansionEndIteration', 'initChunk'] as const;
  for (const k of posInt)
    if (!(Number.isInteger(config[k]) && config[k] > 0)) fail(k, 'a positive integer', config[k]);
  const nonNegInt = ['minStartEpoch', 'maxStartEpoch', 'initialMaxStartEpoch'] as const;
  for (const k of nonNegInt)
    if (!(Number.isInteger(config[k]) && config[k] >= 0)) fail(k, 'a non-negative integer', config[k]);
  if (!Number.isInteger(config.seed)) fail('seed', 'an integer', config.seed);
  if (config.batchSyn !== null && !(Number.isInteger(config.batchSyn) && config.batchSyn > 0))
    fail('batchSyn', 'null or a positive integer', config.batchSyn);
  const nonNeg = ['lrImages', 'lrSynLr', 'lrLabels'] as const;
  for (const k of nonNeg)
    if (!(config[k] >= 0 && Number.isFinite(config[k]))) fail(k, 'a finite number ≥ 0', config[k]);
  const momenta = ['momentumImages', 'momentumSynLr', 'momentumLabels'] as const;
  for (const k of momenta) if (!(config[k] >= 0 && config[k] < 1)) fail(k, 'in [0, 1)', config[k]);
  if (config.synLrParametrisation === 'log' && !(config.initialSynLr > 0))
    fail('initialSynLr', "> 0 with synLrParametrisation 'log'", config.initialSynLr);
  if (!Number.isFinite(config.initialSynLr)) fail('initialSynLr', 'finite', config.initialSynLr);
  if (config.maxStartEpoch <= config.minStartEpoch)
    fail('maxStartEpoch', `> minStartEpoch (${config.minStartEpoch})`, config.maxStartEpoch);
  if (config.sequentialGeneration && config.initialMaxStartEpoch <= config.minStartEpoch)
    fail(
      'initialMaxStartEpoch',
      `> minStartEpoch (${config.minStartEpoch}) with sequential generation`,
      config.initialMaxStartEpoch,
    );
  if (!Number.isInteger(config.labelExpertEpoch))
    fail('labelExpertEpoch', 'an integer', config.labelExpertEpoch);
  if (config.updateThreshold !== null && !(config.updateThreshold > 0))
    fail('updateThreshold', 'null or > 0', config.updateThreshold);
  // Instance norm keeps each sample's loss independent of the batch (spec §13); batch norm would not.
  if (config.net.norm === 'batchnorm')
    fail('net.norm', "'instancenorm' or 'none' (spec §13)", config.net.norm);
  const { ast } = config;
  if (!(ast.innerMomentum >= 0 && ast.innerMomentum < 1))
    fail('ast.innerMomentum', 'in [0, 1)', ast.innerMomentum);
  if (!(ast.weightPerturb >= 0 && Number.isFinite(ast.weightPerturb)))
    fail('ast.weightPerturb', 'a finite number ≥ 0', ast.weightPerturb);
  if (ast.intermediateMatching !== 'off' && config.syntheticSteps < config.expertEpochs)
    fail(
      'syntheticSteps',
      `≥ expertEpochs (${config.expertEpochs}) with intermediate matching`,
      config.syntheticSteps,
    );
}

/** N_s = classes · ipc. */
export function syntheticSetSize(config: TrajectoryMatchingConfig): number {
  return config.net.classes * config.ipc;
}

/** The `retort.method` tag of a distilled set (spec §2.3). */
export function trajectoryMatchingMethod(config: TrajectoryMatchingConfig): 'mtt' | 'datm' | 'datm+ast' {
  const { ast } = config;
  const astOn =
    ast.balancedInnerLoss ||
    ast.intermediateMatching !== 'off' ||
    ast.weightPerturb > 0 ||
    ast.innerMomentum > 0;
  const datm = config.softLabels || config.sequentialGeneration || config.updateThreshold !== null;
  return astOn ? 'datm+ast' : datm ? 'datm' : 'mtt';
}

// -----------------------------------------------------------------------------------------------
// Expert trajectories, as the method reads them

/**
 * θ_{k,e} for experts k = 0..experts−1 and epochs e = 0..lastEpoch (0 = random init), each the flat
 * ConvNet parameter vector in canonical order (spec §2.2). A lookup, so an activity can stream rows
 * from Parquet (see `requiredCheckpoints`) instead of holding every trajectory in memory.
 */
export interface ExpertTrajectories {
  experts: number;
  lastEpoch: number;
  params(expert: number, epoch: number): Float32Array;
}

/** Trajectories held in memory: `rows[k][e]` = θ_{k,e}. */
export function trajectoriesFromArrays(rows: readonly (readonly Float32Array[])[]): ExpertTrajectories {
  if (rows.length === 0) throw new RangeError('expert trajectories: no experts');
  const epochs = rows[0]!.length;
  rows.forEach((r, k) => {
    if (r.length !== epochs)
      throw new RangeError(
        `expert trajectories: expert ${k} has ${r.length} checkpoints, expert 0 has ${epochs}`,
      );
  });
  if (epochs < 2)
    throw new RangeError(`expert trajectories: need at least 2 checkpoints per expert, got ${epochs}`);
  return {
    experts: rows.length,
    lastEpoch: epochs - 1,
    params: (k, e) => {
      const p = rows[k]?.[e];
      if (!p) throw new RangeError(`expert trajectories: no checkpoint for expert ${k}, epoch ${e}`);
      return p;
    },
  };
}
