// Store calls ride out an S3 outage: a real versitygw is stopped while a read is in flight and
// restarted on the same port and data a few seconds later; the read completes. Past the outage
// window the call fails with the transport error (retryable), not a data error.
import { afterAll, describe, expect, it } from 'vitest';
import { RetortDataError } from '../../storage/errors.js';
import { S3Store, isTransientStoreError, outageWindowMs } from '../../storage/s3-store.js';
import { S3_CREDENTIALS, type S3Server, startS3Server } from '../support/s3-server.js';

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
