// The `retort-compute` worker: tfjs activities on the best available backend, after a self-test.
import { type NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { createComputeActivities } from '../activities/compute.js';
import type { ObjectStore } from '../storage/object-store.js';
import { backendSelfTest, initBackend } from './backend.js';
import { defaultComputeSlots } from './workers.js';

export async function createComputeWorker(options: {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  store: ObjectStore;
  identity?: string;
  interceptors?: WorkerOptions['interceptors'];
}): Promise<Worker> {
  const backend = await initBackend();
  // A worker on a wrong backend would produce wrong results for every task it takes: refuse to poll.
  backendSelfTest();
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue,
    ...(options.identity ? { identity: options.identity } : {}),
    ...(options.interceptors ? { interceptors: options.interceptors } : {}),
    activities: createComputeActivities({ store: options.store, backend }),
    maxConcurrentActivityTaskExecutions: defaultComputeSlots(backend.name === 'tfjs-node-gpu'),
    shutdownGraceTime: '30s',
  });
}
