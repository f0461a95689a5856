// Zero gradients for the comparison and logical kernels. Their outputs are boolean, so the derivative
// is 0 almost everywhere, but tfjs-core registers a gradient only for GreaterEqual. The stock gradients
// of Max, Min, Maximum, Minimum and Select build masks from these kernels on the saved inputs; in a
// second derivative the mask is a node on the path from x, and the outer backward pass throws
// "gradient function not found for Equal" (specs/distill-trajectory-matching.md §9.2). With these
// registered, Max/Min need no override: the saved output their gradient reads enters only through
// Equal, whose derivative is 0, so the path the engine drops (see exp-grad.ts) carries nothing.
import * as tf from '@tensorflow/tfjs-core';

/** A kernel with inputs `a`, `b` whose gradient is 0 for both (float32, shaped like each input). */
function zeroBinaryGrad(kernelName: string): tf.GradConfig {
  return {
    kernelName,
    inputsToSave: ['a', 'b'],
    gradFunc: (_dy, saved) => {
      const [a, b] = saved as [tf.Tensor, tf.Tensor];
      return { a: () => tf.zeros(a.shape), b: () => tf.zeros(b.shape) };
    },
  };
}

export const equalGradConfig = zeroBinaryGrad(tf.Equal);
export const notEqualGradConfig = zeroBinaryGrad(tf.NotEqual);
export const greaterGradConfig = zeroBinaryGrad(tf.Greater);
export const greaterEqualGradConfig = zeroBinaryGrad(tf.GreaterEqual);
export const lessGradConfig = zeroBinaryGrad(tf.Less);
export const lessEqualGradConfig = zeroBinaryGrad(tf.LessEqual);
export const logicalAndGradConfig = zeroBinaryGrad(tf.LogicalAnd);
export const logicalOrGradConfig = zeroBinaryGrad(tf.LogicalOr);

/** LogicalNot (used by Select's gradient): gradient 0. Its output has the input's shape. */
export const logicalNotGradConfig: tf.GradConfig = {
  kernelName: tf.LogicalNot,
  gradFunc: (dy) => ({ x: () => tf.zeros((dy as tf.Tensor).shape) }),
};

/** Every comparison and logical kernel, each with a zero gradient. */
export const comparisonGradConfigs: readonly tf.GradConfig[] = [
  equalGradConfig,
  notEqualGradConfig,
  greaterGradConfig,
  greaterEqualGradConfig,
  lessGradConfig,
  lessEqualGradConfig,
  logicalAndGradConfig,
  logicalOrGradConfig,
  logicalNotGradConfig,
];
