// The Temporal server is killed (SIGKILL) under load and restarted 20 s later on its SQLite file:
// 20 concurrent ingestCorpus runs on a worker process all complete, and `retort run --wait`, started
// before the kill, prints the run's final COMPLETED and exits 0. Minutes from the restart to the last
// completion are printed (a figure for the record, not an assertion: the machine may be loaded).
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { afterAll, describe, expect, inject, it } from 'vitest';
import type { IngestCorpusInput } from '../../schemas/ingest.js';
import { type DevServer, freePort, startDevServer } from '../../workers/dev-server.js';
import { tempFileStore, uniqueQueue } from '../support/temporal.js';
import { type WorkerProcess, spawnWorkerProcess } from '../support/worker-process.js';

const RUNS = 20;
const OUTAGE_MS = 20_000;

const store = tempFileStore('server-restart');
const taskQueue = uniqueQueue('server-restart');
let server: DevServer | undefined;
let worker: WorkerProcess | undefined;
let cli: ChildProcess | undefined;
afterAll(async () => {
  cli?.kill('SIGKILL');
  await worker?.kill();
  await server?.stop();
});

// Distinct work per run (no memo hits between them): the passage length varies, the split does not.
const input = (n: number): IngestCorpusInput => ({
  dataset: `restart-${n}`,
  source: { builtin: ['code'] },
  maxBytesPerGroup: 60_000,
  passageBytes: 512 + 16 * n,
  ctx: 32,
  seed: 3,
  profile: 'test',
});

describe('Temporal server killed for 20 s under load', () => {
  it('every run completes after the restart and retort run --wait reports COMPLETED', async () => {
    const port = await freePort();
    const dbFilename = join(store.dir, '..', `temporal-${port}.db`);
    const serverOptions = { port, uiPort: false as const, dbFilename };
    server = await startDevServer(serverOptions);
    worker = await spawnWorkerProcess({
      address: server.address,
      taskQueue,
      store: store.root,
      queues: 'retort',
      bundlePath: inject('workflowBundlePath'),
    });
    const connection = await Connection.connect({ address: server.address });
    const client = new Client({ connection });
    const handles = await Promise.all(
      Array.from({ length: RUNS }, (_, i) =>
        client.workflow.start('ingestCorpus', {
          taskQueue,
          workflowId: `restart-${i}-${port}`,
          args: [input(i + 1)],
        }),
      ),
    );

    // The CLI waits on one more run from its own process.
    const file = join(store.dir, '..', 'ingest-corpus.json');
    writeFileSync(file, JSON.stringify(input(100)));
    let cliOut = '';
    cli = spawn(
      process.execPath,
      ['bin/retort.mjs', 'run', file, '--wait', '--task-queue', taskQueue, '--id', `restart-cli-${port}`],
      {
        env: { ...process.env, TEMPORAL_ADDRESS: server.address, RETORT_STORE: store.root },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    cli.stdout!.on('data', (d: Buffer) => (cliOut += d.toString()));
    cli.stderr!.on('data', (d: Buffer) => (cliOut += d.toString()));
    const cliExit = new Promise<number | null>((r) => cli!.once('exit', (code) => r(code)));
    await expect.poll(() => cliOut, { timeout: 60_000 }).toMatch(/started ingestCorpus/);

    // Kill -9 while the runs are in flight, stay down 20 s, restart on the same file and port.
    await server.stop('SIGKILL');
    await new Promise((r) => setTimeout(r, OUTAGE_MS));
    server = await startDevServer(serverOptions);
    const restarted = Date.now();

    const results = await Promise.all(handles.map((h) => h.result()));
    const lastDone = Date.now();
    expect(results).toHaveLength(RUNS);
    for (const r of results as { manifest: { sha256: string } }[])
      expect(r.manifest.sha256).toMatch(/^[0-9a-f]{64}$/);
    const code = await cliExit;
    // Whether the client's own gRPC retries bridged the outage or `--wait` asked again ("the
    // server does not answer …; still waiting"), the wait ends on the run's real outcome.
    expect(cliOut).toMatch(/ingestCorpus restart-cli-\d+: COMPLETED/);
    expect(code, cliOut).toBe(0);
    console.log(
      `server-restart: ${RUNS} runs done ${((lastDone - restarted) / 1000).toFixed(1)} s after the restart (${OUTAGE_MS / 1000} s outage)`,
    );
    await connection.close();
  });
});
