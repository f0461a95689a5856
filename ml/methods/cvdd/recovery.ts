// CV-DD recovery loop (spec §5.2): resumable in chunks, deterministic per (seed, global iteration).
import * as tf from '@tensorflow/tfjs-core';
import { type Optimizer, type OptimizerState, adamw, disposeOptimizerState } from '../../train/optimizers.js';
import { Rng, deriveSeed } from '../../train/rng.js';
import { applyRecoveryView, sampleRecoveryView } from './augment.js';
import { type CommitteeVotingConfig, assertValidCommitteeVotingConfig } from './config.js';
import { type CommitteeMember, committeeForward } from './members.js';
import { committeeRecoveryObjective } from './bn-objective.js';

export interface RecoveryState {
  /** Synthetic images x [B, H, W, C] in normalised pixel space. */
  images: tf.Tensor4D;
  /** Target class of each row. */
  labels: number[];
  /** Committee indices voting on this slot, and their weights (same order). */
  voters: number[];
  weights: number[];
  /** Seed of this slot: the view of iteration `it` is drawn from deriveSeed(seed, 'recover-view', it). */
  seed: number;
  /** Global iterations done so far. */
  iteration: number;
  /** Adam moments of x (never shared across slots, §10). */
  adam: OptimizerState<tf.Tensor4D>;
}

export interface RecoveryStep {
  iteration: number;
  lr: number;
  /** Objective on the augmented view, before this iteration's update. */
  loss: number;
  ce: number[];
  bn: number[];
}

export interface RecoveryStateInit {
  images: tf.Tensor4D;
  labels: readonly number[];
  voters: readonly number[];
  weights: readonly number[];
  seed: number;
}

/** Adam as recover.py: torch.optim.Adam (β 0.5/0.9), i.e. AdamW without weight decay. */
export function recoveryOptimizer(config: CommitteeVotingConfig): Optimizer {
  return adamw({ beta1: config.adamBeta1, beta2: config.adamBeta2, eps: config.adamEps, weightDecay: 0 });
}

/** A fresh slot state; copies `images` (the caller keeps its tensor). */
export function initRecoveryState(init: RecoveryStateInit, config: CommitteeVotingConfig): RecoveryState {
  assertValidCommitteeVotingConfig(config);
  if (init.labels.length !== init.images.shape[0])
    throw new Error(`initRecoveryState: ${init.labels.length} labels for ${init.images.shape[0]} images`);
  if (init.voters.length !== init.weights.length || init.voters.length === 0)
    throw new Error(`initRecoveryState: ${init.voters.length} voters but ${init.weights.length} weights`);
  if (init.images.shape[3] !== config.normalization.mean.length)
    throw new Error(
      `initRecoveryState: images have ${init.images.shape[3]} channels, normalization ${config.normalization.mean.length}`,
    );
  const images = tf.clone(init.images);
  return {
    images,
    labels: [...init.labels],
    voters: [...init.voters],
    weights: [...init.weights],
    seed: init.seed,
    iteration: 0,
    adam: recoveryOptimizer(config).init(images),
  };
}

export function disposeRecoveryState(state: RecoveryState): void {
  tf.dispose(state.images);
  disposeOptimizerState(state.adam);
}

/** N(0, 1) initial images (recover.py "Guassian"); the CPU profile starts from real images instead. */
export function gaussianRecoveryImages(shape: [number, number, number, number], seed: number): tf.Tensor4D {
  return tf.randomNormal(shape, 0, 1, 'float32', deriveSeed(seed, 'gaussian-init'));
}

/** lr_it = ½(1 + cos(π·it/I))·lr (utils_recover.lr_cosine_policy without warm-up). */
export function recoveryLr(
  config: Pick<CommitteeVotingConfig, 'lr' | 'iterations'>,
  iteration: number,
): number {
  return 0.5 * (1 + Math.cos((Math.PI * iteration) / config.iterations)) * config.lr;
}

/** Clamps channel c to [(0 − m_c)/s_c, (1 − m_c)/s_c] (utils_recover.clip). */
export function clampToPixelRange(
  x: tf.Tensor4D,
  normalization: { mean: number[]; std: number[] },
): tf.Tensor4D {
  const { mean, std } = normalization;
  return tf.tidy(() => {
    const lo = tf.tensor1d(mean.map((m, c) => (0 - m) / std[c]!));
    const hi = tf.tensor1d(mean.map((m, c) => (1 - m) / std[c]!));
    return tf.minimum(tf.maximum(x, lo), hi);
  });
}

/**
 * Runs `iterations` more recovery iterations of one slot. Returns a new state (the input state stays
 * the caller's and is not disposed) and one history row per iteration. Running k + l iterations in two
 * calls equals running k + l in one: the LR, the augmentation and Adam's bias correction all depend on
 * the global iteration only.
 */
export function recoverSyntheticImages(
  state: RecoveryState,
  committee: readonly CommitteeMember[],
  config: CommitteeVotingConfig,
  iterations: number,
  onIteration?: (step: RecoveryStep) => void,
): { state: RecoveryState; history: RecoveryStep[] } {
  if (state.iteration + iterations > config.iterations)
    throw new RangeError(
      `recoverSyntheticImages: iterations ${state.iteration}..${state.iteration + iterations} exceed the schedule's ${config.iterations}`,
    );
  const voters = state.voters.map((i) => {
    const m = committee[i];
    if (!m) throw new Error(`recoverSyntheticImages: voter ${i} not in a committee of ${committee.length}`);
    return m;
  });
  const optimizer = recoveryOptimizer(config);
  const [, height, width] = state.images.shape;
  const history: RecoveryStep[] = [];
  let current = state;
  let own = false;
  for (let k = 0; k < iterations; k++) {
    const it = current.iteration;
    const lr = recoveryLr(config, it);
    const view = sampleRecoveryView(
      new Rng(deriveSeed(current.seed, 'recover-view', it)),
      height,
      width,
      config.recoverAugment,
    );
    const before = current;
    const out = tf.tidy(() => {
      const targets = tf.tensor1d(before.labels, 'int32');
      let parts: tf.Tensor1D | undefined;
      const objective = (x: tf.Tensor): tf.Scalar => {
        const terms = committeeRecoveryObjective(
          applyRecoveryView(x as tf.Tensor4D, view),
          targets,
          voters,
          before.weights,
          config,
        );
        parts = tf.keep(tf.concat([terms.ce, terms.bn]));
        return terms.total;
      };
      const { value, grads } = tf.valueAndGrads(objective)([before.images]);
      const next = optimizer.step(before.images, grads[0] as tf.Tensor4D, before.adam, lr);
      const images = clampToPixelRange(next.params, config.normalization);
      return { images, adam: next.state, value, parts: parts! } as unknown as tf.TensorContainer;
    }) as unknown as {
      images: tf.Tensor4D;
      adam: OptimizerState<tf.Tensor4D>;
      value: tf.Scalar;
      parts: tf.Tensor1D;
    };

    if (own) disposeRecoveryState(before);
    current = { ...before, images: out.images, adam: out.adam, iteration: it + 1 };
    own = true;
    const loss = out.value.dataSync()[0]!;
    const parts = Array.from(out.parts.dataSync());
    tf.dispose([out.value, out.parts]);
    if (!Number.isFinite(loss)) {
      disposeRecoveryState(current);
      throw new Error(
        `recovery diverged: objective is ${loss} at iteration ${it} (lr ${lr}, seed ${state.seed})`,
      );
    }
    const step = {
      iteration: it,
      lr,
      loss,
      ce: parts.slice(0, voters.length),
      bn: parts.slice(voters.length),
    };
    history.push(step);
    onIteration?.(step);
  }
  if (!own) current = { ...state, images: tf.clone(state.images), adam: cloneAdam(state.adam) };
  return { state: current, history };
}

function cloneAdam(s: OptimizerState<tf.Tensor4D>): OptimizerState<tf.Tensor4D> {
  return {
    step: s.step,
    slots: Object.fromEntries(Object.entries(s.slots).map(([k, t]) => [k, tf.clone(t)])),
  };
}

export interface RecoveryReport {
  total: number;
  ce: number[];
  bn: number[];
  /** Fraction of the batch each voter classifies as its target (oracle §8.5). */
  accuracy: number[];
}

/** The objective at the un-augmented images plus each voter's accuracy on them (final_ce / final_bn of §2.3). */
export function recoveryReport(
  images: tf.Tensor4D,
  labels: readonly number[],
  voters: readonly CommitteeMember[],
  weights: readonly number[],
  config: Pick<CommitteeVotingConfig, 'rBn' | 'firstBnMultiplier' | 'normSqrtEps' | 'bnTermFamilies'>,
): RecoveryReport {
  const out = tf.tidy(() => {
    const targets = tf.tensor1d(labels as number[], 'int32');
    const terms = committeeRecoveryObjective(images, targets, voters, weights, config);
    const hits = tf.stack(
      voters.map((m) => {
        const o = committeeForward(m.arch, m.params, m.runningStats, images, 'running');
        return tf.mean(tf.cast(tf.equal(tf.argMax(o.logits, 1), targets), 'float32'));
      }),
    );
    return tf.concat([tf.reshape(terms.total, [1]), terms.ce, terms.bn, hits]);
  });
  const v = Array.from(out.dataSync());
  out.dispose();
  const n = voters.length;
  return { total: v[0]!, ce: v.slice(1, 1 + n), bn: v.slice(1 + n, 1 + 2 * n), accuracy: v.slice(1 + 2 * n) };
}
