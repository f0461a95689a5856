// The `retort` CLI (DESIGN.md §7). Every command honours TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE and
// RETORT_STORE. Long commands show live progress unless --json. A user error is one line, a hint and
// exit code 2 (client/cli-support.ts); anything else is a bug and keeps its stack.
import {
  ScheduleAlreadyRunning,
  ScheduleNotFoundError,
  WorkflowFailedError,
  WorkflowNotFoundError,
  type WorkflowHandleWithFirstExecutionRunId,
} from '@temporalio/client';
import { progressQuery } from '../schemas/messages.js';
import {
  ProgressPrinter,
  UserError,
  checkDuration,
  parseAge,
  describeProgress,
  exitWithUserError,
  parseCommand,
  parseInstant,
  probeServer,
  readInputFile,
  readJsonFile,
  reportRefs,
  serverUnreachable,
  summarizeResult,
  workflowUrl,
} from './cli-support.js';
import { ENV, HELP, TYPES } from './cli-help.js';
import {
  RetortClient,
  type RunOutcome,
  type WorkflowType,
  isWorkflowType,
  rootCause,
  workflowTypeFromFile,
} from './index.js';

const USAGE = `retort — durable data curation and dataset distillation on Temporal

usage:
  retort start                         dev server + workers + the example pipeline (what \`npm start\` runs)
  retort doctor [--json]               node, tf backend + GFLOP/s, dev server, store
  retort server [--port P] [--ui-port Q] [--db-filename F]
  retort worker [--queue retort|retort-compute|all] [--task-queue NAME]
  retort run <input.json> [--workflow TYPE] [--id ID] [--wait] [--json]
  retort status <workflowId> [--json]
  retort report <workflowId>           the run's report.html
  retort schedule create|list|pause|trigger|backfill|delete …
  retort gc [--dry-run] [--older-than 30d] [--json]
\`retort <command> --help\` describes each command.

${ENV}
workflow types: ${TYPES}`;

const out = (value: unknown) => console.log(JSON.stringify(value, null, 2));

async function connect(): Promise<RetortClient> {
  await probeServer();
  try {
    return await RetortClient.connect();
  } catch (err) {
    throw serverUnreachable(err);
  }
}

/** Maps "no such workflow" to a user error naming the ID. */
async function knownWorkflow<T>(id: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError || (err as { code?: number }).code === 5)
      throw new UserError(
        `no workflow with ID "${id}" in namespace ${process.env.TEMPORAL_NAMESPACE ?? 'default'}`,
        'IDs are printed by `retort run`; the Web UI lists recent runs',
      );
    throw err;
  }
}

/** Progress of a run and of its first running child (one level down: where the work happens). */
async function nestedProgress(
  retort: RetortClient,
  workflowId: string,
): Promise<{ parent?: Record<string, unknown>; child?: Record<string, unknown>; childId?: string }> {
  const handle = retort.client.workflow.getHandle(workflowId);
  const parent = await handle.query(progressQuery).catch(() => undefined);
  const d = await handle.describe().catch(() => undefined);
  const childId = d?.raw.pendingChildren?.[0]?.workflowId ?? undefined;
  if (!childId) return { ...(parent ? { parent } : {}) };
  const child = await retort.client.workflow
    .getHandle(childId)
    .query(progressQuery)
    .catch(() => undefined);
  return { ...(parent ? { parent } : {}), ...(child ? { child } : {}), childId };
}

async function cmdRun(args: string[]) {
  const { values, positionals } = parseCommand('run', HELP.run, args, {
    workflow: { type: 'string' },
    id: { type: 'string' },
    wait: { type: 'boolean' },
    json: { type: 'boolean' },
    'task-queue': { type: 'string' },
  });
  const file = positionals[0];
  if (!file)
    throw new UserError('run needs an input file', 'e.g. `retort run examples/ingest-corpus.json --wait`');
  if (values.workflow && !isWorkflowType(values.workflow))
    throw new UserError(`unknown workflow type "${values.workflow}"`, `one of ${TYPES}`);
  readJsonFile(file); // a missing file or broken JSON is named before the type is guessed
  const type = values.workflow ?? workflowTypeFromFile(file);
  if (!type || !isWorkflowType(type))
    throw new UserError(
      `cannot tell the workflow type of ${file} from its name`,
      `pass --workflow TYPE (one of ${TYPES}) or name the file after the type, e.g. distill-cvdd.json`,
    );
  const input = readInputFile(file, type);
  const retort = await connect();
  try {
    const opts = {
      ...(values.id ? { workflowId: values.id } : {}),
      ...(values['task-queue'] ? { taskQueue: values['task-queue'] } : {}),
    };
    const handle = await retort.start(type, input, opts);
    const started = { workflowId: handle.workflowId, runId: handle.firstExecutionRunId };
    if (!values.json)
      console.error(`started ${type} ${started.workflowId}\n  Web UI: ${workflowUrl(started.workflowId)}`);
    if (!values.wait) {
      if (values.json) out({ ...started, status: 'RUNNING' });
      else console.log(`watch: retort status '${started.workflowId}'`);
      return;
    }
    const printer = new ProgressPrinter(!values.json && !!process.stderr.isTTY);
    let timer: NodeJS.Timeout | undefined;
    let stopped = false;
    // The poll in flight is awaited before the connection closes: a call the client is still
    // retrying (a server restart) would otherwise fire on a closed channel and crash the process.
    let inFlight: Promise<void> = Promise.resolve();
    const poll = async () => {
      const p = await nestedProgress(retort, started.workflowId).catch(() => ({}) as Record<string, never>);
      if (stopped) return;
      if (p.parent) printer.update(p.parent, p.child);
      timer = setTimeout(() => (inFlight = poll()), 1000);
    };
    if (!values.json) inFlight = poll();
    const outcome = await waitFor(handle).finally(async () => {
      stopped = true;
      clearTimeout(timer);
      await inFlight;
    });
    printer.end();
    if (values.json) out(outcome);
    else printOutcome(type, outcome);
    if (outcome.status !== 'COMPLETED') process.exitCode = 1;
  } finally {
    // The outcome is printed; a connection that a server restart left half-open may fail to close,
    // which must not turn a COMPLETED wait into a failed command.
    await retort.close().catch(() => undefined);
  }
}

/** How long `--wait` keeps asking a server that does not answer (a restart, a network cut). */
const RECONNECT_WINDOW_MS = 10 * 60_000;

/**
 * Waits for a started run; a failed run is an outcome (status + root cause), not an exception. A
 * server that goes away (restarts, fails over) while the run goes on is asked again until it
 * answers: the run lives on the server, so the wait outlives the connection.
 */
async function waitFor(handle: WorkflowHandleWithFirstExecutionRunId): Promise<RunOutcome> {
  const ids = { workflowId: handle.workflowId, runId: handle.firstExecutionRunId };
  let unreachableSince: number | undefined;
  for (;;) {
    try {
      return { ...ids, status: 'COMPLETED', result: await handle.result() };
    } catch (err) {
      const desc = await handle.describe().catch(() => undefined);
      if (err instanceof WorkflowFailedError || (desc && desc.status.name !== 'RUNNING'))
        return { ...ids, status: desc?.status.name ?? 'FAILED', error: rootCause(err) };
      unreachableSince = desc ? undefined : (unreachableSince ?? Date.now());
      if (unreachableSince !== undefined && Date.now() - unreachableSince > RECONNECT_WINDOW_MS)
        return { ...ids, status: 'UNKNOWN', error: rootCause(err) };
      if (!desc) console.error(`the server does not answer (${rootCause(err).message}); still waiting…`);
      await new Promise((r) => setTimeout(r, 2000));
    }
  }
}

/** The human ending of `--wait`: status, a few figures, the report and the Web UI link. */
function printOutcome(type: string, outcome: RunOutcome) {
  if (outcome.status === 'COMPLETED') {
    console.log(`${type} ${outcome.workflowId}: COMPLETED`);
    for (const line of summarizeResult(outcome.result)) console.log(line);
    for (const r of reportRefs(outcome.result)) console.log(`  ${r.path}: ${r.uri}`);
  } else {
    console.error(
      `${type} ${outcome.workflowId}: ${outcome.status}: ${outcome.error?.type ?? ''} ${outcome.error?.message ?? ''}`,
    );
  }
  console.log(`  Web UI: ${workflowUrl(outcome.workflowId)}`);
}

async function cmdStatus(args: string[]) {
  const { values, positionals } = parseCommand('status', HELP.status, args, { json: { type: 'boolean' } });
  const id = positionals[0];
  if (!id) throw new UserError('status needs a workflow ID', 'e.g. `retort status ingestCorpus/default/…`');
  const retort = await connect();
  try {
    const s = await knownWorkflow(id, () => retort.status(id));
    const nested = s.status === 'RUNNING' ? await nestedProgress(retort, id) : {};
    if (values.json) {
      out({
        ...s,
        ...(nested.childId ? { child: { workflowId: nested.childId, progress: nested.child } } : {}),
      });
      return;
    }
    console.log(
      `${s.type} ${s.workflowId}\n  status   ${s.status}\n  run      ${s.runId}\n  started  ${s.startTime}${s.closeTime ? `\n  closed   ${s.closeTime}` : ''}`,
    );
    if (s.progress) console.log(`  progress ${describeProgress(s.progress).text}`);
    if (nested.childId)
      console.log(
        `  child    ${nested.childId}${nested.child ? `: ${describeProgress(nested.child).text}` : ''}`,
      );
    console.log(`  Web UI   ${workflowUrl(id)}`);
  } finally {
    await retort.close();
  }
}

async function cmdReport(args: string[]) {
  const { values, positionals } = parseCommand('report', HELP.report, args, { json: { type: 'boolean' } });
  const id = positionals[0];
  if (!id) throw new UserError('report needs a workflow ID', 'e.g. `retort report distillDataset/mnist/…`');
  const { openStore } = await import('../storage/open.js');
  const { writeRunReport } = await import('./report.js');
  const retort = await connect();
  try {
    const status = await knownWorkflow(id, () => retort.status(id));
    if (status.status !== 'COMPLETED')
      throw new UserError(
        `workflow "${id}" is ${status.status}: a report is written when a run completes`,
        `follow it with \`retort status ${id}\``,
      );
    const result = (await retort.client.workflow.getHandle(id).result()) as Record<string, unknown>;
    const committed = reportRefs(result).map((r) => r.uri);
    const uri = committed[0] ?? (await writeRunReport(openStore(), id, result));
    if (values.json) out({ workflowId: id, report: uri });
    else console.log(uri);
  } finally {
    await retort.close();
  }
}

async function cmdSchedule(args: string[]) {
  const [sub, ...rest] = args;
  if (sub === '--help' || sub === '-h' || sub === undefined) {
    console.log(HELP.schedule);
    if (sub === undefined) process.exitCode = 2;
    return;
  }
  if (!['create', 'list', 'pause', 'trigger', 'backfill', 'delete'].includes(sub))
    throw new UserError(
      `unknown schedule command "${sub}"`,
      'one of create, list, pause, trigger, backfill, delete',
    );
  const { values, positionals } = parseCommand(`schedule ${sub}`, HELP.schedule, rest, {
    workflow: { type: 'string' },
    every: { type: 'string' },
    cron: { type: 'string', multiple: true },
    'task-queue': { type: 'string' },
    paused: { type: 'boolean' },
    resume: { type: 'boolean' },
    note: { type: 'string' },
    wait: { type: 'boolean' },
    json: { type: 'boolean' },
    from: { type: 'string' },
    to: { type: 'string' },
    overlap: { type: 'string' },
  });
  const schedules = await import('./schedules.js');
  const id = positionals[0];
  if (sub !== 'list' && !id)
    throw new UserError(`schedule ${sub} needs a schedule ID`, `see \`retort schedule --help\``);
  // Validate the input file and the interval before connecting: a bad file fails at once, naming the field.
  let createArgs: { type: WorkflowType; input: Record<string, unknown> } | undefined;
  if (sub === 'create') {
    const file = positionals[1];
    if (!file)
      throw new UserError(
        'schedule create needs a schedule ID and an input file',
        'e.g. `retort schedule create nightly curate.json --every 1d`',
      );
    if (values.every) checkDuration('--every', values.every);
    readJsonFile(file);
    const type = values.workflow ?? workflowTypeFromFile(file) ?? 'curateCorpus';
    if (!isWorkflowType(type)) throw new UserError(`unknown workflow type "${type}"`, `one of ${TYPES}`);
    createArgs = { type, input: readInputFile(file, type) };
  }
  const backfillArgs = sub === 'backfill' ? backfillRange(values, schedules.BACKFILL_OVERLAPS) : undefined;
  const retort = await connect();
  try {
    const show = (info: Awaited<ReturnType<typeof schedules.describeSchedule>>) =>
      values.json
        ? out(info)
        : console.log(
            `${info.scheduleId}  ${info.workflowType ?? '?'}  ${info.paused ? 'paused' : 'active'}  runs: ${info.recentRuns.length}${info.nextRunTimes[0] ? `  next: ${info.nextRunTimes[0]}` : ''}`,
          );
    switch (sub) {
      case 'create': {
        const { type, input } = createArgs!;
        show(
          await schedules.createSchedule(retort.client, {
            scheduleId: id!,
            workflowType: type,
            input,
            ...(values.every ? { every: values.every } : {}),
            ...(values.cron ? { cron: values.cron } : {}),
            ...(values['task-queue'] ? { taskQueue: values['task-queue'] } : {}),
            ...(values.paused ? { paused: true } : {}),
            ...(values.note ? { note: values.note } : {}),
          }),
        );
        return;
      }
      case 'list': {
        const all = await schedules.listSchedules(retort.client);
        if (values.json) out(all);
        else all.forEach(show);
        return;
      }
      case 'pause':
        show(await schedules.pauseSchedule(retort.client, id!, values.resume ?? false, values.note));
        return;
      case 'trigger': {
        const outcome = await schedules.triggerSchedule(retort.client, id!, { wait: values.wait ?? false });
        if (values.json) out(outcome);
        else
          console.log(
            `${id}: ${outcome.workflowId} ${outcome.status}${outcome.error ? `: ${outcome.error}` : ''}\n  Web UI: ${workflowUrl(outcome.workflowId)}`,
          );
        if (values.wait && outcome.status !== 'COMPLETED') process.exitCode = 1;
        return;
      }
      case 'backfill': {
        const done = await schedules.backfillSchedule(retort.client, id!, backfillArgs!);
        if (values.json) out(done);
        else
          console.log(
            `${id}: backfill ${done.from} → ${done.to} requested (overlap ${done.overlap}); runs: \`retort schedule list\`, the Web UI`,
          );
        return;
      }
      case 'delete':
        await schedules.deleteSchedule(retort.client, id!);
        if (values.json) out({ scheduleId: id, deleted: true });
        else console.log(`deleted schedule ${id}`);
        return;
    }
  } catch (err) {
    if (err instanceof ScheduleAlreadyRunning || err instanceof schedules.ScheduleExists)
      throw new UserError(
        `schedule "${id}" already exists`,
        `delete it first (\`retort schedule delete ${id}\`) or pick another ID`,
      );
    if (err instanceof ScheduleNotFoundError)
      throw new UserError(`no schedule "${id}"`, '`retort schedule list` shows the schedules');
    if (err instanceof schedules.ScheduleBusy)
      throw new UserError(err.message, 'trigger it again when that run has finished');
    throw err;
  } finally {
    await retort.close();
  }
}

/** `--from`, `--to` and `--overlap` of `schedule backfill`, checked before connecting. */
function backfillRange<O extends string>(
  values: { from?: string; to?: string; overlap?: string },
  overlaps: Record<O, unknown>,
): { from: Date; to: Date; overlap: O } {
  const example = 'e.g. `retort schedule backfill nightly --from 2026-11-01 --to 2026-11-03`';
  if (!values.from || !values.to) throw new UserError('schedule backfill needs --from and --to', example);
  const from = parseInstant('--from', values.from);
  const to = parseInstant('--to', values.to);
  if (!(from.getTime() < to.getTime()))
    throw new UserError(`--from ${values.from} is not before --to ${values.to}`, example);
  const names = Object.keys(overlaps) as O[];
  const overlap = (values.overlap ?? 'buffer-all') as O;
  if (!names.includes(overlap))
    throw new UserError(
      `--overlap "${values.overlap}" is not an overlap policy`,
      `one of ${names.join(', ')}`,
    );
  return { from, to, overlap };
}

async function cmdGc(args: string[]) {
  const { values } = parseCommand('gc', HELP.gc, args, {
    'dry-run': { type: 'boolean' },
    'older-than': { type: 'string' },
    json: { type: 'boolean' },
  });
  const { DEFAULT_GC_AGE, collectGarbage } = await import('./gc.js');
  const olderThanMs = parseAge('--older-than', values['older-than'] ?? DEFAULT_GC_AGE);
  const { openStore } = await import('../storage/open.js');
  const store = openStore();
  const retort = await connect();
  try {
    const dryRun = values['dry-run'] ?? false;
    const outcome = await collectGarbage(retort.client, store, { olderThanMs, dryRun });
    if (values.json) return out(outcome);
    for (const o of outcome.delete)
      console.log(`${dryRun ? 'would delete' : 'deleted'}  ${o.key}  ${o.size}`);
    console.log(
      `${outcome.store}: ${dryRun ? 'would delete' : 'deleted'} ${outcome.delete.length} objects, ${formatBytes(outcome.bytes)}; kept ${outcome.kept} (written before ${outcome.cutoff}; ${outcome.openRuns} open runs, ${outcome.schedules} schedules)`,
    );
  } finally {
    await retort.close();
  }
}

const formatBytes = (n: number) =>
  n < 1024 ? `${n} B` : n < 1024 ** 2 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1024 ** 2).toFixed(1)} MiB`;

async function main() {
  const [command, ...rest] = process.argv.slice(2);
  switch (command) {
    case 'run':
      return cmdRun(rest);
    case 'status':
      return cmdStatus(rest);
    case 'report':
      return cmdReport(rest);
    case 'schedule':
      return cmdSchedule(rest);
    case 'gc':
      return cmdGc(rest);
    case 'doctor':
    case 'server':
    case 'worker':
    case 'start': {
      // These start servers and workers: they live with the workers (which may import everything).
      // Their --help needs none of that.
      if (rest.includes('--help') || rest.includes('-h')) {
        console.log(HELP[command]);
        return;
      }
      const ops = await import('../workers/commands.js');
      return ops[command](rest);
    }
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      console.log(USAGE);
      return;
    default:
      throw new UserError(
        `unknown command "${command}"`,
        'commands: start, doctor, server, worker, run, status, report, schedule, gc (`retort --help`)',
      );
  }
}

main().catch((err: unknown) => {
  if (err instanceof UserError) exitWithUserError(err);
  console.error(`retort: ${(err as Error)?.stack ?? String(err)}`);
  process.exit(1);
});
