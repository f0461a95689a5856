// Functional optimizers: `step(params, grads, state, lr) → { params, state }` returns NEW tensors and
// never disposes its inputs (the caller owns both generations and decides when to free the old one).
// The update rules follow PyTorch's torch.optim.SGD and torch.optim.AdamW exactly, because the specs'
// hyperparameters (MTT experts: SGD lr 0.01; rewarm §2 / Aioli §6: AdamW β=(0.9, 0.95), wd 0.1) were
// tuned under those rules.
//
// State = { step, slots }: a step counter plus one tensor tree per slot (SGD: velocity; AdamW: m, v),
// shaped like the params. `serializeOptimizerState` turns it into named tensors for a checkpoint.
import * as tf from '@tensorflow/tfjs-core';
import {
  type NamedTensors,
  type ParamTree,
  FLAT_LEAF,
  disposeTree,
  fromLeaves,
  isFlat,
  leafNames,
  leaves,
  mapLeaves,
  zerosLikeTree,
} from './param-tree.js';

export interface OptimizerState<P extends ParamTree = ParamTree> {
  /** Number of updates applied so far (AdamW's bias correction uses step + 1 for the next update). */
  step: number;
  slots: Record<string, P>;
}

export interface Optimizer {
  readonly kind: 'sgd' | 'adamw';
  /** Names of the per-parameter slots this optimizer keeps (for checkpoints). */
  readonly slotNames: readonly string[];
  init<P extends ParamTree>(params: P): OptimizerState<P>;
  step<P extends ParamTree>(
    params: P,
    grads: P,
    state: OptimizerState<P>,
    lr: number,
  ): { params: P; state: OptimizerState<P> };
}

// -----------------------------------------------------------------------------------------------
// SGD with momentum and (coupled, L2-style) weight decay — torch.optim.SGD with dampening 0:
//   g ← g + wd·p;  v ← μ·v + g;  p ← p − lr·(nesterov ? g + μ·v : v)
// The velocity starts at zero, which equals PyTorch's "first step copies g" when dampening is 0.

export interface SgdConfig {
  momentum: number;
  weightDecay: number;
  nesterov: boolean;
}
export const DEFAULT_SGD: SgdConfig = { momentum: 0, weightDecay: 0, nesterov: false };

export function sgd(config: Partial<SgdConfig> = {}): Optimizer {
  const { momentum, weightDecay, nesterov } = { ...DEFAULT_SGD, ...config };
  if (nesterov && momentum <= 0) throw new Error('sgd: nesterov needs momentum > 0');
  const slotNames = momentum > 0 ? ['velocity'] : [];
  return {
    kind: 'sgd',
    slotNames,
    init: <P extends ParamTree>(params: P): OptimizerState<P> => {
      const slots: Record<string, P> = {};
      if (momentum > 0) slots.velocity = zerosLikeTree(params);
      return { step: 0, slots };
    },
    step(params, grads, state, lr) {
      const velocity = state.slots.velocity;
      const newVelocity: tf.Tensor[] = [];
      const newParams = tf.tidy(() =>
        mapLeaves([params, grads], (name, p, g) => {
          let d = weightDecay > 0 ? tf.add(g, tf.mul(weightDecay, p)) : g;
          if (velocity) {
            const v = tf.add(tf.mul(momentum, leafOf(velocity, name)), d);
            newVelocity.push(tf.keep(v));
            d = nesterov ? tf.add(d, tf.mul(momentum, v)) : v;
          }
          return tf.sub(p, tf.mul(lr, d));
        }),
      );
      const slots: typeof state.slots = {};
      if (velocity) slots.velocity = fromLeaves(params, newVelocity);
      return { params: newParams, state: { step: state.step + 1, slots } };
    },
  };
}

// -----------------------------------------------------------------------------------------------
// AdamW (Loshchilov & Hutter, decoupled weight decay) — torch.optim.AdamW:
//   p ← p·(1 − lr·wd)                          (only where decayFilter says so)
//   m ← β1·m + (1−β1)·g;   v ← β2·v + (1−β2)·g²
//   p ← p − (lr / (1−β1^t)) · m / (√v / √(1−β2^t) + ε),   t = step + 1

export interface AdamWConfig {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /**
   * Which parameters get weight decay (default: all). Aioli §6 decays everything "except norms/biases";
   * pass `decayMatricesOnly` for that.
   */
  decayFilter?: (name: string, param: tf.Tensor) => boolean;
}
export const DEFAULT_ADAMW: AdamWConfig = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 };

/** Decay rank ≥ 2 tensors (weights, embeddings) but not biases or norm gains (nanoGPT's rule). */
export const decayMatricesOnly = (_name: string, param: tf.Tensor): boolean => param.rank >= 2;

export function adamw(config: Partial<AdamWConfig> = {}): Optimizer {
  const { beta1, beta2, eps, weightDecay, decayFilter } = { ...DEFAULT_ADAMW, ...config };
  return {
    kind: 'adamw',
    slotNames: ['m', 'v'],
    init: (params) => ({ step: 0, slots: { m: zerosLikeTree(params), v: zerosLikeTree(params) } }),
    step(params, grads, state, lr) {
      const t = state.step + 1;
      const stepSize = lr / (1 - beta1 ** t);
      const sqrtBc2 = Math.sqrt(1 - beta2 ** t);
      const ms: tf.Tensor[] = [];
      const vs: tf.Tensor[] = [];
      const newParams = tf.tidy(() =>
        mapLeaves([params, grads], (name, p, g) => {
          const m = tf.add(tf.mul(beta1, leafOf(state.slots.m!, name)), tf.mul(1 - beta1, g));
          const v = tf.add(tf.mul(beta2, leafOf(state.slots.v!, name)), tf.mul(1 - beta2, tf.square(g)));
          ms.push(tf.keep(m));
          vs.push(tf.keep(v));
          const decays = weightDecay > 0 && (decayFilter ? decayFilter(name, p) : true);
          const decayed = decays ? tf.mul(p, 1 - lr * weightDecay) : p;
          const denom = tf.add(tf.div(tf.sqrt(v), sqrtBc2), eps);
          return tf.sub(decayed, tf.mul(stepSize, tf.div(m, denom)));
        }),
      );
      return {
        params: newParams,
        state: { step: t, slots: { m: fromLeaves(params, ms), v: fromLeaves(params, vs) } },
      };
    },
  };
}

function leafOf(tree: ParamTree, name: string): tf.Tensor {
  return isFlat(tree) ? tree : tree[name]!;
}

// -----------------------------------------------------------------------------------------------
// Gradient clipping by global norm — torch.nn.utils.clip_grad_norm_:
//   n = ‖concat(g)‖₂;  g ← g · min(1, maxNorm / (n + 1e-6))
// Stays on device (no sync); `norm` is returned for logging.

export function globalNorm(grads: ParamTree): tf.Scalar {
  return tf.tidy(() => tf.sqrt(tf.addN(leaves(grads).map((g) => tf.sum(tf.square(g))))) as tf.Scalar);
}

export function clipByGlobalNorm<P extends ParamTree>(
  grads: P,
  maxNorm: number,
): { grads: P; norm: tf.Scalar } {
  const norm = globalNorm(grads);
  const clipped = tf.tidy(() => {
    const coef = tf.minimum(1, tf.div(maxNorm, tf.add(norm, 1e-6)));
    return mapLeaves([grads], (_n, g) => tf.mul(g, coef));
  });
  return { grads: clipped, norm };
}

// -----------------------------------------------------------------------------------------------
// Checkpoint form: the step counter plus named tensors "<slot>/<param>" ("<slot>" for a flat tree).

export interface SerializedOptimizerState {
  step: number;
  tensors: NamedTensors;
}

export function serializeOptimizerState(state: OptimizerState): SerializedOptimizerState {
  const tensors: NamedTensors = {};
  for (const [slot, tree] of Object.entries(state.slots)) {
    for (const name of leafNames(tree)) {
      tensors[name === FLAT_LEAF ? slot : `${slot}/${name}`] = leafOf(tree, name);
    }
  }
  return { step: state.step, tensors };
}

/**
 * Inverse of `serializeOptimizerState`, shaped like `params`. Shares the given tensors (no copies).
 * Throws naming the first missing or mis-shaped entry.
 */
export function deserializeOptimizerState<P extends ParamTree>(
  optimizer: Optimizer,
  params: P,
  saved: SerializedOptimizerState,
): OptimizerState<P> {
  const slots: Record<string, P> = {};
  for (const slot of optimizer.slotNames) {
    slots[slot] = mapLeaves([params], (name, p) => {
      const key = name === FLAT_LEAF ? slot : `${slot}/${name}`;
      const t = saved.tensors[key];
      if (!t) throw new Error(`optimizer state (${optimizer.kind}): tensor "${key}" missing`);
      if (!tf.util.arraysEqual(t.shape, p.shape)) {
        throw new Error(
          `optimizer state (${optimizer.kind}): "${key}" has shape [${t.shape}], parameter has [${p.shape}]`,
        );
      }
      return t;
    });
  }
  return { step: saved.step, slots };
}

export function disposeOptimizerState(state: OptimizerState | null | undefined): void {
  if (state) for (const tree of Object.values(state.slots)) disposeTree(tree);
}
