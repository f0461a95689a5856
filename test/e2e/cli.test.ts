// The CLI contract (DESIGN.md §7), driven as a user would: child processes, real dev server.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it, inject } from 'vitest';
import { startWorkers, tempFileStore, uniqueQueue } from '../support/temporal.js';

const run = promisify(execFile);
const retort = (args: string[], env: Record<string, string> = {}) =>
  run(process.execPath, ['bin/retort.mjs', ...args], {
    env: { ...process.env, TEMPORAL_ADDRESS: inject('temporalAddress'), ...env },
    maxBuffer: 16 * 1024 * 1024,
  });

describe('retort CLI', () => {
  it('doctor --json reports node, backend with GFLOP/s, Temporal and the store', async () => {
    const store = tempFileStore('doctor');
    const { stdout } = await retort(['doctor', '--json'], { RETORT_STORE: store.root });
    const report = JSON.parse(stdout) as Record<string, Record<string, unknown>>;
    expect(report.node).toBe(process.version);
    expect(report.backend!.name).toBe(process.env.RETORT_TF_BACKEND === 'cpu' ? 'cpu' : 'tfjs-node');
    expect(report.backend!.gflops).toBeGreaterThan(0);
    expect(report.temporal).toMatchObject({ address: inject('temporalAddress'), reachable: true });
    expect(String(report.temporal!.version)).toContain('1.5.1');
    expect(report.store).toEqual({ uri: store.root, writable: true });
  });

  it('run examples/ingest-corpus.json --wait --json prints {workflowId, runId, status, result}', async () => {
    const store = tempFileStore('cli-run');
    const taskQueue = uniqueQueue('cli');
    const { runUntil } = await startWorkers(store, taskQueue);
    const { stdout } = await runUntil(() =>
      retort([
        'run',
        'examples/ingest-corpus.json',
        '--wait',
        '--json',
        '--task-queue',
        taskQueue,
        '--id',
        `cli-${taskQueue}`,
      ]),
    );
    const out = JSON.parse(stdout) as {
      workflowId: string;
      runId: string;
      status: string;
      result: { groups: { group: string }[] };
    };
    expect(Object.keys(out).sort()).toEqual(['result', 'runId', 'status', 'workflowId']);
    expect(out.status).toBe('COMPLETED');
    expect(out.workflowId).toBe(`cli-${taskQueue}`);
    expect(out.result.groups.map((g) => g.group)).toEqual(['code', 'novel', 'speeches']);
  });

  it('run rejects an invalid input file before starting anything, naming the field', async () => {
    const { writeFileSync, mkdtempSync } = await import('node:fs');
    const dir = mkdtempSync('/tmp/retort-cli-');
    writeFileSync(`${dir}/ingest-corpus.json`, JSON.stringify({ ctx: 'big' }));
    await expect(retort(['run', `${dir}/ingest-corpus.json`, '--wait'])).rejects.toMatchObject({
      stderr: expect.stringContaining('field "ctx"'),
    });
  });
});
