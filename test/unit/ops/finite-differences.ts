// Finite-difference gradient checks shared by the ml/ops tests. A check compares an autodiff directional
// derivative <grad f(xs), us> with central differences of f along us, Richardson-extrapolated
// ((4 D(eps/2) - D(eps)) / 3, error O(eps^4)) so a float32 eps can stay large enough to keep roundoff
// small. Second-order checks apply the same comparison to h(xs) = <vs, grad f(xs)>, whose gradient is
// the Hessian-vector product: autodiff then differentiates the backward pass of f, which is exactly
// what the registered gradients must make possible.
import * as tf from '@tensorflow/tfjs-core';
import { registerSecondOrderGradients, setFusedOps } from '../../../ml/ops/index.js';
import { expect } from 'vitest';

export type ScalarFn = (...xs: tf.Tensor[]) => tf.Scalar;

/** Standard normal tensor from a fixed seed. */
export function randn(shape: number[], seed: number, scale = 1): tf.Tensor {
  return tf.tidy(() => tf.mul(tf.randomNormal(shape, 0, 1, 'float32', seed), scale));
}

/** Uniform tensor in [lo, hi) from a fixed seed. */
export function randu(shape: number[], seed: number, lo: number, hi: number): tf.Tensor {
  return tf.randomUniform(shape, lo, hi, 'float32', seed);
}

/** sum_i <as[i], bs[i]> as a float32 scalar tensor (differentiable). */
export function innerTensor(as: tf.Tensor[], bs: tf.Tensor[]): tf.Scalar {
  return tf.tidy(() => tf.addN(as.map((a, i) => tf.sum(tf.mul(a, bs[i]!)))) as tf.Scalar);
}

/** sum_i <as[i], bs[i]>, accumulated in float64. */
export function inner(as: tf.Tensor[], bs: tf.Tensor[]): number {
  let total = 0;
  as.forEach((a, i) => {
    const av = a.dataSync();
    const bv = bs[i]!.dataSync();
    for (let k = 0; k < av.length; k++) total += av[k]! * bv[k]!;
  });
  return total;
}

/** Autodiff directional derivative <grad f(xs), us>. */
export function directionalGrad(f: ScalarFn, xs: tf.Tensor[], us: tf.Tensor[]): number {
  return tf.tidy(() => inner(tf.grads(f)(xs), us));
}

/** Richardson-extrapolated central difference of f at xs along us. */
export function directionalFd(f: ScalarFn, xs: tf.Tensor[], us: tf.Tensor[], eps: number): number {
  const at = (t: number): number =>
    tf.tidy(() => f(...xs.map((x, i) => tf.add(x, tf.mul(us[i]!, t)))).dataSync()[0]!);
  const central = (h: number): number => (at(h) - at(-h)) / (2 * h);
  return (4 * central(eps / 2) - central(eps)) / 3;
}

/** h(xs) = <vs, grad f(xs)>; grad h = (Hessian of f) vs. */
export function gradDot(f: ScalarFn, vs: tf.Tensor[]): ScalarFn {
  return (...xs) => innerTensor(tf.grads(f)(xs), vs);
}

export function relativeError(got: number, want: number): number {
  return Math.abs(got - want) / Math.max(Math.abs(got), Math.abs(want), 1e-12);
}

export interface CheckOptions {
  /** Finite-difference step (default 1e-2). */
  eps?: number;
  /** Largest accepted relative error (default 1e-3). */
  tol?: number;
  /** The directional derivative must be at least this large, so the check is not vacuous (default 1e-3). */
  minMagnitude?: number;
}

/** Asserts <grad f, us> matches finite differences; returns both values. */
export function expectGradMatchesFd(f: ScalarFn, xs: tf.Tensor[], us: tf.Tensor[], opts: CheckOptions = {}) {
  const ad = directionalGrad(f, xs, us);
  const fd = directionalFd(f, xs, us, opts.eps ?? 1e-2);
  expect(Math.abs(ad), 'directional derivative should not vanish').toBeGreaterThan(opts.minMagnitude ?? 1e-3);
  expect(relativeError(ad, fd), `autodiff ${ad} vs finite differences ${fd}`).toBeLessThanOrEqual(
    opts.tol ?? 1e-3,
  );
  return { ad, fd };
}

/** Asserts the Hessian-vector product of f, projected on us, matches finite differences of <vs, grad f>. */
export function expectHvpMatchesFd(
  f: ScalarFn,
  xs: tf.Tensor[],
  vs: tf.Tensor[],
  us: tf.Tensor[],
  opts: CheckOptions = {},
) {
  return expectGradMatchesFd(gradDot(f, vs), xs, us, opts);
}

/** Runs `body` and asserts it leaves no tensor behind. */
export function expectNoLeak(body: () => void): void {
  const before = tf.memory().numTensors;
  body();
  expect(tf.memory().numTensors, 'tensors leaked').toBe(before);
}

/** Runs `body` with tensors created by `setup`, disposes them, and asserts nothing else leaked. */
export function withTensors(setup: () => tf.Tensor[], body: (...ts: tf.Tensor[]) => void): void {
  expectNoLeak(() => {
    const ts = setup();
    try {
      body(...ts);
    } finally {
      tf.dispose(ts);
    }
  });
}

/** Runs `fn` with fused ops off (the stock tfjs paths and their gradients), then turns them back on. */
export function withStockOps<T>(fn: () => T): T {
  setFusedOps(false);
  registerSecondOrderGradients();
  try {
    return fn();
  } finally {
    setFusedOps(true);
    registerSecondOrderGradients();
  }
}

/** Each tensor's values. */
export const tensorValues = (ts: tf.Tensor[]): number[][] => ts.map((t) => Array.from(t.dataSync()));

/** Asserts each got[i] is within tol of want[i], relative to want[i]'s largest magnitude. */
export function expectCloseScaled(got: number[][], want: number[][], tol: number): void {
  got.forEach((g, i) => {
    const scale = Math.max(...want[i]!.map(Math.abs));
    const err = Math.max(...g.map((v, k) => Math.abs(v - want[i]![k]!)));
    expect(err / scale, `tensor ${i}`).toBeLessThan(tol);
  });
}

/** The Hessian-vector product of f at xs along vs (the gradient of <vs, grad f>), as values. */
export function hvpValues(f: ScalarFn, xs: tf.Tensor[], vs: tf.Tensor[]): number[][] {
  return tf.tidy(() => tensorValues(tf.grads(gradDot(f, vs))(xs)));
}
