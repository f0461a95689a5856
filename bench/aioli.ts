// Aioli vs stratified vs best-of-grid static mixture on real text groups (spec
// specs/mixing-aioli.md §6 CPU-scale, §7 protocol, §9 "convincing end-to-end check (b)").
//
//   npm run bench -- aioli [--json] [--quick] [--seeds N]
//
// Data: the three builtin groups of ingestCorpus (speeches, novel, code) through the real ingest
// activities (ingestTextCorpus → tokenizeCorpus, byte-level windows); the validation subset (drives
// Aioli's LearnParams) and the test subset (reported) are fixed seeded row samples per group of the
// disjoint val / test splits. Every method runs through the SAME code path as the mixAioli workflow:
// `runMixtureRound` (ml/methods/aioli/rounds.ts) over a MixtureProvider, with the real trainChunk /
// evaluate activities (per-chunk mixtures, checkpoints, one optimizer state and one LR schedule on the
// global step) called directly instead of through Temporal.
//
// Grid search: the candidate static mixtures of `gridSearchMixtures` trained with seed 0, the best by
// average VALIDATION perplexity then trained with every seed (its seed-0 run reused); reported on test.
// Headline: average test perplexity over groups, (1/m)·Σ_i exp(loss_i), mean ± std over seeds.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createIngestActivities } from '../activities/ingest.js';
import { createTrainingActivities } from '../activities/training.js';
import { type AioliConfig, aioliConfig, aioliProvider } from '../ml/methods/aioli/index.js';
import {
  gridSearchMixtures,
  staticMixtureProvider,
  stratifiedProvider,
} from '../ml/methods/aioli/baselines.js';
import type { MixtureProvider, MixtureRoundRecord } from '../ml/methods/aioli/lmo.js';
import { runMixtureRound } from '../ml/methods/aioli/rounds.js';
import { Rng } from '../ml/train/rng.js';
import type { ArtifactRef } from '../schemas/artifact.js';
import { TOKEN_WINDOWS, contractFingerprint } from '../schemas/tables.js';
import type { TrainingSpecInput } from '../schemas/training.js';
import { buildTable, fixedSizeListValues, stringValues } from '../storage/arrow-tables.js';
import { ArtifactStore } from '../storage/artifacts.js';
import { FileStore } from '../storage/file-store.js';
import { decodeParquet, encodeParquet } from '../storage/parquet.js';
import { initBackend } from '../workers/backend.js';

const args = process.argv.slice(2);
const json = args.includes('--json');
const quick = args.includes('--quick');
const flag = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : undefined;
};

const GROUPS = ['code', 'novel', 'speeches'];
// Spec §6 CPU-scale shape (tiny decoder, batch 8, m = 3, k = 2, s = 4, φ = 0.5, η·T ≈ 3, fixed val
// subset, EMA off, normalisation on), shrunk to what 2 shared cores finish in ~30 min: d_model 64,
// ctx 64, S = 160 in T = 2 rounds of U = 80 (δ = 0.3), η = 1.5 (η·T = 3), 3 grid points.
// --quick: S = 96, T = 2 rounds of 48, 2 seeds, 2 grid points. Each seed runs in its own child
// process (env AIOLI_BENCH_SEED), all seeds at once: the comparison within a seed is what is paired.
// --spec-config: the spec's own CPU-scale row (d_model 128, ctx 128, S = 2000, U = 200, η = 0.3): hours here.
const specConfig = args.includes('--spec-config');
const C = quick
  ? {
      seeds: 2,
      totalSteps: 96,
      roundSteps: 48,
      eta: 1.5,
      gridRuns: 2,
      valRows: 32,
      testRows: 64,
      dModel: 64,
      ctx: 64,
    }
  : specConfig
    ? {
        seeds: 3,
        totalSteps: 2000,
        roundSteps: 200,
        eta: 0.3,
        gridRuns: 9,
        valRows: 64,
        testRows: 256,
        dModel: 128,
        ctx: 128,
      }
    : {
        seeds: 3,
        totalSteps: 160,
        roundSteps: 80,
        eta: 1.5,
        gridRuns: 3,
        valRows: 32,
        testRows: 96,
        dModel: 64,
        ctx: 64,
      };
// Overrides: --steps S --round-steps U --eta η --grid G (e.g. a longer run when the machine allows).
C.totalSteps = flag('--steps') ?? C.totalSteps;
C.roundSteps = flag('--round-steps') ?? C.roundSteps;
C.eta = flag('--eta') ?? C.eta;
C.gridRuns = flag('--grid') ?? C.gridRuns;
const SEEDS = Array.from({ length: flag('--seeds') ?? C.seeds }, (_x, i) => i);
const CTX = C.ctx;
const MODEL = { layers: 2, dModel: C.dModel, heads: 4, ctx: CTX, mlpRatio: 4 };
const BATCH = 8;

const log = (msg: string) =>
  process.stderr.write(`[aioli ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
const round = (x: number, d = 4) => Number(x.toFixed(d));
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const std = (xs: number[]) =>
  xs.length < 2 ? 0 : Math.sqrt(xs.reduce((a, x) => a + (x - mean(xs)) ** 2, 0) / (xs.length - 1));
const stats = (xs: number[]) => ({
  mean: round(mean(xs)),
  std: round(std(xs)),
  per_seed: xs.map((x) => round(x)),
});

// Child processes get their seed and store through the environment (node-pre-gyp, which tfjs-node
// loads, parses process.argv and would read a `--dir` flag as its own).
const childSeed =
  process.env.AIOLI_BENCH_SEED === undefined ? undefined : Number(process.env.AIOLI_BENCH_SEED);
const dirArg = process.env.AIOLI_BENCH_DIR;
if (childSeed !== undefined) await initBackend(process.env.RETORT_TF_BACKEND ?? 'tfjs-node');
const dir = dirArg ?? mkdtempSync(join(tmpdir(), 'retort-bench-aioli-'));
const store = new FileStore(dir);
const artifacts = new ArtifactStore(store);
const ingest = createIngestActivities({ artifacts });
const training = createTrainingActivities({ artifacts });
const started = Date.now();
const load1 = () => round(loadavg()[0]!, 2);
const loads: number[] = [load1()];

/** A seeded sample of `perGroup` rows of each group of a token-windows table, as a new table. */
async function sampleRows(
  ref: ArtifactRef,
  perGroup: number,
  seed: number,
  name: string,
): Promise<ArtifactRef> {
  const table = decodeParquet(await artifacts.read(ref), ref.uri);
  const ids = stringValues(table, 'id');
  const groups = stringValues(table, 'group');
  const { flat } = fixedSizeListValues<Int32Array>(table, 'input_ids');
  const rng = new Rng(seed);
  const keep: number[] = [];
  for (const g of GROUPS) {
    const rows = groups.flatMap((x, i) => (x === g ? [i] : []));
    for (let i = rows.length - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      [rows[i], rows[j]] = [rows[j]!, rows[i]!];
    }
    if (rows.length < perGroup) throw new Error(`${name}: group ${g} has only ${rows.length} windows`);
    keep.push(...rows.slice(0, perGroup).sort((a, b) => a - b));
  }
  const out = new Int32Array(keep.length * CTX);
  keep.forEach((r, k) => out.set(flat.subarray(r * CTX, (r + 1) * CTX), k * CTX));
  const bytes = encodeParquet(
    buildTable(
      TOKEN_WINDOWS,
      {
        id: keep.map((r) => ids[r]!),
        group: keep.map((r) => groups[r]!),
        input_ids: { flat: out, size: CTX },
      },
      { ctx: String(CTX) },
    ),
  );
  return artifacts.commit(`inputs/${name}.parquet`, bytes, {
    kind: 'table',
    format: 'parquet',
    rows: keep.length,
    schema: contractFingerprint(TOKEN_WINDOWS),
  });
}

log(`ingest ${GROUPS.join(', ')} (store ${dir})`);
const corpus = await ingest.ingestTextCorpus({
  source: { builtin: GROUPS as never },
  maxBytesPerGroup: 400_000,
  passageBytes: 1024,
  split: { val: 0.1, test: 0.1 },
  seed: 0,
});
const windows = await ingest.tokenizeCorpus({ corpus: corpus.corpus, ctx: CTX });
const val = await sampleRows(windows.windows.val, C.valRows, 1, 'val-subset');
const test = await sampleRows(windows.windows.test, C.testRows, 2, 'test-subset');
log(
  `windows per group (train/val/test): ${windows.groups.map((g) => `${g.group} ${g.windows?.train}/${g.windows?.val}/${g.windows?.test}`).join(', ')}`,
);

const baseSpec = (seed: number, runKey: string) =>
  ({
    model: { kind: 'lm', config: MODEL },
    data: { train: windows.windows.train, eval: val },
    optimizer: { kind: 'adamw', weightDecay: 0.01, decayMatricesOnly: true, clipNorm: 1 },
    schedule: { kind: 'rewarmedCosine', maxLr: 2e-3, warmupFraction: 0.1, minLrRatio: 0.1 },
    batchSize: BATCH,
    totalSteps: C.totalSteps,
    chunkSteps: C.totalSteps,
    seed,
    runKey,
  }) as TrainingSpecInput & { runKey: string };

const losses = (ev: { groups: Record<string, { loss: number }> }) => GROUPS.map((g) => ev.groups[g]!.loss);
const avgPpl = (l: number[]) => mean(l.map(Math.exp));

interface RunResult {
  testLoss: number[];
  valLoss: number[];
  records: MixtureRoundRecord[];
  seconds: number;
}

let runs = 0;
/** One training run of S steps driven by `provider`, then val and test losses per group. */
async function runMethod(provider: MixtureProvider, seed: number, label: string): Promise<RunResult> {
  const runKey = `bench-${label}-s${seed}-${runs++}`;
  const spec = baseSpec(seed, runKey);
  const t0 = Date.now();
  let step = 0;
  let checkpoint: ArtifactRef | undefined;
  let state = provider.initialState();
  const records: MixtureRoundRecord[] = [];
  const ops = {
    async train(p: number[], steps: number, exact: boolean) {
      const r = await training.trainChunk({
        spec,
        fromStep: step,
        steps,
        mixture: Object.fromEntries(GROUPS.map((g, i) => [g, p[i]!])),
        exactMixture: exact,
        ...(checkpoint ? { from: checkpoint } : {}),
      });
      step = r.step;
      checkpoint = r.checkpoint;
    },
    async evaluate() {
      if (!checkpoint) await ops.train(provider.initialState().proportions, 0, false); // step-0 state
      return losses(await training.evaluate({ checkpoint: checkpoint!, data: val, groups: GROUPS }));
    },
  };
  while (!provider.isComplete(state)) {
    const r = await runMixtureRound(provider, state, ops);
    state = r.state;
    records.push(r.record);
    log(
      `${label} seed ${seed} round ${r.plan.round}: step ${step}/${C.totalSteps}, p = [${r.proportions.map((x) => x.toFixed(3)).join(', ')}]` +
        (r.initialLosses ? `, val L0 = [${r.initialLosses.map((x) => x.toFixed(3)).join(', ')}]` : ''),
    );
  }
  const valLoss = await ops.evaluate();
  const testLoss = losses(await training.evaluate({ checkpoint: checkpoint!, data: test, groups: GROUPS }));
  rmSync(join(dir, 'checkpoints', runKey), { recursive: true, force: true });
  const seconds = (Date.now() - t0) / 1000;
  log(
    `${label} seed ${seed} done in ${seconds.toFixed(0)} s: test avg ppl ${avgPpl(testLoss).toFixed(3)}, load ${load1()}`,
  );
  loads.push(load1());
  return { testLoss, valLoss, records, seconds };
}

// ---- the comparison ---------------------------------------------------------------------------------

const schedule = { groups: GROUPS, totalSteps: C.totalSteps, roundSteps: C.roundSteps };
const aioli: AioliConfig = aioliConfig({ ...schedule, eta: C.eta, batchSize: BATCH });
log(
  `config: S=${C.totalSteps} U=${C.roundSteps} k=${aioli.sweeps} s=${aioli.stepsPerInterval} φ=${aioli.oneHotFactor} η=${aioli.eta} seeds=${SEEDS.join(',')} model=${JSON.stringify(MODEL)} batch=${BATCH}`,
);

// Grid search (GS row of spec §3): the repo's Dirichlet-cover sweep points (its one-hot vertex dropped:
// with ≤ 3 candidates it spends a run on a mixture that never trains two groups), each trained with
// the seed; the best by average VALIDATION perplexity at that seed is the seed's GS result.
const candidates = gridSearchMixtures(GROUPS.length, { runs: C.gridRuns + 1, seed: 0 })
  .slice(1)
  .map((p) => p.map((x) => x / p.reduce((a, b) => a + b, 0)));

interface SeedResult {
  seed: number;
  stratified: RunResult;
  aioli: RunResult;
  grid: { proportions: number[]; run: RunResult }[];
}

if (childSeed !== undefined) {
  const seed = childSeed;
  const out: SeedResult = {
    seed,
    stratified: await runMethod(stratifiedProvider(schedule), seed, 'stratified'),
    aioli: await runMethod(aioliProvider({ ...aioli, seed }), seed, 'aioli'),
    grid: [],
  };
  for (const [n, proportions] of candidates.entries()) {
    out.grid.push({
      proportions,
      run: await runMethod(
        staticMixtureProvider({ ...schedule, proportions, method: 'grid' }),
        seed,
        `grid${n}`,
      ),
    });
  }
  console.log(JSON.stringify(out));
  process.exit(0);
}

/** One child process per seed, all at once (niced like the parent). */
function runSeed(seed: number): Promise<SeedResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', fileURLToPath(import.meta.url), ...args.filter((a) => a !== '--json')],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
        env: { ...process.env, AIOLI_BENCH_SEED: String(seed), AIOLI_BENCH_DIR: dir },
      },
    );
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.on('exit', (code) => {
      const line = stdout.trim().split('\n').pop() ?? '';
      if (code === 0 && line.startsWith('{')) resolve(JSON.parse(line) as SeedResult);
      else reject(new Error(`seed ${seed}: child exited with ${code}`));
    });
  });
}

const perSeed = (await Promise.all(SEEDS.map(runSeed))).sort((a, b) => a.seed - b.seed);
loads.push(load1());
const bestOfGrid = perSeed.map((r) =>
  r.grid.reduce((a, b) => (avgPpl(b.run.valLoss) < avgPpl(a.run.valLoss) ? b : a)),
);
const results: Record<'aioli' | 'stratified' | 'grid', RunResult[]> = {
  aioli: perSeed.map((r) => r.aioli),
  stratified: perSeed.map((r) => r.stratified),
  grid: bestOfGrid.map((b) => b.run),
};

const methods = ['aioli', 'stratified', 'grid'] as const;
const headline = (m: (typeof methods)[number]) => results[m].map((r) => avgPpl(r.testLoss));
const perGroup = Object.fromEntries(
  methods.map((m) => [
    m,
    Object.fromEntries(
      GROUPS.map((g, i) => [
        g,
        {
          loss: stats(results[m].map((r) => r.testLoss[i]!)),
          ppl: stats(results[m].map((r) => Math.exp(r.testLoss[i]!))),
        },
      ]),
    ),
  ]),
);
// Ā (normalised, rows = evaluated group, columns = trained group) averaged over rounds and seeds.
const aRecords = results.aioli.flatMap((r) => r.records.filter((x) => x.aNormalized !== null));
const aMean = GROUPS.map((_g, i) =>
  GROUPS.map((_h, j) => round(mean(aRecords.map((x) => x.aNormalized![i]![j]!)), 5)),
);
const colSums = GROUPS.map((_g, j) =>
  round(
    aMean.reduce((s, row) => s + row[j]!, 0),
    5,
  ),
);
const deltas = SEEDS.map((_s, k) => headline('aioli')[k]! - headline('stratified')[k]!);

const report = {
  bench: 'aioli',
  quick,
  metric: 'average test perplexity over groups, (1/m)·Σ_i exp(mean per-window next-byte NLL of group i)',
  groups: GROUPS,
  aioli: { ...stats(headline('aioli')), loss: stats(results.aioli.map((r) => mean(r.testLoss))) },
  stratified: {
    ...stats(headline('stratified')),
    loss: stats(results.stratified.map((r) => mean(r.testLoss))),
  },
  grid: {
    ...stats(headline('grid')),
    loss: stats(results.grid.map((r) => mean(r.testLoss))),
    mixture_per_seed: bestOfGrid.map((b) => b.proportions.map((x) => round(x))),
    candidates_per_seed: perSeed.map((r) =>
      r.grid.map((c) => ({
        proportions: c.proportions.map((x) => round(x)),
        val_avg_ppl: round(avgPpl(c.run.valLoss)),
        test_avg_ppl: round(avgPpl(c.run.testLoss)),
      })),
    ),
    selection: 'per seed: the candidate with the best average validation perplexity',
  },
  delta_vs_stratified: {
    aioli: { ...stats(deltas), wins: deltas.filter((d) => d < 0).length, of: deltas.length },
    grid: stats(SEEDS.map((_s, k) => headline('grid')[k]! - headline('stratified')[k]!)),
  },
  per_group: perGroup,
  A: aMean,
  A_column_sums: colSums,
  A_per_seed_round: results.aioli.map((r) =>
    r.records.map((x) => ({
      round: x.round,
      a_normalized: x.aNormalized?.map((row) => row.map((v) => round(v, 5))) ?? null,
      a_raw: x.aRaw?.map((row) => row.map((v) => round(v, 5))) ?? null,
    })),
  ),
  proportions_per_seed: results.aioli.map((r) => r.records.map((x) => x.proportions.map((v) => round(v)))),
  config: {
    seeds: SEEDS,
    totalSteps: C.totalSteps,
    roundSteps: C.roundSteps,
    sweeps: aioli.sweeps,
    stepsPerInterval: aioli.stepsPerInterval,
    oneHotFactor: aioli.oneHotFactor,
    eta: aioli.eta,
    ema: aioli.ema,
    batchSize: BATCH,
    model: MODEL,
    optimizer: 'AdamW wd 0.01 (matrices), clip 1, cosine 2e-3 → 2e-4, 10 % warm-up',
    val_rows_per_group: C.valRows,
    test_rows_per_group: C.testRows,
    grid_candidates: C.gridRuns,
  },
  seconds: {
    total: round((Date.now() - started) / 1000, 1),
    per_run: Object.fromEntries(methods.map((m) => [m, results[m].map((r) => round(r.seconds, 1))])),
  },
  machine: { cores: cpus().length, cpu: cpus()[0]?.model ?? '', node: process.version, loadavg_1m: loads },
};
rmSync(dir, { recursive: true, force: true });

if (!json) {
  const row = (m: string, s: { mean: number; std: number }) =>
    `${m.padEnd(11)} ${s.mean.toFixed(3)} ± ${s.std.toFixed(3)}`;
  console.log('average test perplexity over groups (mean ± std over seeds)');
  for (const m of methods) console.log(row(m, report[m]));
  console.log(
    `Aioli − stratified: ${report.delta_vs_stratified.aioli.mean} (wins ${report.delta_vs_stratified.aioli.wins}/${deltas.length})`,
  );
  console.log(`A (rows evaluated, cols trained; ${GROUPS.join(', ')}):`, JSON.stringify(aMean));
}
console.log(JSON.stringify(report, null, json ? 0 : 2));
