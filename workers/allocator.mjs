// glibc malloc tunables for every process that runs tfjs-node kernels. With glibc's defaults, TensorFlow's
// large intermediates (tens of MB at batch 256) are served by fresh mmap()s and unmapped again when
// freed, so each training step page-faults its whole working set back in and the kernel zeroes it:
// system CPU time was as large as the arithmetic itself (bench/README.md, "Memory allocator"). Serving
// them from the heap and keeping freed memory mapped stops that. glibc reads these variables only when
// a process starts, so launchers set them for their children: bin/retort.mjs re-launches `worker` and
// `start` under them, bin/bench.mjs runs every bench under them, vitest.config.ts gives them to its forks.
//
// RETORT_MALLOC=system leaves the allocator alone; a MALLOC_* variable already set wins over ours.
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

/** `env` with the tunables added (and RETORT_MALLOC=tuned as the marker), unless RETORT_MALLOC=system. */
export function allocatorEnv(env = process.env) {
  if (env.RETORT_MALLOC === 'system') return { ...env };
  return { ...MALLOC_TUNABLES, ...env, RETORT_MALLOC: 'tuned' };
}

/**
 * Re-runs this Node process (same arguments) as a child with `allocatorEnv()` unless it already has it,
 * and exits with the child's status. Returns true when it did (the caller must then do nothing else),
 * false when this process already runs with the tunables. SIGTERM is forwarded to the child; SIGINT
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
