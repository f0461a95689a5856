// Heartbeats and cancellation for long compute activities: the activity context (absent when an
// activity function is called directly, as unit tests do), a yield to the event loop so heartbeats and
// cancellation get through between synchronous tf stretches, and one throttled heartbeat pacer.
import { Context } from '@temporalio/activity';

export const HEARTBEAT_INTERVAL_MS = 2000;

/** The activity context, or undefined when called outside a worker (unit tests). */
export function activityContext(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined;
  }
}

/** Lets the worker's event loop deliver heartbeats and cancellation between synchronous tf steps. */
export const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Throttled heartbeats plus a yield to the event loop: a beat goes out at most every
 * HEARTBEAT_INTERVAL_MS unless forced (e.g. right after a checkpoint, so its step reaches the server).
 */
export function pacer(ctx: Context | undefined) {
  let last = 0;
  return async (details: unknown, force = false): Promise<void> => {
    if (ctx && (force || Date.now() - last >= HEARTBEAT_INTERVAL_MS)) {
      last = Date.now();
      ctx.heartbeat(details);
    }
    await yieldToEventLoop();
  };
}

/**
 * Counts optimizer steps on the worker's metrics endpoint (`retort_training_steps{loop}`; its rate is
 * steps/s). A no-op outside a worker or when metrics are off.
 */
export function stepCounter(ctx: Context | undefined, loop: string): (n?: number) => void {
  if (!ctx) return () => undefined;
  const counter = ctx.metricMeter.createCounter(
    'retort_training_steps',
    'steps',
    'optimizer steps taken by training activities',
  );
  return (n = 1) => counter.add(n, { loop });
}
