// Error mapping at the activity boundary: data errors and bad config become non-retryable
// ApplicationFailures with a type the workflow and the UI can show; everything else is retried.
import { ApplicationFailure } from '@temporalio/common';
import { ZodError } from 'zod';
import { IMAGE_ERROR_TYPES } from '../schemas/images.js';
import { RetortDataError } from '../storage/errors.js';

/** Prefixes a data error with the input field it came from ("target: Parquet file … has no rows"). */
export async function forField<T>(field: string, read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (err) {
    if (err instanceof RetortDataError) throw new RetortDataError(err.type, `${field}: ${err.message}`);
    throw err;
  }
}

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
