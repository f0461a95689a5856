// Trajectory-matching state: the learnable synthetic set, its optimiser state and their plain-array form
// for checkpoints.
import * as tf from '@tensorflow/tfjs-core';
import { type TrajectoryMatchingConfig, syntheticSetSize } from './config.js';

/** The learnables: synthetic images X, labels (hard classes or DATM soft-label logits L) and α's parameter. */
export interface SyntheticSet {
  /** X: [N_s, h, w, c]. */
  images: tf.Tensor4D;
  /** y_i, class-major; the inner loss uses these when `labelLogits` is null. */
  classes: Int32Array;
  /** DATM soft labels L: [N_s, classes] logits (learnable), or null for MTT's hard labels. */
  labelLogits: tf.Tensor2D | null;
  /** The parameter of the step size: u = log α ('log') or α itself ('linear'). Scalar. */
  synLr: tf.Scalar;
}

/** A resumable distillation: the learnables, the outer optimisers' velocities, and the next iteration. */
export interface DistillState extends SyntheticSet {
  velocity: { images: tf.Tensor4D; labelLogits: tf.Tensor2D | null; synLr: tf.Scalar };
  /** Index of the next outer iteration (selects its random draws). */
  iteration: number;
}

/** Plain-array form of a `DistillState`, for checkpoints. */
export interface DistillStateArrays {
  pixels: Float32Array;
  classes: Int32Array;
  labelLogits: Float32Array | null;
  synLr: number;
  velocity: { pixels: Float32Array; labelLogits: Float32Array | null; synLr: number };
  iteration: number;
}

/** A fresh state from an initialisation (see `initializeSyntheticSet`): α = α₀, zero velocities, iteration 0. */
export function createDistillState(
  config: TrajectoryMatchingConfig,
  init: { pixels: Float32Array; classes: Int32Array; labelLogits: Float32Array | null },
): DistillState {
  const n = syntheticSetSize(config);
  const { h, w, c, classes } = config.net;
  const alphaParam =
    config.synLrParametrisation === 'log' ? Math.log(config.initialSynLr) : config.initialSynLr;
  return distillStateFromArrays(config, {
    pixels: init.pixels,
    classes: init.classes,
    labelLogits: init.labelLogits,
    synLr: alphaParam,
    velocity: {
      pixels: new Float32Array(n * h * w * c),
      labelLogits: init.labelLogits ? new Float32Array(n * classes) : null,
      synLr: 0,
    },
    iteration: 0,
  });
}

export function distillStateFromArrays(
  config: TrajectoryMatchingConfig,
  a: DistillStateArrays,
): DistillState {
  const n = syntheticSetSize(config);
  const { h, w, c, classes } = config.net;
  const shape: [number, number, number, number] = [n, h, w, c];
  const check = (what: string, got: number, want: number): void => {
    if (got !== want) throw new RangeError(`distill state: ${what} has ${got} values, expected ${want}`);
  };
  check('pixels', a.pixels.length, n * h * w * c);
  check('velocity.pixels', a.velocity.pixels.length, n * h * w * c);
  check('classes', a.classes.length, n);
  if (config.softLabels !== (a.labelLogits !== null))
    throw new RangeError(
      `distill state: softLabels is ${config.softLabels} but labelLogits is ${a.labelLogits ? 'set' : 'null'}`,
    );
  if (a.labelLogits) check('labelLogits', a.labelLogits.length, n * classes);
  const logits = (v: Float32Array | null): tf.Tensor2D | null =>
    v ? tf.tensor2d(v, [n, classes], 'float32') : null;
  return {
    images: tf.tensor4d(a.pixels, shape, 'float32'),
    classes: Int32Array.from(a.classes),
    labelLogits: logits(a.labelLogits),
    synLr: tf.scalar(a.synLr, 'float32'),
    velocity: {
      images: tf.tensor4d(a.velocity.pixels, shape, 'float32'),
      labelLogits: logits(a.velocity.labelLogits ?? (a.labelLogits ? new Float32Array(n * classes) : null)),
      synLr: tf.scalar(a.velocity.synLr, 'float32'),
    },
    iteration: a.iteration,
  };
}

export function distillStateToArrays(state: DistillState): DistillStateArrays {
  const f32 = (t: tf.Tensor): Float32Array => t.dataSync() as Float32Array;
  return {
    pixels: f32(state.images).slice(),
    classes: Int32Array.from(state.classes),
    labelLogits: state.labelLogits ? f32(state.labelLogits).slice() : null,
    synLr: f32(state.synLr)[0]!,
    velocity: {
      pixels: f32(state.velocity.images).slice(),
      labelLogits: state.velocity.labelLogits ? f32(state.velocity.labelLogits).slice() : null,
      synLr: f32(state.velocity.synLr)[0]!,
    },
    iteration: state.iteration,
  };
}

/** Every tensor a state holds (for disposal and leak accounting). */
export function distillStateTensors(state: DistillState): tf.Tensor[] {
  const v = state.velocity;
  const all: (tf.Tensor | null)[] = [
    state.images,
    state.labelLogits,
    state.synLr,
    v.images,
    v.labelLogits,
    v.synLr,
  ];
  return all.filter((t): t is tf.Tensor => t !== null);
}

export function disposeDistillState(state: DistillState): void {
  tf.dispose(distillStateTensors(state));
}

/** The learned step size α as a number (what evaluation trains with, and `retort.syn_lr`). */
export function synLrValue(config: TrajectoryMatchingConfig, synLr: tf.Scalar): number {
  const u = synLr.dataSync()[0]!;
  return config.synLrParametrisation === 'log' ? Math.exp(u) : u;
}
