// The outer loop (spec §5.5, DATM §6.4 gate): chunks of iterations over the state, resumable bit for bit.
import * as tf from '@tensorflow/tfjs-core';
import type { DistillLogRow } from '../../../schemas/trajectory-matching.js';
import { sgd } from '../../train/optimizers.js';
import { type DistillState, disposeDistillState, synLrValue } from './state.js';
import {
  type MatchOptions,
  type SegmentGradients,
  disposeSegmentGradients,
  matchTrajectorySegment,
} from './matching.js';
import {
  type TrajectoryMatchingConfig,
  validateTrajectoryMatchingConfig,
  type ExpertTrajectories,
} from './config.js';

export type { DistillLogRow };

export interface DistillIterationsOptions extends MatchOptions {
  /** Called after every outer iteration with plain numbers (heartbeats, progress). */
  onIteration?: (row: DistillLogRow) => void;
}

export interface DistillIterationsResult {
  state: DistillState;
  log: DistillLogRow[];
}

/**
 * Runs outer iterations [state.iteration, state.iteration + iterations). The input state stays the
 * caller's (never disposed); intermediate generations are freed; the returned state's tensors are new
 * and belong to the caller. Iteration `it` depends only on (state, config, it), so running 1 + 1
 * iterations equals running 2.
 */
export function distillIterations(
  state: DistillState,
  experts: ExpertTrajectories,
  config: TrajectoryMatchingConfig,
  iterations: number,
  opts: DistillIterationsOptions = {},
): DistillIterationsResult {
  validateTrajectoryMatchingConfig(config);
  if (!(Number.isInteger(iterations) && iterations >= 0))
    throw new RangeError(`distillIterations: iterations must be a non-negative integer, got ${iterations}`);
  if (config.softLabels !== (state.labelLogits !== null))
    throw new RangeError(
      `distillIterations: softLabels is ${config.softLabels} but the state's labelLogits is ${state.labelLogits ? 'set' : 'null'}`,
    );
  const log: DistillLogRow[] = [];
  let current = state;
  let own = false; // whether `current` was made here (and may be freed here)

  for (let k = 0; k < iterations; k++) {
    const it = current.iteration;
    const alpha = synLrValue(config, current.synLr);
    const { plan, loss, grads } = matchTrajectorySegment(current, experts, config, it, opts);
    const row: DistillLogRow = {
      iteration: it,
      expert: plan.expert,
      startEpoch: plan.startEpoch,
      upperBound: plan.upperBound,
      loss,
      synLr: alpha,
      skipped: config.updateThreshold !== null && loss > config.updateThreshold,
    };
    if (!Number.isFinite(loss)) {
      disposeSegmentGradients(grads);
      if (own) disposeDistillState(current);
      throw new Error(
        `trajectory matching diverged: loss is ${loss} at iteration ${it} (expert ${plan.expert}, start epoch ${plan.startEpoch}, α ${alpha})`,
      );
    }
    let next: DistillState;
    if (row.skipped) {
      // DATM: the optimisers do not step (their momentum buffers stay as they were).
      next = own ? { ...current, iteration: it + 1 } : cloneState(current, it + 1);
    } else {
      next = outerStep(config, current, grads, it + 1);
      if (own) disposeDistillState(current);
    }
    disposeSegmentGradients(grads);
    current = next;
    own = true;
    log.push(row);
    opts.onIteration?.(row);
  }
  return { state: own ? current : cloneState(current, current.iteration), log };
}

/** X, α's parameter and L each take one SGD-with-momentum step (torch.optim.SGD, dampening 0). */
function outerStep(
  config: TrajectoryMatchingConfig,
  s: DistillState,
  g: SegmentGradients,
  iteration: number,
): DistillState {
  const step = <T extends tf.Tensor>(p: T, grad: T, v: T, lr: number, momentum: number): { p: T; v: T } => {
    const opt = sgd({ momentum });
    const r = opt.step(p, grad, { step: 0, slots: momentum > 0 ? { velocity: v } : {} }, lr);
    // With momentum 0 there is no buffer (torch keeps None); zeros keep the state's shape fixed.
    return { p: r.params, v: (r.state.slots.velocity as T | undefined) ?? (tf.zerosLike(v) as T) };
  };
  const images = step(s.images, g.images, s.velocity.images, config.lrImages, config.momentumImages);
  const synLr = step(s.synLr, g.synLr, s.velocity.synLr, config.lrSynLr, config.momentumSynLr);
  const labels =
    s.labelLogits && g.labelLogits && s.velocity.labelLogits
      ? step(s.labelLogits, g.labelLogits, s.velocity.labelLogits, config.lrLabels, config.momentumLabels)
      : null;
  return {
    images: images.p,
    classes: s.classes,
    labelLogits: labels?.p ?? null,
    synLr: synLr.p,
    velocity: { images: images.v, labelLogits: labels?.v ?? null, synLr: synLr.v },
    iteration,
  };
}

function cloneState(s: DistillState, iteration: number): DistillState {
  const clone = <T extends tf.Tensor | null>(t: T): T => (t ? (tf.clone(t) as T) : t);
  return {
    images: clone(s.images),
    classes: s.classes,
    labelLogits: clone(s.labelLogits),
    synLr: clone(s.synLr),
    velocity: {
      images: clone(s.velocity.images),
      labelLogits: clone(s.velocity.labelLogits),
      synLr: clone(s.velocity.synLr),
    },
    iteration,
  };
}
