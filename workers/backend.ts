// TensorFlow.js backend selection (DESIGN.md §5): native GPU, native CPU, then pure JS as a last resort.
// Every worker and every test process calls `initBackend()` once before touching tensors.
import { existsSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { registerSecondOrderGradients, setFusedOps } from '../ml/ops/index.js';

export const BACKEND_CHOICES = ['auto', 'tfjs-node-gpu', 'tfjs-node', 'cpu'] as const;
export type BackendChoice = (typeof BACKEND_CHOICES)[number];

export interface BackendInfo {
  /** Package that provides the kernels: `tfjs-node-gpu`, `tfjs-node` or `cpu` (pure JS). */
  name: 'tfjs-node-gpu' | 'tfjs-node' | 'cpu';
  /** TensorFlow C library version for the native backends. */
  tfVersion?: string;
}

let active: BackendInfo | undefined;

function cudaVisible(): boolean {
  if (process.env.CUDA_VISIBLE_DEVICES === '' || process.env.CUDA_VISIBLE_DEVICES === '-1') return false;
  return existsSync('/dev/nvidia0') || existsSync('/dev/nvidiactl');
}

async function loadNative(pkg: '@tensorflow/tfjs-node' | '@tensorflow/tfjs-node-gpu'): Promise<string> {
  // oneDNN computes wrong convolution input gradients in TF 2.21 (specs/ecosystem.md §2.5); the flag
  // is read when the library loads, so it must be set before the import.
  process.env.TF_ENABLE_ONEDNN_OPTS = '0';
  process.env.TF_CPP_MIN_LOG_LEVEL ??= '2';
  const mod = (await import(pkg)) as { version?: Record<string, string> };
  await tf.setBackend('tensorflow');
  await tf.ready();
  const binding = (tf.backend() as unknown as { binding?: { TF_Version?: string } }).binding;
  return binding?.TF_Version ?? mod.version?.['tfjs-node'] ?? 'unknown';
}

async function loadCpu(): Promise<void> {
  // The union package registers the stock gradients (tfjs-core's own bundle does not) and the cpu kernels.
  await import('@tensorflow/tfjs');
  await tf.setBackend('cpu');
  await tf.ready();
}

/**
 * Selects and initialises the backend named by `choice` (default: `RETORT_TF_BACKEND`, else `auto`).
 * `auto` tries tfjs-node-gpu when a CUDA device is visible, then tfjs-node, then the pure-JS backend
 * with a loud warning. An explicit choice that cannot load throws.
 */
export async function initBackend(choice?: string): Promise<BackendInfo> {
  if (active) return active;
  const wanted = (choice ?? process.env.RETORT_TF_BACKEND ?? 'auto') as BackendChoice;
  if (!BACKEND_CHOICES.includes(wanted)) {
    throw new Error(`RETORT_TF_BACKEND="${wanted}": expected one of ${BACKEND_CHOICES.join(', ')}`);
  }
  const attempts: BackendInfo['name'][] =
    wanted === 'auto'
      ? [...(cudaVisible() ? (['tfjs-node-gpu'] as const) : []), 'tfjs-node', 'cpu']
      : [wanted];
  const failures: string[] = [];
  for (const name of attempts) {
    try {
      if (name === 'cpu') {
        await loadCpu();
        if (wanted === 'auto') {
          process.emitWarning(
            `Retort is running on the pure-JS tfjs backend (~50x slower than native). Native backends failed: ${failures.join('; ')}. Run \`npm run provision\` to build @tensorflow/tfjs-node.`,
          );
        }
        active = { name };
      } else {
        active = { name, tfVersion: await loadNative(`@tensorflow/${name}`) };
      }
      // RETORT_STOCK_OPS=1: tfjs's own instance norm and ReLU gradient instead of ml/ops' fused ones
      // (same values; for A/B timings and as a fallback).
      setFusedOps(process.env.RETORT_STOCK_OPS !== '1');
      registerSecondOrderGradients();
      return active;
    } catch (err) {
      failures.push(`${name}: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  throw new Error(`No TensorFlow.js backend could be loaded (${failures.join('; ')})`);
}

/** The backend chosen by `initBackend`, or undefined before it ran. */
export function activeBackend(): BackendInfo | undefined {
  return active;
}

function assertClose(what: string, got: ArrayLike<number>, want: number[], tol = 1e-4): void {
  for (let i = 0; i < want.length; i++) {
    if (!(Math.abs((got[i] ?? NaN) - want[i]!) <= tol)) {
      throw new Error(
        `backend self-test failed: ${what} = [${Array.from(got).join(',')}], expected [${want.join(',')}]`,
      );
    }
  }
}

/**
 * Start-up self-test: a matmul and both conv2d gradients checked against hand-computed values.
 * Catches the oneDNN wrong-gradient trap and a broken build; a worker that fails it must not poll.
 */
export function backendSelfTest(): void {
  tf.tidy(() => {
    const mm = tf.matMul(
      tf.tensor2d([
        [1, 2],
        [3, 4],
      ]),
      tf.tensor2d([
        [5, 6],
        [7, 8],
      ]),
    );
    assertClose('matmul', mm.dataSync(), [19, 22, 43, 50]);

    // y = conv2d(x, w), loss = sum(y). dL/dx is the "full" correlation of ones with w, i.e. the
    // conv2dTranspose of ones; dL/dw[a][b] is the sum of the x window shifted by (a, b).
    const x = tf.tensor4d([1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 3, 3, 1]);
    const w = tf.tensor4d([3, 1, 5, 0], [2, 2, 1, 1]);
    const grads = tf.grads((xx: tf.Tensor, ww: tf.Tensor) =>
      tf.sum(tf.conv2d(xx as tf.Tensor4D, ww as tf.Tensor4D, 1, 'valid')),
    )([x, w]);
    assertClose('conv2d dL/dx', grads[0]!.dataSync(), [3, 4, 1, 8, 9, 1, 5, 5, 0]);
    assertClose('conv2d dL/dw', grads[1]!.dataSync(), [12, 16, 24, 28]);

    // The documented oneDNN failure case (specs/ecosystem.md §2.5).
    const t = tf.conv2dTranspose(tf.tensor4d([1, 2, 3, 4], [1, 2, 2, 1]), w, [1, 3, 3, 1], 1, 'valid');
    assertClose('conv2dTranspose', t.dataSync(), [3, 7, 2, 14, 25, 4, 15, 20, 0]);
  });
}

/** Measured matmul throughput in GFLOP/s for an n×n product (median of `reps`). */
export function measureGflops(n = 512, reps = 5): number {
  const a = tf.randomNormal([n, n], 0, 1, 'float32', 1);
  const b = tf.randomNormal([n, n], 0, 1, 'float32', 2);
  // The tidy callbacks return nothing: tidy walks a returned value looking for tensors, and a
  // 262k-element typed array makes that walk cost more than the matmul.
  tf.tidy(() => {
    tf.matMul(a, b).dataSync();
  }); // warm-up
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    tf.tidy(() => {
      tf.matMul(a, b).dataSync();
    });
    times.push(performance.now() - t0);
  }
  a.dispose();
  b.dispose();
  times.sort((p, q) => p - q);
  const ms = times[Math.floor(times.length / 2)]!;
  return (2 * n ** 3) / (ms * 1e6);
}
