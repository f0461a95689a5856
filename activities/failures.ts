// Error mapping at the activity boundary: data errors and bad config become non-retryable
// ApplicationFailures with a type the workflow and the UI can show; everything else is retried.
import { ApplicationFailure } from '@temporalio/common';
import { ZodError } from 'zod';
import { RetortDataError } from '../storage/errors.js';

export function toFailure(err: unknown): unknown {
  if (err instanceof ApplicationFailure) return err;
  if (err instanceof RetortDataError) return ApplicationFailure.nonRetryable(err.message, err.type);
  // Divergence (a non-finite loss or objective) is deterministic in the data and settings: a retry
  // replays it. ml/ throws plain Errors worded "... diverged: ...".
  if (err instanceof Error && /^[\w ]*diverged\b/.test(err.message))
    return ApplicationFailure.nonRetryable(err.message, 'LossDiverged');
  if (err instanceof ZodError) {
    const issue = err.issues[0];
    return ApplicationFailure.nonRetryable(
      `invalid activity input at "${issue?.path.join('.') || '(root)'}": ${issue?.message ?? err.message}`,
      'InvalidPipelineInput',
    );
  }
  return err;
}

type ActivityFn = (...args: never[]) => Promise<unknown>;

/** Wraps every function of an activity object with `around`, keeping each function's name. */
export function aroundActivities<T extends Record<string, ActivityFn>>(
  activities: T,
  around: (run: () => Promise<unknown>) => Promise<unknown>,
): T {
  const wrapped: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(activities)) {
    wrapped[name] = {
      // Keep the function's own name: Temporal registers activities by property name, the UI shows it.
      async [name](...args: never[]) {
        return around(() => fn(...args));
      },
    }[name];
  }
  return wrapped as T;
}

/** Wraps every function of an activity object so thrown data errors become typed failures. */
export function withFailureMapping<T extends Record<string, ActivityFn>>(activities: T): T {
  return aroundActivities(activities, async (run) => {
    try {
      return await run();
    } catch (err) {
      throw toFailure(err);
    }
  });
}
