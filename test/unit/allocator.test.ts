// The allocator environment (workers/allocator.mjs): what launchers give the processes that compute.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { MALLOC_TUNABLES, TF_ALLOCATOR, allocatorEnv } from '../../workers/allocator.mjs';

describe('allocatorEnv (workers/allocator.mjs)', () => {
  it("adds TensorFlow's BFC allocator, the glibc tunables and the marker, keeping values already set", () => {
    const env = allocatorEnv({ PATH: '/bin', MALLOC_TOP_PAD_: '1' });
    expect(env).toMatchObject({
      ...MALLOC_TUNABLES,
      TF_CPU_ALLOCATOR_USE_BFC: 'true',
      PATH: '/bin',
      MALLOC_TOP_PAD_: '1',
      RETORT_MALLOC: 'tuned',
    });
  });

  it('RETORT_MALLOC=system leaves the allocator alone', () => {
    expect(allocatorEnv({ RETORT_MALLOC: 'system' })).toEqual({ RETORT_MALLOC: 'system' });
    expect(allocatorEnv({ TF_CPU_ALLOCATOR_USE_BFC: 'false' }).TF_CPU_ALLOCATOR_USE_BFC).toBe('false');
  });

  it('test processes run with it (vitest.config.ts), and so do the processes they spawn', () => {
    for (const [k, v] of Object.entries({ ...MALLOC_TUNABLES, ...TF_ALLOCATOR }))
      expect(process.env[k]).toBe(v);
    const child = spawnSync(
      process.execPath,
      ['-e', 'process.stdout.write(process.env.MALLOC_MMAP_THRESHOLD_ ?? "")'],
      {
        encoding: 'utf8',
      },
    );
    expect(child.stdout).toBe(MALLOC_TUNABLES.MALLOC_MMAP_THRESHOLD_);
  });
});
