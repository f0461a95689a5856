// Spawns test/support/worker-main.ts as a separate OS process, so a test can SIGKILL a worker in the
// middle of an activity (specs/temporal.md §f.1) and start a fresh one. The child leads its own
// process group (tsx runs the script in a grandchild): signals go to the whole group, by its id.
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { QueueName } from '../../workers/workers.js';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface WorkerProcessOptions {
  address: string;
  taskQueue: string;
  /** Store root URI (file://… or s3://…; S3 settings travel in `env`). */
  store: string;
  queues?: QueueName;
  /** Pre-built workflow bundle (needed when `queues` includes `retort`). */
  bundlePath?: string;
  identity?: string;
  env?: Record<string, string>;
  readyTimeoutMs?: number;
}

export interface WorkerProcess {
  /** Process-group id (= the child's pid). */
  pid: number;
  child: ChildProcess;
  /** Everything the worker printed so far (stdout and stderr). */
  output(): string;
  /** Sends `signal` to the worker's process group and waits for the child to exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Graceful stop: SIGTERM, then SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

export async function spawnWorkerProcess(options: WorkerProcessOptions): Promise<WorkerProcess> {
  const args = [
    'node_modules/tsx/dist/cli.mjs',
    'test/support/worker-main.ts',
    '--address',
    options.address,
    '--task-queue',
    options.taskQueue,
    '--store',
    options.store,
    '--queues',
    options.queues ?? 'retort-compute',
    ...(options.bundlePath ? ['--bundle', options.bundlePath] : []),
    ...(options.identity ? ['--identity', options.identity] : []),
  ];
  const child = spawn(process.execPath, args, {
    cwd: REPO_ROOT,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...options.env },
  });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const alive = () => child.exitCode === null && child.signalCode === null;

  const kill = async (signal: NodeJS.Signals = 'SIGKILL') => {
    if (!alive()) return;
    try {
      process.kill(-child.pid!, signal);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    }
    await exited;
  };
  const stop = async (graceMs = 30_000) => {
    if (!alive()) return;
    const timer = setTimeout(() => void kill('SIGKILL'), graceMs);
    await kill('SIGTERM');
    clearTimeout(timer);
  };

  const timeoutMs = options.readyTimeoutMs ?? 90_000;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      void kill('SIGKILL');
      reject(new Error(`worker process not ready after ${timeoutMs} ms:\n${output.slice(-4000)}`));
    }, timeoutMs);
    const onData = () => {
      if (output.includes('"ready":true')) {
        cleanup();
        resolve();
      }
    };
    const onExit = (code: number | null, signal: string | null) => {
      cleanup();
      reject(
        new Error(
          `worker process exited (code ${code}, signal ${signal}) before it was ready:\n${output.slice(-4000)}`,
        ),
      );
    };
    const cleanup = () => {
      clearTimeout(timer);
      child.stdout!.off('data', onData);
      child.off('exit', onExit);
    };
    child.stdout!.on('data', onData);
    child.once('exit', onExit);
  });
  return { pid: child.pid!, child, output: () => output, kill, stop };
}

/**
 * Compute-worker processes for a kill test: `spawn(identity)` starts one on `taskQueue` against the
 * store `storeRoot()` (read at spawn time: tests create their store in beforeAll); `killAll()`
 * SIGKILLs every process the pool started (for afterAll).
 */
export function computeWorkerPool(address: string, taskQueue: string, storeRoot: () => string) {
  const spawned: WorkerProcess[] = [];
  return {
    async spawn(identity: string): Promise<WorkerProcess> {
      const w = await spawnWorkerProcess({
        address,
        taskQueue,
        store: storeRoot(),
        queues: 'retort-compute',
        identity,
      });
      spawned.push(w);
      return w;
    },
    killAll: () => Promise.all(spawned.map((w) => w.kill('SIGKILL'))),
  };
}
