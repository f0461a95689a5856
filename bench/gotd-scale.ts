// `npm run bench -- gotd-scale [--json] [--quick]`
//
// GOT-D selection at scale (specs/warmup-selection-gotd.md §4.6), three measurements:
// 1. scale: wall time and peak RSS of one selection for 100k and 1M candidates × 1k targets (d = 64;
//    synthetic L2-normalised Gaussian-mixture embeddings, bench/_gotd-data.ts). Each size runs
//    selectWarmupData (strategy auto: exact ≤ 100k, random chunks of ≤ 100k above) in its own child
//    process (bench/_gotd-scale-child.ts), so the peak RSS it reports is that size's alone.
// 2. agreement: exact vs chunked (4 random chunks) on a size where both run: Spearman correlation of
//    the candidates' ranks and top-K overlap at K = 0.5, 1, 2, 5 % of the pool, plus the rare
//    component's share of each selection.
// 3. scale-out: the same sharded `selectWarmup` job (precomputed embeddings, strategy chunked, one
//    scoring activity per shard) through a real Temporal dev server, with 1 vs 2 compute-worker
//    processes. Each worker process is limited to one TensorFlow thread (TF_NUM_INTRAOP_THREADS = 1,
//    TF_NUM_INTEROP_THREADS = 1, OMP_NUM_THREADS = 1) and runs one activity at a time, i.e. it stands
//    in for a one-core host; the speed-up is of the scoring stage (first scoreShard scheduled → last
//    completed, from the workflow history), and the whole workflow's wall time is reported beside it.
//    A third run (1 worker, TensorFlow's default threads) shows what one process gets from all cores.
//    Timings on a shared machine depend on what else runs: every run records the 1-min load average,
//    the CPU seconds each worker process group spent, and the overlap of the scoring activities
//    (Σ activity durations / stage span); `projected_speedup_separate_hosts` = CPU of the 1-worker
//    run / the busiest worker's CPU in the 2-worker run, i.e. the speed-up if each worker had its own core.
// `--quick` (≤ 5 min on 2 cores): 10k and 50k candidates, agreement on 10k, scale-out on 40k in 4
// shards; the JSON has the same shape.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import type { SelectWarmupInput, SelectWarmupResult } from '../schemas/gotd.js';
import { EMBEDDINGS, TEXT_CORPUS } from '../schemas/tables.js';
import { buildTable } from '../storage/arrow-tables.js';
import { FileStore } from '../storage/file-store.js';
import { encodeParquet } from '../storage/parquet.js';
import { spawnWorkerProcess, type WorkerProcess } from '../test/support/worker-process.js';
import { startDevServer } from '../workers/dev-server.js';
import { createWorkers } from '../workers/workers.js';
import { type SyntheticTable, syntheticPool, syntheticTarget } from './_gotd-data.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const argv = process.argv.slice(2);
const opts = { json: argv.includes('--json'), quick: argv.includes('--quick') };
const say = (msg: string): void => {
  if (!opts.json) process.stderr.write(`${msg}\n`);
};
const round = (x: number, digits = 2): number => Number(x.toFixed(digits));
const load1 = (): number => round(loadavg()[0]!, 2);

const PLAN = opts.quick
  ? {
      scale: [10_000, 50_000],
      targets: 1000,
      dim: 64,
      agreement: { candidates: 10_000, chunks: 4 },
      scaleOut: { candidates: 40_000, shards: 4 },
    }
  : {
      scale: [100_000, 1_000_000],
      targets: 1000,
      dim: 64,
      agreement: { candidates: 100_000, chunks: 4 },
      scaleOut: { candidates: 200_000, shards: 8 },
    };

type Json = Record<string, unknown>;
const errors: string[] = [];

/** Runs the child script; its last stdout line is a JSON object. */
function child(args: string[], timeoutS: number): Json | null {
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', join(ROOT, 'bench', '_gotd-scale-child.ts'), ...args],
    {
      cwd: ROOT,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: timeoutS * 1000,
      maxBuffer: 16 << 20,
    },
  );
  const last = r.stdout.trim().split('\n').pop() ?? '';
  if (r.status !== 0 || !last.startsWith('{')) {
    const tail = (r.stderr ?? '').trim().split('\n').slice(-3).join(' | ');
    errors.push(
      `child ${args.join(' ')}: ${r.error?.message ?? (r.signal ? `killed by ${r.signal}` : `exit ${r.status}`)}${tail ? `: ${tail}` : ''}`,
    );
    return null;
  }
  return JSON.parse(last) as Json;
}

function textTable(t: SyntheticTable): Uint8Array {
  return encodeParquet(
    buildTable(TEXT_CORPUS, {
      id: t.ids,
      group: t.groups,
      text: t.ids.map((id) => `synthetic row ${id}`),
      source: t.ids.map(() => 'bench'),
    }),
  );
}
const embeddingTable = (t: SyntheticTable) =>
  encodeParquet(buildTable(EMBEDDINGS, { id: t.ids, embedding: { flat: t.embeddings, size: t.dim } }));

interface ScaleOutRun {
  workers: number;
  tf_threads_per_worker: number | 'default';
  workflow_s: number;
  score_stage_s: number;
  /** Σ scoreShard durations (started → completed) / stage span: 2 means two ran at all times. */
  score_overlap: number;
  /** Scoring activities run by each worker identity. */
  shards_by_worker: Record<string, number>;
  /** CPU seconds (user + system) of each worker process group during the workflow. */
  cpu_s_by_worker: Record<string, number>;
  load1_before: number;
}

/** CPU seconds (user + system) of every process in process group `pgid` (Linux /proc; 0 elsewhere). */
function groupCpuSeconds(pgid: number): number {
  let ticks = 0;
  try {
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        if (Number(fields[2]) === pgid) ticks += Number(fields[11]) + Number(fields[12]);
      } catch {
        // the process ended meanwhile
      }
    }
  } catch {
    return 0;
  }
  return ticks / 100; // USER_HZ
}

/** Scoring-stage span and who ran each scoreShard, from the workflow history. */
async function scoreStage(client: Client, workflowId: string) {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  const scheduled = new Map<string, number>();
  const startedAt = new Map<string, number>();
  const byWorker: Record<string, number> = {};
  let first = Infinity;
  let last = -Infinity;
  let busy = 0;
  const time = (t: unknown) => {
    const ts = t as { seconds?: { toNumber(): number } | number; nanos?: number };
    const s = typeof ts.seconds === 'number' ? ts.seconds : (ts.seconds?.toNumber() ?? 0);
    return s + (ts.nanos ?? 0) / 1e9;
  };
  for (const e of history.events ?? []) {
    const id = String(e.eventId);
    const sch = e.activityTaskScheduledEventAttributes;
    if (sch?.activityType?.name === 'scoreShard') {
      scheduled.set(id, 1);
      first = Math.min(first, time(e.eventTime));
    }
    const started = e.activityTaskStartedEventAttributes;
    if (started && scheduled.has(String(started.scheduledEventId))) {
      const who = started.identity ?? '?';
      byWorker[who] = (byWorker[who] ?? 0) + 1;
      startedAt.set(String(started.scheduledEventId), time(e.eventTime));
    }
    const done = e.activityTaskCompletedEventAttributes;
    if (done && scheduled.has(String(done.scheduledEventId))) {
      last = Math.max(last, time(e.eventTime));
      busy += time(e.eventTime) - (startedAt.get(String(done.scheduledEventId)) ?? time(e.eventTime));
    }
  }
  return { span: last - first, overlap: busy / (last - first), byWorker };
}

async function scaleOut(): Promise<Json | null> {
  const { candidates, shards } = PLAN.scaleOut;
  const scratch = mkdtempSync(join(tmpdir(), 'retort-gotd-scale-'));
  const store = new FileStore(join(scratch, 'store'));
  say(
    `scale-out: ${candidates} candidates × ${PLAN.targets} targets in ${shards} shards; starting a dev server`,
  );
  const server = await startDevServer({ uiPort: false, logFile: join(scratch, 'temporal.log') });
  const workerProcesses: WorkerProcess[] = [];
  let connection: Connection | undefined;
  let native: NativeConnection | undefined;
  try {
    const pool = syntheticPool(candidates, PLAN.dim, 1);
    const target = syntheticTarget(PLAN.targets, PLAN.dim, 1);
    const inputs = {
      pool: 'inputs/pool.parquet',
      target: 'inputs/target.parquet',
      poolEmb: 'inputs/pool-emb.parquet',
      targetEmb: 'inputs/target-emb.parquet',
    };
    await store.put(inputs.pool, textTable(pool));
    await store.put(inputs.target, textTable(target));
    await store.put(inputs.poolEmb, embeddingTable(pool));
    await store.put(inputs.targetEmb, embeddingTable(target));

    const taskQueue = `gotd-scale-${Date.now()}`;
    native = await NativeConnection.connect({ address: server.address });
    // Workflows and I/O activities (prepare, merge) in this process; compute in worker processes.
    const [orchestrator] = await createWorkers({ connection: native, store, taskQueue, queues: 'retort' });
    const running = orchestrator!.run();
    connection = await Connection.connect({ address: server.address });
    const client = new Client({ connection });
    const input: SelectWarmupInput = {
      dataset: 'gotd-scale',
      pool: store.uri(inputs.pool),
      target: store.uri(inputs.target),
      embedder: { kind: 'precomputed', pool: store.uri(inputs.poolEmb), target: store.uri(inputs.targetEmb) },
      preprocess: { kind: 'none' },
      dedup: false,
      budget: { fraction: 0.02 },
      strategy: 'chunked',
      shards,
      summaryMaxPool: 2000,
      cache: false,
      profile: 'prod',
    };
    const oneThread = { TF_NUM_INTRAOP_THREADS: '1', TF_NUM_INTEROP_THREADS: '1', OMP_NUM_THREADS: '1' };
    const runs: ScaleOutRun[] = [];
    for (const [workers, threads] of [
      [1, 1],
      [2, 1],
      [1, 'default'],
    ] as const) {
      say(`scale-out: ${workers} compute worker process(es), TensorFlow threads ${threads}`);
      for (let w = 0; w < workers; w++) {
        workerProcesses.push(
          await spawnWorkerProcess({
            address: server.address,
            taskQueue,
            store: store.root,
            queues: 'retort-compute',
            identity: `compute-${w + 1}`,
            env: threads === 1 ? oneThread : {},
          }),
        );
      }
      const load = load1();
      const workflowId = `gotd-scale-${workers}w-${threads}-${Date.now()}`;
      const cpuBefore = workerProcesses.map((p) => groupCpuSeconds(p.pid));
      const t0 = performance.now();
      const result = (await client.workflow.execute('selectWarmup', {
        taskQueue,
        workflowId,
        args: [input],
      })) as SelectWarmupResult;
      const workflowS = (performance.now() - t0) / 1000;
      const cpu = Object.fromEntries(
        workerProcesses.map((p, w) => [`compute-${w + 1}`, round(groupCpuSeconds(p.pid) - cpuBefore[w]!)]),
      );
      const stage = await scoreStage(client, workflowId);
      runs.push({
        workers,
        tf_threads_per_worker: threads,
        workflow_s: round(workflowS),
        score_stage_s: round(stage.span),
        score_overlap: round(stage.overlap),
        shards_by_worker: stage.byWorker,
        cpu_s_by_worker: cpu,
        load1_before: load,
      });
      say(
        `  workflow ${round(workflowS)} s, scoring stage ${round(stage.span)} s (overlap ${round(stage.overlap)}), shards ${JSON.stringify(stage.byWorker)}, CPU s ${JSON.stringify(cpu)}, K ${result.budget}`,
      );
      await Promise.all(workerProcesses.splice(0).map((p) => p.stop()));
    }
    orchestrator!.shutdown();
    await running;
    const one = runs[0]!;
    const two = runs[1]!;
    const cpuOf = (r: ScaleOutRun) => Object.values(r.cpu_s_by_worker);
    return {
      method:
        'one selectWarmup job (precomputed embeddings, strategy chunked, one scoreShard activity per shard) on a local Temporal dev server; ' +
        'workflow + I/O worker in the bench process; N compute-worker OS processes (one activity slot each), each limited to one TensorFlow thread to stand in for a one-core host; ' +
        'speed-up = scoring-stage span with 1 worker / with 2 workers (history timestamps)',
      candidates,
      targets: PLAN.targets,
      dim: PLAN.dim,
      shards,
      runs,
      speedup_2_vs_1: round(one.score_stage_s / two.score_stage_s),
      workflow_speedup_2_vs_1: round(one.workflow_s / two.workflow_s),
      projected_speedup_separate_hosts: round(
        cpuOf(one).reduce((a, b) => a + b, 0) / Math.max(...cpuOf(two)),
      ),
    };
  } finally {
    await Promise.all(workerProcesses.map((p) => p.stop()));
    await connection?.close();
    await native?.close();
    await server.stop();
  }
}

const report: Json = {
  bench: 'gotd-scale',
  quick: opts.quick,
  machine: {
    cpus: cpus().length,
    cpu_model: cpus()[0]?.model ?? null,
    node: process.version,
    load1_start: load1(),
  },
};

const scale: Json[] = [];
for (const N of PLAN.scale) {
  say(`scale: ${N} candidates × ${PLAN.targets} targets, d = ${PLAN.dim} (child process)`);
  const r = child(
    ['scale', '--candidates', String(N), '--targets', String(PLAN.targets), '--dim', String(PLAN.dim)],
    3600,
  );
  if (r) {
    say(
      `  ${r.strategy} (${r.chunks} chunk(s)): ${r.wall_s} s, peak RSS ${r.peak_rss_mib} MiB, rare share of selection ${r.rare_share_selected}`,
    );
    scale.push(r);
  }
}
report.scale = scale;

say(
  `agreement: exact vs ${PLAN.agreement.chunks} random chunks at ${PLAN.agreement.candidates} candidates (child process)`,
);
report.agreement = child(
  [
    'agreement',
    '--candidates',
    String(PLAN.agreement.candidates),
    '--targets',
    String(PLAN.targets),
    '--dim',
    String(PLAN.dim),
    '--chunks',
    String(PLAN.agreement.chunks),
  ],
  3600,
);
if (report.agreement) say(`  ${JSON.stringify(report.agreement)}`);

try {
  report.scale_out = await scaleOut();
} catch (err) {
  errors.push(`scale-out: ${(err as Error).stack ?? String(err)}`);
  report.scale_out = null;
}
(report.machine as Json).load1_end = load1();
report.errors = errors;
console.log(opts.json ? JSON.stringify(report) : JSON.stringify(report, null, 2));
process.exit(errors.length ? 1 : 0);
