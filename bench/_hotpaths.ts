// The per-method hot paths of bench/backend.ts on a tfjs backend, each the same math as its PyTorch /
// numpy twin in bench/torch_hotpaths.py, at the sizes of `HotpathSpec` (one definition, in
// bench/backend.ts, passed to both sides). Built from the product's own models and ops (ml/models,
// ml/ops); the methods' loops add bookkeeping around these cores, not arithmetic.
import * as tf from '@tensorflow/tfjs-core';
import {
  type BatchNormStats,
  convNetConfig,
  convNetForward,
  convNetForwardWithStats,
  initConvNetParams,
  initLmParams,
  lmConfig,
  lmLoss,
} from '../ml/models/index.js';
import { softmaxCrossEntropy } from '../ml/ops/index.js';
import { sinkhorn } from '../ml/ops/sinkhorn.js';
import { Rng } from '../ml/train/rng.js';

export interface HotpathSpec {
  /** MTT outer iteration: N unrolled SGD steps on all synthetic images, matching loss, ∂L/∂X. */
  mtt_iteration: {
    images: number;
    classes: number;
    unrolled_steps: number;
    lr: number;
    width: number;
    depth: number;
  };
  /** CV-DD recovery: each voter's CE + r_bn·BN-statistics loss (eval-mode BN), ∂L/∂X. */
  cvdd_recovery: {
    images: number;
    classes: number;
    voters: number;
    r_bn: number;
    width: number;
    depth: number;
  };
  /** Byte-LM training step: loss, gradients of every parameter, SGD update. */
  lm_step: { batch: number; seq: number; layers: number; d_model: number; heads: number; lr: number };
  /** Log-domain Sinkhorn, squared Euclidean cost cached, a fixed number of iterations. */
  sinkhorn: { n: number; candidates: number; dim: number; relative_epsilon: number; iterations: number };
}

const SEED = 20240603;

export type Timer = (fn: () => void) => { ms: number; all: number[] };

function mttIteration(s: HotpathSpec['mtt_iteration'], time: Timer) {
  const config = convNetConfig({ h: 28, w: 28, c: 1, classes: s.classes, width: s.width, depth: s.depth });
  const rng = new Rng(SEED);
  const theta0 = initConvNetParams(config, SEED);
  const target = tf.tidy(() =>
    tf.add(theta0, tf.randomNormal(theta0.shape, 0, 0.01, 'float32', rng.nextSeed())),
  );
  const x = tf.randomNormal([s.images, 28, 28, 1], 0, 1, 'float32', rng.nextSeed()) as tf.Tensor4D;
  const labels = Int32Array.from({ length: s.images }, (_v, i) => i % s.classes);
  const y = tf.oneHot(tf.tensor1d(labels, 'int32'), s.classes, 1, 0, 'float32');
  // MTT eq. 2: ‖θ_N − θ*‖² / ‖θ_0 − θ*‖² after N SGD steps on the synthetic images.
  const matching = (images: tf.Tensor): tf.Scalar => {
    let theta: tf.Tensor = theta0;
    for (let n = 0; n < s.unrolled_steps; n++) {
      const g = tf.grad(
        (p: tf.Tensor) => tf.mean(softmaxCrossEntropy(convNetForward(config, p, images), y)) as tf.Scalar,
      )(theta);
      theta = tf.sub(theta, tf.mul(g, s.lr));
    }
    return tf.div(tf.sum(tf.squaredDifference(theta, target)), tf.sum(tf.squaredDifference(theta0, target)));
  };
  const t = time(() =>
    tf.tidy(() => {
      tf.grad(matching)(x).dataSync();
    }),
  );
  tf.dispose([theta0, target, x, y]);
  return t;
}

function cvddRecovery(s: HotpathSpec['cvdd_recovery'], time: Timer) {
  const config = convNetConfig({
    h: 28,
    w: 28,
    c: 1,
    classes: s.classes,
    width: s.width,
    depth: s.depth,
    norm: 'batchnorm',
  });
  const rng = new Rng(SEED + 1);
  const voters = Array.from({ length: s.voters }, (_v, k) => ({
    params: initConvNetParams(config, SEED + k),
    running: Array.from({ length: s.depth }, () => ({
      mean: tf.randomNormal([s.width], 0, 0.1, 'float32', rng.nextSeed()) as tf.Tensor1D,
      variance: tf.randomUniform([s.width], 0.5, 1.5, 'float32', rng.nextSeed()) as tf.Tensor1D,
    })) as BatchNormStats[],
  }));
  const x = tf.randomNormal([s.images, 28, 28, 1], 0, 1, 'float32', rng.nextSeed()) as tf.Tensor4D;
  const labels = Int32Array.from({ length: s.images }, (_v, i) => i % s.classes);
  const y = tf.oneHot(tf.tensor1d(labels, 'int32'), s.classes, 1, 0, 'float32');
  // L = Σ_i w_i (CE_i + r_bn·Σ_l κ_l (‖μ_l − m_l‖₂ + ‖σ²_l − v_l‖₂)), κ_0 = 10, κ_l = 1, equal w_i.
  const loss = (images: tf.Tensor): tf.Scalar => {
    const terms = voters.map((v) => {
      const out = convNetForwardWithStats(config, v.params, images, { runningStats: v.running });
      const ce = tf.mean(softmaxCrossEntropy(out.logits, y));
      const bn = tf.addN(
        out.batchStats.map((b, l) =>
          tf.mul(
            l === 0 ? 10 : 1,
            tf.add(
              tf.sqrt(tf.sum(tf.squaredDifference(b.mean, v.running[l]!.mean))),
              tf.sqrt(tf.sum(tf.squaredDifference(b.variance, v.running[l]!.variance))),
            ),
          ),
        ),
      );
      return tf.mul(1 / s.voters, tf.add(ce, tf.mul(s.r_bn, bn)));
    });
    return tf.addN(terms) as tf.Scalar;
  };
  const t = time(() =>
    tf.tidy(() => {
      tf.grad(loss)(x).dataSync();
    }),
  );
  tf.dispose([x, y, ...voters.flatMap((v) => [v.params, ...v.running.flatMap((r) => [r.mean, r.variance])])]);
  return t;
}

function lmStep(s: HotpathSpec['lm_step'], time: Timer) {
  const config = lmConfig({ layers: s.layers, dModel: s.d_model, heads: s.heads, ctx: s.seq });
  let params = initLmParams(config, SEED);
  const rng = new Rng(SEED + 2);
  const ids = tf.tensor2d(
    Int32Array.from({ length: s.batch * s.seq }, () => rng.int(256)),
    [s.batch, s.seq],
    'int32',
  );
  const names = Object.keys(params);
  const t = time(() => {
    const next = tf.tidy(() => {
      const { value, grads } = tf.valueAndGrads((...ps: tf.Tensor[]) =>
        lmLoss(config, Object.fromEntries(names.map((n, i) => [n, ps[i]!])), ids),
      )(names.map((n) => params[n]!));
      value.dataSync();
      return Object.fromEntries(names.map((n, i) => [n, tf.sub(params[n]!, tf.mul(grads[i]!, s.lr))]));
    });
    tf.dispose(Object.values(params));
    params = next;
  });
  tf.dispose([ids, ...Object.values(params)]);
  return t;
}

function sinkhornSolve(s: HotpathSpec['sinkhorn'], time: Timer) {
  const rng = new Rng(SEED + 3);
  const cloud = (rows: number) => ({
    data: Float32Array.from({ length: rows * s.dim }, () => rng.normal(0, 1)),
    rows,
    dim: s.dim,
  });
  const target = cloud(s.n);
  const candidates = cloud(s.candidates);
  return time(() => {
    const r = sinkhorn(target, candidates, {
      epsilon: s.relative_epsilon,
      relativeEpsilon: true,
      tol: 0,
      maxIter: s.iterations,
    });
    if (r.iterations !== s.iterations) throw new Error(`sinkhorn ran ${r.iterations} iterations`);
  });
}

/** Median ms of each hot path (and every timed rep), in the order of the spec. */
export function runHotpaths(spec: HotpathSpec, time: Timer, progress?: (msg: string) => void) {
  const out: Record<string, { ms: number; all: number[] }> = {};
  const round = (r: { ms: number; all: number[] }) => ({
    ms: Number(r.ms.toFixed(2)),
    all: r.all.map((v) => Number(v.toFixed(2))),
  });
  progress?.('hot path: MTT outer iteration');
  out.mtt_iteration = round(mttIteration(spec.mtt_iteration, time));
  progress?.('hot path: CV-DD recovery iteration');
  out.cvdd_recovery = round(cvddRecovery(spec.cvdd_recovery, time));
  progress?.('hot path: byte-LM step');
  out.lm_step = round(lmStep(spec.lm_step, time));
  progress?.('hot path: Sinkhorn solve');
  out.sinkhorn = round(sinkhornSolve(spec.sinkhorn, time));
  return out;
}
