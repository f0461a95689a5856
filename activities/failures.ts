// Error mapping at the activity boundary: data errors and bad config become non-retryable
// ApplicationFailures with a type the workflow and the UI can show; everything else is retried.
import { ApplicationFailure } from '@temporalio/common';
import { ZodError } from 'zod';
import { RetortDataError } from '../storage/errors.js';

export function toFailure(err: unknown): unknown {
  if (err instanceof ApplicationFailure) return err;
  if (err instanceof RetortDataError) return ApplicationFailure.nonRetryable(err.message, err.type);
  if (err instanceof ZodError) {
    const issue = err.issues[0];
    return ApplicationFailure.nonRetryable(
      `invalid activity input at "${issue?.path.join('.') || '(root)'}": ${issue?.message ?? err.message}`,
      'InvalidPipelineInput',
    );
  }
  return err;
}

/** Wraps every function of an activity object so thrown data errors become typed failures. */
export function withFailureMapping<T extends Record<string, (...args: never[]) => Promise<unknown>>>(
  activities: T,
): T {
  const wrapped: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(activities)) {
    wrapped[name] = {
      // Keep the function's own name: Temporal registers activities by property name, the UI shows it.
      async [name](...args: never[]) {
        try {
          return await fn(...args);
        } catch (err) {
          throw toFailure(err);
        }
      },
    }[name];
  }
  return wrapped as T;
}
