// CV-DD BN-statistics matching and the committee recovery objective (spec §5.2 steps 3–4).
import * as tf from '@tensorflow/tfjs-core';
import { type BatchNormStats } from '../../models/convnet.js';
import { softmaxCrossEntropy } from '../../ops/index.js';
import { type CommitteeVotingConfig } from './config.js';
import { type CommitteeMember, committeeForward, hasBatchNorm } from './members.js';

export interface BnLossOptions {
  firstBnMultiplier?: number;
  normSqrtEps?: number;
}

/** √(Σd² + ε) − √ε: the Euclidean norm with a finite gradient at 0 (tf.norm's is NaN there, §6). */
function smoothNorm(d: tf.Tensor, eps: number): tf.Scalar {
  return tf.sub(tf.sqrt(tf.add(tf.sum(tf.square(d)), eps)), Math.sqrt(eps));
}

/**
 * Σ_l κ_l (‖μ_l − m_l‖₂ + ‖σ²_l − v_l‖₂) between the batch statistics of each BN layer's input and that
 * layer's running statistics (BNFeatureHook in utils_recover.py: biased batch variance, non-squared
 * norms), κ_0 = firstBnMultiplier, κ_l = 1. Zero layers give 0.
 */
export function bnStatisticsLoss(
  batchStats: readonly BatchNormStats[],
  runningStats: readonly BatchNormStats[],
  opts: BnLossOptions = {},
): tf.Scalar {
  if (batchStats.length !== runningStats.length)
    throw new Error(
      `bnStatisticsLoss: ${batchStats.length} batch layers vs ${runningStats.length} running layers`,
    );
  const first = opts.firstBnMultiplier ?? 10;
  const eps = opts.normSqrtEps ?? 1e-12;
  return tf.tidy(() => {
    let total: tf.Scalar = tf.scalar(0);
    batchStats.forEach((b, l) => {
      const r = runningStats[l]!;
      const term = tf.add(
        smoothNorm(tf.sub(b.mean, r.mean), eps),
        smoothNorm(tf.sub(b.variance, r.variance), eps),
      );
      total = tf.add(total, tf.mul(l === 0 ? first : 1, term));
    });
    return total;
  });
}

export interface RecoveryObjective {
  /** Σ_i w_i (CE_i + r_bn·BN_i). */
  total: tf.Scalar;
  /** CE_i per voter (mean over the batch). */
  ce: tf.Tensor1D;
  /** BN_i per voter (0 for members without BN). */
  bn: tf.Tensor1D;
}

/**
 * The recovery objective on a (possibly augmented) view of the synthetic batch, every voter in
 * inference-mode BN. Differentiable w.r.t. `view`. targets: int32 [B].
 */
export function committeeRecoveryObjective(
  view: tf.Tensor4D,
  targets: tf.Tensor1D,
  voters: readonly CommitteeMember[],
  weights: readonly number[],
  config: Pick<CommitteeVotingConfig, 'rBn' | 'firstBnMultiplier' | 'normSqrtEps' | 'bnTermFamilies'>,
): RecoveryObjective {
  if (voters.length !== weights.length || voters.length === 0)
    throw new Error(`committeeRecoveryObjective: ${voters.length} voters but ${weights.length} weights`);
  return tf.tidy(() => {
    const ces: tf.Scalar[] = [];
    const bns: tf.Scalar[] = [];
    let total: tf.Scalar = tf.scalar(0);
    voters.forEach((member, i) => {
      const out = committeeForward(member.arch, member.params, member.runningStats, view, 'running');
      const onehot = tf.oneHot(targets, out.logits.shape[1]);
      const ce = tf.mean(softmaxCrossEntropy(out.logits, onehot)) as tf.Scalar;
      const bn =
        hasBatchNorm(member.arch) &&
        (config.bnTermFamilies ?? [member.arch.family]).includes(member.arch.family)
          ? bnStatisticsLoss(out.batchStats, member.runningStats, config)
          : tf.scalar(0);
      ces.push(ce);
      bns.push(bn);
      total = tf.add(total, tf.mul(weights[i]!, tf.add(ce, tf.mul(config.rBn, bn))));
    });
    return {
      total,
      ce: tf.stack(ces) as tf.Tensor1D,
      bn: tf.stack(bns) as tf.Tensor1D,
    } as unknown as tf.TensorContainer;
  }) as unknown as RecoveryObjective;
}
