// `npm run bench -- backend [--json] [--quick] [--cpu-batch N] [--no-cpu] [--no-torch] [--no-hotpaths] [--cpu-timeout-s N]`
//
// Pure-JS `cpu` vs native `tfjs-node` vs PyTorch (CPU), measured in ONE run so that the ratios are
// comparable on a noisy shared machine: matmul 512² and 2048² throughput, and one training step of the
// MTT ConvNet (batch 256, width 128, depth 3, 28×28×1) with the product's own loop (`trainConvNetSteps`,
// plain SGD). Each tfjs backend runs in its own process (bench/_backend-worker.ts); PyTorch runs
// bench/torch_convnet_step.py in the cached venv of bench/setup-torch.sh. See bench/README.md.
//
// Protocol: native and PyTorch: 2 warm-up steps, then the median of 7. Pure JS: ONE timed step (a
// batch-256 step takes one to two hours) and one 2048² rep (~1 min). `--quick`: pure JS at
// batch 8 (labelled `cpu_batch: 8`), compared with native at the same batch 8; no pure-JS 2048²; fewer
// native steps. Both tfjs backends also time the step with the ConvNet's 'im2col' kernels (no Conv2D*
// kernels), which shows how much of the pure-JS time is its convolution-gradient kernel. `hotpaths`: each
// method's inner computation (MTT iteration, CV-DD recovery, byte-LM step, Sinkhorn) beside its PyTorch
// or numpy twin, same sizes, same run.
import { spawnSync } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { HotpathSpec } from './_hotpaths.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const BATCH = 256;
// A pure-JS step at batch 32 already takes >10 min (93% of it in the cpu backend's Conv2DBackpropFilter).
const QUICK_CPU_BATCH = 8;
const SPEEDUP_EXPECTED = 20; // native vs pure JS on the ConvNet step
const TORCH_GOAL = 2; // native step time within 2× of PyTorch's
const HOTPATH_GOAL = 2; // each method hot path within 2× of its PyTorch / numpy twin

/**
 * The method hot paths (bench/_hotpaths.ts, bench/torch_hotpaths.py), at sizes that take seconds, not
 * minutes, on 2 cores: MTT at IPC 10 (100 images, all in every student batch) with N = 5 unrolled steps
 * (MTT uses 20–50; the time is linear in N); CV-DD with 2 voters; the rewarm byte-LM preset; a GOT-D
 * sized Sinkhorn solve with the cost matrix cached (n·N = 2·10⁷ entries).
 */
const HOTPATHS: HotpathSpec = {
  mtt_iteration: { images: 100, classes: 10, unrolled_steps: 5, lr: 0.01, width: 128, depth: 3 },
  cvdd_recovery: { images: 100, classes: 10, voters: 2, r_bn: 0.01, width: 128, depth: 3 },
  lm_step: { batch: 16, seq: 128, layers: 4, d_model: 256, heads: 4, lr: 1e-3 },
  sinkhorn: { n: 1000, candidates: 20000, dim: 64, relative_epsilon: 0.05, iterations: 30 },
};

type Json = Record<string, unknown>;
interface Measured {
  ok: Json | null;
  error?: string;
}

const argv = process.argv.slice(2);
const opts = {
  json: argv.includes('--json'),
  quick: argv.includes('--quick'),
  cpu: !argv.includes('--no-cpu'),
  torch: !argv.includes('--no-torch'),
  hotpaths: !argv.includes('--no-hotpaths'),
  cpuBatch: Number(argv[argv.indexOf('--cpu-batch') + 1] ?? 0) || undefined,
  cpuTimeoutS: Number(argv[argv.indexOf('--cpu-timeout-s') + 1] ?? 0) || 4 * 3600,
};
const say = (msg: string): void => {
  if (!opts.json) process.stderr.write(`${msg}\n`);
};
const load1 = (): number => Number(loadavg()[0]!.toFixed(2));
const round = (x: number, digits = 2): number => Number(x.toFixed(digits));

/** Runs a command whose stdout's last line is a JSON object; stderr streams through unless --json. */
function runJson(what: string, cmd: string, args: string[], timeoutS: number): Measured {
  const r = spawnSync(cmd, args, {
    cwd: ROOT,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', opts.json ? 'pipe' : 'inherit'],
    timeout: timeoutS * 1000,
    maxBuffer: 16 << 20,
  });
  const tail = (r.stderr ?? '').trim().split('\n').slice(-3).join(' | ');
  if (r.error || r.status !== 0) {
    const why = r.error?.message ?? (r.signal ? `killed by ${r.signal}` : `exit status ${r.status}`);
    return {
      ok: null,
      error: `${what}: ${why}${r.signal === 'SIGTERM' ? ` (timeout ${timeoutS} s)` : ''}${tail ? `: ${tail}` : ''}`,
    };
  }
  const last = r.stdout.trim().split('\n').pop() ?? '';
  try {
    return { ok: JSON.parse(last) as Json };
  } catch {
    return { ok: null, error: `${what}: no JSON on stdout (${last.slice(0, 200)})` };
  }
}

function tfjsWorker(backend: 'tfjs-node' | 'cpu', args: string[], timeoutS: number): Measured {
  const progress = opts.json ? [] : ['--progress'];
  return runJson(
    `${backend} worker`,
    process.execPath,
    ['--import', 'tsx', join(ROOT, 'bench', '_backend-worker.ts'), backend, ...args, ...progress],
    timeoutS,
  );
}

function torchReference(
  args: string[],
  hotpathArgs: string[] | null,
): Measured & { python?: string; hotpaths?: Measured } {
  say('PyTorch: bench/setup-torch.sh (cached venv; first use installs torch from PyPI)');
  const setup = spawnSync('bash', [join(ROOT, 'bench', 'setup-torch.sh')], {
    cwd: ROOT,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', opts.json ? 'pipe' : 'inherit'],
    timeout: 3600_000,
  });
  const python = setup.stdout?.trim().split('\n').pop();
  if (setup.status !== 0 || !python) {
    const tail = (setup.stderr ?? '').trim().split('\n').slice(-2).join(' | ');
    return { ok: null, error: `torch unavailable: bench/setup-torch.sh failed${tail ? `: ${tail}` : ''}` };
  }
  const step = runJson(
    'torch reference',
    python,
    [join(ROOT, 'bench', 'torch_convnet_step.py'), ...args],
    1800,
  );
  if (!hotpathArgs) return { ...step, python };
  say('PyTorch / numpy: hot paths');
  const hotpaths = runJson(
    'torch hot paths',
    python,
    [join(ROOT, 'bench', 'torch_hotpaths.py'), ...hotpathArgs],
    1800,
  );
  return { ...step, python, hotpaths };
}

const num = (m: Measured, key: string): number | null => {
  const v = m.ok?.[key];
  return typeof v === 'number' ? v : null;
};
const extraMs = (m: Measured): number | null =>
  (m.ok?.convnet_step_ms_extra as { ms?: number } | undefined)?.ms ?? null;
const ratio = (a: number | null, b: number | null): number | null =>
  a !== null && b !== null && b > 0 ? round(a / b) : null;

interface ProfileSummary {
  groups: Record<string, { ms: number; share: number }>;
  top: { kernel?: string; op?: string; ms: number; share: number }[];
}

/**
 * Where the native step loses time against PyTorch: the phase (forward, backward, update) with the
 * largest gap, and how each side's kernel time splits into conv/matmul, pooling and elementwise +
 * reduction kernels (tf.profile for tfjs-node, torch.profiler for PyTorch).
 */
function slowdownAnalysis(native: Json, torch: Json | null, vsTorch: number | null): Json | null {
  const np = native.convnet_phases_ms as Record<string, number> | undefined;
  const nprof = native.convnet_profile as ProfileSummary | undefined;
  if (!np || !nprof) return null;
  const tp = torch?.convnet_phases_ms as Record<string, number> | undefined;
  const tprof = torch?.convnet_profile as ProfileSummary | undefined;
  const gap = tp ? Object.fromEntries(Object.keys(np).map((k) => [k, round(np[k]! - (tp[k] ?? 0))])) : null;
  const worst = gap ? Object.entries(gap).sort((a, b) => b[1] - a[1])[0]! : null;
  const split = (p: ProfileSummary): string =>
    Object.entries(p.groups)
      .map(([g, v]) => `${g} ${Math.round(v.ms)} ms (${Math.round(v.share * 100)}%)`)
      .join(', ');
  const top3 = (p: ProfileSummary): string =>
    p.top
      .slice(0, 3)
      .map((k) => `${k.kernel ?? k.op} ${Math.round(k.share * 100)}%`)
      .join(', ');
  const cpuTime = (m: Json): string => {
    const c = m.convnet_cpu_ms_per_step as { user: number; system: number } | undefined;
    return c ? `${Math.round(c.user)}/${Math.round(c.system)}` : '—';
  };
  const parts = [
    vsTorch === null
      ? 'no PyTorch figure'
      : `native step is ${vsTorch}× PyTorch's (${vsTorch <= TORCH_GOAL ? 'within' : 'outside'} the ${TORCH_GOAL}× goal)`,
    ...(worst ? [`largest phase gap: ${worst[0]} (+${Math.round(worst[1])} ms)`] : []),
    `tfjs-node kernels: ${split(nprof)}; top ${top3(nprof)}`,
    ...(tprof ? [`PyTorch ops: ${split(tprof)}; top ${top3(tprof)}`] : []),
    `process CPU time per step (user/system ms): tfjs-node ${cpuTime(native)}${torch ? `, PyTorch ${cpuTime(torch)}` : ''}`,
  ];
  return {
    native_phases_ms: np,
    torch_phases_ms: tp ?? null,
    phase_gap_ms: gap,
    native_profile: nprof,
    torch_profile: tprof ?? null,
    cpu_ms_per_step: {
      tfjs_node: native.convnet_cpu_ms_per_step ?? null,
      torch: torch?.convnet_cpu_ms_per_step ?? null,
    },
    summary: parts.join('; '),
  };
}

type HotpathTimes = Record<string, { ms: number; all: number[] } | null>;

/** tfjs-node vs its twin for each hot path: `{tfjs_node_ms, torch_ms | numpy_ms, ratio}` (ratio = slow-down). */
function hotpathRows(native: Json | null, reference: Json | null): Json {
  const ours = (native?.hotpaths_ms ?? {}) as HotpathTimes;
  const theirs = (reference?.hotpaths_ms ?? {}) as HotpathTimes;
  return Object.fromEntries(
    Object.keys(HOTPATHS).map((name) => {
      const a = ours[name]?.ms ?? null;
      const b = theirs[name]?.ms ?? null;
      const refKey = name === 'sinkhorn' ? 'numpy_ms' : 'torch_ms';
      return [
        name,
        {
          tfjs_node_ms: a,
          [refKey]: b,
          ratio: ratio(a, b),
          all: { tfjs_node: ours[name]?.all ?? null, reference: theirs[name]?.all ?? null },
        },
      ];
    }),
  );
}

function table(out: Json): string {
  const cell = (v: number | null | undefined): string =>
    v === null || v === undefined ? '—' : String(v >= 100 ? Math.round(v) : v);
  const row = (label: string, o: Record<string, number | null>): string =>
    `${label.padEnd(36)}${[o.cpu, o.tfjs_node, o.torch].map((v) => cell(v).padStart(13)).join('')}`;
  const conv = out.convnet as Json;
  const r = out.ratios as Record<string, number | null>;
  const lines = [
    `backend bench (${out.mode}; ${(out.machine as Json).cores} cores, load ${JSON.stringify((out.machine as Json).loadavg_1m)})`,
    `${''.padEnd(36)}${['pure-JS cpu', 'tfjs-node', 'PyTorch'].map((s) => s.padStart(13)).join('')}`,
    row('matmul 512² GFLOP/s', out.matmul512_gflops as Record<string, number | null>),
    row('matmul 2048² GFLOP/s', out.matmul2048_gflops as Record<string, number | null>),
    row(
      `ConvNet step ms (batch ${conv.batch}${conv.cpu_batch !== conv.batch ? `; cpu ${conv.cpu_batch}` : ''})`,
      out.convnet_step_ms as Record<string, number | null>,
    ),
  ];
  const atCpuBatch = out.convnet_step_ms_at_cpu_batch as Record<string, number | null> | undefined;
  if (atCpuBatch) lines.push(row(`ConvNet step ms (batch ${atCpuBatch.batch})`, atCpuBatch));
  lines.push(
    row(`  same, 'im2col' kernels`, {
      ...(out.convnet_step_ms_im2col as Record<string, number | null>),
      torch: null,
    }),
  );
  lines.push(
    `native vs pure-JS ConvNet speed-up: ${r.native_vs_cpu_convnet ?? '—'}× (expect ≥ ${SPEEDUP_EXPECTED}×; both at batch ${conv.cpu_batch})`,
    `native / PyTorch ConvNet step time: ${r.native_vs_torch_convnet ?? '—'}× (goal ≤ ${TORCH_GOAL}×)`,
  );
  const hot = out.hotpaths as Record<string, Record<string, number | null>> | undefined;
  for (const [name, h] of Object.entries(hot ?? {})) {
    const ref = h.torch_ms ?? h.numpy_ms ?? null;
    lines.push(
      `hot path ${name.padEnd(14)} tfjs-node ${cell(h.tfjs_node_ms)} ms, ${'numpy_ms' in h ? 'numpy' : 'PyTorch'} ${cell(ref)} ms: ${h.ratio ?? '—'}× (goal ≤ ${HOTPATH_GOAL}×)`,
    );
  }
  const analysis = out.native_slowdown as Json | null;
  if (analysis) lines.push(`what dominates: ${String(analysis.summary)}`);
  for (const [k, v] of Object.entries((out.errors as Record<string, string>) ?? {})) lines.push(`${k}: ${v}`);
  return lines.join('\n');
}

function main(): void {
  const machine: Json = {
    cores: cpus().length,
    cpu_model: cpus()[0]?.model ?? 'unknown',
    node: process.version,
    loadavg_1m: { start: load1() } as Record<string, number>,
  };
  const loadAt = machine.loadavg_1m as Record<string, number>;
  const cpuBatch = opts.cpuBatch ?? (opts.quick ? QUICK_CPU_BATCH : BATCH);
  const steps = opts.quick ? 5 : 7;
  const warmup = opts.quick ? 1 : 2;
  const nativeSteps = ['--steps', String(steps), '--warmup', String(warmup)];
  // Pure JS below batch 256: native and PyTorch also time a step at that batch, for a same-batch ratio.
  const extra = cpuBatch !== BATCH ? ['--extra-batch', String(cpuBatch)] : [];
  const errors: Record<string, string> = {};

  say(`tfjs-node: matmul, ConvNet step (batch ${BATCH}), phases and per-kernel profile`);
  const hotpathReps = opts.quick ? 2 : 3;
  const nativeHotpaths = opts.hotpaths
    ? ['--hotpaths', JSON.stringify(HOTPATHS), '--hotpath-reps', String(hotpathReps)]
    : [];
  const native = tfjsWorker(
    'tfjs-node',
    ['--batch', String(BATCH), ...nativeSteps, ...extra, '--breakdown', '--also-im2col', ...nativeHotpaths],
    3600,
  );
  loadAt.after_tfjs_node = load1();
  if (native.error) errors.tfjs_node = native.error;

  let torch: Measured = { ok: null, error: 'skipped (--no-torch)' };
  let torchHotpaths: Measured = { ok: null, error: opts.hotpaths ? 'skipped (--no-torch)' : 'skipped' };
  if (opts.torch) {
    const ref = torchReference(
      ['--batch', String(BATCH), ...nativeSteps, ...extra],
      opts.hotpaths ? ['--spec', JSON.stringify(HOTPATHS), '--reps', String(hotpathReps)] : null,
    );
    torch = ref;
    if (ref.hotpaths) torchHotpaths = ref.hotpaths;
  }
  loadAt.after_torch = load1();
  if (torch.error) errors.torch = torch.error;
  if (opts.hotpaths && torchHotpaths.error) errors.torch_hotpaths = torchHotpaths.error;
  for (const [name, why] of Object.entries((torchHotpaths.ok?.errors as Record<string, string>) ?? {}))
    errors[`torch_hotpaths_${name}`] = why;

  let cpu: Measured = { ok: null, error: 'skipped (--no-cpu)' };
  if (opts.cpu) {
    say(`pure-JS cpu: matmul, ONE ConvNet step at batch ${cpuBatch} (slow: one to two hours at batch 256)`);
    const cpuArgs = [
      '--batch',
      String(cpuBatch),
      '--steps',
      '1',
      '--warmup',
      '0',
      '--matmul2048-reps',
      opts.quick ? '0' : '1',
      '--also-im2col',
    ];
    cpu = tfjsWorker('cpu', cpuArgs, opts.cpuTimeoutS);
  }
  loadAt.end = load1();
  if (cpu.error) errors.cpu = cpu.error;

  machine.tfjs = native.ok?.tfjs_version ?? cpu.ok?.tfjs_version ?? null;
  machine.tf_c_library = native.ok?.tf_version ?? null;
  machine.torch = torch.ok?.torch_version ?? null;
  machine.torch_threads = torch.ok?.threads ?? null;

  const trio = (key: string): Json => ({
    cpu: num(cpu, key),
    tfjs_node: num(native, key),
    torch: num(torch, key),
  });
  const step = trio('convnet_step_ms') as Record<string, number | null>;
  const stepIm2col = {
    cpu: num(cpu, 'convnet_step_ms_im2col'),
    tfjs_node: num(native, 'convnet_step_ms_im2col'),
  };
  const mm512 = trio('matmul512_gflops') as Record<string, number | null>;
  const mm2048 = trio('matmul2048_gflops') as Record<string, number | null>;
  // Quick: pure JS ran at batch 32, so the speed-up compares it with native at batch 32 too.
  const nativeAtCpuBatch = cpuBatch !== BATCH ? extraMs(native) : step.tfjs_node!;
  const ratios = {
    native_vs_cpu_convnet: ratio(step.cpu!, nativeAtCpuBatch),
    native_vs_torch_convnet: ratio(step.tfjs_node!, step.torch!),
    native_vs_cpu_matmul512: ratio(mm512.tfjs_node!, mm512.cpu!),
    native_vs_cpu_matmul2048: ratio(mm2048.tfjs_node!, mm2048.cpu!),
    native_vs_torch_matmul512: ratio(mm512.torch!, mm512.tfjs_node!),
    native_vs_torch_matmul2048: ratio(mm2048.torch!, mm2048.tfjs_node!),
    im2col_speedup_cpu: ratio(step.cpu!, stepIm2col.cpu),
    im2col_speedup_tfjs_node: ratio(step.tfjs_node!, stepIm2col.tfjs_node),
  };
  const out: Json = {
    bench: 'backend',
    mode: opts.quick ? 'quick' : 'full',
    matmul512_gflops: mm512,
    matmul2048_gflops: mm2048,
    convnet_step_ms: step,
    ...(cpuBatch !== BATCH
      ? {
          convnet_step_ms_at_cpu_batch: {
            batch: cpuBatch,
            cpu: step.cpu,
            tfjs_node: extraMs(native),
            torch: extraMs(torch),
          },
        }
      : {}),
    convnet_step_ms_im2col: stepIm2col,
    // Process CPU time per ConvNet step; system time is the kernel's page-fault work (see the allocator).
    cpu_ms_per_step: {
      tfjs_node: native.ok?.convnet_cpu_ms_per_step ?? null,
      torch: torch.ok?.convnet_cpu_ms_per_step ?? null,
    },
    ratios,
    ratio_definitions: {
      native_vs_cpu_convnet: `pure-JS step ms / tfjs-node step ms at the same batch (speed-up; expect ≥ ${SPEEDUP_EXPECTED})`,
      native_vs_torch_convnet: `tfjs-node step ms / PyTorch step ms (slow-down; goal ≤ ${TORCH_GOAL})`,
      native_vs_cpu_matmul: 'tfjs-node GFLOP/s / pure-JS GFLOP/s (speed-up)',
      native_vs_torch_matmul: 'PyTorch GFLOP/s / tfjs-node GFLOP/s (slow-down, like the step-time ratio)',
      im2col_speedup:
        "step ms with tf.conv2d kernels / step ms with the ConvNet's 'im2col' kernels, same backend",
    },
    convnet: {
      ...((native.ok?.convnet as Json | undefined) ?? { batch: BATCH }),
      batch: BATCH,
      cpu_batch: cpuBatch,
      data: 'seeded random N(0,1) images [B,28,28,1], uniform labels (content does not affect timing)',
      protocol: {
        tfjs_node: `${warmup} warm-up + median of ${steps} steps`,
        torch: `${warmup} warm-up + median of ${steps} steps`,
        cpu: `1 timed step at batch ${cpuBatch}, no warm-up`,
      },
      step_ms_all: {
        tfjs_node: native.ok?.convnet_step_ms_all ?? null,
        torch: torch.ok?.convnet_step_ms_all ?? null,
      },
    },
    ...(opts.hotpaths
      ? {
          hotpaths: hotpathRows(native.ok, torchHotpaths.ok),
          hotpath_spec: HOTPATHS,
          hotpath_protocol: `1 warm-up + median of ${hotpathReps}, each side`,
        }
      : {}),
    native_slowdown: native.ok ? slowdownAnalysis(native.ok, torch.ok, ratios.native_vs_torch_convnet) : null,
    machine: {
      ...machine,
      // Allocator of the tfjs processes (workers/allocator.mjs; RETORT_MALLOC=system for the defaults).
      allocator: process.env.RETORT_MALLOC ?? 'defaults (bench not run through bin/bench.mjs)',
      allocator_env: Object.fromEntries(
        Object.entries(process.env).filter(
          ([k]) => k.startsWith('MALLOC_') || k === 'TF_CPU_ALLOCATOR_USE_BFC',
        ),
      ),
      stock_ops: native.ok?.stock_ops ?? null,
    },
    ...(Object.keys(errors).length ? { errors } : {}),
  };
  if (!opts.json) process.stdout.write(`${table(out)}\n\n`);
  process.stdout.write(`${JSON.stringify(out, null, opts.json ? undefined : 2)}\n`);
  if (native.error) process.exitCode = 1;
}

main();
