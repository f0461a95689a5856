// `--help` of every `retort` subcommand (client/cli.ts; workers/commands.ts for the ones that start things).
import { WORKFLOW_INPUTS } from './workflow-types.js';

export const TYPES = Object.keys(WORKFLOW_INPUTS).join(', ');
export const ENV = `environment: TEMPORAL_ADDRESS (127.0.0.1:7233), TEMPORAL_NAMESPACE (default), RETORT_STORE
(file://./.retort/store), RETORT_TF_BACKEND (auto|tfjs-node-gpu|tfjs-node|cpu), RETORT_UI_URL (the
Web UI for links; default: the dev server's, frontend port + 1000), RETORT_METRICS_ADDRESS (host:port of
a worker's Prometheus /metrics; unset: off)`;

export const HELP = {
  run: `usage: retort run <input.json> [--workflow TYPE] [--id ID] [--task-queue Q] [--wait] [--json]

Starts a workflow on one JSON input and prints its Web UI link. The type comes from the file name
(examples/distill-cvdd.json → distillCvdd) or --workflow. The input is validated before anything starts.
  --wait        follow live progress (a bar on a terminal, one line per change otherwise), then print
                a summary, the report and the UI link; exit 1 if the run did not complete
  --json        machine output: {"workflowId","runId","status"[,"result"]}
  --id ID       workflow ID (default <type>/<dataset>/<hash of the input>: identical work joins)
workflow types: ${TYPES}`,
  status: `usage: retort status <workflowId> [--json]

Status, timestamps and live progress of a run, and of its running child workflow.`,
  report: `usage: retort report <workflowId> [--json]

Prints where a finished run's report is (the report its pipeline committed, or one written now from
its manifest next to it: runs/<id>/report.html).`,
  schedule: `usage:
  retort schedule create <id> <input.json> [--workflow TYPE] [--every 1d | --cron "0 3 * * *"]
                         [--task-queue Q] [--paused] [--note TEXT] [--json]
      put a pipeline (default curateCorpus) on a Temporal Schedule: overlap SKIP, pause on failure;
      without --every/--cron it runs only when triggered
  retort schedule list [--json]
  retort schedule pause <id> [--resume] [--note TEXT] [--json]
  retort schedule trigger <id> [--wait] [--json]   run it now; prints the run's workflow ID (and result)
  retort schedule backfill <id> --from <ISO> --to <ISO> [--overlap buffer-all] [--json]
      start the runs the schedule's --every/--cron would have started from --from to --to (both
      included; a paused schedule too), one after another in time order (overlap buffer-all; also
      buffer-one, skip, allow-all, cancel-other, terminate-other). Dates: 2026-11-01 (midnight UTC)
      or 2026-11-01T06:00:00Z. Each run's nominal time picks its partition when the input has
      "partitionFromSchedule": "day" (or "hour")
  retort schedule delete <id> [--json]`,
  gc: `usage: retort gc [--dry-run] [--older-than 30d] [--json]

Deletes from RETORT_STORE what nothing references: objects under artifacts/ and checkpoints/ that no
run manifest, lineage pointer, schedule input or open workflow names (a memoized result stays while
everything it names stays), last written longer ago than --older-than (default 30d) and before the
oldest open workflow started. Nothing else in the store is touched.
  --dry-run     list what would be deleted (key, bytes) and the total; delete nothing
  --json        machine output: {"store","cutoff","delete":[{"key","size"}],"bytes","kept",…}`,
  doctor: `usage: retort doctor [--json]

Node, the tf backend (measured GFLOP/s, self-test), the Temporal CLI and server, the store.`,
  server: `usage: retort server [--port 7233] [--ui-port 8233] [--db-filename .retort/temporal.db] [--headless]

A local Temporal dev server with Retort's search attributes; its log goes next to the database file.`,
  worker: `usage: retort worker [--queue retort|retort-compute|all] [--task-queue NAME]

A worker polling the given queues; run as many as you like, on as many hosts (sharing RETORT_STORE).`,
  start: `usage: retort start [--exit] [--example FILE]

What \`npm start\` runs: the dev server (unless one answers at TEMPORAL_ADDRESS), workers, then the
ingest example, two generations of the curation example (the second with selection, Aioli mixing
and a re-warmed LR) and the distillation example; prints each run's report and Web UI link.
--example FILE runs that one input instead. Stays up on a terminal until Ctrl-C (not with --exit or CI).`,
} as const;
