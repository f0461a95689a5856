// Error mapping at the activity boundary: data errors and bad config become non-retryable
// ApplicationFailures with a type the workflow and the UI can show; everything else is retried.
import { ApplicationFailure } from '@temporalio/common';
import { ZodError } from 'zod';
import { IMAGE_ERROR_TYPES } from '../schemas/images.js';
import { RetortDataError } from '../storage/errors.js';

/** Settings that cannot work (names the field); a retry cannot fix them. */
export const configError = (message: string) => ApplicationFailure.nonRetryable(message, 'ConfigError');
/** A checkpoint that belongs to another run or another kind of state. */
export const incompatible = (message: string) =>
  ApplicationFailure.nonRetryable(message, 'CheckpointIncompatible');
/** A loss or parameters went non-finite; rerunning the same seeded computation diverges again. */
export const lossDiverged = (message: string) => ApplicationFailure.nonRetryable(message, 'LossDiverged');
/** IPC asks for more images of a class than the table holds. */
export const ipcExceedsClassSize = (message: string) =>
  ApplicationFailure.nonRetryable(message, IMAGE_ERROR_TYPES.ipc);
/** A label outside [0, classes). */
export const labelOutOfRange = (message: string) =>
  ApplicationFailure.nonRetryable(message, IMAGE_ERROR_TYPES.labelRange);

/** RangeErrors of ml/ (bad sizes, bad settings) are configuration errors a retry cannot fix. */
export function asConfigError<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof RangeError) throw configError(`${what}: ${err.message}`);
    throw err;
  }
}

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
