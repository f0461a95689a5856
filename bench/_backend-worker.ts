// One backend's measurements for bench/backend.ts, in a process of its own (a process holds one tfjs
// backend cleanly). Prints ONE JSON object on stdout; progress goes to stderr.
//
//   node --import tsx bench/_backend-worker.ts <tfjs-node|cpu> --batch 256 [--extra-batch 32]
//        [--steps 7] [--warmup 2] [--matmul2048-reps 5] [--breakdown] [--progress]
//        [--hotpaths '<HotpathSpec JSON>' --hotpath-reps 3]
//
// The ConvNet step is the product's own: `trainConvNetSteps` (flat parameters, tf.valueAndGrads, sgd())
// on the MTT ConvNet (W128, depth 3, instance norm, 28×28×1 padded to 32×32), seeded random data.
import * as tf from '@tensorflow/tfjs-core';
import { constantSchedule } from '../ml/methods/rewarm.js';
import { classificationLoss, sgd, trainConvNetSteps } from '../ml/train/index.js';
import { Rng } from '../ml/train/rng.js';
import {
  type ConvNetConfig,
  type ConvNetForwardOptions,
  convNetConfig,
  convNetForward,
  initConvNetParams,
  paramCount,
} from '../ml/models/index.js';
import { initBackend } from '../workers/backend.js';
import { type HotpathSpec, runHotpaths } from './_hotpaths.js';

const SEED = 20240603;
const LR = 0.01;

const BENCH_CONVNET = { h: 28, w: 28, c: 1, classes: 10, width: 128, depth: 3 } as const;

interface Args {
  backend: 'tfjs-node' | 'cpu';
  batch: number;
  extraBatch?: number;
  steps: number;
  warmup: number;
  matmul2048Reps: number;
  breakdown: boolean;
  alsoIm2col: boolean;
  progress: boolean;
  hotpaths?: HotpathSpec;
  hotpathReps: number;
}

function parseArgs(argv: string[]): Args {
  const [backend, ...rest] = argv;
  if (backend !== 'tfjs-node' && backend !== 'cpu')
    throw new Error(`_backend-worker: backend must be tfjs-node or cpu, got ${backend}`);
  const num = (flag: string, dflt: number): number => {
    const i = rest.indexOf(flag);
    if (i < 0) return dflt;
    const v = Number(rest[i + 1]);
    if (!Number.isInteger(v) || v < 0)
      throw new Error(`_backend-worker: ${flag} needs a non-negative integer, got ${rest[i + 1]}`);
    return v;
  };
  const extra = num('--extra-batch', 0);
  const hp = rest.indexOf('--hotpaths');
  return {
    backend,
    batch: num('--batch', 256),
    ...(extra > 0 ? { extraBatch: extra } : {}),
    steps: num('--steps', 7),
    warmup: num('--warmup', 2),
    matmul2048Reps: num('--matmul2048-reps', 5),
    breakdown: rest.includes('--breakdown'),
    alsoIm2col: rest.includes('--also-im2col'),
    progress: rest.includes('--progress'),
    ...(hp >= 0 ? { hotpaths: JSON.parse(rest[hp + 1]!) as HotpathSpec } : {}),
    hotpathReps: num('--hotpath-reps', 3),
  };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** Wall time of `fn` in ms: `warmup` untimed calls, then the median of `reps` timed ones. */
function timeMs(fn: () => void, reps: number, warmup: number): { ms: number; all: number[] } {
  for (let i = 0; i < warmup; i++) fn();
  const all: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    fn();
    all.push(performance.now() - t0);
  }
  return { ms: median(all), all };
}

/**
 * n×n matmul throughput. Like workers/backend.ts `measureGflops`, but with a choosable warm-up: one
 * pure-JS 2048² product takes about a minute, so there it runs a single rep and relies on the 512²
 * runs before it to have warmed the JIT.
 */
function matmulGflops(n: number, reps: number, warmup: number): { gflops: number; ms: number } {
  const a = tf.randomNormal([n, n], 0, 1, 'float32', 1);
  const b = tf.randomNormal([n, n], 0, 1, 'float32', 2);
  // The tidy callback returns nothing: tidy would walk a returned typed array element by element.
  const { ms } = timeMs(
    () =>
      tf.tidy(() => {
        tf.matMul(a, b).dataSync();
      }),
    reps,
    warmup,
  );
  tf.dispose([a, b]);
  return { gflops: (2 * n ** 3) / (ms * 1e6), ms };
}

interface ConvNetBench {
  config: ConvNetConfig;
  params: tf.Tensor1D;
  x: tf.Tensor4D;
  y: tf.Tensor1D;
}

function makeConvNetBench(batch: number): ConvNetBench {
  const config = convNetConfig(BENCH_CONVNET);
  // Random but seeded MNIST-shaped data: the content does not matter for timing.
  const rng = new Rng(SEED);
  const labels = Int32Array.from({ length: batch }, () => rng.int(config.classes));
  return {
    config,
    params: initConvNetParams(config, SEED),
    x: tf.randomNormal([batch, config.h, config.w, config.c], 0, 1, 'float32', rng.nextSeed()) as tf.Tensor4D,
    y: tf.tensor1d(labels, 'int32'),
  };
}

function disposeConvNetBench(b: ConvNetBench): void {
  tf.dispose([b.params, b.x, b.y]);
}

/**
 * Times `warmup + steps` consecutive SGD steps of one `trainConvNetSteps` call. Each step ends with
 * the loop reading its loss back (a sync point), where `onStep` stamps the clock; step i's time is the
 * gap between stamps i-1 and i. Returns the timed (post-warm-up) step times.
 */
function timeTrainSteps(
  b: ConvNetBench,
  warmup: number,
  steps: number,
  progress?: (msg: string) => void,
  kernels: ConvNetForwardOptions['kernels'] = 'native',
): { times: number[]; cpu: { user: number; system: number } } {
  const optimizer = sgd();
  const optState = optimizer.init(b.params);
  const stamps: number[] = [performance.now()];
  const usage: NodeJS.CpuUsage[] = [process.cpuUsage()];
  const out = trainConvNetSteps({
    config: b.config,
    params: b.params,
    optimizer,
    optState,
    startStep: 0,
    steps: warmup + steps,
    lr: constantSchedule(LR),
    kernels,
    batchAt: () => ({ x: b.x, y: b.y }),
    onStep: (info) => {
      stamps.push(performance.now());
      usage.push(process.cpuUsage());
      const k = stamps.length - 1;
      progress?.(
        `step ${k}/${warmup + steps}${k <= warmup ? ' (warm-up)' : ''}: ${(stamps[k]! - stamps[k - 1]!).toFixed(0)} ms, loss ${info.loss.toFixed(3)}`,
      );
    },
  });
  tf.dispose([out.params, ...Object.values(out.optState.slots)]);
  const times = stamps.slice(1).map((t, i) => t - stamps[i]!);
  // Process CPU time per timed step (all threads): system time well above zero is the kernel zeroing
  // freshly mapped pages for large activations, not arithmetic.
  const cpu = process.cpuUsage(usage[warmup]);
  return {
    times: times.slice(warmup),
    cpu: { user: cpu.user / 1e3 / steps, system: cpu.system / 1e3 / steps },
  };
}

/**
 * The step split into phases (medians): forward (loss read back), forward+backward (loss and gradient
 * read back), and the SGD update alone. backward = (forward+backward) − forward.
 */
function timePhases(
  b: ConvNetBench,
  reps: number,
  warmup: number,
): { forward: number; backward: number; update: number } {
  const lossOf = (p: tf.Tensor): tf.Scalar => classificationLoss(convNetForward(b.config, p, b.x), b.y);
  const forward = timeMs(
    () =>
      tf.tidy(() => {
        lossOf(b.params).dataSync();
      }),
    reps,
    warmup,
  ).ms;
  const forwardBackward = timeMs(
    () =>
      tf.tidy(() => {
        const { value, grad } = tf.valueAndGrad(lossOf)(b.params);
        value.dataSync();
        grad.dataSync();
      }),
    reps,
    warmup,
  ).ms;
  const optimizer = sgd();
  const state = optimizer.init(b.params);
  const grad = tf.randomNormal(b.params.shape, 0, 1e-3, 'float32', 3);
  const update = timeMs(
    () =>
      tf.tidy(() => {
        optimizer.step(b.params, grad, state, LR).params.dataSync();
      }),
    reps,
    warmup,
  ).ms;
  grad.dispose();
  return { forward, backward: forwardBackward - forward, update };
}

/** Per-kernel time of one training step (tf.profile; tfjs-node times each eager kernel call). */
/** Coarse kernel classes, the same as bench/torch_convnet_step.py's `op_group`. */
function kernelGroup(kernel: string): 'conv_matmul' | 'pool' | 'elementwise_reduce' {
  if (/^(Conv2D|Conv2DBackprop(Filter|Input)|_?Fused(Conv2D|MatMul)|(Batch)?MatMul)$/.test(kernel))
    return 'conv_matmul';
  if (/Pool/.test(kernel)) return 'pool';
  return 'elementwise_reduce';
}

interface StepProfile {
  kernel_ms_total: number;
  step_ms: number;
  groups: Record<string, { ms: number; share: number }>;
  top: { kernel: string; ms: number; calls: number; share: number }[];
}

async function profileStep(b: ConvNetBench): Promise<StepProfile> {
  const t0 = performance.now();
  const info = await tf.profile(() => {
    timeTrainSteps(b, 0, 1);
  });
  const stepMs = performance.now() - t0;
  const byKernel = new Map<string, { ms: number; calls: number }>();
  for (const k of info.kernels) {
    const ms = typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
    const e = byKernel.get(k.name) ?? { ms: 0, calls: 0 };
    e.ms += ms;
    e.calls += 1;
    byKernel.set(k.name, e);
  }
  const total = [...byKernel.values()].reduce((s, e) => s + e.ms, 0);
  const byGroup: Record<string, number> = { conv_matmul: 0, pool: 0, elementwise_reduce: 0 };
  for (const [kernel, e] of byKernel) byGroup[kernelGroup(kernel)]! += e.ms;
  const top = [...byKernel.entries()]
    .sort((p, q) => q[1].ms - p[1].ms)
    .slice(0, 10)
    .map(([kernel, e]) => ({ kernel, ms: round(e.ms), calls: e.calls, share: round(e.ms / total, 3) }));
  const groups = Object.fromEntries(
    Object.entries(byGroup).map(([g, ms]) => [g, { ms: round(ms), share: round(ms / total, 3) }]),
  );
  return { kernel_ms_total: round(total), step_ms: round(stepMs), groups, top };
}

const round = (x: number, digits = 2): number => Number(x.toFixed(digits));

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const progress = args.progress
    ? (msg: string) => process.stderr.write(`  [${args.backend}] ${msg}\n`)
    : undefined;
  const backend = await initBackend(args.backend);
  const pureJs = args.backend === 'cpu';
  const result: Record<string, unknown> = {
    backend: backend.name,
    tf_version: backend.tfVersion ?? null,
    tfjs_version: tf.version_core,
  };

  progress?.('matmul 512²');
  const mm512 = matmulGflops(512, pureJs ? 3 : 5, 1);
  result.matmul512_gflops = round(mm512.gflops);
  if (args.matmul2048Reps > 0) {
    progress?.(
      `matmul 2048² (${args.matmul2048Reps} rep${args.matmul2048Reps > 1 ? 's' : ''}${pureJs ? ', ~1 min each on pure JS' : ''})`,
    );
    const mm2048 = matmulGflops(2048, args.matmul2048Reps, pureJs ? 0 : 1);
    result.matmul2048_gflops = round(mm2048.gflops);
  } else result.matmul2048_gflops = null;

  const b = makeConvNetBench(args.batch);
  result.convnet = {
    ...BENCH_CONVNET,
    batch: args.batch,
    params: paramCount(b.config),
    optimizer: 'sgd',
    lr: LR,
  };
  progress?.(`ConvNet step, batch ${args.batch}: ${args.warmup} warm-up + ${args.steps} timed`);
  const { times: steps, cpu } = timeTrainSteps(b, args.warmup, args.steps, progress);
  result.convnet_step_ms = round(median(steps));
  result.convnet_step_ms_all = steps.map((t) => round(t));
  result.convnet_cpu_ms_per_step = { user: round(cpu.user), system: round(cpu.system) };
  if (args.breakdown) {
    progress?.('phases (forward, forward+backward) and per-kernel profile');
    const phases = timePhases(b, Math.max(3, args.steps), 1);
    result.convnet_phases_ms = {
      forward: round(phases.forward),
      backward: round(phases.backward),
      update: round(phases.update),
    };
    result.convnet_profile = await profileStep(b);
  }
  if (args.alsoIm2col) {
    // The same step with convolutions as pad + 9 slices + matMul (ml/models/convnet.ts 'im2col'): no
    // Conv2D/Conv2DBackprop* kernels at all, which is what the pure-JS backend is slowest at.
    progress?.(
      `ConvNet step with kernels 'im2col', batch ${args.batch}: ${args.warmup} warm-up + ${args.steps} timed`,
    );
    const im2col = timeTrainSteps(b, args.warmup, args.steps, progress, 'im2col').times;
    result.convnet_step_ms_im2col = round(median(im2col));
  }
  disposeConvNetBench(b);

  if (args.extraBatch) {
    const e = makeConvNetBench(args.extraBatch);
    progress?.(`ConvNet step, batch ${args.extraBatch}: ${args.warmup} warm-up + ${args.steps} timed`);
    const extraSteps = timeTrainSteps(e, args.warmup, args.steps, progress).times;
    result.convnet_step_ms_extra = { batch: args.extraBatch, ms: round(median(extraSteps)) };
    disposeConvNetBench(e);
  }
  if (args.hotpaths) {
    // The method hot paths, each 1 warm-up + the median of --hotpath-reps (bench/_hotpaths.ts).
    result.hotpaths_ms = runHotpaths(args.hotpaths, (fn) => timeMs(fn, args.hotpathReps, 1), progress);
  }
  result.stock_ops = process.env.RETORT_STOCK_OPS === '1';
  result.num_tensors_left = tf.memory().numTensors;
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

await main();
