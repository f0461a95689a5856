// Temporal Schedules for recurring pipelines (DESIGN.md §6, specs/temporal.md §b.9): `retort schedule
// create|list|pause|trigger|backfill|delete`. Overlap SKIP (a GPU pipeline never runs twice at once)
// and pause-on-failure; each run of `curateCorpus` picks its partition (the newest, or with
// `partitionFromSchedule` the one of its nominal time) and the lineage's checkpoint itself, so the
// schedule's input never changes.
//
//   const s = await createSchedule(retort.client, { scheduleId: 'nightly', input, every: '1 day' });
//   const run = await triggerSchedule(retort.client, 'nightly', { wait: true }); // { workflowId, status, result }
//   await backfillSchedule(retort.client, 'nightly', { from: new Date('2026-11-01'), to: new Date('2026-11-03') });
import {
  type Client,
  ScheduleOverlapPolicy,
  type ScheduleExecutionResult,
  ScheduleAlreadyRunning,
  WorkflowFailedError,
} from '@temporalio/client';
import { TASK_QUEUE } from '../schemas/temporal.js';
import { WORKFLOW_INPUTS, type WorkflowType } from './workflow-types.js';
import { staticDetails } from './index.js';

export interface CreateScheduleOptions {
  scheduleId: string;
  /** Default `curateCorpus`. */
  workflowType?: WorkflowType;
  input: Record<string, unknown>;
  /** An interval such as `1 day` or `6h` (ms-format), or … */
  every?: string;
  /** … cron expressions (UTC). Neither: the schedule only runs when triggered. */
  cron?: string[];
  taskQueue?: string;
  paused?: boolean;
  note?: string;
}

export interface ScheduleInfo {
  scheduleId: string;
  workflowType: string | null;
  paused: boolean;
  note: string | null;
  /** Workflow IDs of the most recent runs, oldest first. */
  recentRuns: string[];
  nextRunTimes: string[];
}

/** `createSchedule` on an ID that is taken. */
export class ScheduleExists extends Error {}
/** `triggerSchedule` while the schedule's previous run is still going (overlap SKIP would drop it). */
export class ScheduleBusy extends Error {}

/** The run IDs a schedule started, oldest first. */
const runsOf = (actions: ScheduleExecutionResult[]) => actions.map((a) => a.action.workflow.workflowId);

/** Creates the schedule (validating the input first); an existing one with the same ID is an error. */
export async function createSchedule(client: Client, options: CreateScheduleOptions): Promise<ScheduleInfo> {
  const workflowType = options.workflowType ?? 'curateCorpus';
  WORKFLOW_INPUTS[workflowType].parse(options.input);
  // With no interval or cron the spec is empty: the schedule runs only when triggered.
  const spec = {
    ...(options.every
      ? { intervals: [{ every: options.every as `${number}${'ms' | 's' | 'm' | 'h' | 'd'}` }] }
      : {}),
    ...(options.cron ? { cronExpressions: options.cron } : {}),
  };
  try {
    await client.schedule.create({
      scheduleId: options.scheduleId,
      spec,
      action: {
        type: 'startWorkflow',
        workflowType,
        // Each run's ID is this plus the scheduled time (Temporal appends it).
        workflowId: `schedule-${options.scheduleId}`,
        taskQueue: options.taskQueue ?? TASK_QUEUE,
        args: [options.input],
        staticSummary: `${workflowType} on schedule ${options.scheduleId}`,
        staticDetails: staticDetails(
          workflowType,
          options.input,
          `started by schedule \`${options.scheduleId}\``,
        ),
      },
      policies: { overlap: ScheduleOverlapPolicy.SKIP, pauseOnFailure: true, catchupWindow: '1 minute' },
      state: { paused: options.paused ?? false, ...(options.note ? { note: options.note } : {}) },
    });
  } catch (err) {
    if (err instanceof ScheduleAlreadyRunning)
      throw new ScheduleExists(`schedule "${options.scheduleId}" already exists (delete it first)`);
    throw err;
  }
  return describeSchedule(client, options.scheduleId);
}

export async function describeSchedule(client: Client, scheduleId: string): Promise<ScheduleInfo> {
  const d = await client.schedule.getHandle(scheduleId).describe();
  return {
    scheduleId,
    workflowType: d.action.type === 'startWorkflow' ? d.action.workflowType : null,
    paused: d.state.paused,
    note: d.state.note ?? null,
    recentRuns: runsOf(d.info.recentActions),
    nextRunTimes: d.info.nextActionTimes.map((t) => t.toISOString()),
  };
}

/** Every schedule in the namespace (visibility is eventually consistent: a new one may lag a second). */
export async function listSchedules(client: Client): Promise<ScheduleInfo[]> {
  const out: ScheduleInfo[] = [];
  for await (const s of client.schedule.list()) {
    out.push({
      scheduleId: s.scheduleId,
      workflowType: s.action?.type === 'startWorkflow' ? s.action.workflowType : null,
      paused: s.state.paused,
      note: s.state.note ?? null,
      recentRuns: runsOf(s.info.recentActions),
      nextRunTimes: s.info.nextActionTimes.map((t) => t.toISOString()),
    });
  }
  return out.sort((a, b) => (a.scheduleId < b.scheduleId ? -1 : 1));
}

export async function pauseSchedule(
  client: Client,
  scheduleId: string,
  unpause = false,
  note?: string,
): Promise<ScheduleInfo> {
  const handle = client.schedule.getHandle(scheduleId);
  if (unpause) await handle.unpause(note ?? 'unpaused with retort schedule pause --resume');
  else await handle.pause(note ?? 'paused with retort schedule pause');
  return describeSchedule(client, scheduleId);
}

export interface TriggerOutcome {
  scheduleId: string;
  workflowId: string;
  status: string;
  result?: unknown;
  error?: string;
}

/**
 * Runs the schedule's action now (overlap SKIP: nothing starts while a run is in progress) and returns
 * the run it started; with `wait`, after that run has closed.
 */
export async function triggerSchedule(
  client: Client,
  scheduleId: string,
  options: { wait?: boolean; timeoutMs?: number } = {},
): Promise<TriggerOutcome> {
  const handle = client.schedule.getHandle(scheduleId);
  const before = await handle.describe();
  const known = new Set([
    ...runsOf(before.info.recentActions),
    ...before.info.runningActions.map((a) => a.workflow.workflowId),
  ]);
  if (before.info.runningActions.length > 0) {
    throw new ScheduleBusy(
      `schedule "${scheduleId}" has a run in progress (${before.info.runningActions[0]!.workflow.workflowId}); overlap policy SKIP would drop this trigger`,
    );
  }
  await handle.trigger(ScheduleOverlapPolicy.SKIP);
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  let workflowId: string | undefined;
  while (!workflowId) {
    const d = await handle.describe();
    workflowId = [
      ...d.info.runningActions.map((a) => a.workflow.workflowId),
      ...runsOf(d.info.recentActions),
    ].find((id) => !known.has(id));
    if (workflowId) break;
    if (Date.now() > deadline)
      throw new Error(
        `schedule "${scheduleId}": the triggered run did not appear within ${options.timeoutMs ?? 30_000} ms`,
      );
    await new Promise((r) => setTimeout(r, 250));
  }
  const run = client.workflow.getHandle(workflowId);
  if (!options.wait) return { scheduleId, workflowId, status: (await run.describe()).status.name };
  try {
    const result: unknown = await run.result();
    return { scheduleId, workflowId, status: 'COMPLETED', result };
  } catch (err) {
    const status = (await run.describe()).status.name;
    const cause =
      err instanceof WorkflowFailedError ? (err.cause?.message ?? err.message) : (err as Error).message;
    return { scheduleId, workflowId, status, error: cause };
  }
}

/** Overlap policies a backfill may use, as the CLI spells them. */
export const BACKFILL_OVERLAPS = {
  'buffer-all': ScheduleOverlapPolicy.BUFFER_ALL,
  'buffer-one': ScheduleOverlapPolicy.BUFFER_ONE,
  skip: ScheduleOverlapPolicy.SKIP,
  'allow-all': ScheduleOverlapPolicy.ALLOW_ALL,
  'cancel-other': ScheduleOverlapPolicy.CANCEL_OTHER,
  'terminate-other': ScheduleOverlapPolicy.TERMINATE_OTHER,
} as const;
export type BackfillOverlap = keyof typeof BACKFILL_OVERLAPS;

export interface BackfillOutcome {
  scheduleId: string;
  from: string;
  to: string;
  overlap: BackfillOverlap;
}

/**
 * Asks the schedule to start the runs its spec would have started in [from, to] (Temporal's schedule
 * backfill; a paused schedule backfills too), and returns once the server has accepted the request:
 * the runs follow, each with its nominal time as `TemporalScheduledStartTime`. The default overlap
 * `buffer-all` runs them one after another in time order, so curation partitions are processed in
 * order.
 */
export async function backfillSchedule(
  client: Client,
  scheduleId: string,
  options: { from: Date; to: Date; overlap?: BackfillOverlap },
): Promise<BackfillOutcome> {
  const overlap = options.overlap ?? 'buffer-all';
  if (!(options.from.getTime() < options.to.getTime()))
    throw new RangeError(`backfill of "${scheduleId}": from must be before to`);
  await client.schedule
    .getHandle(scheduleId)
    .backfill({ start: options.from, end: options.to, overlap: BACKFILL_OVERLAPS[overlap] });
  return { scheduleId, from: options.from.toISOString(), to: options.to.toISOString(), overlap };
}

export async function deleteSchedule(client: Client, scheduleId: string): Promise<void> {
  await client.schedule.getHandle(scheduleId).delete();
}
