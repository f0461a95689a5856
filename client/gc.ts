// `retort gc`: the Temporal side of garbage collection (storage/gc.ts marks and sweeps the store).
// Besides manifests and lineage pointers, a store object stays while a schedule's input names it or
// an open workflow could still use it: every ref in an open run's history (its input, activity and
// child results) is a root, and everything written after the oldest open run started (less a clock
// margin) is kept — so a run in progress never loses a checkpoint or a memo hit it is about to use.
//
//   const plan = await collectGarbage(retort.client, openStore(), { olderThanMs: 30 * 86_400_000, dryRun: true });
//   plan.delete; // [{ key, size }], in deletion order; plan.bytes
import type { Client } from '@temporalio/client';
import { type GcPlan, planGc, sweep } from '../storage/gc.js';
import type { ObjectStore } from '../storage/object-store.js';

export interface CollectGarbageOptions {
  /** Only objects last written longer ago than this are deleted. */
  olderThanMs: number;
  /** Plan only. */
  dryRun?: boolean;
  /** Visibility query for the runs that count as open (default: every running workflow). */
  runningQuery?: string;
  /** Store and server clocks may differ by this much (default 60 s). */
  clockSkewMs?: number;
  now?: number;
}

export interface GcOutcome extends GcPlan {
  dryRun: boolean;
  /** Schedules and open workflow runs whose inputs and histories were roots. */
  schedules: number;
  openRuns: number;
}

/** The default age: a month, so a run repeated within it still finds its intermediate artifacts. */
export const DEFAULT_GC_AGE = '30d';
const RUNNING = 'ExecutionStatus="Running"';

/** JSON payloads inside a workflow history (binary payload data decoded), for ref walking. */
function payloadValues(value: unknown, out: unknown[] = []): unknown[] {
  if (value instanceof Uint8Array) {
    try {
      out.push(JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(value)));
    } catch {
      // not a JSON payload (binary/protobuf): it names no artifact
    }
  } else if (Array.isArray(value)) value.forEach((v) => payloadValues(v, out));
  else if (value && typeof value === 'object')
    for (const v of Object.values(value as Record<string, unknown>)) payloadValues(v, out);
  return out;
}

/** Open runs: their IDs, the oldest start, and every JSON payload of their histories. */
async function openRuns(client: Client, query: string) {
  const ids: string[] = [];
  const payloads: unknown[] = [];
  let oldest = Infinity;
  for await (const w of client.workflow.list({ query })) {
    ids.push(`${w.workflowId}/${w.runId}`);
    oldest = Math.min(oldest, w.startTime.getTime());
    const history = await client.workflow
      .getHandle(w.workflowId, w.runId)
      .fetchHistory()
      .catch(() => undefined); // closed meanwhile: its manifest (or nothing) speaks for it
    payloadValues(history, payloads);
  }
  return { ids: ids.sort(), payloads, oldest };
}

/** Schedule actions (workflow type, input args) in the namespace. */
async function scheduleActions(client: Client): Promise<unknown[]> {
  const out: unknown[] = [];
  for await (const s of client.schedule.list()) {
    const d = await client.schedule
      .getHandle(s.scheduleId)
      .describe()
      .catch(() => undefined);
    if (d) out.push(d.action);
  }
  return out;
}

/**
 * Plans (and unless `dryRun`, performs) a collection of `store`. If a workflow starts between the
 * mark phase and the sweep, the plan is made again, so the sweep never races a run it did not see.
 */
export async function collectGarbage(
  client: Client,
  store: ObjectStore,
  options: CollectGarbageOptions,
): Promise<GcOutcome> {
  const query = options.runningQuery ?? RUNNING;
  const skew = options.clockSkewMs ?? 60_000;
  for (let attempt = 0; ; attempt++) {
    const now = options.now ?? Date.now();
    const schedules = await scheduleActions(client);
    const open = await openRuns(client, query);
    const cutoffMs = Math.min(now - options.olderThanMs, open.oldest - skew);
    const plan = await planGc(store, { cutoffMs, roots: [...schedules, ...open.payloads] });
    const outcome: GcOutcome = {
      ...plan,
      dryRun: options.dryRun ?? false,
      schedules: schedules.length,
      openRuns: open.ids.length,
    };
    if (options.dryRun) return outcome;
    const again = await openRuns(client, query);
    const started = again.ids.filter((id) => !open.ids.includes(id));
    if (started.length === 0) {
      await sweep(store, plan);
      return outcome;
    }
    if (attempt === 2)
      throw new Error(
        `gc: workflows keep starting during the mark phase (${started.join(', ')}); nothing was deleted, run it again`,
      );
  }
}
