// Worker metrics on a Prometheus endpoint and `retort doctor --json` (real dev server, a worker in
// its own process with RETORT_METRICS_ADDRESS): after a small ingestCorpus the endpoint serves the
// SDK's `temporal_` series and Retort's `retort_activity_outcomes`; doctor, connected through an
// envconfig profile, reports the connection, the store, the input roots and both kinds of series.
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Client, Connection } from '@temporalio/client';
import { connectClient, spawnIoWorker, tempFileStore, uniqueQueue } from '../support/temporal.js';
import type { WorkerProcess } from '../support/worker-process.js';
import { tinyCodeIngest } from '../support/training-fixtures.js';

const exec = promisify(execFile);

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

let client: Client;
let connection: Connection;
let worker: WorkerProcess | undefined;
const store = tempFileStore('metrics');
const taskQueue = uniqueQueue('metrics');
let metricsAddress = '';

beforeAll(async () => {
  ({ client, connection } = await connectClient());
  metricsAddress = `127.0.0.1:${await freePort()}`;
  worker = await spawnIoWorker(store, taskQueue, { env: { RETORT_METRICS_ADDRESS: metricsAddress } });
});
afterAll(async () => {
  await worker?.stop();
  await connection?.close();
});

const input = tinyCodeIngest('metrics');

/** `name{labels} value` lines of the endpoint, comments left out. */
async function scrape(): Promise<string[]> {
  const res = await fetch(`http://${metricsAddress}/metrics`);
  expect(res.ok).toBe(true);
  return (await res.text()).split('\n').filter((l) => l && !l.startsWith('#'));
}

describe('worker metrics', () => {
  it('serves temporal_ and retort_ series on the Prometheus endpoint', async () => {
    await client.workflow.execute('ingestCorpus', {
      taskQueue,
      workflowId: `metrics-${randomUUID()}`,
      args: [input],
    });
    // The exporter reads the meters when scraped; counters recorded just now may lag one collection.
    await expect
      .poll(async () => (await scrape()).some((l) => l.startsWith('retort_activity_outcomes')), {
        timeout: 30_000,
        interval: 1000,
      })
      .toBe(true);
    const lines = await scrape();
    expect(lines.some((l) => l.startsWith('temporal_'))).toBe(true);
    const ingest = lines.find(
      (l) =>
        l.startsWith('retort_activity_outcomes_total{') &&
        l.includes('activityType="ingestTextCorpus"') &&
        l.includes('outcome="completed"'),
    );
    expect(ingest, lines.filter((l) => l.startsWith('retort_')).join('\n')).toBeDefined();
    expect(Number(ingest!.split(' ').at(-1))).toBeGreaterThanOrEqual(1);
  });

  it('retort doctor --json reports the profile connection, store, input roots and metrics', async () => {
    const config = join(store.dir, '..', `temporal-${randomUUID().slice(0, 8)}.toml`);
    writeFileSync(
      config,
      `[profile.doctor]\naddress = "${inject('temporalAddress')}"\nnamespace = "default"\n`,
    );
    const env: Record<string, string | undefined> = {
      ...process.env,
      TEMPORAL_CONFIG_FILE: config,
      TEMPORAL_PROFILE: 'doctor',
      RETORT_STORE: store.root,
      RETORT_METRICS_ADDRESS: metricsAddress,
      RETORT_TF_BACKEND: 'cpu',
    };
    delete env.TEMPORAL_ADDRESS;
    const { stdout } = await exec(process.execPath, ['bin/retort.mjs', 'doctor', '--json'], { env });
    const report = JSON.parse(stdout) as {
      temporal: Record<string, unknown>;
      store: Record<string, unknown>;
      inputRoots: string[];
      metrics: Record<string, unknown>;
    };
    expect(report.temporal).toMatchObject({
      profile: 'doctor',
      configFile: config,
      address: inject('temporalAddress'),
      namespace: 'default',
      tls: false,
      apiKey: false,
      reachable: true,
    });
    expect(report.store).toMatchObject({ uri: store.root, writable: true });
    expect(report.inputRoots[0]).toBe(store.root);
    expect(report.metrics).toMatchObject({ address: metricsAddress, reachable: true });
    expect(report.metrics.temporalSeries).toBeGreaterThan(0);
    expect(report.metrics.retortSeries).toBeGreaterThan(0);
  });
});
