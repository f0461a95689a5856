// An I/O worker PROCESS is SIGKILLed while an ingestCorpus activity runs on it; a fresh worker
// process takes the activity over after its heartbeat timeout (30 s for I/O), not after the
// start-to-close budget, and the run completes. Seconds from the kill to completion are printed
// (a figure for the record, not an assertion: the machine may be loaded).
import { randomUUID } from 'node:crypto';
import type { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IngestCorpusInput, IngestCorpusResult } from '../../schemas/ingest.js';
import { connectClient, spawnIoWorker, tempFileStore, uniqueQueue } from '../support/temporal.js';
import type { WorkerProcess } from '../support/worker-process.js';

/** temporal.api.enums.v1.TimeoutType.TIMEOUT_TYPE_HEARTBEAT */
const TIMEOUT_TYPE_HEARTBEAT = 4;
/** temporal.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_STARTED */
const STARTED = 2;

let client: Client;
let connection: Connection;
const store = tempFileStore('kill-io');
const taskQueue = uniqueQueue('kill-io');
const workers: WorkerProcess[] = [];
beforeAll(async () => ({ client, connection } = await connectClient()));
afterAll(async () => {
  for (const w of workers) await w.kill();
  await connection?.close();
});

const ioWorker = async (identity: string) => {
  const w = await spawnIoWorker(store, taskQueue, { identity });
  workers.push(w);
  return w;
};

const input: IngestCorpusInput = {
  dataset: 'kill-io',
  source: { builtin: ['code', 'novel', 'speeches'] },
  maxBytesPerGroup: 400_000,
  ctx: 64,
  seed: 3,
  profile: 'test',
};

describe('kill an I/O worker mid-activity (SIGKILL)', () => {
  it('a new worker takes the activity over after the heartbeat timeout and the run completes', async () => {
    const a = await ioWorker('io-A');
    const workflowId = `kill-io-${randomUUID()}`;
    const handle = await client.workflow.start('ingestCorpus', { taskQueue, workflowId, args: [input] });
    // Kill while an activity is running on worker A.
    let running: string | undefined;
    for (const deadline = Date.now() + 120_000; !running;) {
      const d = await handle.describe();
      running = d.raw.pendingActivities?.find((p) => p.state === STARTED)?.activityType?.name ?? undefined;
      if (d.status.name !== 'RUNNING') throw new Error(`the run ended (${d.status.name}) before the kill`);
      if (Date.now() > deadline) throw new Error(`no activity started on worker A\n${a.output()}`);
      if (!running) await new Promise((r) => setTimeout(r, 50));
    }
    await a.kill('SIGKILL');
    const killed = Date.now();
    await ioWorker('io-B');
    const result = (await handle.result()) as IngestCorpusResult;
    const seconds = (Date.now() - killed) / 1000;
    expect(result.manifest.sha256).toMatch(/^[0-9a-f]{64}$/);

    // The activity cut by the kill ran again on worker B after a heartbeat timeout.
    const events = (await handle.fetchHistory()).events ?? [];
    const retried = events
      .map((e) => e.activityTaskStartedEventAttributes)
      .filter((s) => s && (s.attempt ?? 1) > 1);
    expect(retried.length).toBeGreaterThanOrEqual(1);
    expect(retried[0]!.identity).toBe('io-B');
    expect(retried[0]!.lastFailure?.timeoutFailureInfo?.timeoutType).toBe(TIMEOUT_TYPE_HEARTBEAT);
    console.log(
      `kill-io-worker: ${running} killed on io-A; run completed on io-B ${seconds.toFixed(1)} s after the kill`,
    );
  });
});
