// Dataset distillation by trajectory matching.
//
//   MTT:  Cazenavette et al., "Dataset Distillation by Matching Training Trajectories", CVPR 2022
//         (arXiv 2203.11932; code GeorgeCazenavette/mtt-distillation, distill.py).
//   DATM: Guo et al., "Towards Lossless Dataset Distillation via Difficulty-Aligned Trajectory
//         Matching", ICLR 2024 (arXiv 2310.05773; code NUS-HPC-AI-Lab/DATM, distill/DATM.py).
//   AST (optional student-side flags): Shen et al. 2023, arXiv 2310.10541.
// Spec: specs/distill-trajectory-matching.md. Equations implemented (MTT §3.2 and Algorithm 1):
//
//   inner loop (spec §5.3):               θ_{n+1} = θ_n − α ∇_θ ℓ(f(X[B_n]; θ_n), y[B_n]),  n = 0..N−1,
//                                          θ_0 = θ*_{k,t}, kept on the tape (create_graph semantics)
//   matching loss (spec §5.4):            L = ‖θ_N − θ*_{k,t+M}‖² / ‖θ*_{k,t} − θ*_{k,t+M}‖²
//   outer step (spec §5.5):               X, α (and DATM's L) ← SGD with momentum on ∇L, separate LRs
//   DATM window (spec §6.1):              t ~ U{T−, …, U(it)−1},  U(it) = min(T+, T + ⌊(T+ − T)·it/I_exp⌋)
//   DATM soft labels (spec §6.3):          ℓ = −(1/B) Σ_i Σ_c softmax(L_i)_c log softmax(f(x_i))_c
//   DATM gate (spec §6.4):                 the optimisers step only when L ≤ threshold
//   AST (spec §7):                         balanced inner loss s(t), intermediate matching β_i, weight
//                                          perturbation of θ_0, heavy-ball inner momentum
//
// Everything here is pure: tensors and plain config in, tensors and plain numbers out. Expert
// trajectories come through a lookup (`ExpertTrajectories`), and every random draw of outer iteration
// `it` derives from (config.seed, it), so a chunk of iterations resumed from a checkpoint of the state
// reproduces an uninterrupted run bit for bit.
//
// Where the spec leaves a detail open or differs from the authors' code, the code is followed (noted in
// place): the start-epoch window is np.random.randint's half-open [T−, U); minibatches are `torch.split`
// chunks of a fresh permutation taken from the END (`indices_chunks.pop()`), so a short chunk comes
// first; skipped iterations leave the optimiser state (momentum buffers) untouched; soft labels for
// 'real'/'noise' init are expert 0's raw logits (trajectory-matching-init.ts). Deliberate departures:
// the expert is drawn uniformly per iteration (DATM cycles through a shuffled file order) so that each
// iteration depends on (seed, it) only; α may be optimised in log space (spec §5); a non-finite loss
// throws instead of being silently skipped by the gate.
import * as tf from '@tensorflow/tfjs-core';
import { convNetForward, convNetLayout, paramCount } from '../models/convnet.js';
import { logSoftmax, softmaxCrossEntropy } from '../ops/index.js';
import { sgd } from '../train/optimizers.js';
import { Rng, deriveSeed, permutation } from '../train/rng.js';
import {
  type ExpertTrajectories,
  type TrajectoryMatchingConfig,
  syntheticSetSize,
  validateTrajectoryMatchingConfig,
} from './trajectory-matching-config.js';

export * from './trajectory-matching-config.js';
export * from './trajectory-matching-init.js';

// -----------------------------------------------------------------------------------------------
// State

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

// -----------------------------------------------------------------------------------------------
// Sampling a segment (expert, start epoch, minibatches) — all draws from (seed, iteration)

/** U(it), the exclusive upper end of the start-epoch window (DATM §6.1). */
export function startEpochUpperBound(config: TrajectoryMatchingConfig, iteration: number): number {
  if (!config.sequentialGeneration) return config.maxStartEpoch;
  const { initialMaxStartEpoch: t, maxStartEpoch: tPlus, expansionEndIteration: iExp } = config;
  // DATM.py: current_max + int((max − current_max) · it / expansion_end), then min with max.
  return Math.min(tPlus, t + Math.floor(((tPlus - t) * iteration) / iExp));
}

export interface SegmentPlan {
  iteration: number;
  expert: number;
  startEpoch: number;
  /** U(it): start epochs were drawn from [minStartEpoch, upperBound). */
  upperBound: number;
  /** N minibatches, indices into the synthetic set. */
  batches: Int32Array[];
  /** Seed of each step's augmentation draw. */
  augmentSeeds: number[];
  /** Seed of the AST weight perturbation. */
  perturbSeed: number;
}

/** What `planSegment` needs to know of the trajectories. */
export type TrajectoryShape = Pick<ExpertTrajectories, 'experts' | 'lastEpoch'>;

/** The random draws of outer iteration `iteration`: a pure function of (config, experts' shape, iteration). */
export function planSegment(
  config: TrajectoryMatchingConfig,
  experts: TrajectoryShape,
  iteration: number,
): SegmentPlan {
  if (!(Number.isInteger(iteration) && iteration >= 0))
    throw new RangeError(`planSegment: iteration must be a non-negative integer, got ${iteration}`);
  const needed = config.maxStartEpoch - 1 + config.expertEpochs;
  if (needed > experts.lastEpoch) {
    throw new RangeError(
      `expert trajectories end at epoch ${experts.lastEpoch}, but start epochs up to ${config.maxStartEpoch - 1} ` +
        `with M = ${config.expertEpochs} need epoch ${needed}`,
    );
  }
  const upperBound = startEpochUpperBound(config, iteration);
  const rng = new Rng(deriveSeed(config.seed, 'tm-iteration', iteration));
  // MTT/DATM with load_all draw the expert uniformly (DATM without it cycles through a shuffled order
  // of files; a uniform draw keeps each iteration independent of the ones before it).
  const expert = rng.int(experts.experts);
  const startEpoch = config.minStartEpoch + rng.int(upperBound - config.minStartEpoch);
  const n = syntheticSetSize(config);
  const batches = syntheticBatches(n, Math.min(config.batchSyn ?? n, n), config.syntheticSteps, rng);
  const augmentSeeds = batches.map(() => rng.nextSeed());
  return { iteration, expert, startEpoch, upperBound, batches, augmentSeeds, perturbSeed: rng.nextSeed() };
}

/**
 * Minibatches as the MTT/DATM code takes them: split a fresh permutation into chunks of `batch`
 * (the last chunk may be short) and pop chunks from the end; permute again when none is left.
 */
function syntheticBatches(n: number, batch: number, steps: number, rng: Rng): Int32Array[] {
  const out: Int32Array[] = [];
  const chunks: Int32Array[] = [];
  for (let s = 0; s < steps; s++) {
    if (chunks.length === 0) {
      const p = permutation(n, rng);
      for (let i = 0; i < n; i += batch) chunks.push(p.slice(i, Math.min(i + batch, n)));
    }
    out.push(chunks.pop()!);
  }
  return out;
}

/** (expert, epoch) rows iterations [from, from + count) will read, deduplicated — for prefetching from Parquet. */
export function requiredCheckpoints(
  config: TrajectoryMatchingConfig,
  experts: TrajectoryShape,
  from: number,
  count: number,
): { expert: number; epoch: number }[] {
  const seen = new Set<string>();
  const out: { expert: number; epoch: number }[] = [];
  for (let it = from; it < from + count; it++) {
    const plan = planSegment(config, experts, it);
    const epochs =
      config.ast.intermediateMatching === 'off' ? [0, config.expertEpochs] : range(config.expertEpochs + 1);
    for (const offset of epochs) {
      const key = `${plan.expert}/${plan.startEpoch + offset}`;
      if (!seen.has(key)) {
        seen.add(key);
        out.push({ expert: plan.expert, epoch: plan.startEpoch + offset });
      }
    }
  }
  return out;
}

/** The checkpoints one segment matches: start θ_0 (AST-perturbed if on), target θ*_{t+M}, and θ*_{t+i} for AST. */
export interface SegmentCheckpoints {
  start: Float32Array;
  target: Float32Array;
  /** θ*_{k,t+i}, i = 1..M−1 (empty unless AST intermediate matching is on). */
  intermediate: Float32Array[];
}

export function segmentCheckpoints(
  config: TrajectoryMatchingConfig,
  experts: ExpertTrajectories,
  plan: SegmentPlan,
): SegmentCheckpoints {
  const p = paramCount(config.net);
  const get = (epoch: number): Float32Array => {
    const v = experts.params(plan.expert, epoch);
    if (v.length !== p)
      throw new RangeError(
        `expert ${plan.expert} epoch ${epoch}: ${v.length} parameters, the ConvNet has ${p}`,
      );
    return v;
  };
  let start = get(plan.startEpoch);
  if (config.ast.weightPerturb > 0) start = perturbConvWeights(config, start, plan.perturbSeed);
  const target = get(plan.startEpoch + config.expertEpochs);
  const intermediate =
    config.ast.intermediateMatching === 'off'
      ? []
      : range(config.expertEpochs - 1).map((i) => get(plan.startEpoch + i + 1));
  if (squaredDistance(start, target) === 0) {
    throw new RangeError(
      `expert ${plan.expert}: epochs ${plan.startEpoch} and ${plan.startEpoch + config.expertEpochs} are identical (L = 0/0)`,
    );
  }
  return { start, target, intermediate };
}

/** AST weight perturbation (spec §7): W + a·(Z/‖Z‖_F)⊙W for every conv weight, Z ~ N(0, I). */
function perturbConvWeights(
  config: TrajectoryMatchingConfig,
  start: Float32Array,
  seed: number,
): Float32Array {
  const out = start.slice();
  const a = config.ast.weightPerturb;
  for (const slot of convNetLayout(config.net)) {
    if (!/^conv\d+\.w$/.test(slot.name)) continue;
    const rng = new Rng(deriveSeed(seed, slot.name));
    const z = Float64Array.from({ length: slot.size }, () => rng.normal());
    const norm = Math.sqrt(z.reduce((s, v) => s + v * v, 0));
    for (let i = 0; i < slot.size; i++)
      out[slot.offset + i] = start[slot.offset + i]! * (1 + (a * z[i]!) / norm);
  }
  return out;
}

/** AST balanced inner loss factor s(t) (spec §7); 1 when the option is off. */
export function innerLossScale(config: TrajectoryMatchingConfig, startEpoch: number): number {
  if (!config.ast.balancedInnerLoss) return 1;
  const half = Math.floor(config.maxStartEpoch / 2);
  const log5 = (x: number): number => Math.log(x) / Math.log(5);
  return startEpoch >= half ? log5(startEpoch - half + 8) : 1 / log5(half - startEpoch + 8);
}

// -----------------------------------------------------------------------------------------------
// The unrolled student and the matching loss

export interface MatchOptions {
  /**
   * Differentiable augmentation A_n applied to each student minibatch (spec §5.3; DSA). Must be built
   * from ops with twice-differentiable gradients and must draw its randomness from `seed` only.
   */
  augment?: (x: tf.Tensor4D, seed: number) => tf.Tensor4D;
}

/** softmax(L) (DATM) or one-hot(y) (MTT): the inner loss's target distribution for every synthetic image. */
function labelTargets(
  config: TrajectoryMatchingConfig,
  classes: Int32Array,
  labelLogits: tf.Tensor | null,
): tf.Tensor2D {
  // exp(logSoftmax) instead of tf.softmax: built from primitives whose gradients stay differentiable.
  if (labelLogits) return tf.exp(logSoftmax(labelLogits)) as tf.Tensor2D;
  return tf.oneHot(tf.tensor1d(classes, 'int32'), config.net.classes, 1, 0, 'float32') as tf.Tensor2D;
}

/** α from its parameter. */
function stepSize(config: TrajectoryMatchingConfig, synLr: tf.Tensor): tf.Tensor {
  return config.synLrParametrisation === 'log' ? tf.exp(synLr) : synLr;
}

/**
 * θ_N after N student steps from `start` on the plan's minibatches, calling `onStep(n, θ_n)` after each
 * step n = 1..N. Differentiable w.r.t. images, targets and α when called under a gradient tape.
 */
function unroll(
  config: TrajectoryMatchingConfig,
  start: tf.Tensor1D,
  images: tf.Tensor4D,
  targets: tf.Tensor2D,
  alpha: tf.Tensor,
  plan: SegmentPlan,
  opts: MatchOptions,
  onStep?: (n: number, theta: tf.Tensor1D) => void,
): tf.Tensor1D {
  const scale = innerLossScale(config, plan.startEpoch);
  const mom = config.ast.innerMomentum;
  let theta = start;
  let velocity: tf.Tensor | null = null;
  for (let n = 0; n < plan.batches.length; n++) {
    const index = tf.tensor1d(plan.batches[n]!, 'int32');
    const picked = tf.gather(images, index);
    const xb = opts.augment ? opts.augment(picked, plan.augmentSeeds[n]!) : picked;
    const yb = tf.gather(targets, index);
    // Inner CE from ml/ops (max/sub/exp/sum/log only): its gradient is itself differentiable (spec §9.2).
    const innerLoss = (p: tf.Tensor): tf.Scalar => {
      const ce = tf.mean(
        softmaxCrossEntropy(convNetForward(config.net, p, xb, { kernels: config.kernels }), yb),
      );
      return (scale === 1 ? ce : tf.mul(ce, scale)) as tf.Scalar;
    };
    const g = tf.grad(innerLoss)(theta);
    // AST code: b ← μ·b + g (b₀ = g); plain SGD when μ = 0.
    velocity = mom > 0 && velocity ? tf.add(tf.mul(mom, velocity), g) : g;
    theta = tf.sub(theta, tf.mul(alpha, velocity)) as tf.Tensor1D;
    onStep?.(n + 1, theta);
  }
  return theta;
}

function squaredDistanceTensor(a: tf.Tensor, b: tf.Tensor): tf.Scalar {
  return tf.sum(tf.squaredDifference(a, b)) as tf.Scalar;
}

function squaredDistance(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i]! - b[i]!) ** 2;
  return s;
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_x, i) => i);
}

/**
 * The matching loss L of one segment (MTT eq. 2, plus AST's intermediate terms when on), as a scalar
 * tensor differentiable w.r.t. `images`, `labelLogits` and `synLr`.
 */
export function trajectoryMatchingLoss(
  config: TrajectoryMatchingConfig,
  synthetic: SyntheticSet,
  checkpoints: SegmentCheckpoints,
  plan: SegmentPlan,
  opts: MatchOptions = {},
): tf.Scalar {
  return tf.tidy(() => {
    const start = tf.tensor1d(checkpoints.start, 'float32');
    const target = tf.tensor1d(checkpoints.target, 'float32');
    const middles = checkpoints.intermediate.map((m) => tf.tensor1d(m, 'float32'));
    const targets = labelTargets(config, synthetic.classes, synthetic.labelLogits);
    const alpha = stepSize(config, synthetic.synLr);
    // AST: after n_i = ⌊N/M⌋·i steps, compare with θ*_{t+i}; β_i = 1 (agg) or i/M (adaptive).
    const stride = Math.floor(config.syntheticSteps / config.expertEpochs);
    const extra: tf.Scalar[] = [];
    const thetaN = unroll(config, start, synthetic.images, targets, alpha, plan, opts, (n, theta) => {
      const i = n / stride;
      if (middles.length === 0 || !Number.isInteger(i) || i < 1 || i > middles.length) return;
      const beta = config.ast.intermediateMatching === 'adaptive' ? i / config.expertEpochs : 1;
      const middle = middles[i - 1]!;
      extra.push(
        tf.mul(
          beta,
          tf.div(squaredDistanceTensor(theta, middle), squaredDistanceTensor(start, middle)),
        ) as tf.Scalar,
      );
    });
    // MTT divides both distances by the parameter count; it cancels in the ratio.
    const loss = tf.div(squaredDistanceTensor(thetaN, target), squaredDistanceTensor(start, target));
    return (extra.length ? tf.addN([loss, ...extra]) : loss) as tf.Scalar;
  });
}

/**
 * θ_N without a gradient tape: the student the matching loss compares (tests build exact targets with
 * it; evaluation tools can inspect it). Caller owns the result.
 */
export function unrollStudent(
  config: TrajectoryMatchingConfig,
  synthetic: SyntheticSet,
  start: Float32Array,
  plan: SegmentPlan,
  opts: MatchOptions = {},
): tf.Tensor1D {
  return tf.tidy(() =>
    unroll(
      config,
      tf.tensor1d(start, 'float32'),
      synthetic.images,
      labelTargets(config, synthetic.classes, synthetic.labelLogits),
      stepSize(config, synthetic.synLr),
      plan,
      opts,
    ),
  );
}

export interface SegmentGradients {
  images: tf.Tensor4D;
  /** null with hard labels. */
  labelLogits: tf.Tensor2D | null;
  synLr: tf.Scalar;
}

export function disposeSegmentGradients(grads: SegmentGradients): void {
  tf.dispose([grads.images, grads.synLr, ...(grads.labelLogits ? [grads.labelLogits] : [])]);
}

export interface SegmentResult {
  plan: SegmentPlan;
  loss: number;
  /** ∂L/∂X, ∂L/∂L (soft labels), ∂L/∂(α's parameter); the caller owns them. */
  grads: SegmentGradients;
}

/**
 * One outer iteration's matching: sample (expert, start epoch) in the current window and the
 * minibatches, unroll N student steps, and differentiate L w.r.t. images, soft labels and α in one
 * `tf.valueAndGrads` over the unrolled graph.
 */
export function matchTrajectorySegment(
  synthetic: SyntheticSet,
  experts: ExpertTrajectories,
  config: TrajectoryMatchingConfig,
  iteration: number,
  opts: MatchOptions = {},
): SegmentResult {
  const plan = planSegment(config, experts, iteration);
  const checkpoints = segmentCheckpoints(config, experts, plan);
  const soft = synthetic.labelLogits !== null;
  const out = tf.tidy(() => {
    const f = (...xs: tf.Tensor[]): tf.Scalar =>
      trajectoryMatchingLoss(
        config,
        {
          images: xs[0] as tf.Tensor4D,
          synLr: xs[1] as tf.Scalar,
          labelLogits: soft ? (xs[2] as tf.Tensor2D) : null,
          classes: synthetic.classes,
        },
        checkpoints,
        plan,
        opts,
      );
    const inputs: tf.Tensor[] = [synthetic.images, synthetic.synLr];
    if (synthetic.labelLogits) inputs.push(synthetic.labelLogits);
    return tf.valueAndGrads(f)(inputs);
  });
  const loss = out.value.dataSync()[0]!;
  out.value.dispose();
  return {
    plan,
    loss,
    grads: {
      images: out.grads[0] as tf.Tensor4D,
      synLr: out.grads[1] as tf.Scalar,
      labelLogits: soft ? (out.grads[2] as tf.Tensor2D) : null,
    },
  };
}

// -----------------------------------------------------------------------------------------------
// Outer loop

/** One row of `distill_log` (spec §2.4). */
export interface DistillLogRow {
  iteration: number;
  expert: number;
  startEpoch: number;
  upperBound: number;
  loss: number;
  /** α used in this iteration (before its update). */
  synLr: number;
  /** DATM gate: L exceeded the threshold, nothing was updated. */
  skipped: boolean;
}

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
