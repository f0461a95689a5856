// `retort gc` on a scripted store (real dev server; file:// and versitygw S3): a kept ingestCorpus
// run, an orphan artifact, an old memo entry with its output, a lineage pointer with its checkpoint,
// a superseded checkpoint, a schedule input and an open run's input. The dry run lists exactly the
// unreferenced objects; gc removes them; every kept ref still matches its sha256 and a repeat of the
// kept run is a memo hit.
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { utimesSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Client, Connection } from '@temporalio/client';
import { memoized } from '../../activities/memo.js';
import { collectGarbage } from '../../client/gc.js';
import type { ArtifactRef } from '../../schemas/artifact.js';
import type { IngestCorpusResult } from '../../schemas/ingest.js';
import { ArtifactStore, sha256Hex } from '../../storage/artifacts.js';
import { referencedKeys } from '../../storage/gc.js';
import type { ObjectStore } from '../../storage/object-store.js';
import {
  connectClient,
  countingStore,
  executeOnFreshWorkers,
  tempFileStore,
  testS3Store,
  uniqueQueue,
} from '../support/temporal.js';
import { tinyCodeIngest } from '../support/training-fixtures.js';

const exec = promisify(execFile);

let client: Client;
let connection: Connection;
beforeAll(async () => ({ client, connection } = await connectClient()));
afterAll(async () => connection?.close());

const enc = (s: string) => new TextEncoder().encode(s);
const input = tinyCodeIngest('gc');

const ingest = (store: ObjectStore) =>
  executeOnFreshWorkers<IngestCorpusResult>(client, store, 'ingestCorpus', input, 'gc');

const keyOf = (store: ObjectStore, ref: ArtifactRef) => ref.uri.slice(store.root.length + 1);

/** A committed artifact no one names, with its sidecar. */
async function commitLoose(artifacts: ArtifactStore, name: string): Promise<ArtifactRef> {
  return artifacts.commit(`artifacts/table/${name}-${randomUUID()}.parquet`, enc(`bytes of ${name}`), {
    kind: 'table',
    format: 'parquet',
  });
}

/** A checkpoint folder as storage/checkpoints.ts lays it out (model.json + weights.bin). */
async function fakeCheckpoint(store: ObjectStore, runKey: string, step: number): Promise<ArtifactRef> {
  const dir = `checkpoints/${runKey}/step-${step}`;
  await store.put(`${dir}/weights.bin`, new Uint8Array(64).fill(step));
  const body = enc(JSON.stringify({ format: 'retort-checkpoint', step }));
  await store.put(`${dir}/model.json`, body);
  return {
    uri: store.uri(`${dir}/model.json`),
    kind: 'checkpoint',
    format: 'json',
    sha256: sha256Hex(body),
    bytes: body.byteLength,
  };
}

describe.each([
  ['file://', () => tempFileStore('gc')],
  ['s3://', () => testS3Store(`gc-${randomUUID().slice(0, 8)}`)],
] as const)('retort gc on %s', (_kind, makeStore) => {
  it('lists exactly the unreferenced objects, removes them and breaks no kept run', async () => {
    const store = countingStore(makeStore());
    const artifacts = new ArtifactStore(store);
    const noWorkers = uniqueQueue('gc-open');
    const scheduleId = `gc-${randomUUID().slice(0, 8)}`;
    const doomed: string[] = [];

    // A kept run: its manifest names every output.
    const kept = await ingest(store);

    // An orphan artifact (a failed run's output, say).
    const orphan = await commitLoose(artifacts, 'orphan');
    doomed.push(keyOf(store, orphan), `${keyOf(store, orphan)}.ref.json`);

    // An old memo entry whose output nothing else names: entry, output and both sidecars go.
    const before = new Set((await store.list('artifacts/')).map((o) => o.key));
    await memoized(artifacts, { activity: 'gcProbe@1', inputs: [], config: { n: 1 } }, true, async () => ({
      outputs: [{ output: 'table', bytes: enc('probe output'), kind: 'table', format: 'parquet' }],
      result: (refs) => ({ table: refs.table! }),
    }));
    const memoKeys = (await store.list('artifacts/')).map((o) => o.key).filter((k) => !before.has(k));
    expect(memoKeys.length).toBe(4);

    // A lineage pointer: its checkpoint (both files) and val table stay; the run's older step goes,
    // its LATEST (naming the kept step) stays.
    const lineageCkpt = await fakeCheckpoint(store, 'lineage-run', 4);
    const older = await fakeCheckpoint(store, 'lineage-run', 2);
    doomed.push(keyOf(store, older), keyOf(store, older).replace('model.json', 'weights.bin'));
    await store.put(
      'checkpoints/lineage-run/LATEST',
      enc(JSON.stringify({ step: 4, checkpoint: lineageCkpt })),
    );
    const lineageVal = await commitLoose(artifacts, 'lineage-val');
    await store.put(
      'lineages/gc-lineage/LATEST.json',
      enc(JSON.stringify({ lineage: 'gc-lineage', checkpoint: lineageCkpt, val: lineageVal })),
    );

    // A schedule input and an open run's input name artifacts that no manifest does.
    const scheduled = await commitLoose(artifacts, 'schedule-init');
    const running = await commitLoose(artifacts, 'open-run-input');
    const scheduleInput = { source: { builtin: ['code'] }, init: scheduled, profile: 'test' };
    await client.schedule.create({
      scheduleId,
      spec: {},
      action: {
        type: 'startWorkflow',
        workflowType: 'curateCorpus',
        workflowId: `schedule-${scheduleId}`,
        taskQueue: noWorkers,
        args: [scheduleInput],
      },
      state: { paused: true },
    });
    // Everything above is older than the open run (S3 times have 1-s resolution).
    await new Promise((r) => setTimeout(r, 1100));
    const open = await client.workflow.start('trainModel', {
      taskQueue: noWorkers,
      workflowId: `gc-open-${randomUUID()}`,
      args: [{ data: { train: running } }],
    });
    // Written after the open run started: kept although nothing names it.
    await new Promise((r) => setTimeout(r, 1100));
    const young = await commitLoose(artifacts, 'young');

    try {
      // Visibility (schedules, open runs) is eventually consistent: wait until both are listed.
      await expect
        .poll(async () => {
          const ids: string[] = [];
          for await (const s of client.schedule.list()) ids.push(s.scheduleId);
          let open = 0;
          for await (const _ of client.workflow.list({ query: `TaskQueue="${noWorkers}"` })) open++;
          return ids.includes(scheduleId) && open === 1;
        })
        .toBe(true);

      const options = {
        olderThanMs: 0,
        runningQuery: `ExecutionStatus="Running" AND TaskQueue="${noWorkers}"`,
        clockSkewMs: 0,
      };
      const plan = await collectGarbage(client, store, { ...options, dryRun: true });
      const expected = [...doomed, ...memoKeys].sort();
      expect(plan.delete.map((o) => o.key).sort()).toEqual(expected);
      expect(plan.openRuns).toBe(1);
      const sizes = await Promise.all(expected.map(async (k) => (await store.head(k))!.size));
      expect(plan.bytes).toBe(sizes.reduce((a, b) => a + b, 0));
      // Sidecars go before what they describe, so no memo lookup ever hits a missing object.
      const order = plan.delete.map((o) => o.key);
      for (const k of order.filter((k) => k.endsWith('.ref.json')))
        expect(order.indexOf(k)).toBeLessThan(order.indexOf(k.slice(0, -'.ref.json'.length)));
      // A dry run deletes nothing.
      for (const k of expected) expect(await store.head(k)).toBeDefined();

      const done = await collectGarbage(client, store, options);
      expect(done.delete.map((o) => o.key).sort()).toEqual(expected);
      for (const k of expected) expect(await store.head(k)).toBeUndefined();
      for (const ref of [scheduled, running, young, lineageVal, lineageCkpt])
        expect(await store.head(keyOf(store, ref))).toBeDefined();
      expect(await store.head('checkpoints/lineage-run/step-4/weights.bin')).toBeDefined();
      expect(await store.head('checkpoints/lineage-run/LATEST')).toBeDefined();

      // Every ref of every kept manifest reads back with its recorded sha256.
      const manifests = (await store.list('runs/')).filter((o) => o.key.endsWith('/manifest.json'));
      expect(manifests.length).toBe(1);
      const manifest = JSON.parse(new TextDecoder().decode(await store.get(manifests[0]!.key))) as unknown;
      const refs = referencedKeys(manifest, store.root).refs;
      expect(refs.length).toBeGreaterThanOrEqual(7);
      const walk = (v: unknown, out: ArtifactRef[] = []): ArtifactRef[] => {
        if (v && typeof v === 'object') {
          const o = v as Record<string, unknown>;
          if (typeof o.uri === 'string' && typeof o.sha256 === 'string') out.push(o as ArtifactRef);
          else Object.values(o).forEach((x) => walk(x, out));
        }
        return out;
      };
      for (const ref of walk(manifest).filter((r) => r.uri.startsWith(store.root)))
        expect((await artifacts.read(ref)).byteLength).toBe(ref.bytes);

      // The kept run repeated: a memo hit, no computed artifact written again.
      const mark = store.puts.length;
      const again = await ingest(store);
      expect(again.corpus).toEqual(kept.corpus);
      expect(again.windows).toEqual(kept.windows);
      const computed = store.puts
        .slice(mark)
        .filter((k) => k.startsWith('artifacts/') && !k.startsWith('artifacts/report/'));
      expect(computed).toEqual([]);
    } finally {
      await open.terminate('gc test done');
      await client.schedule.getHandle(scheduleId).delete();
    }
  });
});

describe('retort gc (CLI)', () => {
  it('deletes only what is older than --older-than (default 30d); a dry run deletes nothing', async () => {
    const store = tempFileStore('gc-cli');
    const artifacts = new ArtifactStore(store);
    const old = await commitLoose(artifacts, 'old');
    const recent = await commitLoose(artifacts, 'recent');
    const oldKeys = [keyOf(store, old), `${keyOf(store, old)}.ref.json`];
    const past = new Date(Date.now() - 40 * 86_400_000);
    for (const k of oldKeys) utimesSync(join(store.dir, k), past, past);
    const gc = async (...args: string[]) => {
      const { stdout } = await exec(process.execPath, ['bin/retort.mjs', 'gc', '--json', ...args], {
        env: { ...process.env, TEMPORAL_ADDRESS: inject('temporalAddress'), RETORT_STORE: store.root },
      });
      return JSON.parse(stdout) as { delete: { key: string }[]; dryRun: boolean; kept: number };
    };
    const plan = await gc('--dry-run');
    expect(plan.dryRun).toBe(true);
    expect(plan.delete.map((o) => o.key).sort()).toEqual(oldKeys.sort());
    for (const k of oldKeys) expect(await store.head(k)).toBeDefined();
    expect((await gc()).delete.map((o) => o.key).sort()).toEqual(oldKeys.sort());
    for (const k of oldKeys) expect(await store.head(k)).toBeUndefined();
    expect(await store.head(keyOf(store, recent))).toBeDefined();
    // A bad age is a user error: one line, a hint, exit code 2.
    const bad = await exec(process.execPath, ['bin/retort.mjs', 'gc', '--older-than', 'a month'], {
      env: { ...process.env, TEMPORAL_ADDRESS: inject('temporalAddress'), RETORT_STORE: store.root },
    }).then(
      () => undefined,
      (e: unknown) => e as { code: number; stderr: string },
    );
    expect(bad?.code).toBe(2);
    expect(bad?.stderr).toMatch(/--older-than "a month" is not an age\nhint: /);
  });
});
