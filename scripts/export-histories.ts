// Runs the canonical scenarios on a fresh dev server and saves their histories under
// test/replay/histories/ (committed; CI replays them against the current workflow code).
//   npx tsx scripts/export-histories.ts
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';

import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { FileStore } from '../storage/file-store.js';
import { findTemporalCli, startDevServer } from '../workers/dev-server.js';
import { createWorkers } from '../workers/workers.js';

Runtime.install({ logger: new DefaultLogger('WARN') });
const scenarios: { file: string; type: string; input: Record<string, unknown> }[] = [
  { file: 'ingest-corpus.json', type: 'ingestCorpus', input: { dataset: 'replay', maxBytesPerGroup: 40_000, ctx: 64, seed: 3, profile: 'test' } },
  { file: 'ingest-corpus-bad-input.json', type: 'ingestCorpus', input: { dataset: 'replay', ctx: 2, profile: 'test' } },
];

const server = await startDevServer({ uiPort: false });
const native = await NativeConnection.connect({ address: server.address });
const store = new FileStore(mkdtempSync(join(tmpdir(), 'retort-replay-')));
const workers = await createWorkers({ connection: native, store, taskQueue: 'replay', queues: 'retort' });
const connection = await Connection.connect({ address: server.address });
const client = new Client({ connection });
const outDir = new URL('../test/replay/histories/', import.meta.url).pathname;
mkdirSync(outDir, { recursive: true });
await workers[0]!.runUntil(async () => {
  for (const s of scenarios) {
    const handle = await client.workflow.start(s.type, { taskQueue: 'replay', workflowId: `replay-${s.file}`, args: [s.input] });
    await handle.result().catch(() => undefined);
    // The CLI's JSON is the canonical history format (what the Web UI downloads, too).
    const json = execFileSync(findTemporalCli()!, ['workflow', 'show', '--address', server.address, '--workflow-id', handle.workflowId, '--output', 'json'], { encoding: 'utf8' });
    writeFileSync(join(outDir, s.file), json);
    console.log(`wrote ${s.file}`);
  }
});
await connection.close();
await native.close();
await server.stop();
