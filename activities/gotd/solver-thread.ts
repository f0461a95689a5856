// Worker-thread entry for GOT-D's OT solves (started by solver.ts, never imported).
//
// A Sinkhorn solve is one synchronous loop that can run for minutes; on the activity's own thread it
// would block the event loop, so no heartbeat or cancellation could get through (specs/temporal.md
// §c.1: "CPU transforms run in worker_threads"). Here it runs beside the activity, on the same tfjs
// backend the compute worker selected.
import { parentPort, workerData } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import { otCostWithSelection } from '../../ml/methods/gotd/diagnostics.js';
import { type EmbeddingTable, scoreShard } from '../../ml/methods/gotd/index.js';
import type { SolverJob, SolverThreadData } from './solver.js';

async function initThreadBackend(name: SolverThreadData['backend']): Promise<void> {
  // The same packages workers/backend.ts chose for the process (the native library is loaded once per
  // process; this thread gets its own tfjs-core registry, so the backend is registered here again).
  if (name === 'cpu') {
    await import('@tensorflow/tfjs');
    await tf.setBackend('cpu');
  } else {
    await import(name === 'tfjs-node' ? '@tensorflow/tfjs-node' : '@tensorflow/tfjs-node-gpu');
    await tf.setBackend('tensorflow');
  }
  await tf.ready();
}

const table = (t: SolverJob['target']): EmbeddingTable => ({
  name: t.name,
  ids: t.ids,
  embeddings: t.embeddings,
  dim: t.dim,
});

async function run(job: SolverJob): Promise<void> {
  if (job.op === 'score') {
    const s = scoreShard(table(job.target), table(job.pool), job.config);
    parentPort!.postMessage(
      { ok: { potentialG: s.potentialG, calibratedGrad: s.calibratedGrad, stats: s.stats } },
      [s.potentialG.buffer as ArrayBuffer, s.calibratedGrad.buffer as ArrayBuffer],
    );
    return;
  }
  const c = otCostWithSelection(table(job.target), table(job.pool), job.selectedIds, job.config);
  parentPort!.postMessage({ ok: c });
}

// One thread serves many solves (loading tfjs and compiling this module takes seconds): jobs arrive
// one at a time; the backend is initialised by the first job that needs it.
const { backend } = workerData as SolverThreadData;
let ready: Promise<void> | undefined;
parentPort!.on('message', (job: SolverJob) => {
  void (async () => {
    try {
      if (job.config.precision !== 'float64') await (ready ??= initThreadBackend(backend));
      await run(job);
    } catch (err) {
      parentPort!.postMessage({ error: (err as Error)?.message ?? String(err) });
    }
  })();
});
