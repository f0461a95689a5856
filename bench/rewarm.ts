// `npm run bench -- rewarm [--json] [--quick]`
//
// Continual pre-training with LR re-warming (specs/continual-pretraining-rewarm.md), at CPU
// scale through the real workflows on a local Temporal dev server (workers in this process):
//   1. ingestCorpus: two real text groups as separate tables, X = "speeches" (upstream: US State of the
//      Union addresses) and Y = "code" (downstream: TypeScript's lib .d.ts files), byte-level windows;
//   2. trainModel: pre-train a byte-level LM on X with the re-warmed cosine (warm-up 1 %, η_pre, cosine
//      to 0.1·η_pre), as the paper's upstream model ends at 10 % of its peak;
//   3. continualPretrain from that checkpoint on Y: warm-up 0 %, 1 %, 2 % × max LR η_pre, 2·η_pre (fresh
//      AdamW moments, decay to 0.1·max LR at the end of the budget), plus the no-re-warm baseline
//      (constant LR = the upstream schedule's final LR, 0.1·η_pre). Every run evaluates upstream (X val)
//      and downstream (Y val) loss at step 0, after every step during the first 4 % of steps (the
//      stability gap), then every `evalEvery` steps, on the same fixed 256-window subsets.
// Checks (the paper's directions, spec §5 and §8–9), each true/false in "checks":
//   rewarm_raises_upstream_first   every re-warmed run: upstream loss at the first evaluation after its
//                                  warm-up (step 1 for 0 %) is above step 0;
//   rewarm_helps_downstream        every re-warmed run ends with downstream loss below step 0;
//   rewarm_beats_constant_downstream  (spec §9.3) the 1 %, 1× run ends below the constant-LR run on Y;
//   higher_max_lr_forgets_more_upstream  at every warm-up, final upstream loss is higher at 2·η_pre;
//   higher_max_lr_adapts_more_downstream at every warm-up, final downstream loss is lower at 2·η_pre;
//   warmup_length_barely_matters   (spec §9.1) final downstream losses across warm-ups within 1 %, per max LR;
//   zero_warmup_largest_early_upstream_rise (spec §9.1) the 0 % run has the largest upstream rise
//                                  within the first 2 % of steps, per max LR.
// One seed (the spec's 3-seed means do not fit this machine's budget): single-run differences can be
// noise; see bench/README.md. `--quick` (≤ 5 min on 2 cores) shrinks model, data and steps; same shape.
// `--store DIR` reuses the store of an earlier run (ingest and pre-training are memoization hits).
import { mkdtempSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import {
  type ContinualPretrainInput,
  type ContinualPretrainResult,
  type CurvePoint,
  PAPER_ADAMW,
} from '../schemas/rewarm.js';
import type { IngestCorpusInput, IngestCorpusResult } from '../schemas/ingest.js';
import type { ScheduleSpec, TrainModelResult, TrainingSpecInput } from '../schemas/training.js';
import { FileStore } from '../storage/file-store.js';
import { startDevServer } from '../workers/dev-server.js';
import { createWorkers } from '../workers/workers.js';

const argv = process.argv.slice(2);
const storeArg = argv.indexOf('--store');
const opts = {
  json: argv.includes('--json'),
  quick: argv.includes('--quick'),
  /** Reuse a store of an earlier run: its ingest and pre-training are memoization hits. */
  store: storeArg >= 0 ? argv[storeArg + 1] : undefined,
};
const say = (msg: string): void => {
  process.stderr.write(`${msg}\n`); // progress on stderr even with --json (stdout stays one JSON line)
};
const r4 = (x: number) => Number(x.toFixed(4));

const PLAN = opts.quick
  ? {
      model: { layers: 1, dModel: 32, heads: 2 },
      ctx: 32,
      maxBytesPerGroup: 150_000,
      batchSize: 8,
      pretrainSteps: 150,
      steps: 100,
      etaPre: 3e-3,
      evalEvery: 10,
      evalRows: 128,
    }
  : {
      model: { layers: 2, dModel: 64, heads: 4 },
      ctx: 64,
      maxBytesPerGroup: 600_000,
      batchSize: 12,
      pretrainSteps: 400,
      steps: 150,
      etaPre: 3e-3,
      evalEvery: 25,
      evalRows: 128,
    };
const X = 'speeches';
const Y = 'code';
const WARMUPS = [0, 0.01, 0.02];
const LR_FACTORS = [1, 2];
const ADAMW = PAPER_ADAMW;

interface RunSummary {
  id: string;
  warmup_fraction: number | null;
  max_lr: number;
  schedule: ScheduleSpec;
  warmup_steps: number;
  up_loss_start: number;
  up_loss_peak: number;
  step_of_up_peak: number;
  up_loss_after_warmup: number;
  up_loss_final: number;
  down_loss_start: number;
  down_loss_at_25pct: number;
  down_loss_final: number;
  wall_s: number;
  curve: { step: number; tokens: number; upstream: number; downstream: number }[];
}

function summarize(
  id: string,
  warmup: number | null,
  schedule: ScheduleSpec,
  curve: CurvePoint[],
  wallS: number,
): RunSummary {
  const S = PLAN.steps;
  const W = warmup === null ? 0 : Math.round(warmup * S);
  const at = (step: number) => curve.find((p) => p.step >= step) ?? curve.at(-1)!;
  const peak = curve.reduce((best, p) => (p.upstream > best.upstream ? p : best), curve[0]!);
  return {
    id,
    warmup_fraction: warmup,
    max_lr: schedule.kind === 'constant' ? schedule.lr : schedule.maxLr,
    schedule,
    warmup_steps: W,
    up_loss_start: r4(curve[0]!.upstream),
    up_loss_peak: r4(peak.upstream),
    step_of_up_peak: peak.step,
    up_loss_after_warmup: r4(at(Math.max(1, W)).upstream),
    up_loss_final: r4(curve.at(-1)!.upstream),
    down_loss_start: r4(curve[0]!.downstream),
    down_loss_at_25pct: r4(at(Math.round(0.25 * S)).downstream),
    down_loss_final: r4(curve.at(-1)!.downstream),
    wall_s: Number(wallS.toFixed(1)),
    curve: curve.map((p) => ({
      step: p.step,
      tokens: p.tokens,
      upstream: r4(p.upstream),
      downstream: r4(p.downstream),
    })),
  };
}

async function main() {
  const t0 = performance.now();
  const scratch = mkdtempSync(join(tmpdir(), 'retort-rewarm-'));
  const store = new FileStore(opts.store ?? join(scratch, 'store'));
  say(
    `rewarm${opts.quick ? ' --quick' : ''}: X = ${X} → Y = ${Y}; starting a dev server (scratch ${scratch})`,
  );
  const server = await startDevServer({ uiPort: false, logFile: join(scratch, 'temporal.log') });
  const native = await NativeConnection.connect({ address: server.address });
  const connection = await Connection.connect({ address: server.address });
  const taskQueue = `rewarm-${Date.now()}`;
  const workers = await createWorkers({ connection: native, store, taskQueue, queues: 'all' });
  const running = Promise.all(workers.map((w) => w.run()));
  try {
    const client = new Client({ connection });
    const exec = <R>(type: string, id: string, input: unknown) =>
      client.workflow.execute(type, {
        taskQueue,
        workflowId: `rewarm-${id}-${Date.now()}`,
        args: [input],
      }) as Promise<R>;

    const ingest = (group: 'speeches' | 'code') =>
      exec<IngestCorpusResult>('ingestCorpus', `ingest-${group}`, {
        dataset: `rewarm-${group}`,
        source: { builtin: [group] },
        maxBytesPerGroup: PLAN.maxBytesPerGroup,
        ctx: PLAN.ctx,
        seed: 0,
      } satisfies IngestCorpusInput);
    const [x, y] = [await ingest(X), await ingest(Y)];
    say(
      `ingested: ${X} ${x.windows.train.rows} train / ${x.windows.val.rows} val windows; ${Y} ${y.windows.train.rows} / ${y.windows.val.rows}`,
    );

    const model = { kind: 'lm' as const, config: { ...PLAN.model, ctx: PLAN.ctx } };
    const tp = performance.now();
    const pre = await exec<TrainModelResult>('trainModel', 'pretrain', {
      model,
      data: { train: x.windows.train, eval: x.windows.val },
      optimizer: ADAMW,
      schedule: { kind: 'rewarmedCosine', maxLr: PLAN.etaPre, warmupFraction: 0.01, minLrRatio: 0.1 },
      batchSize: PLAN.batchSize,
      totalSteps: PLAN.pretrainSteps,
      chunkSteps: 100,
      evalMaxRows: PLAN.evalRows,
      seed: 0,
    } satisfies TrainingSpecInput);
    const pretrainS = (performance.now() - tp) / 1000;
    say(
      `pre-trained on ${X}: ${PLAN.pretrainSteps} steps in ${pretrainS.toFixed(0)} s, ${X} val loss ${pre.eval.overall.loss.toFixed(4)}`,
    );

    const grid: { id: string; warmup: number | null; schedule: ScheduleSpec }[] = [
      ...LR_FACTORS.flatMap((f) =>
        WARMUPS.map((w) => ({
          id: `w${w * 100}%-lr${f}x`,
          warmup: w,
          schedule: {
            kind: 'rewarmedCosine' as const,
            maxLr: f * PLAN.etaPre,
            warmupFraction: w,
            minLrRatio: 0.1,
          },
        })),
      ),
      { id: 'constant', warmup: null, schedule: { kind: 'constant', lr: 0.1 * PLAN.etaPre } },
    ];
    const runs: RunSummary[] = [];
    for (const [i, g] of grid.entries()) {
      const tr = performance.now();
      const res = await exec<ContinualPretrainResult>('continualPretrain', g.id.replace(/%/g, 'pct'), {
        dataset: 'rewarm',
        init: pre.checkpoint,
        data: { train: y.windows.train },
        upstreamVal: x.windows.val,
        downstreamVal: y.windows.val,
        schedule: g.schedule,
        optimizer: ADAMW,
        batchSize: PLAN.batchSize,
        totalSteps: PLAN.steps,
        chunkSteps: 100,
        evalEvery: PLAN.evalEvery,
        denseEvalUntil: Math.round(0.04 * PLAN.steps),
        evalMaxRows: PLAN.evalRows,
        seed: 1,
      } satisfies ContinualPretrainInput);
      const s = summarize(g.id, g.warmup, g.schedule, res.curve, (performance.now() - tr) / 1000);
      runs.push(s);
      say(
        `[${i + 1}/${grid.length}] ${g.id}: upstream ${s.up_loss_start} → peak ${s.up_loss_peak} @${s.step_of_up_peak} → ${s.up_loss_final}; downstream ${s.down_loss_start} → ${s.down_loss_final} (${s.wall_s} s)`,
      );
    }

    const byId = (id: string) => runs.find((r) => r.id === id)!;
    const rewarmed = runs.filter((r) => r.warmup_fraction !== null);
    const run = (w: number, f: number) => byId(`w${w * 100}%-lr${f}x`);
    const earlyRise = (r: RunSummary) =>
      Math.max(...r.curve.filter((p) => p.step <= Math.round(0.02 * PLAN.steps)).map((p) => p.upstream)) -
      r.up_loss_start;
    const checks = {
      rewarm_raises_upstream_first: rewarmed.every((r) => r.up_loss_after_warmup > r.up_loss_start),
      rewarm_helps_downstream: rewarmed.every((r) => r.down_loss_final < r.down_loss_start),
      rewarm_beats_constant_downstream: run(0.01, 1).down_loss_final < byId('constant').down_loss_final,
      higher_max_lr_forgets_more_upstream: WARMUPS.every(
        (w) => run(w, 2).up_loss_final > run(w, 1).up_loss_final,
      ),
      higher_max_lr_adapts_more_downstream: WARMUPS.every(
        (w) => run(w, 2).down_loss_final < run(w, 1).down_loss_final,
      ),
      warmup_length_barely_matters: LR_FACTORS.every((f) => {
        const finals = WARMUPS.map((w) => run(w, f).down_loss_final);
        return (Math.max(...finals) - Math.min(...finals)) / Math.min(...finals) <= 0.01;
      }),
      zero_warmup_largest_early_upstream_rise: LR_FACTORS.every((f) =>
        WARMUPS.slice(1).every((w) => earlyRise(run(0, f)) >= earlyRise(run(w, f))),
      ),
    };
    const report = {
      bench: 'rewarm',
      quick: opts.quick,
      upstream_group: X,
      downstream_group: Y,
      config: {
        ...PLAN,
        eta_pre: PLAN.etaPre,
        tokens_per_step: PLAN.batchSize * PLAN.ctx,
        optimizer: ADAMW,
        optimizer_state: 'fresh AdamW moments at the start of every continual run',
        seeds: [1],
        pretrain_schedule: 'rewarmedCosine warm-up 1 %, η_pre, cosine to 0.1·η_pre at the end',
        windows: {
          [X]: { train: x.windows.train.rows, val: x.windows.val.rows },
          [Y]: { train: y.windows.train.rows, val: y.windows.val.rows },
        },
      },
      machine: { cpus: cpus().length, load1_at_start: Number(loadavg()[0]!.toFixed(2)) },
      pretrain: {
        steps: PLAN.pretrainSteps,
        upstream_val_loss: r4(pre.eval.overall.loss),
        wall_s: Number(pretrainS.toFixed(1)),
      },
      runs,
      checks,
      wall_s: Number(((performance.now() - t0) / 1000).toFixed(1)),
    };
    if (opts.json) console.log(JSON.stringify(report));
    else console.log(JSON.stringify({ checks, runs: runs.map(({ curve: _c, ...r }) => r) }, null, 2));
  } finally {
    workers.forEach((w) => w.shutdown());
    await running.catch(() => undefined);
    await connection.close();
    await native.close();
    await server.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
