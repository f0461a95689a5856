// Helpers every workflow uses: input validation, activity proxies per profile, failure surfacing.
import {
  ActivityCancellationType,
  ActivityFailure,
  ApplicationFailure,
  proxyActivities,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { z } from 'zod';
import type { ComputeActivities } from '../activities/compute.js';
import type { IoActivities } from '../activities/index.js';
import { withSummaries } from './activity-summaries.js';
import {
  NON_RETRYABLE_ERROR_TYPES,
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
    const issue = parsed.error.issues[0]!;
    const where = issue.path.length ? issue.path.join('.') : '(input)';
    throw ApplicationFailure.nonRetryable(
      `${workflow} input field "${where}": ${issue.message}`,
      'InvalidPipelineInput',
    );
  }
  return parsed.data;
}

export function ioActivities(profile: Profile) {
  const t = TIMEOUTS[profile].io;
  // No taskQueue: I/O activities run on the workflow's own queue (`retort`, or a test's queue).
  return withSummaries(
    proxyActivities<IoActivities>({
      startToCloseTimeout: t.startToCloseTimeout,
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
 * Re-throws an activity's non-retryable failure as the workflow's own failure, so the run's
 * top-level message names the file and column instead of "Activity task failed".
 */
export async function surfaceFailures<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if (err instanceof ActivityFailure && err.cause instanceof ApplicationFailure && err.cause.nonRetryable) {
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

/** Marks the current stage in the search attributes (UI filter `RetortStage = "tokenize"`). */
export function enterStage(pipeline: string, dataset: string, stage: string): void {
  upsertSearchAttributes([
    { key: RetortPipeline, value: pipeline },
    { key: RetortDataset, value: dataset },
    { key: RetortStage, value: stage },
  ]);
}

export const currentRun = () => {
  const info = workflowInfo();
  return { workflowId: info.workflowId, runId: info.runId, workflowType: info.workflowType };
};
