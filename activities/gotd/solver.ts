// Runs GOT-D's OT solves off the activity's event loop, in a worker thread (solver-thread.ts),
// heartbeating while it works and terminating it on cancellation. Inputs move to the thread without
// copying (transferred buffers); the thread loads the same tfjs backend as the worker, once: idle
// threads are kept for the next solve.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { activityContext } from '../heartbeat.js';
import type { OtCostChange } from '../../ml/methods/gotd/diagnostics.js';
import type { GotdSolverConfig, RowId, SolveStats } from '../../ml/methods/gotd/index.js';

/** A solve's side of an embedding table; `embeddings` is transferred to the thread (detached here). */
export interface TransferableTable {
  name: string;
  ids: string[];
  embeddings: Float32Array;
  dim: number;
}

export type SolverJob =
  | { op: 'score'; target: TransferableTable; pool: TransferableTable; config: Partial<GotdSolverConfig> }
  | {
      op: 'otCost';
      target: TransferableTable;
      pool: TransferableTable;
      selectedIds: RowId[];
      config: Partial<GotdSolverConfig> & { lambda?: number };
    };

export interface SolverThreadData {
  backend: 'tfjs-node-gpu' | 'tfjs-node' | 'cpu';
}

export interface ScoreOutput {
  potentialG: Float64Array;
  calibratedGrad: Float64Array;
  stats: SolveStats;
}

const require = createRequire(import.meta.url);
const THREAD_ENTRY = new URL('./solver-thread.ts', import.meta.url).href;
// The thread is a fresh module graph: tsx's ESM API compiles the TypeScript entry there, whether the
// parent runs under tsx (workers, CLI) or vitest.
const TSX_API = pathToFileURL(
  join(dirname(require.resolve('tsx/package.json')), 'dist/esm/api/index.mjs'),
).href;
const BOOTSTRAP = `import(${JSON.stringify(TSX_API)}).then((m) => m.tsImport(${JSON.stringify(THREAD_ENTRY)}, ${JSON.stringify(THREAD_ENTRY)}));`;

/** Heartbeat cadence while a solve runs (the SDK throttles further, to 0.8 × heartbeatTimeout). */
const HEARTBEAT_MS = 2000;

/** Idle solver threads per backend, kept for the next solve (each took seconds to start). */
const idle = new Map<string, Worker[]>();
const MAX_IDLE = 4;

function acquire(backend: SolverThreadData['backend']): Worker {
  const worker =
    idle.get(backend)?.pop() ??
    new Worker(BOOTSTRAP, { eval: true, workerData: { backend } satisfies SolverThreadData });
  worker.ref();
  return worker;
}

function release(backend: SolverThreadData['backend'], worker: Worker): void {
  const list = idle.get(backend) ?? [];
  idle.set(backend, list);
  if (list.length >= MAX_IDLE) {
    void worker.terminate();
    return;
  }
  worker.unref(); // an idle thread does not keep the process alive
  list.push(worker);
}

function runJob<T>(
  backend: SolverThreadData['backend'],
  job: SolverJob,
  heartbeat: Record<string, unknown>,
): Promise<T> {
  const buffers = [...new Set([job.target.embeddings.buffer, job.pool.embeddings.buffer])] as ArrayBuffer[];
  const worker = acquire(backend);
  const ctx = activityContext();
  const started = Date.now();
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const timer = setInterval(
      () => ctx?.heartbeat({ ...heartbeat, solvingForS: Math.round((Date.now() - started) / 1000) }),
      HEARTBEAT_MS,
    );
    const onMessage = (m: { ok?: T; error?: string }) =>
      finish(m.error === undefined, () =>
        m.error !== undefined ? reject(new Error(m.error)) : resolve(m.ok as T),
      );
    const onError = (err: Error) => finish(false, () => reject(err));
    const onExit = (code: number) =>
      finish(false, () => reject(new Error(`GOT-D solver thread exited with code ${code} before answering`)));
    const onAbort = () =>
      finish(false, () => reject(ctx!.cancellationSignal.reason ?? new Error('solve cancelled')));
    /** A thread that failed or was interrupted is not reused. */
    function finish(reuse: boolean, settle: () => void) {
      if (settled) return;
      settled = true;
      clearInterval(timer);
      ctx?.cancellationSignal.removeEventListener('abort', onAbort);
      worker.off('message', onMessage).off('error', onError).off('exit', onExit);
      if (reuse) release(backend, worker);
      else void worker.terminate();
      settle();
    }
    ctx?.cancellationSignal.addEventListener('abort', onAbort);
    worker.on('message', onMessage).on('error', onError).on('exit', onExit);
    worker.postMessage(job, buffers);
  });
}

/** `scoreShard` of ml/methods/gotd/, in a worker thread. */
export function scoreShardOffLoop(
  backend: SolverThreadData['backend'],
  target: TransferableTable,
  pool: TransferableTable,
  config: Partial<GotdSolverConfig>,
): Promise<ScoreOutput> {
  return runJob(
    backend,
    { op: 'score', target, pool, config },
    { solving: pool.name, candidates: pool.ids.length, targets: target.ids.length },
  );
}

/** `otCostWithSelection` of ml/methods/gotd/, in a worker thread. */
export function otCostOffLoop(
  backend: SolverThreadData['backend'],
  target: TransferableTable,
  pool: TransferableTable,
  selectedIds: RowId[],
  config: Partial<GotdSolverConfig> & { lambda?: number },
): Promise<OtCostChange> {
  return runJob(
    backend,
    { op: 'otCost', target, pool, selectedIds, config },
    { solving: 'OT cost before/after', candidates: pool.ids.length },
  );
}
