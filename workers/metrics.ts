// Worker metrics on a Prometheus endpoint (DESIGN.md §6): the SDK runtime's own series (`temporal_*`:
// task slots, poll latencies, activity and workflow latencies) and Retort's on the same endpoint,
// recorded through the runtime's meter: `retort_activity_outcomes_total{activityType, outcome}` and
// `retort_training_steps_total{loop}` (its rate is steps/s); the activity context's meter adds
// namespace, taskQueue and activityType. Off unless RETORT_METRICS_ADDRESS is set.
import {
  type ActivityExecuteInput,
  type ActivityInboundCallsInterceptor,
  type ActivityInterceptorsFactory,
  DefaultLogger,
  type LogLevel,
  type Next,
  Runtime,
} from '@temporalio/worker';
import { CancelledFailure } from '@temporalio/common';

/**
 * `host:port` the Prometheus endpoint binds (`/metrics`), from RETORT_METRICS_ADDRESS; undefined
 * (metrics off) when unset or empty. `127.0.0.1:9464` serves the local host only; `0.0.0.0:9464`
 * lets a Prometheus on another host scrape it.
 */
export function metricsAddress(
  env: string | undefined = process.env.RETORT_METRICS_ADDRESS,
): string | undefined {
  if (env === undefined || env.trim() === '') return undefined;
  if (!/^(\[[0-9a-fA-F:]+\]|[^:\s]+):\d{1,5}$/.test(env.trim()))
    throw new Error(`RETORT_METRICS_ADDRESS must be host:port (e.g. 127.0.0.1:9464), got "${env}"`);
  return env.trim();
}

/**
 * Installs the SDK runtime (once per process, before any connection or worker): the logger and, when
 * an address is given, the Prometheus exporter. Returns the endpoint URL, if any.
 */
export function installRuntime(
  options: { metricsAddress?: string | undefined; logLevel?: LogLevel } = {},
): string | undefined {
  const address = options.metricsAddress;
  Runtime.install({
    ...(options.logLevel ? { logger: new DefaultLogger(options.logLevel) } : {}),
    ...(address
      ? { telemetryOptions: { metrics: { prometheus: { bindAddress: address, countersTotalSuffix: true } } } }
      : {}),
  });
  return address ? `http://${address}/metrics` : undefined;
}

/** How an activity attempt ended: completed, cancelled, or failed (retryable or not). */
function outcomeOf(err: unknown): string {
  if (err instanceof CancelledFailure || (err as Error)?.name === 'CancelledFailure') return 'cancelled';
  const nonRetryable = (err as { nonRetryable?: boolean })?.nonRetryable === true;
  return nonRetryable ? 'failed_nonretryable' : 'failed';
}

/** Counts every activity attempt by outcome on the activity's meter (which tags its type and queue). */
export const activityOutcomes: ActivityInterceptorsFactory = (ctx) => {
  const counter = ctx.metricMeter.createCounter(
    'retort_activity_outcomes',
    'attempts',
    'activity attempts by activity type and outcome',
  );
  const inbound: ActivityInboundCallsInterceptor = {
    async execute(input: ActivityExecuteInput, next: Next<ActivityInboundCallsInterceptor, 'execute'>) {
      try {
        const result: unknown = await next(input);
        counter.add(1, { outcome: 'completed' });
        return result;
      } catch (err) {
        counter.add(1, { outcome: outcomeOf(err) });
        throw err;
      }
    },
  };
  return { inbound };
};
