// Second-order-correct gradients for the kernels tfjs-core lacks or gets wrong
// (specs/distill-trajectory-matching.md §9). One kernel per file; `registerSecondOrderGradients`
// installs them all and must run after the backend (whose import registers the stock gradients).
//
// Not covered, so not for use inside an unrolled inner loop: tf.logSoftmax and
// tf.losses.softmaxCrossEntropy (customGrad ops that save their output; a registered gradient cannot
// reach their input, so use `logSoftmax` / `softmaxCrossEntropy` below), LRN, MaxPool3D and any other
// customGrad op.
import * as tf from '@tensorflow/tfjs-core';
import { avgPoolGradGradConfig } from './avg-pool-grad-grad.js';
import { comparisonGradConfigs } from './comparison-grads.js';
import { conv2DBackpropFilterGradConfig } from './conv2d-backprop-filter-grad.js';
import { conv2DGradConfig } from './conv2d-grad.js';
import { eluGradConfig } from './elu-grad.js';
import { fusedOpsEnabled } from './fused.js';
import { expGradConfig } from './exp-grad.js';
import { maxPoolGradGradConfig } from './max-pool-grad-grad.js';
import { powGradConfig } from './pow-grad.js';
import { registerReluGradKernel, reluGradConfig, reluGradGradConfig } from './relu-grad.js';
import { sigmoidGradConfig } from './sigmoid-grad.js';
import { softmaxGradConfig } from './softmax-grad.js';
import { tanhGradConfig } from './tanh-grad.js';

export { logSoftmax, softmaxCrossEntropy, softmaxCrossEntropyStock } from './cross-entropy.js';
// Differentiable siamese augmentation (not a gradient registration: built from ops whose gradients are).
export * from './dsa.js';
export { fusedOpsEnabled, setFusedOps } from './fused.js';
export { gelu, geluStock } from './gelu.js';
export { instanceNorm, instanceNormStock } from './instance-norm.js';
export { layerNorm, layerNormStock } from './layer-norm.js';
export { reluGrad, reluGradMask } from './relu-grad.js';

/** Every gradient Retort registers over (or in addition to) tfjs-core's. */
export const SECOND_ORDER_GRADIENTS: readonly tf.GradConfig[] = [
  conv2DBackpropFilterGradConfig,
  avgPoolGradGradConfig,
  maxPoolGradGradConfig,
  expGradConfig,
  sigmoidGradConfig,
  tanhGradConfig,
  softmaxGradConfig,
  eluGradConfig,
  powGradConfig,
  ...comparisonGradConfigs,
  reluGradGradConfig,
];

/** Faster gradients with the same values, registered only while fused ops are on (ml/ops/fused.ts). */
export const FUSED_GRADIENTS: readonly tf.GradConfig[] = [reluGradConfig, conv2DGradConfig];

let stockGradients: Map<string, tf.GradConfig | undefined> | undefined;

/**
 * Registers Retort's gradient overrides, and the fused ones unless fused ops are off (then the stock
 * gradients they replace are put back). Idempotent.
 */
export function registerSecondOrderGradients(): void {
  registerReluGradKernel();
  stockGradients ??= new Map(FUSED_GRADIENTS.map((c) => [c.kernelName, tf.getGradient(c.kernelName)]));
  const wanted = [
    ...SECOND_ORDER_GRADIENTS,
    ...FUSED_GRADIENTS.map((c) => (fusedOpsEnabled() ? c : stockGradients!.get(c.kernelName))),
  ];
  for (const config of wanted) {
    if (config && tf.getGradient(config.kernelName) !== config) tf.registerGradient(config);
  }
}
