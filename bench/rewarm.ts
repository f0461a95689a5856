// `npm run bench -- rewarm [--json] [--quick] [--seeds N]`
//
// Continual pre-training with LR re-warming (specs/continual-pretraining-rewarm.md), at CPU scale
// through the real workflows on a local Temporal dev server (workers in this process), per seed:
//   1. ingestCorpus (once): two real text groups as separate tables, X = "speeches" (upstream: US State
//      of the Union addresses) and Y = "code" (downstream: TypeScript's lib .d.ts files), byte windows;
//   2. pre-train a byte-level LM on X with the re-warmed cosine (warm-up 1 %, η_pre, cosine to
//      0.1·η_pre) through the trainChunk activity in three chunks, so the checkpoints at 7 % and 19 % of
//      the pre-training (spec §7, mirroring Pythia's 10k / 27k of 143k) exist for E5;
//   3. continualPretrain on Y (fresh AdamW moments, decay to 0.1·max LR at the end of the budget):
//      E1/E2  from the final checkpoint: warm-up 0 / 1 / 2 % (quick: 0 / 1 %) × max LR η_pre, 2·η_pre,
//             plus the no-re-warm baseline (constant 0.1·η_pre, the pre-training's final LR);
//      E3     from scratch (the seed's untrained model), warm-up 1 %, η_pre;
//      E4     same-data control: from the final checkpoint on X again, warm-up 1 %, η_pre;
//      E5     from the 7 % and 19 % checkpoints, warm-up 0 % and 1 % (quick: 1 %), η_pre.
//   Every run evaluates upstream (X val) and downstream (Y val) loss at step 0, after every step during
//   the first 4 % of steps, then every `evalEvery` steps, on the same fixed validation subsets.
// Checks (the paper's directions, spec §5 and §9), each over the seeds: a per-seed quantity whose sign
// the claim predicts; "holds" is true when its mean has that sign and the 95 % t-interval over seeds
// excludes the other sign, false when the interval lies wholly on the other side, else "inconclusive"
// (bench/_paired-stats.ts directionCheck). `--quick` shrinks model, data and steps; same shape.
// `--store DIR` reuses the store of an earlier run (ingest, pre-training and runs are memoization hits).
import { mkdtempSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { createTrainingActivities } from '../activities/training.js';
import type { ArtifactRef } from '../schemas/artifact.js';
import {
  type ContinualPretrainInput,
  type ContinualPretrainResult,
  type CurvePoint,
  PAPER_ADAMW,
} from '../schemas/rewarm.js';
import type { IngestCorpusInput, IngestCorpusResult } from '../schemas/ingest.js';
import type { ScheduleSpec, TrainingSpecInput } from '../schemas/training.js';
import { ArtifactStore } from '../storage/artifacts.js';
import { FileStore } from '../storage/file-store.js';
import { initBackend } from '../workers/backend.js';
import { startDevServer } from '../workers/dev-server.js';
import { createWorkers } from '../workers/workers.js';
import { directionCheck, mean } from './_paired-stats.js';

const argv = process.argv.slice(2);
const argAfter = (name: string) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const opts = {
  json: argv.includes('--json'),
  quick: argv.includes('--quick'),
  /** Reuse a store of an earlier run: its ingest, pre-training and runs are memoization hits. */
  store: argAfter('--store'),
  seeds: Number(argAfter('--seeds') ?? 3),
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
      steps: 60,
      etaPre: 3e-3,
      evalEvery: 10,
      evalRows: 128,
      warmups: [0, 0.01],
      checkpointWarmups: [0.01],
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
      warmups: [0, 0.01, 0.02],
      checkpointWarmups: [0, 0.01],
    };
const X = 'speeches';
const Y = 'code';
const LR_FACTORS = [1, 2];
/** Pre-training fractions whose checkpoints E5 continues from (spec §7: 7 %, 19 %, 100 %). */
const CHECKPOINTS = [0.07, 0.19, 1];
const ADAMW = PAPER_ADAMW;
const SEEDS = Array.from({ length: opts.seeds }, (_x, i) => i);

interface RunSummary {
  id: string;
  experiment: 'E1/E2' | 'E2-const' | 'E3' | 'E4' | 'E5';
  warmup_fraction: number | null;
  max_lr: number;
  warmup_steps: number;
  up_loss_start: number;
  up_loss_peak: number;
  step_of_up_peak: number;
  up_loss_after_warmup: number;
  up_loss_at_17pct: number;
  up_loss_final: number;
  down_loss_start: number;
  down_loss_at_25pct: number;
  down_loss_final: number;
  wall_s: number;
  curve: { step: number; upstream: number; downstream: number }[];
}

function summarize(
  id: string,
  experiment: RunSummary['experiment'],
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
    experiment,
    warmup_fraction: warmup,
    max_lr: schedule.kind === 'constant' ? schedule.lr : schedule.maxLr,
    warmup_steps: W,
    up_loss_start: r4(curve[0]!.upstream),
    up_loss_peak: r4(peak.upstream),
    step_of_up_peak: peak.step,
    up_loss_after_warmup: r4(at(Math.max(1, W)).upstream),
    up_loss_at_17pct: r4(at(Math.round(0.17 * S)).upstream),
    up_loss_final: r4(curve.at(-1)!.upstream),
    down_loss_start: r4(curve[0]!.downstream),
    down_loss_at_25pct: r4(at(Math.round(0.25 * S)).downstream),
    down_loss_final: r4(curve.at(-1)!.downstream),
    wall_s: Number(wallS.toFixed(1)),
    curve: curve.map((p) => ({ step: p.step, upstream: r4(p.upstream), downstream: r4(p.downstream) })),
  };
}

const rewarmed = (warmup: number, factor: number): ScheduleSpec => ({
  kind: 'rewarmedCosine',
  maxLr: factor * PLAN.etaPre,
  warmupFraction: warmup,
  minLrRatio: 0.1,
});
const pct = (x: number) => `${Math.round(x * 1000) / 10}%`;

async function main() {
  const t0 = performance.now();
  const load = [Number(loadavg()[0]!.toFixed(2))];
  const scratch = mkdtempSync(join(tmpdir(), 'retort-rewarm-'));
  const store = new FileStore(opts.store ?? join(scratch, 'store'));
  const artifacts = new ArtifactStore(store);
  await initBackend(process.env.RETORT_TF_BACKEND ?? 'tfjs-node');
  const training = createTrainingActivities({ artifacts });
  say(
    `rewarm${opts.quick ? ' --quick' : ''}: X = ${X} → Y = ${Y}, seeds ${SEEDS.join(', ')}; starting a dev server (scratch ${scratch})`,
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

    const perSeed: {
      seed: number;
      pretrain: { upstream_val_loss: number; wall_s: number };
      runs: RunSummary[];
    }[] = [];
    for (const seed of SEEDS) {
      // Pre-training in three chunks ending at 7 %, 19 % and 100 % of S_U: one run, one LR schedule.
      const tp = performance.now();
      const preSpec = {
        model,
        data: { train: x.windows.train, eval: x.windows.val },
        optimizer: ADAMW,
        schedule: { kind: 'rewarmedCosine', maxLr: PLAN.etaPre, warmupFraction: 0.01, minLrRatio: 0.1 },
        batchSize: PLAN.batchSize,
        totalSteps: PLAN.pretrainSteps,
        chunkSteps: PLAN.pretrainSteps,
        seed,
        runKey: `rewarm-pretrain-s${seed}`,
      } as TrainingSpecInput & { runKey: string };
      const checkpoints: ArtifactRef[] = [];
      let from: ArtifactRef | undefined;
      let step = 0;
      // Step 0 first: the seed's untrained model, the from-scratch start of E3.
      const untrained = (await training.trainChunk({ spec: preSpec, fromStep: 0, steps: 0 })).checkpoint;
      for (const f of CHECKPOINTS) {
        const end = Math.round(f * PLAN.pretrainSteps);
        const r = await training.trainChunk({
          spec: preSpec,
          fromStep: step,
          steps: end - step,
          ...(from ? { from } : {}),
        });
        step = r.step;
        from = r.checkpoint;
        checkpoints.push(r.checkpoint);
      }
      const preEval = await training.evaluate({
        checkpoint: from!,
        data: x.windows.val,
        maxRowsPerGroup: PLAN.evalRows,
      });
      const pretrain = {
        upstream_val_loss: r4(preEval.overall.loss),
        wall_s: Number(((performance.now() - tp) / 1000).toFixed(1)),
      };
      say(
        `seed ${seed}: pre-trained on ${X} (${PLAN.pretrainSteps} steps): ${X} val loss ${pretrain.upstream_val_loss}`,
      );

      const final = checkpoints.at(-1)!;
      const grid: {
        id: string;
        experiment: RunSummary['experiment'];
        warmup: number | null;
        schedule: ScheduleSpec;
        init: ArtifactRef;
        train: ArtifactRef;
      }[] = [
        ...LR_FACTORS.flatMap((f) =>
          PLAN.warmups.map((w) => ({
            id: `w${pct(w)}-lr${f}x`,
            experiment: 'E1/E2' as const,
            warmup: w,
            schedule: rewarmed(w, f),
            init: final,
            train: y.windows.train,
          })),
        ),
        {
          id: 'constant',
          experiment: 'E2-const',
          warmup: null,
          schedule: { kind: 'constant', lr: 0.1 * PLAN.etaPre },
          init: final,
          train: y.windows.train,
        },
        {
          id: 'scratch',
          experiment: 'E3',
          warmup: 0.01,
          schedule: rewarmed(0.01, 1),
          init: untrained,
          train: y.windows.train,
        },
        {
          id: 'same-data',
          experiment: 'E4',
          warmup: 0.01,
          schedule: rewarmed(0.01, 1),
          init: final,
          train: x.windows.train,
        },
        ...CHECKPOINTS.slice(0, -1).flatMap((c, k) =>
          PLAN.checkpointWarmups.map((w) => ({
            id: `ckpt${pct(c)}-w${pct(w)}`,
            experiment: 'E5' as const,
            warmup: w,
            schedule: rewarmed(w, 1),
            init: checkpoints[k]!,
            train: y.windows.train,
          })),
        ),
      ];
      const runs: RunSummary[] = [];
      for (const [i, g] of grid.entries()) {
        const tr = performance.now();
        const res = await exec<ContinualPretrainResult>(
          'continualPretrain',
          `s${seed}-${g.id.replace(/[%.]/g, '_')}`,
          {
            dataset: 'rewarm',
            init: g.init,
            data: { train: g.train },
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
            seed: seed + 1,
          } satisfies ContinualPretrainInput,
        );
        const sm = summarize(
          g.id,
          g.experiment,
          g.warmup,
          g.schedule,
          res.curve,
          (performance.now() - tr) / 1000,
        );
        runs.push(sm);
        say(
          `seed ${seed} [${i + 1}/${grid.length}] ${g.id}: upstream ${sm.up_loss_start} → peak ${sm.up_loss_peak} @${sm.step_of_up_peak} → ${sm.up_loss_final}; downstream ${sm.down_loss_start} → ${sm.down_loss_final} (${sm.wall_s} s)`,
        );
      }
      load.push(Number(loadavg()[0]!.toFixed(2)));
      perSeed.push({ seed, pretrain, runs });
    }

    // Per-seed quantities whose sign each claim predicts (directionCheck: mean and t-interval over seeds).
    const over = (f: (runs: RunSummary[]) => number) => perSeed.map((p) => f(p.runs));
    const byId = (runs: RunSummary[], id: string) => runs.find((r) => r.id === id)!;
    const main = (runs: RunSummary[], w: number, f: number) => byId(runs, `w${pct(w)}-lr${f}x`);
    const rewarmedRuns = (runs: RunSummary[]) => runs.filter((r) => r.experiment === 'E1/E2');
    const earlyRise = (r: RunSummary) =>
      Math.max(...r.curve.filter((p) => p.step <= Math.round(0.02 * PLAN.steps)).map((p) => p.upstream)) -
      r.up_loss_start;
    const W = PLAN.warmups;
    const checks = {
      // E1/E2: the direction checks of the single-seed version, now with their seed spread.
      rewarm_raises_upstream_first: directionCheck(
        over((runs) => Math.min(...rewarmedRuns(runs).map((r) => r.up_loss_after_warmup - r.up_loss_start))),
        'positive',
      ),
      rewarm_helps_downstream: directionCheck(
        over((runs) => Math.max(...rewarmedRuns(runs).map((r) => r.down_loss_final - r.down_loss_start))),
        'negative',
      ),
      rewarm_beats_constant_downstream: directionCheck(
        over((runs) => main(runs, 0.01, 1).down_loss_final - byId(runs, 'constant').down_loss_final),
        'negative',
      ),
      higher_max_lr_forgets_more_upstream: directionCheck(
        over((runs) =>
          Math.min(...W.map((w) => main(runs, w, 2).up_loss_final - main(runs, w, 1).up_loss_final)),
        ),
        'positive',
      ),
      higher_max_lr_adapts_more_downstream: directionCheck(
        over((runs) =>
          Math.max(...W.map((w) => main(runs, w, 2).down_loss_final - main(runs, w, 1).down_loss_final)),
        ),
        'negative',
      ),
      // §9.1: (max − min)/min of the final downstream losses across warm-ups, minus the 1 % tolerance.
      warmup_length_barely_matters: directionCheck(
        over((runs) =>
          Math.max(
            ...LR_FACTORS.map((f) => {
              const finals = W.map((w) => main(runs, w, f).down_loss_final);
              return (Math.max(...finals) - Math.min(...finals)) / Math.min(...finals) - 0.01;
            }),
          ),
        ),
        'negative',
      ),
      zero_warmup_largest_early_upstream_rise: directionCheck(
        over((runs) =>
          Math.min(
            ...LR_FACTORS.flatMap((f) =>
              W.slice(1).map((w) => earlyRise(main(runs, 0, f)) - earlyRise(main(runs, w, f))),
            ),
          ),
        ),
        'positive',
      ),
      // E3 (§9.4): the from-scratch model ends worse than every re-warmed run, on both sets.
      scratch_worse_downstream: directionCheck(
        over((runs) =>
          Math.min(
            ...rewarmedRuns(runs).map((r) => byId(runs, 'scratch').down_loss_final - r.down_loss_final),
          ),
        ),
        'positive',
      ),
      scratch_worse_upstream: directionCheck(
        over((runs) =>
          Math.min(...rewarmedRuns(runs).map((r) => byId(runs, 'scratch').up_loss_final - r.up_loss_final)),
        ),
        'positive',
      ),
      // E4 (§9.5): re-warming on the same data still raises the upstream loss first, and at 17 % of S
      // it is still above its step-0 value.
      same_data_rewarm_raises_upstream_first: directionCheck(
        over((runs) => byId(runs, 'same-data').up_loss_peak - byId(runs, 'same-data').up_loss_start),
        'positive',
      ),
      same_data_still_above_start_at_17pct: directionCheck(
        over((runs) => byId(runs, 'same-data').up_loss_at_17pct - byId(runs, 'same-data').up_loss_start),
        'positive',
      ),
      // E5 (§9.6): the 100 % checkpoint ends with lower downstream and upstream loss than the 7 % and
      // 19 % checkpoints (same warm-up, η_pre; per seed the smallest margin).
      latest_checkpoint_best_downstream: directionCheck(
        over((runs) =>
          Math.min(
            ...runs
              .filter((r) => r.experiment === 'E5')
              .map((r) => r.down_loss_final - main(runs, r.warmup_fraction!, 1).down_loss_final),
          ),
        ),
        'positive',
      ),
      latest_checkpoint_best_upstream: directionCheck(
        over((runs) =>
          Math.min(
            ...runs
              .filter((r) => r.experiment === 'E5')
              .map((r) => r.up_loss_final - main(runs, r.warmup_fraction!, 1).up_loss_final),
          ),
        ),
        'positive',
      ),
    };
    const idsOf = perSeed[0]!.runs.map((r) => r.id);
    const meanRuns = idsOf.map((id) => {
      const rs = perSeed.map((p) => byId(p.runs, id));
      const m = (
        k: 'up_loss_start' | 'up_loss_peak' | 'up_loss_final' | 'down_loss_start' | 'down_loss_final',
      ) => r4(mean(rs.map((r) => r[k])));
      return {
        id,
        experiment: rs[0]!.experiment,
        up_loss_start: m('up_loss_start'),
        up_loss_peak: m('up_loss_peak'),
        up_loss_final: m('up_loss_final'),
        down_loss_start: m('down_loss_start'),
        down_loss_final: m('down_loss_final'),
      };
    });
    const report = {
      bench: 'rewarm',
      quick: opts.quick,
      upstream_group: X,
      downstream_group: Y,
      seeds: SEEDS,
      checks,
      mean_over_seeds: meanRuns,
      per_seed: perSeed,
      config: {
        ...PLAN,
        eta_pre: PLAN.etaPre,
        checkpoints: CHECKPOINTS,
        tokens_per_step: PLAN.batchSize * PLAN.ctx,
        optimizer: ADAMW,
        optimizer_state: 'fresh AdamW moments at the start of every continual run',
        pretrain_schedule: 'rewarmedCosine warm-up 1 %, η_pre, cosine to 0.1·η_pre at the end',
        check_rule:
          'holds = true when the per-seed mean has the predicted sign and the 95 % t-interval over seeds excludes the other sign; false when the interval lies wholly on the other side; else "inconclusive"',
        windows: {
          [X]: { train: x.windows.train.rows, val: x.windows.val.rows },
          [Y]: { train: y.windows.train.rows, val: y.windows.val.rows },
        },
      },
      machine: { cpus: cpus().length, load1: load },
      wall_s: Number(((performance.now() - t0) / 1000).toFixed(1)),
    };
    if (opts.json) console.log(JSON.stringify(report));
    else console.log(JSON.stringify({ checks, mean_over_seeds: meanRuns }, null, 2));
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
