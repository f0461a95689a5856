// Relu, re-registered. The stock gradient is mul(dy, cast(step(x))), and tfjs-node's Step kernel is a
// composite that builds two full-size constants in JS (ones and fill(alpha)) and selects between them
// on every call: for a batch-256 ConvNet that is the largest elementwise cost of the backward pass.
// Here the gradient is ONE kernel: TensorFlow's own ReluGrad on the native backend, and a multiply by
// the cast mask x > 0 elsewhere. Both are linear in dy with a derivative of 0 in x (almost everywhere),
// which the `ReluGrad` kernel's own registered gradient states, so second derivatives stay exact.
import * as tf from '@tensorflow/tfjs-core';

/** Kernel name of the ReLU backward pass, dx = dy * (x > 0). */
export const ReluGrad = 'ReluGrad';

/** What tfjs-node's backend offers for running a TensorFlow op by name (not in its public types). */
interface NativeBackend {
  binding: { TF_ATTR_TYPE: number; TF_FLOAT: number };
  executeSingleOutput(name: string, attrs: unknown[], inputs: tf.TensorInfo[]): tf.TensorInfo;
}

/** tfjs-node: TensorFlow's ReluGrad op (one pass, no temporaries). */
const reluGradNativeKernel: tf.KernelConfig = {
  kernelName: ReluGrad,
  backendName: 'tensorflow',
  kernelFunc: ({ inputs, backend }) => {
    const native = backend as unknown as NativeBackend;
    const attrs = [{ name: 'T', type: native.binding.TF_ATTR_TYPE, value: native.binding.TF_FLOAT }];
    return native.executeSingleOutput(ReluGrad, attrs, [inputs.dy!, inputs.x!]);
  },
};

/** dy * (x > 0) on any backend; the mask is cast once, no full-size constants. */
export function reluGradMask(dy: tf.Tensor, x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.mul(dy, tf.cast(tf.greater(x, 0), 'float32')));
}

/** dx = ReluGrad(dy, x): the native kernel where registered, else the mask multiply. */
export function reluGrad(dy: tf.Tensor, x: tf.Tensor): tf.Tensor {
  if (dy.dtype === 'float32' && tf.getKernel(ReluGrad, tf.getBackend()))
    return tf.engine().runKernel(ReluGrad, { dy, x }) as tf.Tensor;
  return reluGradMask(dy, x);
}

/** Relu: dx = ReluGrad(dy, x). */
export const reluGradConfig: tf.GradConfig = {
  kernelName: tf.Relu,
  inputsToSave: ['x'],
  gradFunc: (dy, saved) => {
    const [x] = saved as [tf.Tensor];
    return { x: () => reluGrad(dy as tf.Tensor, x) };
  },
};

/** ReluGrad is linear in dy with the same mask; its derivative in x is 0 almost everywhere. */
export const reluGradGradConfig: tf.GradConfig = {
  kernelName: ReluGrad,
  inputsToSave: ['x'],
  gradFunc: (ddx, saved) => {
    const [x] = saved as [tf.Tensor];
    return { dy: () => reluGrad(ddx as tf.Tensor, x), x: () => tf.zerosLike(x) };
  },
};

/** Registers the native ReluGrad kernel for tfjs-node's backend. Idempotent. */
export function registerReluGradKernel(): void {
  if (!tf.getKernel(ReluGrad, 'tensorflow')) tf.registerKernel(reluGradNativeKernel);
}
