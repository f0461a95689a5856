// CLI commands that start things: `retort doctor|server|worker|start`.
import { execFileSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { dirname, join, resolve } from 'node:path';
import { Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { temporalSettings } from '../client/connection.js';
import { RetortClient, type RunOutcome } from '../client/index.js';
import { HELP } from '../client/cli-help.js';
import { UserError, parseCommand, serverUnreachable, uiBase } from '../client/cli-support.js';
import { writeRunReport } from '../client/report.js';
import { openStore } from '../storage/open.js';
import { FileStore } from '../storage/file-store.js';
import { type InputRoot, inputRootsFor } from '../storage/input-roots.js';
import { S3Store } from '../storage/s3-store.js';
import { backendSelfTest, initBackend, measureGflops } from './backend.js';
import { TEMPORAL_CLI_VERSION, findTemporalCli, startDevServer } from './dev-server.js';
import { installRuntime, metricsAddress } from './metrics.js';
import { runAndReport, startRuns } from './start-runs.js';
import { type QueueName, createWorkers } from './workers.js';

// Same settings as the `temporal` CLI: temporal.toml profile, TEMPORAL_ADDRESS, TEMPORAL_API_KEY, TLS…
const address = () => temporalSettings().connectionOptions.address;
const namespace = () => temporalSettings().namespace;

/** Whether a Temporal frontend answers, with the profile's TLS and API key unless only an address is given. */
async function reachable(addr: string, withProfile = false): Promise<boolean> {
  try {
    const options = withProfile ? temporalSettings().connectionOptions : { address: addr };
    const conn = await Connection.connect({ ...options, connectTimeout: 2000 });
    try {
      await conn.workflowService.getSystemInfo({});
      return true;
    } finally {
      await conn.close();
    }
  } catch {
    return false;
  }
}

/** Writes, reads back and deletes a probe object; the first error, if any. */
async function probeStore(uri: string): Promise<{ writable: boolean; error?: string }> {
  try {
    // A short outage window: doctor reports an unreachable S3 at once instead of retrying for minutes.
    const store = uri.startsWith('s3://') ? new S3Store(uri, { outageWindowMs: 0 }) : openStore(uri);
    if (store instanceof FileStore) await store.ensureWritable();
    const key = `.doctor/probe-${process.pid}`;
    await store.put(key, new TextEncoder().encode('ok'));
    await store.get(key);
    await store.delete(key);
    return { writable: true };
  } catch (err) {
    return { writable: false, error: String((err as Error)?.message ?? err).split('\n')[0] };
  }
}

/** Series names on a worker's metrics endpoint (RETORT_METRICS_ADDRESS), counted by prefix. */
async function probeMetrics(address: string) {
  const url = `http://${address}/metrics`;
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(3000) });
    const names = new Set(
      (await res.text())
        .split('\n')
        .filter((l) => l && !l.startsWith('#'))
        .map((l) => l.split(/[{\s]/)[0]!),
    );
    const count = (prefix: string) => [...names].filter((n) => n.startsWith(prefix)).length;
    return { url, reachable: res.ok, temporalSeries: count('temporal_'), retortSeries: count('retort_') };
  } catch (err) {
    return { url, reachable: false, error: (err as Error).message };
  }
}

const rootUri = (r: InputRoot) =>
  r.kind === 'file' ? pathToFileURL(r.dir).href : `s3://${r.bucket}/${r.prefix}`.replace(/\/$/, '');

export async function doctor(args: string[]) {
  const { values } = parseCommand('doctor', HELP.doctor, args, { json: { type: 'boolean' } });
  const report: Record<string, unknown> = { node: process.version };
  try {
    const b = await initBackend();
    let selfTest = 'passed';
    try {
      backendSelfTest();
    } catch (err) {
      selfTest = `FAILED: ${(err as Error).message}`;
    }
    report.backend = {
      name: b.name,
      gflops: Math.round(measureGflops(512) * 10) / 10,
      tfVersion: b.tfVersion ?? null,
      selfTest,
    };
  } catch (err) {
    report.backend = { name: null, gflops: null, error: (err as Error).message };
  }
  const cli = findTemporalCli();
  let version: string | null = null;
  if (cli) {
    try {
      version = execFileSync(cli, ['--version'], { encoding: 'utf8' }).trim();
    } catch {
      version = null;
    }
  }
  const settings = temporalSettings();
  report.temporal = {
    cli: cli ?? null,
    version,
    profile: process.env.TEMPORAL_PROFILE ?? 'default',
    configFile: process.env.TEMPORAL_CONFIG_FILE ?? null,
    address: settings.connectionOptions.address,
    namespace: settings.namespace,
    tls: !!settings.connectionOptions.tls,
    apiKey: !!settings.connectionOptions.apiKey,
    reachable: await reachable(settings.connectionOptions.address, true),
  };
  const store = openStore();
  report.store = { uri: store.root, ...(await probeStore(store.root)) };
  report.inputRoots = inputRootsFor(store).map(rootUri);
  const metrics = metricsAddress();
  report.metrics = metrics ? { address: metrics, ...(await probeMetrics(metrics)) } : null;
  if (values.json) {
    console.log(JSON.stringify(report));
    return;
  }
  const b = report.backend as Record<string, unknown>;
  const t = report.temporal as Record<string, unknown>;
  const s = report.store as Record<string, unknown>;
  const m = report.metrics as Record<string, unknown> | null;
  console.log(`node      ${process.version}
backend   ${b.name ?? 'NONE'} ${b.gflops ?? '?'} GFLOP/s (512² matmul)${b.tfVersion ? `, TensorFlow ${b.tfVersion}` : ''}, self-test ${b.selfTest ?? b.error}
temporal  ${t.cli ?? `not found (run npm run provision; expected ${TEMPORAL_CLI_VERSION})`} ${version ?? ''}
          ${t.address} namespace ${t.namespace}, profile ${t.profile}${t.configFile ? ` (${t.configFile})` : ''}, ${t.tls ? 'TLS' : 'plaintext'}${t.apiKey ? ', API key' : ''}: ${t.reachable ? 'reachable' : 'not reachable (start one with: retort server)'}
store     ${s.uri} ${s.writable ? 'writable' : `NOT WRITABLE (${s.error})`}
inputs    ${(report.inputRoots as string[]).join(', ')}
metrics   ${m ? `${m.url} ${m.reachable ? `${m.temporalSeries} temporal_ and ${m.retortSeries} retort_ series` : `not reachable (${m.error ?? 'HTTP error'}; is a worker with RETORT_METRICS_ADDRESS running here?)`}` : 'off (set RETORT_METRICS_ADDRESS on workers, e.g. 127.0.0.1:9464)'}`);
}

export async function server(args: string[]) {
  const { values } = parseCommand('server', HELP.server, args, {
    port: { type: 'string' },
    'ui-port': { type: 'string' },
    'db-filename': { type: 'string' },
    headless: { type: 'boolean' },
  });
  const port = Number(values.port ?? 7233);
  const uiPort = Number(values['ui-port'] ?? port + 1000);
  for (const [flag, p] of [
    ['--port', port],
    ['--ui-port', uiPort],
  ] as const)
    if (!Number.isInteger(p) || p < 1 || p > 65535)
      throw new UserError(
        `${flag} must be a port number (1–65535)`,
        'e.g. `retort server --port 7233 --ui-port 8233`',
      );
  if (await reachable(`127.0.0.1:${port}`))
    throw new UserError(
      `a Temporal server already answers on 127.0.0.1:${port}`,
      'use it (TEMPORAL_ADDRESS), or pick another --port',
    );
  // The log lives beside the database, so a database outside .retort/ needs no .retort/ folder.
  const dbFilename = resolve(values['db-filename'] ?? '.retort/temporal.db');
  const srv = await startDevServer({
    port,
    uiPort: values.headless ? false : uiPort,
    dbFilename,
    logFile: join(dirname(dbFilename), 'temporal.log'),
  });
  console.log(
    `Temporal dev server ${srv.address}${srv.uiUrl ? `, Web UI ${srv.uiUrl}` : ''} (Ctrl-C stops it)`,
  );
  await new Promise<void>((r) => {
    process.once('SIGINT', r);
    process.once('SIGTERM', r);
  });
  await srv.stop();
}

export async function worker(args: string[]) {
  const { values } = parseCommand('worker', HELP.worker, args, {
    queue: { type: 'string' },
    'task-queue': { type: 'string' },
  });
  const queues = (values.queue ?? 'all') as QueueName;
  if (!['retort', 'retort-compute', 'all'].includes(queues))
    throw new UserError(
      `--queue ${queues}: expected retort, retort-compute or all`,
      'see `retort worker --help`',
    );
  if (!(await reachable(address(), true))) throw serverUnreachable('no answer');
  const metrics = installRuntime({ metricsAddress: metricsAddress() });
  const connection = await NativeConnection.connect(temporalSettings().connectionOptions);
  const store = openStore();
  const workers = await createWorkers({
    connection,
    namespace: namespace(),
    store,
    queues,
    ...(values['task-queue'] ? { taskQueue: values['task-queue'] } : {}),
  });
  console.log(
    `worker polling ${workers.map((w) => w.options.taskQueue).join(', ')} on ${address()} (store ${store.root})${metrics ? `; metrics ${metrics}` : ''}`,
  );
  await Promise.all(workers.map((w) => w.run()));
  await connection.close();
}

/** `npm start`: the embedded default, end to end. */
export async function start(args: string[]) {
  const { values } = parseCommand('start', HELP.start, args, {
    exit: { type: 'boolean' },
    example: { type: 'string' },
  });
  const metrics = installRuntime({ metricsAddress: metricsAddress(), logLevel: 'WARN' });
  const addr = address();
  let srv: Awaited<ReturnType<typeof startDevServer>> | undefined;
  let uiUrl = uiBase();
  if (await reachable(addr)) {
    console.log(`using the Temporal server at ${addr}`);
  } else {
    const port = Number(addr.split(':').pop());
    console.log(`starting the Temporal dev server on ${addr} (state in .retort/temporal.db)…`);
    srv = await startDevServer({
      port,
      uiPort: port + 1000,
      dbFilename: resolve('.retort/temporal.db'),
      logFile: resolve('.retort/temporal.log'),
    });
    uiUrl = srv.uiUrl!;
  }
  const connection = await NativeConnection.connect({ address: addr });
  const store = openStore();
  const workers = await createWorkers({ connection, namespace: namespace(), store });
  const running = workers.map((w) => w.run());
  console.log(
    `workers polling ${workers.map((w) => w.options.taskQueue).join(', ')}; store ${store.root}${metrics ? `; metrics ${metrics}` : ''}`,
  );

  const retort = await RetortClient.connect({ address: addr });
  const runUrl = (id: string) => `${uiUrl}/namespaces/${namespace()}/workflows/${encodeURIComponent(id)}`;
  // The pipeline commits its own report.html; runs from before that get one from their manifest.
  const reportOf = async (outcome: RunOutcome) =>
    (outcome.result as { reportHtml?: { uri: string } }).reportHtml?.uri ??
    (await writeRunReport(store, outcome.workflowId, outcome.result as Record<string, unknown>));
  const t0 = Date.now();
  for (const run of startRuns(values.example)) {
    if (!(await runAndReport(retort, run, runUrl, reportOf))) {
      process.exitCode = 1;
      break;
    }
  }
  console.log(`\n${process.exitCode ? 'stopped' : 'done'} after ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  await retort.close();

  const stay = !values.exit && process.stdout.isTTY && !process.env.CI;
  if (stay) console.log(`\nTemporal Web UI: ${uiUrl} — workers keep running; Ctrl-C to stop.`);
  else for (const w of workers) w.shutdown();
  await Promise.all(running);
  await connection.close();
  await srv?.stop();
}
