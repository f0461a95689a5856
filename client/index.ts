// Typed client SDK: start, await, watch and inspect Retort pipelines.
//
//   const retort = await RetortClient.connect();   // temporal.toml profile / TEMPORAL_ADDRESS, TEMPORAL_API_KEY…
//   const run = await retort.run('ingestCorpus', { seed: 1 });  // { workflowId, runId, status, result }
import { createHash } from 'node:crypto';
import {
  Client,
  Connection,
  WorkflowIdConflictPolicy,
  type WorkflowHandleWithFirstExecutionRunId,
} from '@temporalio/client';
import { progressQuery } from '../schemas/messages.js';
import { type TemporalSettings, temporalSettings } from './connection.js';
import { MAX_NAME_CHARS, TASK_QUEUE, overlongNameField } from '../schemas/temporal.js';
import { WORKFLOW_INPUTS, type WorkflowType } from './workflow-types.js';

export {
  WORKFLOW_INPUTS,
  isWorkflowType,
  workflowTypeFromFile,
  type WorkflowType,
} from './workflow-types.js';

/**
 * Default: the `temporal` CLI's settings (temporal.toml profile, then TEMPORAL_ADDRESS,
 * TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS*…), else `127.0.0.1:7233` and `default`.
 */
export type ConnectOptions = TemporalSettings;

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

const inputSha256 = (input: unknown) => createHash('sha256').update(canonical(input)).digest('hex');

/**
 * Deterministic workflow ID `<type>/<dataset>/<hash>`: starting the same pipeline on the same input
 * twice while the first is running joins the running one instead of doing the work again.
 */
export function defaultWorkflowId(type: WorkflowType, input: Record<string, unknown>): string {
  const dataset = typeof input.dataset === 'string' ? input.dataset : 'default';
  return `${type}/${dataset}/${inputSha256(input).slice(0, 12)}`;
}

/**
 * Most bytes of JSON a workflow input may have (`RETORT_MAX_INPUT_BYTES`, default 64 KiB): inputs
 * carry references, never data, and every payload of a run stays under the server's blob limit.
 */
export const maxInputBytes = (env = process.env.RETORT_MAX_INPUT_BYTES) => (env ? Number(env) : 64 * 1024);

/** Thrown by {@link RetortClient.start} for an input that breaks a size limit; names the field. */
export class InputLimitExceeded extends Error {
  override readonly name = 'InputLimitExceeded';
}

function checkInputLimits(type: WorkflowType, input: Record<string, unknown>): void {
  const bytes = Buffer.byteLength(JSON.stringify(input), 'utf8');
  if (bytes > maxInputBytes())
    throw new InputLimitExceeded(
      `${type} input is ${bytes} bytes of JSON, over the ${maxInputBytes()}-byte limit (RETORT_MAX_INPUT_BYTES): pass data by URI, not inline`,
    );
  const long = overlongNameField(input);
  if (long)
    throw new InputLimitExceeded(
      `${type} input field "${long.field}": at most ${MAX_NAME_CHARS} characters (got ${long.length})`,
    );
}

/** Memo key holding the sha256 of a run's input, compared when a start meets a running run. */
export const INPUT_SHA256_MEMO = 'retortInputSha256';

/**
 * Thrown by {@link RetortClient.start} when the workflow ID is already running with a different
 * input (or type): joining it would hand back the result of work the caller did not ask for.
 */
export class WorkflowInputConflict extends Error {
  override readonly name = 'WorkflowInputConflict';
  constructor(
    readonly workflowId: string,
    readonly runId: string,
  ) {
    super(
      `workflow ID "${workflowId}" is already running (run ${runId}) with a different input; wait for it to finish, cancel it, or start with another ID`,
    );
  }
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
 * Markdown the Web UI shows under a run started here or by a schedule (`origin`): what it is, the
 * input's top-level settings, and where its report will be.
 */
export function staticDetails(
  type: WorkflowType,
  input: Record<string, unknown>,
  origin = 'started with the Retort client',
): string {
  const highlights = Object.entries(input)
    .filter(([, v]) => ['string', 'number', 'boolean'].includes(typeof v))
    .slice(0, 12)
    .map(([k, v]) => `- \`${k}\`: ${String(v)}`);
  return [
    `**${type}** ${origin}.`,
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
    const { connectionOptions, namespace } = temporalSettings(options);
    const connection = await Connection.connect(connectionOptions);
    return new RetortClient(new Client({ connection, namespace }), connection);
  }

  /**
   * Validates `input` locally and starts the workflow. A run already going with the same ID and the
   * same type and input is joined; with a different input it is refused ({@link WorkflowInputConflict}).
   */
  async start(
    type: WorkflowType,
    input: Record<string, unknown>,
    options: StartOptions = {},
  ): Promise<WorkflowHandleWithFirstExecutionRunId> {
    WORKFLOW_INPUTS[type].parse(input); // fail fast, with zod's message, before anything is started
    checkInputLimits(type, input);
    const workflowId = options.workflowId ?? defaultWorkflowId(type, input);
    const sha256 = inputSha256({ type, input });
    const handle = await this.client.workflow.start(type, {
      taskQueue: options.taskQueue ?? TASK_QUEUE,
      workflowId,
      args: [input],
      workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
      memo: { [INPUT_SHA256_MEMO]: sha256 },
      staticSummary: `${type} ${typeof input.dataset === 'string' ? input.dataset : ''}`.trim(),
      staticDetails: staticDetails(type, input),
    });
    // USE_EXISTING returns the running run if there is one; its memo says what it was started with.
    const running = await this.client.workflow.getHandle(workflowId, handle.firstExecutionRunId).describe();
    const theirs = running.memo?.[INPUT_SHA256_MEMO] ?? (await this.startedInputSha256(workflowId, running));
    if (theirs !== sha256) throw new WorkflowInputConflict(workflowId, handle.firstExecutionRunId);
    return handle;
  }

  /** The input hash of a run started without Retort's memo (the Web UI, `temporal workflow start`). */
  private async startedInputSha256(
    workflowId: string,
    run: { runId: string; type: string },
  ): Promise<string | undefined> {
    const { history } = await this.client.workflowService.getWorkflowExecutionHistory({
      namespace: this.client.options.namespace,
      execution: { workflowId, runId: run.runId },
      maximumPageSize: 1,
    });
    const payloads = history?.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads ?? [];
    const args = await Promise.all(
      payloads.map((p) => this.client.options.loadedDataConverter.payloadConverter.fromPayload(p)),
    );
    return args.length === 1 ? inputSha256({ type: run.type, input: args[0] }) : undefined;
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
    // A poll in flight when the run ends must not schedule another (it would keep the process alive).
    let ended = false;
    if (options.onProgress) {
      const poll = async () => {
        try {
          const p = await handle.query(progressQuery);
          if (!ended) options.onProgress!(p);
        } catch {
          // a query can fail while the first workflow task is pending: try again next tick
        }
        if (!ended) timer = setTimeout(() => void poll(), options.pollMs ?? 1000);
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
      ended = true;
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
