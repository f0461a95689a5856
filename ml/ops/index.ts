// Second-order-correct gradients for the kernels tfjs-core lacks or gets wrong
// (specs/distill-trajectory-matching.md §9). One kernel per file; `registerSecondOrderGradients`
// installs them all and must run after the backend (whose import registers the stock gradients).
export { logSoftmax, softmaxCrossEntropy } from './cross-entropy.js';

/** Registers Retort's gradient overrides. Idempotent. */
export function registerSecondOrderGradients(): void {
  // filled in by the ml/ops work (issue #3)
}
