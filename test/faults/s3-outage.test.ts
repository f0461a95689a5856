// Store calls ride out an S3 outage: a real versitygw is stopped while a read is in flight and
// restarted on the same port and data a few seconds later; the read completes. Past the outage
// window the call fails with the transport error (retryable), not a data error. And a whole run:
// S3 down for 3 minutes in the middle of ingestCorpus (real dev server), which completes once S3 is
// back, every ref of its manifest matching its sha256.
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import type { IngestCorpusResult } from '../../schemas/ingest.js';
import { ArtifactStore } from '../../storage/artifacts.js';
import { RetortDataError } from '../../storage/errors.js';
import { S3Store, isTransientStoreError, outageWindowMs } from '../../storage/s3-store.js';
import { S3_CREDENTIALS, type S3Server, startS3Server } from '../support/s3-server.js';
import { connectClient, startWorkers, uniqueQueue } from '../support/temporal.js';

const servers: S3Server[] = [];
afterAll(async () => {
  for (const s of servers) await s.stop();
});

const storeAt = (server: S3Server, windowMs: number) =>
  new S3Store(`s3://${server.bucket}/outage`, {
    endpoint: server.endpoint,
    forcePathStyle: true,
    credentials: S3_CREDENTIALS,
    outageWindowMs: windowMs,
  });

describe('S3 outage window', () => {
  it('defaults to 10 minutes and reads RETORT_STORE_OUTAGE_WINDOW (seconds)', () => {
    expect(outageWindowMs(undefined)).toBe(600_000);
    expect(outageWindowMs('180')).toBe(180_000);
    expect(() => outageWindowMs('soon')).toThrow(/RETORT_STORE_OUTAGE_WINDOW/);
  });

  it('a read issued while the server is down completes once it is back', async () => {
    const first = await startS3Server('outage-bucket');
    const store = storeAt(first, 120_000);
    await store.put('x.bin', new TextEncoder().encode('survives'));
    await first.stop({ keepData: true });

    let settled = false;
    const read = store.get('x.bin').finally(() => (settled = true));
    const listed = store.list('');
    await new Promise((r) => setTimeout(r, 3000));
    expect(settled).toBe(false); // still retrying, not failed

    const second = await startS3Server('outage-bucket', { dir: first.dir, port: first.port });
    servers.push(second);
    expect(new TextDecoder().decode(await read)).toBe('survives');
    expect((await listed).map((o) => o.key)).toEqual(['x.bin']);
  });

  it('past the window the transport error surfaces (retryable), never as a data error', async () => {
    const server = await startS3Server('outage-bucket-2');
    const store = storeAt(server, 1500);
    await server.stop();
    const err = await store.get('x.bin').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeDefined();
    expect(err).not.toBeInstanceOf(RetortDataError);
    expect(isTransientStoreError(err)).toBe(true);
  });
});

describe('a run across a 3-minute S3 outage', () => {
  it('ingestCorpus completes after S3 returns, with every ref intact', async () => {
    const OUTAGE_MS = 180_000;
    const first = await startS3Server('outage-run');
    servers.push(first);
    // The default outage window (10 min) covers the 3 minutes.
    const store = new S3Store(`s3://${first.bucket}/run`, {
      endpoint: first.endpoint,
      forcePathStyle: true,
      credentials: S3_CREDENTIALS,
    });
    const { client, connection } = await connectClient();
    const taskQueue = uniqueQueue('s3-outage-run');
    const { runUntil } = await startWorkers(store, taskQueue);
    try {
      const { result, back, done } = await runUntil(async () => {
        const handle = await client.workflow.start('ingestCorpus', {
          taskQueue,
          workflowId: `s3-outage-${randomUUID()}`,
          args: [{ dataset: 's3-outage', maxBytesPerGroup: 60_000, ctx: 32, seed: 3, profile: 'test' }],
        });
        // Down as soon as the first activity runs: its writes, and everything after, wait for S3.
        await expect
          .poll(async () => (await handle.describe()).raw.pendingActivities?.length ?? 0, {
            interval: 50,
            timeout: 60_000,
          })
          .toBeGreaterThan(0);
        await first.stop({ keepData: true });
        await new Promise((r) => setTimeout(r, OUTAGE_MS));
        servers.push(await startS3Server('outage-run', { dir: first.dir, port: first.port }));
        const back = Date.now();
        const result = (await handle.result()) as IngestCorpusResult;
        return { result, back, done: Date.now() };
      });
      const artifacts = new ArtifactStore(store);
      for (const ref of [...Object.values(result.corpus), ...Object.values(result.windows), result.stats])
        expect((await artifacts.read(ref)).byteLength).toBe(ref.bytes);
      expect(result.manifest.uri.startsWith(store.root)).toBe(true);
      console.log(
        `s3-outage run: completed ${((done - back) / 1000).toFixed(1)} s after S3 came back (${OUTAGE_MS / 1000} s outage)`,
      );
    } finally {
      await connection.close();
    }
  });
});
