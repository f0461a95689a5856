// Typed client SDK: start, await, watch and inspect Retort pipelines.
//
//   const retort = await RetortClient.connect();               // TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE
//   const run = await retort.run('ingestCorpus', { seed: 1 });  // { workflowId, runId, status, result }
import { createHash } from 'node:crypto';
import {
  Client,
  Connection,
  WorkflowIdConflictPolicy,
  type WorkflowHandleWithFirstExecutionRunId,
} from '@temporalio/client';
import { progressQuery } from '../schemas/messages.js';
import { TASK_QUEUE } from '../schemas/temporal.js';
import { WORKFLOW_INPUTS, type WorkflowType } from './workflow-types.js';

export {
  WORKFLOW_INPUTS,
  isWorkflowType,
  workflowTypeFromFile,
  type WorkflowType,
} from './workflow-types.js';

export interface ConnectOptions {
  /** Default `TEMPORAL_ADDRESS`, else `127.0.0.1:7233`. */
  address?: string;
  /** Default `TEMPORAL_NAMESPACE`, else `default`. */
  namespace?: string;
}

export interface StartOptions {
  /** Default: derived from the workflow type, dataset and a hash of the input (identical work dedups). */
  workflowId?: string;
  taskQueue?: string;
}

export interface RunOutcome<R = unknown> {
  workflowId: string;
  runId: string;
  status: string;
  result?: R;
  error?: { message: string; type?: string };
}

const canonical = (v: unknown): string =>
  JSON.stringify(v, (_k, x: unknown) =>
    x && typeof x === 'object' && !Array.isArray(x)
      ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : 1)))
      : x,
  );

/**
 * Deterministic workflow ID `<type>/<dataset>/<hash>`: starting the same pipeline on the same input
 * twice while the first is running joins the running one instead of doing the work again.
 */
export function defaultWorkflowId(type: WorkflowType, input: Record<string, unknown>): string {
  const dataset = typeof input.dataset === 'string' ? input.dataset : 'default';
  return `${type}/${dataset}/${createHash('sha256').update(canonical(input)).digest('hex').slice(0, 12)}`;
}

/** Walks a failure's cause chain to the innermost message and type (the one naming file and column). */
export function rootCause(err: unknown): { message: string; type?: string } {
  let e = err as { message?: string; type?: string; cause?: unknown } | undefined;
  let best: { message: string; type?: string } = {
    message: String((e as Error | undefined)?.message ?? err),
  };
  while (e) {
    if (e.type) best = { message: e.message ?? best.message, type: e.type };
    e = e.cause as typeof e;
  }
  return best;
}

/**
 * Markdown the Web UI shows under a run started here: what it is, the input's top-level settings, and
 * where its report will be.
 */
export function staticDetails(type: WorkflowType, input: Record<string, unknown>): string {
  const highlights = Object.entries(input)
    .filter(([, v]) => ['string', 'number', 'boolean'].includes(typeof v))
    .slice(0, 12)
    .map(([k, v]) => `- \`${k}\`: ${String(v)}`);
  return [
    `**${type}** started with the Retort client.`,
    ...(highlights.length ? ['', ...highlights] : []),
    '',
    'Pipelines that write a report name its `report.html` `reportHtml` in their result (`retort report <workflowId>`).',
  ].join('\n');
}

export class RetortClient {
  private constructor(
    readonly client: Client,
    private readonly connection: Connection,
  ) {}

  /** Connects to the Temporal frontend. */
  static async connect(options: ConnectOptions = {}): Promise<RetortClient> {
    const address = options.address ?? process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233';
    const namespace = options.namespace ?? process.env.TEMPORAL_NAMESPACE ?? 'default';
    const connection = await Connection.connect({ address });
    return new RetortClient(new Client({ connection, namespace }), connection);
  }

  /** Validates `input` locally and starts the workflow (joining a running one with the same ID). */
  async start(
    type: WorkflowType,
    input: Record<string, unknown>,
    options: StartOptions = {},
  ): Promise<WorkflowHandleWithFirstExecutionRunId> {
    WORKFLOW_INPUTS[type].parse(input); // fail fast, with zod's message, before anything is started
    const workflowId = options.workflowId ?? defaultWorkflowId(type, input);
    return this.client.workflow.start(type, {
      taskQueue: options.taskQueue ?? TASK_QUEUE,
      workflowId,
      args: [input],
      workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
      staticSummary: `${type} ${typeof input.dataset === 'string' ? input.dataset : ''}`.trim(),
      staticDetails: staticDetails(type, input),
    });
  }

  /** Starts and waits; never throws for a failed run, it reports the status and the root cause. */
  async run<R = unknown>(
    type: WorkflowType,
    input: Record<string, unknown>,
    options: StartOptions & { onProgress?: (p: Record<string, unknown>) => void; pollMs?: number } = {},
  ): Promise<RunOutcome<R>> {
    const handle = await this.start(type, input, options);
    const runId = handle.firstExecutionRunId;
    let timer: NodeJS.Timeout | undefined;
    if (options.onProgress) {
      const poll = async () => {
        try {
          options.onProgress!(await handle.query(progressQuery));
        } catch {
          // a query can fail while the first workflow task is pending: try again next tick
        }
        timer = setTimeout(() => void poll(), options.pollMs ?? 1000);
      };
      void poll();
    }
    try {
      const result = (await handle.result()) as R;
      return { workflowId: handle.workflowId, runId, status: 'COMPLETED', result };
    } catch (err) {
      const desc = await handle.describe().catch(() => undefined);
      return {
        workflowId: handle.workflowId,
        runId,
        status: desc?.status.name ?? 'FAILED',
        error: rootCause(err),
      };
    } finally {
      clearTimeout(timer);
    }
  }

  /** Status, timestamps and (while a worker is up) the live `progress` of a workflow. */
  async status(workflowId: string) {
    const handle = this.client.workflow.getHandle(workflowId);
    const d = await handle.describe();
    const progress = await handle.query(progressQuery).catch(() => undefined);
    return {
      workflowId,
      runId: d.runId,
      type: d.type,
      status: d.status.name,
      taskQueue: d.taskQueue,
      startTime: d.startTime.toISOString(),
      closeTime: d.closeTime?.toISOString(),
      progress,
    };
  }

  async close(): Promise<void> {
    await this.connection.close();
  }
}
