// CV-DD committee members (spec §3): ConvNets of different widths/depths and an MLP, all with
// BatchNorm; their ids, initialisation and forward pass.
import * as tf from '@tensorflow/tfjs-core';
import {
  type BatchNormStats,
  type ConvNetConfig,
  type ConvNetOutput,
  convNetConfig,
  convNetForwardWithStats,
  initBatchNormStats,
  initConvNetParams,
} from '../../models/convnet.js';
import {
  type CommitteeMlpConfig,
  committeeMlpConfig,
  committeeMlpForwardWithStats,
  initCommitteeMlpBatchNormStats,
  initCommitteeMlpParams,
} from './mlp.js';

export type CommitteeArch =
  { family: 'convnet'; config: ConvNetConfig } | { family: 'mlp'; config: CommitteeMlpConfig };

/** A frozen voter: one row of the `committee` table (§2.2). */
export interface CommitteeMember {
  id: string;
  arch: CommitteeArch;
  params: tf.Tensor1D;
  /** BN running statistics, one entry per BN layer in layer order ([] without BN: no BN term, §10). */
  runningStats: BatchNormStats[];
  /** Prior performance in percent (§4.2: single-member post-eval top-1, or test accuracy × 100). */
  prior: number;
}

/** "cnnbn-w16-d2", "mlpbn-64", … (the `model_id` convention of §2.2). */
export function committeeArchId(arch: CommitteeArch): string {
  if (arch.family === 'convnet') {
    const norm = { batchnorm: 'bn', instancenorm: 'in', none: '' }[arch.config.norm];
    return `cnn${norm}-w${arch.config.width}-d${arch.config.depth}`;
  }
  return `mlp${arch.config.norm === 'batchnorm' ? 'bn' : ''}-${arch.config.hidden.join('-')}`;
}

/** A BatchNorm ConvNet on side×side×1 (first conv padded by 1, as every §7.2 member). */
function bnConvNet(side: number, classes: number, width: number, depth: number): CommitteeArch {
  return {
    family: 'convnet',
    config: convNetConfig({
      h: side,
      w: side,
      c: 1,
      classes,
      width,
      depth,
      norm: 'batchnorm',
      firstPadding: 1,
    }),
  };
}

/** The §7.2 committee: A ConvNetBN W16 D2, B W8 D2, C W16 D1, D MLP 196-64(BN, ReLU)-10 (14×14×1). */
export function mnistCommitteeArchs(side = 14, classes = 10): CommitteeArch[] {
  return [
    bnConvNet(side, classes, 16, 2),
    bnConvNet(side, classes, 8, 2),
    bnConvNet(side, classes, 16, 1),
    { family: 'mlp', config: committeeMlpConfig({ h: side, w: side, c: 1, classes, hidden: [64] }) },
  ];
}

/**
 * A committee of four BatchNorm ConvNets of comparable strength on 14×14×1 — W16 D2 (the student's
 * architecture), W32 D2, W16 D3, W8 D2 — as the paper's committees are (ResNet-18/50, ShuffleNetV2,
 * MobileNetV2, DenseNet-121, all strong). §7.2's W16 D1 and MLP members are weak generators here: alone
 * they give students of 73 / 72 % validation top-1 against W16 D2's 86 % (bench/README.md, distill-cvdd),
 * and the §7.2 committee does not beat the single model; this one does.
 */
export function mnistConvCommitteeArchs(side = 14, classes = 10): CommitteeArch[] {
  const widthDepth: [number, number][] = [
    [16, 2],
    [32, 2],
    [16, 3],
    [8, 2],
  ];
  return widthDepth.map(([width, depth]) => bnConvNet(side, classes, width, depth));
}

/** The §7.2 student: ConvNetBN W16 D2 (train-mode BN while training, running statistics for testing). */
export function mnistStudentArch(side = 14, classes = 10): CommitteeArch {
  return mnistCommitteeArchs(side, classes)[0]!;
}

/** §7.3 smoke committee on 7×7: ConvNetBN W4 D1 and MLP 49-16-10. */
export function smokeCommitteeArchs(classes = 10): CommitteeArch[] {
  return [
    {
      family: 'convnet',
      config: convNetConfig({
        h: 7,
        w: 7,
        c: 1,
        classes,
        width: 4,
        depth: 1,
        norm: 'batchnorm',
        firstPadding: 1,
      }),
    },
    { family: 'mlp', config: committeeMlpConfig({ h: 7, w: 7, c: 1, classes, hidden: [16] }) },
  ];
}

export function initCommitteeArch(
  arch: CommitteeArch,
  seed: number,
): { params: tf.Tensor1D; runningStats: BatchNormStats[] } {
  return arch.family === 'convnet'
    ? { params: initConvNetParams(arch.config, seed), runningStats: initBatchNormStats(arch.config) }
    : {
        params: initCommitteeMlpParams(arch.config, seed),
        runningStats: initCommitteeMlpBatchNormStats(arch.config),
      };
}

export function hasBatchNorm(arch: CommitteeArch): boolean {
  return arch.config.norm === 'batchnorm';
}

/**
 * Logits and each BN layer's input statistics. bn 'running': inference-mode BN with `runningStats`
 * (recovery, eval); bn 'batch': normalise with this batch's statistics (training, BSSL).
 */
export function committeeForward(
  arch: CommitteeArch,
  params: tf.Tensor,
  runningStats: BatchNormStats[],
  x: tf.Tensor4D,
  bn: 'running' | 'batch',
): ConvNetOutput {
  const opts = { training: bn === 'batch', runningStats };
  return arch.family === 'convnet'
    ? convNetForwardWithStats(arch.config, params, x, opts)
    : committeeMlpForwardWithStats(arch.config, params, x, opts);
}

export function disposeStats(out: ConvNetOutput): void {
  tf.dispose(out.batchStats.flatMap((s) => [s.mean, s.variance]));
}

/** Top-1 accuracy (fraction) of a model with inference-mode BN over images x and int labels. */
export function evaluateTop1(
  arch: CommitteeArch,
  params: tf.Tensor,
  runningStats: BatchNormStats[],
  x: tf.Tensor4D,
  labels: ArrayLike<number>,
  batchSize = 500,
): number {
  const n = x.shape[0];
  let correct = 0;
  for (let start = 0; start < n; start += batchSize) {
    const size = Math.min(batchSize, n - start);
    const pred = tf.tidy(() => {
      const out = committeeForward(
        arch,
        params,
        runningStats,
        tf.slice(x, [start, 0, 0, 0], [size, -1, -1, -1]),
        'running',
      );
      return tf.argMax(out.logits, 1);
    });
    const p = pred.dataSync();
    pred.dispose();
    for (let i = 0; i < size; i++) if (p[i] === labels[start + i]) correct++;
  }
  return n ? correct / n : 0;
}
