// Continual pre-training with learning-rate re-warming:
// Gupta, Thérien, Ibrahim, Richter, Anthony, Belilovsky, Rish, Lesort, "Continual Pre-Training of Large
// Language Models: How to (re)warm your model?", ES-FoMo @ ICML 2023, arXiv:2308.04014 (Secs. 2, 4.1–4.5).
// Implements the schedule of specs/continual-pretraining-rewarm.md §3 (normative for retort):
//
//   lr(s) = η_max · (s + 1) / W                                         if s < W        (linear warm-up)
//           η_min + ½ (η_max − η_min) · (1 + cos(π · (s − W) / (D − W)))  if W ≤ s ≤ D   (cosine decay)
//           η_min                                                        if s > D        (clamped floor)
//
// s = 0-based index of the update about to be applied; S = total steps of the FULL downstream budget
// (a run stopped early keeps using the first part of this schedule: spec §8 "horizon independence",
// §10); W = round(w_frac · S); D = decay-end step (paper: round(S · 240/297); retort default D = S);
// η_min = r · η_max with r = 0.1. W = 0 means the first update already uses η_max. The (s+1)/W start
// is a retort choice (spec §3) so the first update is not wasted at LR 0.
// Baselines share the same function type: `constantSchedule` (no re-warm: keep the upstream final LR).
import type { LrSchedule } from '../train/schedule.js';

// What the schedules here return, for callers that import a schedule and its type together.
export type { LrSchedule };

/** The paper's decay end: the cosine reaches η_min at 240B of 297B tokens (spec §2, §3). */
export const PAPER_DECAY_END_FRACTION = 240 / 297;
/** η_min / η_max in the paper and retort's default (spec §2, §7). */
export const DEFAULT_MIN_LR_RATIO = 0.1;

export interface RewarmedCosineConfig {
  /** S: the full downstream budget in optimiser steps, even if a run is stopped early. */
  totalSteps: number;
  /** w_frac ∈ [0, 1]: W = round(w_frac · S). Paper-faithful preset 0.01 (spec §7). */
  warmupFraction: number;
  /** η_max, the re-warmed peak. */
  maxLr: number;
  /** η_min as an absolute value; give this or `minLrRatio`, not both. */
  minLr?: number;
  /** r with η_min = r · η_max (default 0.1). */
  minLrRatio?: number;
  /** D, the step at which the cosine reaches η_min (default S). */
  decayEndStep?: number;
  /** D as a fraction of S, D = round(f · S) (paper: PAPER_DECAY_END_FRACTION). */
  decayEndFraction?: number;
}

/** The resolved integers and rates the schedule uses (what a run manifest should record). */
export interface RewarmedCosineResolved {
  totalSteps: number;
  warmupSteps: number;
  decayEndStep: number;
  maxLr: number;
  minLr: number;
}

export function resolveRewarmedCosine(config: RewarmedCosineConfig): RewarmedCosineResolved {
  const { totalSteps: S, warmupFraction, maxLr } = config;
  const where = `rewarmedCosineSchedule(${JSON.stringify(config)})`;
  if (!(Number.isInteger(S) && S >= 1))
    throw new RangeError(`${where}: totalSteps must be a positive integer`);
  if (!(warmupFraction >= 0 && warmupFraction <= 1))
    throw new RangeError(`${where}: warmupFraction must lie in [0, 1]`);
  if (!(maxLr > 0 && Number.isFinite(maxLr)))
    throw new RangeError(`${where}: maxLr must be a positive number`);
  if (config.minLr !== undefined && config.minLrRatio !== undefined)
    throw new RangeError(`${where}: give minLr or minLrRatio, not both`);
  if (config.decayEndStep !== undefined && config.decayEndFraction !== undefined)
    throw new RangeError(`${where}: give decayEndStep or decayEndFraction, not both`);

  const minLr = config.minLr ?? (config.minLrRatio ?? DEFAULT_MIN_LR_RATIO) * maxLr;
  if (!(minLr >= 0 && minLr <= maxLr)) throw new RangeError(`${where}: need 0 ≤ minLr (${minLr}) ≤ maxLr`);
  const W = Math.round(warmupFraction * S);
  const D =
    config.decayEndStep ??
    (config.decayEndFraction !== undefined ? Math.round(config.decayEndFraction * S) : S);
  if (!(Number.isInteger(D) && D > W))
    throw new RangeError(`${where}: decay end D = ${D} must be an integer after the warm-up W = ${W}`);
  return { totalSteps: S, warmupSteps: W, decayEndStep: D, maxLr, minLr };
}

/** The re-warmed cosine schedule of spec §3 as `lr(step)`. */
export function rewarmedCosineSchedule(config: RewarmedCosineConfig): LrSchedule {
  const { warmupSteps: W, decayEndStep: D, maxLr, minLr } = resolveRewarmedCosine(config);
  return (s: number): number => {
    checkStep(s);
    // (s+1)/W is computed before multiplying so that lr(W−1) is exactly η_max.
    if (s < W) return maxLr * ((s + 1) / W);
    // Clamp after D (and at D, where the cosine equals η_min mathematically): some cosine
    // implementations rise again past the horizon (spec §10).
    if (s >= D) return minLr;
    // Same value as η_min + ½(η_max − η_min)(1 + cos πp), written as η_max − (η_max − η_min)·½(1 − cos πp)
    // so that lr(W) is exactly η_max; the max() guards the floor against one-ulp rounding near D.
    const progress = (s - W) / (D - W);
    return Math.max(minLr, maxLr - (maxLr - minLr) * 0.5 * (1 - Math.cos(Math.PI * progress)));
  };
}

/** Which branch of §3 step `s` falls in (the `phase` column of `lr_schedule`, spec §6). */
export function rewarmPhase(config: RewarmedCosineConfig, s: number): 'warmup' | 'decay' | 'floor' {
  checkStep(s);
  const { warmupSteps: W, decayEndStep: D } = resolveRewarmedCosine(config);
  return s < W ? 'warmup' : s <= D ? 'decay' : 'floor';
}

/** No re-warm: every step uses `lr` (the upstream schedule's final LR; paper 3e-5, spec §3). */
export function constantSchedule(lr: number): LrSchedule {
  if (!(lr >= 0 && Number.isFinite(lr)))
    throw new RangeError(`constantSchedule: lr must be a non-negative number, got ${lr}`);
  return (s: number): number => {
    checkStep(s);
    return lr;
  };
}

export interface LrScheduleRow {
  step: number;
  /** Tokens consumed before this step: tokens(s) = s · batch_seqs · ctx (spec §8). */
  tokens: number;
  lr: number;
  phase: 'warmup' | 'decay' | 'floor';
}

/**
 * The whole `lr_schedule` table (spec §6): exactly S rows, materialised before training so the
 * training activity reads its LR from it.
 */
export function rewarmedCosineTable(config: RewarmedCosineConfig, tokensPerStep: number): LrScheduleRow[] {
  const lr = rewarmedCosineSchedule(config);
  const { warmupSteps: W, decayEndStep: D } = resolveRewarmedCosine(config);
  return Array.from({ length: config.totalSteps }, (_x, step) => ({
    step,
    tokens: step * tokensPerStep,
    lr: lr(step),
    phase: step < W ? 'warmup' : step <= D ? 'decay' : 'floor',
  }));
}

/** Token budget → optimiser steps, rounded (spec §3: 297B tokens at 2,097,152 tokens/step ≈ 141,621). */
export function stepsForTokens(tokens: number, tokensPerStep: number): number {
  return Math.round(tokens / tokensPerStep);
}

function checkStep(s: number): void {
  if (!(Number.isInteger(s) && s >= 0))
    throw new RangeError(`learning-rate schedule: step must be a non-negative integer, got ${s}`);
}
