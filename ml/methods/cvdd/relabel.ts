// CV-DD relabelling with batch-specific soft labels (spec §5.3).
import * as tf from '@tensorflow/tfjs-core';
import { logSoftmax } from '../../ops/index.js';
import { type CommitteeVotingConfig } from './config.js';
import { type CommitteeMember, committeeForward, disposeStats } from './members.js';

export interface SoftLabels {
  /** z = Σ_i w_i·logits_i [B, K]: what the `soft_labels` table stores and the KL loss consumes. */
  logits: tf.Tensor2D;
  /** softmax(z / T) at config.klTemperature: the target distribution of the KL loss. */
  probabilities: tf.Tensor2D;
}

/**
 * Committee soft labels of one (already augmented / mixed) batch. relabelBnMode 'batch' = BSSL: each
 * member normalises with the statistics of each of `bsslGroups` contiguous groups of the batch (the
 * code forwards halves [0, ⌊B/2⌋) and [⌊B/2⌋, B)); running statistics are never updated. 'running' =
 * inference-mode BN (SRe²L). `weights` are committee-wide (relabelWeights, τ = 10).
 */
export function relabelWithCommittee(
  images: tf.Tensor4D,
  committee: readonly CommitteeMember[],
  weights: readonly number[],
  config: Pick<CommitteeVotingConfig, 'relabelBnMode' | 'bsslGroups' | 'klTemperature'>,
): SoftLabels {
  if (committee.length !== weights.length || committee.length === 0)
    throw new Error(`relabelWithCommittee: ${committee.length} members but ${weights.length} weights`);
  const b = images.shape[0];
  const groups = config.relabelBnMode === 'batch' ? Math.min(config.bsslGroups, b) : 1;
  const bounds = Array.from({ length: groups + 1 }, (_x, g) => Math.floor((g * b) / groups));
  return tf.tidy(() => {
    const weighted = committee.map((member, i) => {
      const parts = bounds.slice(0, -1).map((start, g) => {
        const group =
          groups === 1 ? images : tf.slice(images, [start, 0, 0, 0], [bounds[g + 1]! - start, -1, -1, -1]);
        const out = committeeForward(
          member.arch,
          member.params,
          member.runningStats,
          group,
          config.relabelBnMode,
        );
        disposeStats(out);
        return out.logits;
      });
      return tf.mul(parts.length === 1 ? parts[0]! : tf.concat(parts, 0), weights[i]!);
    });
    const logits = (weighted.length === 1 ? weighted[0]! : tf.addN(weighted)) as tf.Tensor2D;
    return {
      logits,
      probabilities: softLabelDistribution(logits, config.klTemperature),
    } as unknown as tf.TensorContainer;
  }) as unknown as SoftLabels;
}

/** softmax(z / T) along classes. */
export function softLabelDistribution(teacherLogits: tf.Tensor2D, temperature: number): tf.Tensor2D {
  return tf.tidy(() => tf.exp(logSoftmax(tf.div(teacherLogits, temperature))) as tf.Tensor2D);
}
