// Every activity heartbeats, I/O ones too: the worker sends a heartbeat every third of the heartbeat
// timeout while the activity's promise is pending, so a killed worker or a restarted server is
// noticed within the timeout (tens of seconds) rather than after the start-to-close budget.
// An activity's own heartbeats keep their details (the resume hints training relies on); the
// background beat repeats the last details sent, so it never erases them.
import { Context } from '@temporalio/activity';
import { aroundActivities } from './failures.js';

type Beat = (details?: unknown) => void;

/** Wraps every activity so that it heartbeats in the background while it runs. */
export function withBackgroundHeartbeats<T extends Record<string, (...args: never[]) => Promise<unknown>>>(
  activities: T,
): T {
  return aroundActivities(activities, async (run) => {
    let ctx: Context;
    try {
      ctx = Context.current();
    } catch {
      return run(); // called directly (tests, scripts), not as an activity
    }
    const timeoutMs = ctx.info.heartbeatTimeoutMs ?? 0;
    if (!timeoutMs) return run();
    const send = ctx.heartbeat;
    let last: unknown;
    (ctx as { heartbeat: Beat }).heartbeat = (details?: unknown) => {
      last = details;
      send(details);
    };
    const timer = setInterval(() => send(last), Math.max(1000, Math.floor(timeoutMs / 3)));
    try {
      return await run();
    } finally {
      clearInterval(timer);
      (ctx as { heartbeat: Beat }).heartbeat = send;
    }
  });
}
