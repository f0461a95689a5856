// Allocator settings for every process that runs tfjs-node kernels. Two layers:
// - TensorFlow's own CPU allocator is its BFC arena (TF_CPU_ALLOCATOR_USE_BFC=true): tensors are carved
//   out of a few large regions that TensorFlow keeps and reuses, so a training step's intermediates
//   (tens to hundreds of MB at batch 256) land in memory that is already mapped. Without it every
//   tensor is a malloc: with glibc's defaults a fresh mmap() the kernel zeroes on first touch and
//   unmaps on free (system CPU time as large as the arithmetic), and with glibc's heap (the tunables
//   below) the heap fragments and keeps growing, page-faulting new memory for many steps.
// - glibc malloc tunables for everything else in the process (Node's buffers, copies out of tensors):
//   allocations below 1 GiB come from the heap instead of mmap and freed memory stays mapped.
// Both are read only when a process starts, so launchers set them for their children: bin/retort.mjs
// re-launches `worker` and `start` under them, bin/bench.mjs runs every bench under them,
// vitest.config.ts gives them to its forks. bench/README.md ("Memory allocator") has the measurements.
//
// RETORT_MALLOC=system leaves both alone; a variable already set wins over ours.
import { spawn } from 'node:child_process';

/**
 * Allocations below 1 GiB come from the heap instead of mmap; up to 1 GiB of freed memory stays mapped
 * (trim threshold); the heap grows 512 MiB at a time (top pad). Costs: an idle process can hold up to
 * ~1 GiB it no longer uses.
 */
export const MALLOC_TUNABLES = Object.freeze({
  MALLOC_MMAP_THRESHOLD_: String(1 << 30),
  MALLOC_TRIM_THRESHOLD_: String(1 << 30),
  MALLOC_TOP_PAD_: String(512 << 20),
});

/** TensorFlow's CPU allocator: its BFC arena instead of one malloc per tensor. */
export const TF_ALLOCATOR = Object.freeze({ TF_CPU_ALLOCATOR_USE_BFC: 'true' });

/** `env` with both settings added (and RETORT_MALLOC=tuned as the marker), unless RETORT_MALLOC=system. */
export function allocatorEnv(env = process.env) {
  if (env.RETORT_MALLOC === 'system') return { ...env };
  return { ...MALLOC_TUNABLES, ...TF_ALLOCATOR, ...env, RETORT_MALLOC: 'tuned' };
}

/**
 * Re-runs this Node process (same arguments) as a child with `allocatorEnv()` unless it already has it,
 * and exits with the child's status. Returns true when it did (the caller must then do nothing else),
 * false when this process already runs with them. SIGTERM is forwarded to the child; SIGINT
 * and SIGHUP are not, because the terminal already delivers them to the whole process group (the child
 * included) and a second copy would turn a graceful shutdown into a forced one.
 */
export function relaunchWithAllocator() {
  if (process.env.RETORT_MALLOC) return false;
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: allocatorEnv(),
  });
  process.on('SIGTERM', () => child.kill('SIGTERM'));
  for (const signal of ['SIGINT', 'SIGHUP']) process.on(signal, () => {});
  child.on('exit', (code, signal) => process.exit(code ?? (signal === 'SIGINT' ? 130 : 1)));
  return true;
}
