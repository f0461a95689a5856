// The local Temporal dev server (Temporal CLI v1.5.1 built from the Go module proxy by
// scripts/provision-temporal.sh): spawned with Retort's search attributes, awaited until it
// answers, killed by PID. Used by `retort server`, `npm start` and the test suite.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync } from 'node:fs';
import { createServer } from 'node:net';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { Connection } from '@temporalio/client';
import { SEARCH_ATTRIBUTES } from '../schemas/temporal.js';

export const TEMPORAL_CLI_VERSION = 'v1.5.1';

/** RETORT_TEMPORAL_CLI, else the provisioned cache, else `temporal` on PATH; undefined if none. */
export function findTemporalCli(): string | undefined {
  const explicit = process.env.RETORT_TEMPORAL_CLI;
  if (explicit) return existsSync(explicit) ? explicit : undefined;
  const cache = process.env.RETORT_CACHE ?? join(homedir(), '.cache', 'retort');
  const cached = join(cache, 'temporal-cli', TEMPORAL_CLI_VERSION, 'temporal');
  if (existsSync(cached)) return cached;
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir && existsSync(join(dir, 'temporal'))) return join(dir, 'temporal');
  }
  return undefined;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

export interface DevServerOptions {
  port?: number;
  /** Web UI port; `false` runs headless. Default port + 1000. */
  uiPort?: number | false;
  /** SQLite file; state survives restarts. Omit for in-memory. */
  dbFilename?: string;
  namespace?: string;
  ip?: string;
  /** Where the server's stdout/stderr go (default: discarded). */
  logFile?: string;
  /** Extra `--dynamic-config-value KEY=JSON` pairs. */
  dynamicConfig?: Record<string, unknown>;
  readyTimeoutMs?: number;
}

export interface DevServer {
  address: string;
  uiUrl?: string;
  namespace: string;
  process: ChildProcess;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/** Polls until the frontend answers a system-info call. */
export async function waitForServer(
  address: string,
  timeoutMs = 60_000,
  child?: ChildProcess,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    if (child && child.exitCode !== null)
      throw new Error(`Temporal dev server exited with code ${child.exitCode}`);
    try {
      const conn = await Connection.connect({ address, connectTimeout: 1000 });
      try {
        await conn.workflowService.getSystemInfo({});
        return;
      } finally {
        await conn.close();
      }
    } catch (err) {
      lastError = err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  throw new Error(`Temporal dev server at ${address} not ready after ${timeoutMs} ms: ${String(lastError)}`);
}

/** temporal.api.enums.v1.IndexedValueType and the `temporal` CLI's names, for the types Retort uses. */
const INDEXED_VALUE_TYPE = { KEYWORD: 2, DOUBLE: 4 } as const;
const CLI_TYPE = { KEYWORD: 'Keyword', DOUBLE: 'Double' } as const;

/**
 * Registers Retort's search attributes if the namespace lacks them: `--search-attribute` flags only
 * apply when a `--db-filename` database is first created, so an older database needs this.
 */
export async function ensureSearchAttributes(address: string, namespace = 'default'): Promise<string[]> {
  const conn = await Connection.connect({ address });
  try {
    const existing = await conn.operatorService.listSearchAttributes({ namespace });
    const missing = SEARCH_ATTRIBUTES.filter((k) => !(k.name in (existing.customAttributes ?? {})));
    if (missing.length) {
      await conn.operatorService.addSearchAttributes({
        namespace,
        searchAttributes: Object.fromEntries(missing.map((k) => [k.name, INDEXED_VALUE_TYPE[k.type]])),
      });
    }
    return missing.map((k) => k.name);
  } finally {
    await conn.close();
  }
}

export async function startDevServer(options: DevServerOptions = {}): Promise<DevServer> {
  const cli = findTemporalCli();
  if (!cli) {
    throw new Error(
      'Temporal CLI not found: run `npm run provision` (builds it with Go) or set RETORT_TEMPORAL_CLI',
    );
  }
  const ip = options.ip ?? '127.0.0.1';
  const port = options.port ?? (await freePort());
  const namespace = options.namespace ?? 'default';
  const args = [
    'server',
    'start-dev',
    '--ip',
    ip,
    '--port',
    String(port),
    '--namespace',
    namespace,
    '--log-level',
    'warn',
  ];
  if (options.uiPort === false) args.push('--headless');
  else args.push('--ui-port', String(options.uiPort ?? port + 1000));
  if (options.dbFilename) {
    mkdirSync(dirname(options.dbFilename), { recursive: true });
    args.push('--db-filename', options.dbFilename);
  }
  for (const key of SEARCH_ATTRIBUTES) args.push('--search-attribute', `${key.name}=${CLI_TYPE[key.type]}`);
  const dyn = {
    'frontend.enableUpdateWorkflowExecution': true,
    'frontend.enableUpdateWorkflowExecutionAsyncAccepted': true,
    ...options.dynamicConfig,
  };
  for (const [k, v] of Object.entries(dyn)) args.push('--dynamic-config-value', `${k}=${JSON.stringify(v)}`);

  const out = options.logFile ? openSync(options.logFile, 'a') : 'ignore';
  const child = spawn(cli, args, { stdio: ['ignore', out, out], detached: false });
  const address = `${ip}:${port}`;
  const stop = async (signal: NodeJS.Signals = 'SIGTERM') => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };
  try {
    await waitForServer(address, options.readyTimeoutMs ?? 60_000, child);
    if (options.dbFilename) await ensureSearchAttributes(address, namespace);
  } catch (err) {
    await stop('SIGKILL');
    throw err;
  }
  return {
    address,
    namespace,
    process: child,
    stop,
    ...(options.uiPort === false ? {} : { uiUrl: `http://${ip}:${options.uiPort ?? port + 1000}` }),
  };
}
