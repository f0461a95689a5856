// The `retort` CLI (DESIGN.md §7). Every command honours TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE and
// RETORT_STORE. Long commands show live progress unless --json.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import {
  RetortClient,
  WORKFLOW_INPUTS,
  type WorkflowType,
  isWorkflowType,
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
  retort report <workflowId>           write runs/<id>/report.html next to the run manifest
  retort schedule create <id> <input.json> [--workflow TYPE] [--every 1d | --cron "0 3 * * *"]
                         [--task-queue Q] [--paused] [--json]
                                       put a pipeline (default curateCorpus) on a Temporal Schedule,
                                       overlap SKIP, pause on failure; no --every/--cron: trigger-only
  retort schedule list [--json]
  retort schedule pause <id> [--resume] [--note TEXT] [--json]
  retort schedule trigger <id> [--wait] [--json]   run it now; prints the run's workflow ID (and result)
  retort schedule delete <id>

environment: TEMPORAL_ADDRESS (127.0.0.1:7233), TEMPORAL_NAMESPACE (default), RETORT_STORE
(file://./.retort/store), RETORT_TF_BACKEND (auto|tfjs-node-gpu|tfjs-node|cpu)
workflow types: ${Object.keys(WORKFLOW_INPUTS).join(', ')}`;

class UsageError extends Error {}

function fail(message: string, code = 1): never {
  console.error(`retort: ${message}`);
  process.exit(code);
}

const out = (value: unknown) => console.log(JSON.stringify(value, null, 2));

/** Reads a workflow input file and validates it against the type's schema, naming the bad field. */
function readInputFile(file: string, type: keyof typeof WORKFLOW_INPUTS): Record<string, unknown> {
  let input: Record<string, unknown>;
  try {
    input = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    fail(`cannot read ${file}: ${(err as Error).message}`);
  }
  const parsed = WORKFLOW_INPUTS[type].safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    fail(`${file}: field "${issue.path.join('.') || '(input)'}": ${issue.message}`);
  }
  return input;
}

async function cmdRun(args: string[]) {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      workflow: { type: 'string' },
      id: { type: 'string' },
      wait: { type: 'boolean' },
      json: { type: 'boolean' },
      'task-queue': { type: 'string' },
    },
  });
  const file = positionals[0];
  if (!file) throw new UsageError('run needs an input file');
  const type = values.workflow ?? workflowTypeFromFile(file);
  if (!type || !isWorkflowType(type)) {
    throw new UsageError(
      `cannot tell the workflow type of ${file}: pass --workflow (one of ${Object.keys(WORKFLOW_INPUTS).join(', ')})`,
    );
  }
  const input = readInputFile(file, type);
  const retort = await RetortClient.connect();
  try {
    const opts = {
      ...(values.id ? { workflowId: values.id } : {}),
      ...(values['task-queue'] ? { taskQueue: values['task-queue'] } : {}),
    };
    if (!values.wait) {
      const handle = await retort.start(type, input, opts);
      const res = { workflowId: handle.workflowId, runId: handle.firstExecutionRunId, status: 'RUNNING' };
      if (values.json) out(res);
      else
        console.log(
          `started ${type} ${res.workflowId} (run ${res.runId})\nwatch: retort status '${res.workflowId}'`,
        );
      return;
    }
    const live = !values.json && process.stderr.isTTY;
    const outcome = await retort.run(type, input, {
      ...opts,
      ...(values.json ? {} : { onProgress: (p) => progressLine(p, live) }),
    });
    if (live) process.stderr.write('\n');
    if (values.json) out(outcome);
    else if (outcome.status === 'COMPLETED')
      console.log(`${type} ${outcome.workflowId}: COMPLETED\n${JSON.stringify(outcome.result, null, 2)}`);
    else
      console.error(
        `${type} ${outcome.workflowId}: ${outcome.status}: ${outcome.error?.type ?? ''} ${outcome.error?.message ?? ''}`,
      );
    if (outcome.status !== 'COMPLETED') process.exitCode = 1;
  } finally {
    await retort.close();
  }
}

let lastLine = '';
function progressLine(p: Record<string, unknown>, live: boolean) {
  const parts = Object.entries(p)
    .filter(([, v]) => typeof v !== 'object')
    .map(([k, v]) => `${k}=${typeof v === 'number' && !Number.isInteger(v) ? v.toFixed(4) : String(v)}`);
  const line = parts.join(' ');
  if (line === lastLine) return;
  lastLine = line;
  if (live) process.stderr.write(`\r\x1b[2K${line}`);
  else console.error(line);
}

async function cmdStatus(args: string[]) {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { json: { type: 'boolean' } },
  });
  const id = positionals[0];
  if (!id) throw new UsageError('status needs a workflow ID');
  const retort = await RetortClient.connect();
  try {
    const s = await retort.status(id);
    if (values.json) out(s);
    else {
      console.log(
        `${s.type} ${s.workflowId}\n  status   ${s.status}\n  run      ${s.runId}\n  started  ${s.startTime}${s.closeTime ? `\n  closed   ${s.closeTime}` : ''}`,
      );
      if (s.progress) console.log(`  progress ${JSON.stringify(s.progress)}`);
    }
  } finally {
    await retort.close();
  }
}

async function cmdReport(args: string[]) {
  const { positionals } = parseArgs({ args, allowPositionals: true });
  const id = positionals[0];
  if (!id) throw new UsageError('report needs a workflow ID');
  const { openStore } = await import('../storage/open.js');
  const { writeRunReport } = await import('./report.js');
  const retort = await RetortClient.connect();
  try {
    // The result adds per-group tables; the manifest alone is enough for the artifact list.
    const status = await retort.status(id).catch(() => undefined);
    const result =
      status?.status === 'COMPLETED'
        ? ((await retort.client.workflow.getHandle(id).result()) as Record<string, unknown>)
        : undefined;
    console.log(await writeRunReport(openStore(), id, result));
  } finally {
    await retort.close();
  }
}

async function cmdSchedule(args: string[]) {
  const [sub, ...rest] = args;
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      workflow: { type: 'string' },
      every: { type: 'string' },
      cron: { type: 'string', multiple: true },
      'task-queue': { type: 'string' },
      paused: { type: 'boolean' },
      resume: { type: 'boolean' },
      note: { type: 'string' },
      wait: { type: 'boolean' },
      json: { type: 'boolean' },
    },
  });
  const schedules = await import('./schedules.js');
  const id = positionals[0];
  if (!['create', 'list', 'pause', 'trigger', 'delete'].includes(sub ?? '')) {
    throw new UsageError(`unknown schedule command "${sub ?? ''}" (create, list, pause, trigger, delete)`);
  }
  if (sub !== 'list' && !id) throw new UsageError(`schedule ${sub ?? ''} needs a schedule ID`);
  // Validate the input file before connecting: a bad file fails at once, naming the field.
  let createArgs: { type: WorkflowType; input: Record<string, unknown> } | undefined;
  if (sub === 'create') {
    const file = positionals[1];
    if (!file) throw new UsageError('schedule create needs a schedule ID and an input file');
    const type = values.workflow ?? workflowTypeFromFile(file) ?? 'curateCorpus';
    if (!isWorkflowType(type)) throw new UsageError(`unknown workflow type "${type}"`);
    createArgs = { type, input: readInputFile(file, type) };
  }
  const retort = await RetortClient.connect();
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
            `${id}: ${outcome.workflowId} ${outcome.status}${outcome.error ? `: ${outcome.error}` : ''}`,
          );
        if (values.wait && outcome.status !== 'COMPLETED') process.exitCode = 1;
        return;
      }
      case 'delete':
        await schedules.deleteSchedule(retort.client, id!);
        if (values.json) out({ scheduleId: id, deleted: true });
        else console.log(`deleted schedule ${id}`);
        return;
      default:
        throw new UsageError(
          `unknown schedule command "${sub ?? ''}" (create, list, pause, trigger, delete)`,
        );
    }
  } finally {
    await retort.close();
  }
}

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
    case 'doctor':
    case 'server':
    case 'worker':
    case 'start': {
      // These start servers and workers: they live with the workers (which may import everything).
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
      throw new UsageError(`unknown command "${command}"`);
  }
}

main().catch((err: unknown) => {
  if (err instanceof UsageError) fail(`${err.message}\n\n${USAGE}`, 2);
  fail((err as Error)?.stack ?? String(err));
});
