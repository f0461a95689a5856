// Helpers every workflow uses: input validation, activity proxies per profile, failure surfacing.
import {
  ActivityCancellationType,
  ActivityFailure,
  ApplicationFailure,
  ChildWorkflowFailure,
  ParentClosePolicy,
  getExternalWorkflowHandle,
  patched,
  proxyActivities,
  setCurrentDetails,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { z } from 'zod';
import type { ComputeActivities } from '../activities/compute.js';
import type { IoActivities } from '../activities/index.js';
import { withSummaries } from './activity-summaries.js';
import { childProgressSignal } from '../schemas/messages.js';
import {
  MAX_NAME_CHARS,
  NON_RETRYABLE_ERROR_TYPES,
  overlongNameField,
  type Profile,
  RetortDataset,
  RetortPipeline,
  RetortStage,
  TIMEOUTS,
} from '../schemas/temporal.js';

/** Parses a workflow's single object argument; bad input fails the run once, without retries. */
export function parseInput<S extends z.ZodType>(schema: S, raw: unknown, workflow: string): z.output<S> {
  const parsed = schema.safeParse(raw ?? {});
  if (!parsed.success) {
    tagInvalidRun(workflow, raw);
    const issue = parsed.error.issues[0]!;
    const where = issue.path.length ? issue.path.join('.') : '(input)';
    throw ApplicationFailure.nonRetryable(
      `${workflow} input field "${where}": ${issue.message}`,
      'InvalidPipelineInput',
    );
  }
  // Backstop for schemas without a length bound: a long name would otherwise reach the search
  // attributes and the server would terminate the run (BadSearchAttributes).
  const long = overlongNameField(parsed.data);
  if (long) {
    tagInvalidRun(workflow, raw);
    throw ApplicationFailure.nonRetryable(
      `${workflow} input field "${long.field}": at most ${MAX_NAME_CHARS} characters (got ${long.length})`,
      'InvalidPipelineInput',
    );
  }
  return parsed.data;
}

/**
 * A run refused for its input still gets the pipeline, the stage `invalid-input` and (when it is a
 * usable name) the dataset as search attributes, so `RetortStage = "invalid-input"` finds every one.
 * Runs recorded before this existed replay without the upsert.
 */
function tagInvalidRun(workflow: string, raw: unknown): void {
  if (!patched('invalid-input-attributes')) return;
  const dataset = (raw as { dataset?: unknown } | null | undefined)?.dataset;
  const name =
    inheritedDataset() ??
    (typeof dataset === 'string' && dataset.length > 0 && dataset.length <= MAX_NAME_CHARS
      ? dataset
      : undefined);
  upsertSearchAttributes([
    { key: RetortPipeline, value: workflow },
    { key: RetortStage, value: 'invalid-input' },
    ...(name ? [{ key: RetortDataset, value: name }] : []),
  ]);
}

/**
 * I/O activities. They heartbeat too (the worker sends one every few seconds while any activity
 * runs), so a lost worker or a restarted server costs the heartbeat timeout — tens of seconds —
 * instead of the start-to-close budget.
 */
export function ioActivities(profile: Profile) {
  const t = TIMEOUTS[profile].io;
  // No taskQueue: I/O activities run on the workflow's own queue (`retort`, or a test's queue).
  return withSummaries(
    proxyActivities<IoActivities>({
      startToCloseTimeout: t.startToCloseTimeout,
      ...(t.heartbeatTimeout ? { heartbeatTimeout: t.heartbeatTimeout } : {}),
      retry: { ...t.retry, nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES },
    }),
  );
}

/**
 * tfjs activities on the compute queue that goes with the workflow's own (`retort` → `retort-compute`,
 * a test's `q` → `q-compute`). Heartbeat timeout from the profile: a killed worker is noticed in
 * seconds (test) or minutes (prod); cancellation waits for the activity's own checkpoint.
 */
export function computeActivities(profile: Profile) {
  const t = TIMEOUTS[profile].compute;
  return withSummaries(
    proxyActivities<ComputeActivities>({
      taskQueue: `${workflowInfo().taskQueue}-compute`,
      startToCloseTimeout: t.startToCloseTimeout,
      ...(t.heartbeatTimeout ? { heartbeatTimeout: t.heartbeatTimeout } : {}),
      retry: { ...t.retry, nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES },
      cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    }),
  );
}

/**
 * Re-throws an activity's or a child workflow's non-retryable failure as the workflow's own
 * failure, so the run's top-level message and type name the cause (file and column, divergence)
 * instead of "Activity task failed" or "Child Workflow execution failed".
 */
export async function surfaceFailures<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if (
      (err instanceof ActivityFailure || err instanceof ChildWorkflowFailure) &&
      err.cause instanceof ApplicationFailure &&
      err.cause.nonRetryable
    ) {
      throw ApplicationFailure.create({
        message: err.cause.message,
        type: err.cause.type ?? 'ActivityFailed',
        nonRetryable: true,
        cause: err,
      });
    }
    throw err;
  }
}

/**
 * A run's progress display: `show(markdown, {stage, done, total})` sets its current details and, in a
 * child, sends them to the parent (`childProgress`), whose progress query and details roll them up —
 * on a new stage or every twentieth of `total`, not on every call. The signal is a command that
 * recorded histories lack, hence `patched('progress-rollup')`; a parent that has closed is no error.
 */
export function progressDisplay() {
  let last = '';
  return (markdown: string, p: { stage: string; done: number; total: number }): void => {
    setCurrentDetails(markdown);
    const info = workflowInfo();
    if (!info.parent) return;
    const bucket = `${p.stage}|${p.total > 0 ? Math.floor((20 * p.done) / p.total) : p.done}`;
    if (bucket === last || !patched('progress-rollup')) return;
    last = bucket;
    getExternalWorkflowHandle(info.parent.workflowId, info.parent.runId)
      .signal(childProgressSignal, {
        workflowId: info.workflowId,
        workflowType: info.workflowType,
        ...p,
        details: markdown,
      })
      .catch(() => undefined);
  };
}

/** The user's dataset name this run was started under by its parent (`RetortDataset`), if any. */
const inheritedDataset = (): string | undefined => {
  const info = workflowInfo();
  return info.parent ? info.typedSearchAttributes.get(RetortDataset) : undefined;
};

/**
 * Start options of a pipeline's child: cancelled with its parent, a one-line summary and markdown
 * details for the Web UI, and the parent's `RetortDataset` (the user's dataset name), which the
 * child keeps, so filtering by dataset finds parent and children alike.
 */
export function childOptions(summary: string, details: string) {
  const info = workflowInfo();
  const dataset = info.typedSearchAttributes.get(RetortDataset);
  return {
    parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
    staticSummary: summary,
    staticDetails: [
      details,
      '',
      `Child of **${info.workflowType}** \`${info.workflowId}\`${dataset ? ` on \`${dataset}\`` : ''}; the parent's report covers this stage.`,
    ].join('\n'),
    ...(dataset ? { typedSearchAttributes: [{ key: RetortDataset, value: dataset }] } : {}),
  };
}

/**
 * Marks the current stage in the search attributes (UI filter `RetortStage = "tokenize"`). A child
 * keeps the dataset name its parent gave it rather than `dataset` (often a run key).
 */
export function enterStage(pipeline: string, dataset: string, stage: string): void {
  upsertSearchAttributes([
    { key: RetortPipeline, value: pipeline },
    { key: RetortDataset, value: inheritedDataset() ?? dataset },
    { key: RetortStage, value: stage },
  ]);
}

/** This run's identity; the first execution's run ID keys its manifest across continue-as-new. */
export const currentRun = () => {
  const info = workflowInfo();
  return {
    workflowId: info.workflowId,
    runId: info.runId,
    firstExecutionRunId: info.firstExecutionRunId,
    workflowType: info.workflowType,
  };
};
