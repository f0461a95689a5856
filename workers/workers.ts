// Worker construction for both task queues. Any number of processes on any number of hosts may
// run these against the same Temporal cluster and object store: that is how Retort scales out.
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { type NativeConnection, Worker, bundleWorkflowCode } from '@temporalio/worker';
import { createIoActivities } from '../activities/index.js';
import { TASK_QUEUE } from '../schemas/temporal.js';
import type { ObjectStore } from '../storage/object-store.js';
import { activityOutcomes } from './metrics.js';

export const WORKFLOWS_PATH = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));

/** The compute queue that goes with a workflow queue: `retort` → `retort-compute`. */
export const computeQueueFor = (taskQueue: string) => `${taskQueue}-compute`;

export type QueueName = 'retort' | 'retort-compute' | 'all';

export interface WorkerOptions {
  connection: NativeConnection;
  namespace?: string;
  store: ObjectStore;
  /** Workflow/I-O queue; the compute queue is derived from it. Tests use unique names. */
  taskQueue?: string;
  queues?: QueueName;
  /** Pre-built workflow bundle (tests bundle once per run); default: bundle `workflows/`. */
  workflowBundle?: { code: string } | { codePath: string };
  identity?: string;
}

let bundleCache: Promise<{ code: string }> | undefined;

/** Bundles workflow code once per process (webpack: several seconds). */
export function workflowBundle(): Promise<{ code: string }> {
  bundleCache ??= bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: quietBundlerLogger });
  return bundleCache;
}

const noop = () => undefined;
const quietBundlerLogger = {
  trace: noop,
  debug: noop,
  info: noop,
  warn: noop,
  error: console.error,
  log: noop,
};

export async function createWorkers(options: WorkerOptions): Promise<Worker[]> {
  const taskQueue = options.taskQueue ?? TASK_QUEUE;
  const queues = options.queues ?? 'all';
  const common = {
    connection: options.connection,
    namespace: options.namespace ?? 'default',
    ...(options.identity ? { identity: options.identity } : {}),
    interceptors: { activity: [activityOutcomes] },
  };
  const workers: Worker[] = [];
  if (queues === 'all' || queues === 'retort') {
    workers.push(
      await Worker.create({
        ...common,
        taskQueue,
        workflowBundle: options.workflowBundle ?? (await workflowBundle()),
        activities: createIoActivities({ store: options.store }),
        maxConcurrentActivityTaskExecutions: 16,
      }),
    );
  }
  if (queues === 'all' || queues === 'retort-compute') {
    const { createComputeWorker } = await import('./compute-worker.js');
    workers.push(
      await createComputeWorker({ ...common, taskQueue: computeQueueFor(taskQueue), store: options.store }),
    );
  }
  return workers;
}

/** Default compute concurrency: one activity per GPU, half the cores on CPU (tfjs uses threads). */
export const defaultComputeSlots = (gpu: boolean) => (gpu ? 1 : Math.max(1, Math.floor(cpus().length / 2)));
