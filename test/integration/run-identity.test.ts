// Run identity: workflow IDs that sanitise alike keep separate manifests, and reusing a running
// workflow ID with a different input is refused instead of silently joining the running run.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import type { Client, Connection } from '@temporalio/client';
import type { RunManifest } from '../../activities/manifest.js';
import { InputLimitExceeded, RetortClient, WorkflowInputConflict } from '../../client/index.js';
import type { IngestCorpusInput, IngestCorpusResult } from '../../schemas/ingest.js';
import { manifestKeys, workflowKey } from '../../storage/run-keys.js';
import { connectClient, startWorkers, tempFileStore, uniqueQueue } from '../support/temporal.js';

let client: Client;
let connection: Connection;
let retort: RetortClient;
beforeAll(async () => {
  ({ client, connection } = await connectClient());
  retort = await RetortClient.connect({ address: inject('temporalAddress') });
});
afterAll(async () => {
  await retort?.close();
  await connection?.close();
});

const store = tempFileStore('run-identity');

/** A small user corpus inside the store's inputs/ folder. */
async function corpusUri(): Promise<string> {
  const lines = Array.from({ length: 40 }, (_x, i) =>
    JSON.stringify({ id: `d${i}`, group: i % 2 ? 'odd' : 'even', text: `document ${i} `.repeat(30) }),
  );
  await store.put('inputs/corpus.jsonl', new TextEncoder().encode(lines.join('\n')));
  return store.uri('inputs/corpus.jsonl');
}

describe('manifest keys', () => {
  it('are injective: "a/b" and "a_b" differ, and keep a readable prefix', () => {
    expect(workflowKey('a/b')).not.toBe(workflowKey('a_b'));
    expect(workflowKey('x/committee')).not.toBe(workflowKey('x_committee'));
    expect(workflowKey('ingestCorpus/demo/abc')).toMatch(/^ingestCorpus_demo_abc~[0-9a-f]{32}$/);
    expect(workflowKey('..')).toMatch(/^_~/);
    expect(workflowKey('x'.repeat(500)).length).toBeLessThan(120);
  });

  it('runs "<p>/b" and "<p>_b" on one store keep two manifests, each describing its own run', async () => {
    const uri = await corpusUri();
    const prefix = `rid-${randomUUID().slice(0, 8)}`;
    const ids = [`${prefix}/b`, `${prefix}_b`];
    const taskQueue = uniqueQueue('rid');
    const { runUntil } = await startWorkers(store, taskQueue);
    const results = await runUntil(() =>
      Promise.all(
        ids.map(
          (workflowId, i) =>
            client.workflow.execute('ingestCorpus', {
              taskQueue,
              workflowId,
              args: [
                {
                  dataset: 'rid',
                  source: { uri },
                  ctx: 32,
                  seed: i + 1,
                  profile: 'test',
                } as IngestCorpusInput,
              ],
            }) as Promise<IngestCorpusResult>,
        ),
      ),
    );
    expect(results[0]!.manifest.uri).not.toBe(results[1]!.manifest.uri);
    for (const [i, workflowId] of ids.entries()) {
      const keys = await manifestKeys(store, workflowId);
      expect(keys).toHaveLength(1);
      const m = JSON.parse(new TextDecoder().decode(await store.get(keys[0]!))) as RunManifest;
      expect(m.workflowId).toBe(workflowId);
      expect((m.input as { seed: number }).seed).toBe(i + 1);
      expect(results[i]!.manifest.uri).toBe(store.uri(keys[0]!));
    }
  });
});

describe('starting a running workflow ID', () => {
  // No worker polls this queue: the runs stay RUNNING, so every start below meets a running run.
  const taskQueue = uniqueQueue('rid-idle');
  const input = (seed: number) => ({ dataset: 'rid', source: { builtin: ['code'] }, seed, profile: 'test' });

  it('with the same input joins it; with a different input is refused with WorkflowInputConflict', async () => {
    const workflowId = `rid-conflict-${randomUUID()}`;
    const first = await retort.start('ingestCorpus', input(1), { workflowId, taskQueue });
    try {
      const same = await retort.start('ingestCorpus', input(1), { workflowId, taskQueue });
      expect(same.firstExecutionRunId).toBe(first.firstExecutionRunId);
      const err = await retort.start('ingestCorpus', input(2), { workflowId, taskQueue }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(WorkflowInputConflict);
      expect((err as Error).name).toBe('WorkflowInputConflict');
      expect((err as Error).message).toContain(workflowId);
      // The running run is untouched and still the only one.
      const d = await client.workflow.getHandle(workflowId).describe();
      expect(d.runId).toBe(first.firstExecutionRunId);
      expect(d.status.name).toBe('RUNNING');
    } finally {
      await client.workflow.getHandle(workflowId).terminate('test done');
    }
  });

  it('an input over the size limit, or with an overlong name, is refused before anything starts', async () => {
    const workflowId = `rid-big-${randomUUID()}`;
    const big = { ...input(1), note: 'x'.repeat(70 * 1024) };
    await expect(retort.start('ingestCorpus', big, { workflowId, taskQueue })).rejects.toThrow(
      /over the 65536-byte limit \(RETORT_MAX_INPUT_BYTES\)/,
    );
    await expect(
      retort.start('distillDataset', { dataset: 'd'.repeat(3000) }, { workflowId, taskQueue }),
    ).rejects.toBeInstanceOf(InputLimitExceeded);
    await expect(client.workflow.getHandle(workflowId).describe()).rejects.toThrow(/not found/i);
  });

  it('a run started elsewhere (no Retort memo) is compared by its recorded input', async () => {
    const workflowId = `rid-ui-${randomUUID()}`;
    await client.workflow.start('ingestCorpus', { taskQueue, workflowId, args: [input(1)] });
    try {
      const joined = await retort.start('ingestCorpus', input(1), { workflowId, taskQueue });
      expect(joined.workflowId).toBe(workflowId);
      await expect(retort.start('ingestCorpus', input(3), { workflowId, taskQueue })).rejects.toBeInstanceOf(
        WorkflowInputConflict,
      );
    } finally {
      await client.workflow.getHandle(workflowId).terminate('test done');
    }
    expect((await store.list('runs/')).filter((o) => o.key.includes('rid-ui'))).toEqual([]);
  });
});
