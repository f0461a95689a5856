// Only references cross Temporal (DESIGN.md §2): every payload of a real run stays under 64 KiB, and
// the workflow bundle carries no data-plane or compute module.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest';
import type { Client, Connection } from '@temporalio/client';
import { connectClient, startWorkers, tempFileStore, uniqueQueue } from '../support/temporal.js';

let client: Client;
let connection: Connection;
beforeAll(async () => ({ client, connection } = await connectClient()));
afterAll(async () => connection?.close());

/** Every Payload (an object with `data` bytes and `metadata`) anywhere in a history. */
function payloadSizes(node: unknown, out: number[] = []): number[] {
  if (!node || typeof node !== 'object') return out;
  if (node instanceof Uint8Array) return out;
  const o = node as Record<string, unknown>;
  if (o.metadata && o.data instanceof Uint8Array) out.push(o.data.byteLength);
  for (const v of Object.values(o)) payloadSizes(v, out);
  return out;
}

describe('payload size and workflow bundle', () => {
  it('every payload of an ingestCorpus run is under 64 KiB', async () => {
    const store = tempFileStore('payload');
    const taskQueue = uniqueQueue('payload');
    const workflowId = `payload-${randomUUID()}`;
    const { runUntil } = await startWorkers(store, taskQueue);
    await runUntil(() =>
      client.workflow.execute('ingestCorpus', {
        taskQueue,
        workflowId,
        args: [{ dataset: 'payload', maxBytesPerGroup: 200_000, ctx: 64, profile: 'test' }],
      }),
    );
    const history = await client.workflow.getHandle(workflowId).fetchHistory();
    const sizes = payloadSizes(history);
    expect(sizes.length).toBeGreaterThan(6); // input, 3 activity inputs + results, workflow result
    expect(Math.max(...sizes)).toBeLessThan(64 * 1024);
    // The run read ~600 kB of text and wrote MBs of tables: none of that is in the history.
    expect(sizes.reduce((a, b) => a + b, 0)).toBeLessThan(64 * 1024);
  });

  it('the workflow bundle contains no Arrow, Parquet, AWS SDK or tfjs module', () => {
    const code = readFileSync(inject('workflowBundlePath'), 'utf8');
    expect(code).toContain('ingestCorpus'); // it is the real bundle
    for (const banned of [
      'apache-arrow',
      'parquet-wasm',
      'hyparquet',
      'parquetjs',
      '@aws-sdk',
      '@tensorflow',
      'node:fs',
    ]) {
      expect(code, `bundle includes ${banned}`).not.toContain(banned);
    }
  });
});
