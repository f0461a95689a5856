// Helpers for tests against the real dev server: connections, per-test task queues, workers over
// a given store, and a store wrapper that counts writes (to prove memoization hits).
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ApplicationFailure, Client, Connection, WorkflowFailedError } from '@temporalio/client';
import { NativeConnection, type Worker } from '@temporalio/worker';
import { expect, inject } from 'vitest';
import { FileStore } from '../../storage/file-store.js';
import type { ObjectStore } from '../../storage/object-store.js';
import { S3Store } from '../../storage/s3-store.js';
import { type QueueName, createWorkers } from '../../workers/workers.js';
import { S3_CREDENTIALS } from './s3-server.js';
import { type WorkerProcess, type WorkerProcessOptions, spawnWorkerProcess } from './worker-process.js';

export async function connectClient(): Promise<{ client: Client; connection: Connection }> {
  const connection = await Connection.connect({ address: inject('temporalAddress') });
  return { client: new Client({ connection, namespace: 'default' }), connection };
}

const exec = promisify(execFile);

/** The `retort` CLI as a user runs it, against the test run's dev server. */
export const retortCli = (args: string[], env: Record<string, string> = {}) =>
  exec(process.execPath, ['bin/retort.mjs', ...args], {
    env: { ...process.env, TEMPORAL_ADDRESS: inject('temporalAddress'), ...env },
    maxBuffer: 16 * 1024 * 1024,
  });

/** The non-retryable ApplicationFailure a workflow failed with; anything else fails the test. */
export function nonRetryableCause(err: unknown): ApplicationFailure {
  expect(err).toBeInstanceOf(WorkflowFailedError);
  const cause = (err as WorkflowFailedError).cause as ApplicationFailure;
  expect(cause).toBeInstanceOf(ApplicationFailure);
  expect(cause.nonRetryable).toBe(true);
  return cause;
}

export const uniqueQueue = (name: string) => `test-${name}-${randomUUID().slice(0, 8)}`;

export function tempFileStore(name: string): FileStore {
  return new FileStore(mkdtempSync(join(inject('scratchDir'), `${name}-`)));
}

export function testS3Store(prefix: string): S3Store {
  return new S3Store(`s3://${inject('s3Bucket')}/${prefix}`, {
    endpoint: inject('s3Endpoint'),
    forcePathStyle: true,
    credentials: S3_CREDENTIALS,
  });
}

/**
 * Workers of every role `queues` names over `store`, connected to the test run's dev server or to
 * `address` (a test's own server), with a `runUntil` that runs them while a test body runs.
 */
export async function startWorkers(
  store: ObjectStore,
  taskQueue: string,
  queues: QueueName = 'retort',
  address: string = inject('temporalAddress'),
) {
  const connection = await NativeConnection.connect({ address });
  const workers: Worker[] = await createWorkers({
    connection,
    store,
    taskQueue,
    queues,
    workflowBundle: { codePath: inject('workflowBundlePath') },
  });
  return {
    workers,
    /** Runs the workers until `fn` settles, then shuts them down. */
    async runUntil<T>(fn: () => Promise<T>): Promise<T> {
      let result: T | undefined;
      let error: unknown;
      let done = false;
      const work = fn().then(
        (r) => {
          result = r;
          done = true;
        },
        (e: unknown) => {
          error = e;
          done = true;
        },
      );
      await Promise.all(workers.map((w) => w.runUntil(work)));
      await connection.close();
      if (!done) throw new Error('workers stopped before the test body settled');
      if (error) throw error;
      return result as T;
    },
  };
}

/** Runs one workflow to its result on fresh workers over `store`, on a task queue of its own. */
export async function executeOnFreshWorkers<R>(
  client: Client,
  store: ObjectStore,
  workflowType: string,
  input: unknown,
  name: string,
): Promise<R> {
  const taskQueue = uniqueQueue(name);
  const { runUntil } = await startWorkers(store, taskQueue);
  return runUntil(
    () =>
      client.workflow.execute(workflowType, {
        taskQueue,
        workflowId: `${name}-${randomUUID()}`,
        args: [input],
      }) as Promise<R>,
  );
}

/**
 * A worker process on the `retort` queue (workflows + I/O activities) of the test run's dev server,
 * over `store`: for tests that kill it, scrape it or measure its memory.
 */
export function spawnIoWorker(
  store: ObjectStore,
  taskQueue: string,
  extra: Partial<WorkerProcessOptions> = {},
): Promise<WorkerProcess> {
  return spawnWorkerProcess({
    address: inject('temporalAddress'),
    taskQueue,
    store: store.root,
    queues: 'retort',
    bundlePath: inject('workflowBundlePath'),
    ...extra,
  });
}

/** Wraps a store and counts the writes of each key prefix. */
export function countingStore(inner: ObjectStore): ObjectStore & { puts: string[] } {
  const puts: string[] = [];
  return new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === 'puts') return puts;
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (prop === 'put' && typeof value === 'function') {
        return (key: string, ...rest: unknown[]) => {
          puts.push(key);
          return (value as (...a: unknown[]) => unknown).call(target, key, ...rest);
        };
      }
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  }) as ObjectStore & { puts: string[] };
}
