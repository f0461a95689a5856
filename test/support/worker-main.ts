// A Retort worker in its own process, for tests that kill workers (test/faults/). Started by
// test/support/worker-process.ts:
//   node node_modules/tsx/dist/cli.mjs test/support/worker-main.ts --address 127.0.0.1:7233 \
//     --task-queue q --store file:///tmp/store [--queues retort-compute] [--bundle path] [--identity id]
// Prints one JSON line `{"ready":true,...}` once its workers poll; SIGTERM/SIGINT shut them down
// gracefully (in-flight trainChunk activities checkpoint, then fail retryably).
import { parseArgs } from 'node:util';
import { NativeConnection } from '@temporalio/worker';
import { openStore } from '../../storage/open.js';
import { installRuntime, metricsAddress } from '../../workers/metrics.js';
import { type QueueName, createWorkers } from '../../workers/workers.js';

const { values } = parseArgs({
  options: {
    address: { type: 'string' },
    namespace: { type: 'string', default: 'default' },
    'task-queue': { type: 'string' },
    store: { type: 'string' },
    queues: { type: 'string', default: 'retort-compute' },
    bundle: { type: 'string' },
    identity: { type: 'string' },
  },
});
const missing = ['address', 'task-queue', 'store'].filter((k) => !values[k as keyof typeof values]);
if (missing.length) {
  console.error(`worker-main: missing --${missing.join(', --')}`);
  process.exit(2);
}
const queues = values.queues as QueueName;
if (!['retort', 'retort-compute', 'all'].includes(queues)) {
  console.error(`worker-main: --queues must be retort, retort-compute or all, got ${queues}`);
  process.exit(2);
}

// RETORT_METRICS_ADDRESS (in the env) puts this worker's metrics on a Prometheus endpoint.
installRuntime({ metricsAddress: metricsAddress() });
const connection = await NativeConnection.connect({ address: values.address! });
const workers = await createWorkers({
  connection,
  namespace: values.namespace!,
  store: openStore(values.store!),
  taskQueue: values['task-queue']!,
  queues,
  ...(values.bundle ? { workflowBundle: { codePath: values.bundle } } : {}),
  ...(values.identity ? { identity: values.identity } : {}),
});
const stop = () => workers.forEach((w) => w.shutdown());
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
const running = Promise.all(workers.map((w) => w.run()));
console.log(
  JSON.stringify({
    ready: true,
    pid: process.pid,
    taskQueue: values['task-queue'],
    queues,
    identity: values.identity ?? null,
  }),
);
try {
  await running;
} finally {
  await connection.close();
}
