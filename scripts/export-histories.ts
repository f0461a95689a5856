// Runs the canonical scenarios on a fresh dev server and saves their histories under
// test/replay/histories/ (committed; CI replays them against the current workflow code).
//   npx tsx scripts/export-histories.ts [--only <file>[,<file>…]]
// A scenario may also save the histories of child workflows (`children`: workflow-id suffixes).
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';

import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { loadBuiltin } from '../activities/text-corpus.js';
import { TEXT_CORPUS } from '../schemas/tables.js';
import { buildTable } from '../storage/arrow-tables.js';
import { FileStore } from '../storage/file-store.js';
import { encodeParquet } from '../storage/parquet.js';
import type { ArtifactRef } from '../schemas/artifact.js';
import { setEtaUpdate, setMixtureUpdate } from '../schemas/aioli.js';
import { progressQuery } from '../schemas/messages.js';
import { TINY_CURATE, writeTokenTable } from '../test/support/training-fixtures.js';
import { findTemporalCli, startDevServer } from '../workers/dev-server.js';
import { createWorkers } from '../workers/workers.js';

Runtime.install({ logger: new DefaultLogger('WARN') });
const example = (name: string) =>
  JSON.parse(readFileSync(new URL(`../examples/${name}`, import.meta.url), 'utf8')) as Record<
    string,
    unknown
  >;
const curate = {
  dataset: 'replay-curate',
  lineage: 'replay',
  source: { builtin: ['novel', 'speeches'] },
  ...TINY_CURATE,
};
// Token windows for the scenarios that train on refs (written into the script's store first).
const tokenGroups = {
  abc: { rows: 12, alphabet: 'abc' },
  pq: { rows: 12, alphabet: 'pq' },
  xyz: { rows: 12, alphabet: 'xyzwv' },
};
const tinyLm = {
  model: { kind: 'lm', config: { layers: 1, dModel: 16, heads: 2, mlpRatio: 2 } },
  optimizer: { kind: 'adamw', weightDecay: 0.01, clipNorm: 1 },
  schedule: { kind: 'rewarmedCosine', maxLr: 0.02, warmupFraction: 0.1 },
  batchSize: 8,
  seed: 3,
  profile: 'test',
};
type Refs = { train: ArtifactRef; val: ArtifactRef };
const scenarios: {
  file: string;
  type: string;
  /** The input, or a function that puts the scenario's data into the store and returns it. */
  input:
    | Record<string, unknown>
    | ((refs: Refs, store: FileStore) => Record<string, unknown> | Promise<Record<string, unknown>>);
  children?: Record<string, string>;
  /** Runs against the started workflow (updates, signals) while it runs. */
  steer?: (handle: WorkflowHandle) => Promise<void>;
  /** Also save the chain's first run (it ended in continue-as-new) under this name. */
  firstRun?: string;
}[] = [
  // trainModel on its own: chunked LM training with checkpoints, then evaluation and a manifest.
  {
    file: 'train-model.json',
    type: 'trainModel',
    input: ({ train, val }) => ({ ...tinyLm, data: { train, eval: val }, totalSteps: 8, chunkSteps: 4 }),
  },
  // mixAioli steered while it runs (setMixture and setEta updates during round 0), handing over to a
  // new run after every round (roundsPerRun 1): the first run's history has both updates and the
  // continue-as-new.
  {
    file: 'mix-aioli-steered.json',
    firstRun: 'mix-aioli-steered-first-run.json',
    type: 'mixAioli',
    input: ({ train, val }) => ({
      training: { ...tinyLm, data: { train, eval: val }, totalSteps: 24 },
      groups: Object.keys(tokenGroups),
      aioli: { roundSteps: 12, sweeps: 1, stepsPerInterval: 2, eta: 1 },
      valRowsPerGroup: 6,
      roundsPerRun: 1,
    }),
    steer: async (handle) => {
      for (;;) {
        const p = (await handle.query(progressQuery).catch(() => undefined)) as
          { stage?: string; step?: number } | undefined;
        if (p?.stage === 'train' && (p.step ?? 0) > 0) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      await handle.executeUpdate(setMixtureUpdate, { args: [{ mixture: { abc: 0.6, pq: 0.2, xyz: 0.2 } }] });
      await handle.executeUpdate(setEtaUpdate, { args: [{ eta: 0.5 }] });
    },
  },
  {
    file: 'ingest-corpus.json',
    type: 'ingestCorpus',
    input: { dataset: 'replay', maxBytesPerGroup: 40_000, ctx: 64, seed: 3, profile: 'test' },
  },
  {
    file: 'ingest-corpus-bad-input.json',
    type: 'ingestCorpus',
    input: { dataset: 'replay', ctx: 2, profile: 'test' },
  },
  // CV-DD smoke example with the paper's priors: distillCvdd (= distillDataset, method cvdd) and its distillCommittee child.
  {
    file: 'distill-cvdd.json',
    type: 'distillCvdd',
    input: {
      ...example('distill-cvdd.json'),
      settings: { ...(example('distill-cvdd.json').settings as object), priorSource: 'single_model' },
      seeds: 1,
      profile: 'test',
    },
    children: { '/committee': 'distill-committee.json' },
  },
  // Trajectory matching (DATM) example: distillDataset with its trainExperts and distillTrajectory children.
  {
    file: 'distill-dataset.json',
    type: 'distillDataset',
    input: { ...example('distill-dataset.json'), profile: 'test' },
    children: { '/experts': 'train-experts.json', '/distill': 'distill-trajectory.json' },
  },
  // Curation, two generations of one lineage (run together: the second continues the first's checkpoint).
  // Generation 1: Aioli mixing from scratch (mixAioli child).
  {
    file: 'curate-corpus-aioli.json',
    type: 'curateCorpus',
    input: {
      ...curate,
      mixing: {
        kind: 'aioli',
        aioli: { roundSteps: 4, sweeps: 1, stepsPerInterval: 1, eta: 1 },
        valRowsPerGroup: 4,
      },
      totalSteps: 8,
      chunkSteps: 4,
      batchSize: 8,
    },
    children: { '/train': 'mix-aioli.json' },
  },
  // Generation 2: GOT-D selection (selectWarmup child), then re-warmed continual pre-training (continualPretrain child).
  {
    file: 'curate-corpus-select.json',
    type: 'curateCorpus',
    input: {
      ...curate,
      selection: {
        target: { builtin: ['novel'], split: 'val', maxBytesPerGroup: 8000, passageBytes: 512 },
        budget: { fraction: 0.5 },
      },
    },
    children: { '/select': 'select-warmup.json', '/train': 'continual-pretrain.json' },
  },
  // dedupCorpus on its own: quality filters, sharded MinHash signatures, clusters, report and manifest.
  {
    file: 'dedup-corpus.json',
    type: 'dedupCorpus',
    input: {
      dataset: 'replay-dedup',
      inputs: [{ builtin: ['novel'] }],
      dedup: { shardRows: 50 },
      filters: { words: { min: 20, max: 100000 } },
    },
  },
  // A backfill of one whole partition (a Parquet and a JSONL file, a _SUCCESS marker) of a new lineage.
  {
    file: 'curate-corpus-partition.json',
    type: 'curateCorpus',
    input: async (_refs, store) => {
      for (const [day, from] of [
        ['2026-11-01', 10],
        ['2026-11-02', 20],
      ] as const) {
        const rows = (group: string) =>
          loadBuiltin([group])
            .slice(from, from + 3)
            .map((r) => ({ ...r, text: r.text.slice(0, 6000) }));
        const novel = rows('novel');
        const table = buildTable(TEXT_CORPUS, {
          id: novel.map((r) => r.id),
          group: novel.map((r) => r.group),
          text: novel.map((r) => r.text),
          source: novel.map((r) => r.source),
        });
        await store.put(`corpus/${day}/part-0.parquet`, encodeParquet(table));
        const jsonl = rows('speeches').map((r) => JSON.stringify({ id: r.id, group: r.group, text: r.text }));
        await store.put(`corpus/${day}/part-1.jsonl`, new TextEncoder().encode(jsonl.join('\n')));
        await store.put(`corpus/${day}/_SUCCESS`, new Uint8Array());
      }
      return {
        ...curate,
        lineage: 'replay-partition',
        source: { partitions: `${store.root}/corpus` },
        partition: '2026-11-01',
      };
    },
  },
];
const onlyAt = process.argv.indexOf('--only');
const only = onlyAt >= 0 ? new Set(process.argv[onlyAt + 1]!.split(',')) : null;

const server = await startDevServer({ uiPort: false });
const native = await NativeConnection.connect({ address: server.address });
const store = new FileStore(mkdtempSync(join(tmpdir(), 'retort-replay-')));
const workers = await createWorkers({ connection: native, store, taskQueue: 'replay', queues: 'all' });
const connection = await Connection.connect({ address: server.address });
const client = new Client({ connection });
const outDir = new URL('../test/replay/histories/', import.meta.url).pathname;
mkdirSync(outDir, { recursive: true });
// The CLI's JSON is the canonical history format (what the Web UI downloads, too).
const save = (workflowId: string, file: string, runId?: string) => {
  const json = execFileSync(
    findTemporalCli()!,
    [
      'workflow',
      'show',
      '--address',
      server.address,
      '--workflow-id',
      workflowId,
      ...(runId ? ['--run-id', runId] : []),
      '--output',
      'json',
    ],
    { encoding: 'utf8' },
  );
  writeFileSync(join(outDir, file), json);
  console.log(`wrote ${file}`);
};
const work = (async () => {
  const refs: Refs = {
    train: await writeTokenTable(store, tokenGroups, 16, 1),
    val: await writeTokenTable(store, tokenGroups, 16, 2),
  };
  for (const s of scenarios) {
    if (only && !only.has(s.file)) continue;
    const handle = await client.workflow.start(s.type, {
      taskQueue: 'replay',
      workflowId: `replay-${s.file}`,
      args: [typeof s.input === 'function' ? await s.input(refs, store) : s.input],
    });
    await s.steer?.(handle);
    await handle.result().catch(() => undefined);
    save(handle.workflowId, s.file);
    if (s.firstRun) save(handle.workflowId, s.firstRun, handle.firstExecutionRunId);
    for (const [suffix, file] of Object.entries(s.children ?? {}))
      save(`${handle.workflowId}${suffix}`, file);
  }
})();
await Promise.all(workers.map((w) => w.runUntil(work)));
await connection.close();
await native.close();
await server.stop();
