// Aioli vs stratified, best-of-grid static, DoReMi and Skill-It on real text groups, paired over seeds
// (spec specs/mixing-aioli.md §6 CPU-scale, §7 protocol, §9 "convincing end-to-end check (b)").
//
//   npm run bench -- aioli [--json] [--quick] [--scenario natural|junk|both] [--seeds N]
//                          [--first-seed F] [--steps S] [--round-steps U] [--eta η] [--grid G]
//                          [--sweeps k] [--lp-steps s] [--ema γ] [--estimator detrended|repo]
//                          [--val-rows V] [--methods aioli,stratified,…]
//
// --first-seed and --methods exist for screening a setting on seeds other than the reported ones
// (e.g. --first-seed 5 --methods aioli) before a full run; stratified always runs (it is the pair).
//
// Scenarios:
//   natural  the three builtin groups of ingestCorpus (code, novel, speeches);
//   junk     the same plus "junk", windows of seeded uniformly random bytes (bench/_aioli-junk.ts):
//            it carries no signal for the text groups, so every step on it is wasted. The objective
//            and the headline are the three text groups (the LMO objective restricted to them);
//            every method still samples all four groups.
// Data go through the real ingest activities (ingestTextCorpus → tokenizeCorpus, byte-level windows);
// validation (drives the methods) and test (reported) subsets are fixed seeded row samples of the
// disjoint val / test splits. Every method runs through the SAME code path as the mixAioli workflow:
// `runMixtureRound` over a MixtureProvider, with the real trainChunk / evaluate activities
// (per-chunk mixtures, checkpoints, one optimizer state and one LR schedule on the global step)
// called directly instead of through Temporal.
//
// Pairing: within a seed every method starts from the same initialisation (trainChunk's seed) and
// draws its batches from the same seeded stream; the comparison reported is the per-seed difference.
// Baselines, as in the paper's unrestricted setting (spec §7, extra runs allowed):
//   grid     the repo's Dirichlet-cover static mixtures, each trained at the seed; the best by
//            average VALIDATION perplexity is the seed's result;
//   doremi   reference losses = the seed's stratified run (DoReMi's reference model is trained
//            stratified), μ = 1, smoothing 1e-3, one EGD step per round;
//   skillit  skills graph from m one-hot runs of `graphSteps` steps from the seed's initial model
//            (relative loss drop), rows outside the objective zeroed; η = 0.2, window 3 (repo run.sh).
// Aioli uses the detrended LearnParams estimate (ml/methods/aioli/detrended.ts) restricted to the
// objective's groups. Headline: average test perplexity over the objective's groups.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createIngestActivities } from '../activities/ingest.js';
import { createTrainingActivities } from '../activities/training.js';
import {
  type AioliConfig,
  aioliConfig,
  aioliProvider,
  defaultOneHotFactor,
} from '../ml/methods/aioli/index.js';
import {
  doremiProvider,
  gridSearchMixtures,
  skillItProvider,
  staticMixtureProvider,
  stratifiedProvider,
} from '../ml/methods/aioli/baselines.js';
import type { MixtureProvider, MixtureRoundRecord } from '../ml/methods/aioli/lmo.js';
import { runMixtureRound } from '../ml/methods/aioli/rounds.js';
import { skillItGraphFromOneHotRuns } from '../ml/methods/aioli/skillit-graph.js';
import { Rng } from '../ml/train/rng.js';
import type { ArtifactRef } from '../schemas/artifact.js';
import { TOKEN_WINDOWS, contractFingerprint } from '../schemas/tables.js';
import type { TrainingSpecInput } from '../schemas/training.js';
import { buildTable, fixedSizeListValues, stringValues } from '../storage/arrow-tables.js';
import { ArtifactStore } from '../storage/artifacts.js';
import { FileStore } from '../storage/file-store.js';
import { decodeParquet, encodeParquet } from '../storage/parquet.js';
import { initBackend } from '../workers/backend.js';
import { withRandomByteGroup } from './_aioli-junk.js';
import { armStats, mean, pairedDifference } from './_paired-stats.js';

const args = process.argv.slice(2);
const json = args.includes('--json');
const quick = args.includes('--quick');
const flag = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const numberFlag = (name: string) => (flag(name) === undefined ? undefined : Number(flag(name)));

const scenarioArg = flag('--scenario') ?? 'both';
if (!['natural', 'junk', 'both'].includes(scenarioArg)) {
  console.error(`--scenario must be natural, junk or both, got "${scenarioArg}"`);
  process.exit(2);
}
const SCENARIOS = scenarioArg === 'both' ? ['natural', 'junk'] : [scenarioArg];
type Scenario = 'natural' | 'junk';

const TEXT = ['code', 'novel', 'speeches'];
const JUNK = 'junk';
// Spec §6 CPU-scale shape (tiny decoder, batch 8, k = 2, s = 4, φ near 1 − ε + ε/m with ε = 0.75, fixed
// val subset, EMA off, normalisation on), shrunk to what 2 cores finish: d_model 64, ctx 64.
// Full: the spec's S = 2000 in T = 10 rounds of U = 200, 5 seeds, 3 grid candidates, η = 1 (the spec
// row says 0.3; the repo's presets use 0.1–1.0): normalised column sums differ by ~0.1 between a
// useless group and the others, so η·T ≈ 10 is what moves a share by about one unit of log-odds over
// the run. --quick: S = 96 in 2 rounds of 48, η = 3 (η·T = 6), 3 seeds, 2 grid candidates. Each seed
// runs in its own child process (env AIOLI_BENCH_SEED).
const C = quick
  ? {
      seeds: 3,
      totalSteps: 96,
      roundSteps: 48,
      eta: 3,
      gridRuns: 2,
      graphSteps: 24,
      valRows: 32,
      testRows: 64,
    }
  : {
      seeds: 5,
      totalSteps: 2000,
      roundSteps: 200,
      eta: 1,
      gridRuns: 3,
      graphSteps: 40,
      valRows: 32,
      testRows: 96,
    };
C.totalSteps = numberFlag('--steps') ?? C.totalSteps;
C.roundSteps = numberFlag('--round-steps') ?? C.roundSteps;
C.eta = numberFlag('--eta') ?? C.eta;
C.gridRuns = numberFlag('--grid') ?? C.gridRuns;
// Validation windows per group (the spec's CPU row fixes 64); test windows are never changed by it.
C.valRows = numberFlag('--val-rows') ?? C.valRows;
const FIRST_SEED = numberFlag('--first-seed') ?? 0;
const SEEDS = Array.from({ length: numberFlag('--seeds') ?? C.seeds }, (_x, i) => FIRST_SEED + i);
// k and s of LearnParams (spec §6 CPU row: k = 2, s = 4).
const SWEEPS = numberFlag('--sweeps') ?? 2;
const LP_STEPS = numberFlag('--lp-steps') ?? 4;
// γ of the repo's --ema (every published run script sets it; null = the paper's cumulative EGD).
const EMA = numberFlag('--ema') ?? null;
// LearnParams' estimate: 'detrended' (default here) or 'repo', the paper code's sequential differences.
const estimatorArg = flag('--estimator') ?? 'detrended';
if (estimatorArg !== 'detrended' && estimatorArg !== 'repo') {
  console.error(`--estimator must be detrended or repo, got "${estimatorArg}"`);
  process.exit(2);
}
const ESTIMATOR = estimatorArg as AioliConfig['estimator'];
const ALL_METHODS = ['aioli', 'stratified', 'grid', 'doremi', 'skillit'] as const;
type Method = (typeof ALL_METHODS)[number];
const methodsArg = flag('--methods')?.split(',') ?? [...ALL_METHODS];
const unknownMethods = methodsArg.filter((x) => !(ALL_METHODS as readonly string[]).includes(x));
if (unknownMethods.length > 0) {
  console.error(`--methods: unknown ${unknownMethods.join(', ')} (known: ${ALL_METHODS.join(', ')})`);
  process.exit(2);
}
const METHODS = ALL_METHODS.filter((x) => x === 'stratified' || methodsArg.includes(x));
const selected = (x: Method) => METHODS.includes(x);
const CTX = 64;
const MODEL = { layers: 2, dModel: 64, heads: 4, ctx: CTX, mlpRatio: 4 };
const BATCH = 8;
const DOREMI = { eta: 1, smoothing: 1e-3 };
const SKILLIT = { eta: 0.2, window: 3 };

const log = (msg: string) =>
  process.stderr.write(`[aioli ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
const round = (x: number, d = 4) => Number(x.toFixed(d));

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

/** A seeded sample of `perGroup` rows of each of `groups` in a token-windows table, as a new table. */
async function sampleRows(
  ref: ArtifactRef,
  groupsWanted: readonly string[],
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
  for (const g of groupsWanted) {
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

// ---- data (memoised in the shared store: the parent and every child compute the same refs) -------

interface ScenarioData {
  groups: string[];
  /** Indices of the groups the objective and the headline average over. */
  objective: number[];
  train: ArtifactRef;
  val: ArtifactRef;
  test: ArtifactRef;
}

log(`ingest ${TEXT.join(', ')} (store ${dir})`);
const corpus = await ingest.ingestTextCorpus({
  source: { builtin: TEXT as never },
  maxBytesPerGroup: 400_000,
  passageBytes: 1024,
  split: { val: 0.1, test: 0.1 },
  seed: 0,
});
const windows = await ingest.tokenizeCorpus({ corpus: corpus.corpus, ctx: CTX });
const trainRows = Math.min(...windows.groups.map((g) => g.windows?.train ?? 0));
async function scenarioData(scenario: Scenario): Promise<ScenarioData> {
  if (scenario === 'natural') {
    return {
      groups: TEXT,
      objective: TEXT.map((_g, i) => i),
      train: windows.windows.train,
      val: await sampleRows(windows.windows.val, TEXT, C.valRows, 1, 'val-natural'),
      test: await sampleRows(windows.windows.test, TEXT, C.testRows, 2, 'test-natural'),
    };
  }
  // As many junk windows as the smallest text group has; val/test junk rows only so every group has
  // a measured loss (the objective leaves them out).
  const junk = (ref: ArtifactRef, rows: number, seed: number, name: string) =>
    withRandomByteGroup(artifacts, ref, { group: JUNK, rows, ctx: CTX, seed, name });
  const groups = [...TEXT, JUNK];
  return {
    groups,
    objective: TEXT.map((_g, i) => i),
    train: await junk(windows.windows.train, trainRows, 10, 'train-junk'),
    val: await junk(
      await sampleRows(windows.windows.val, TEXT, C.valRows, 1, 'val-text'),
      C.valRows,
      11,
      'val-junk',
    ),
    test: await junk(
      await sampleRows(windows.windows.test, TEXT, C.testRows, 2, 'test-text'),
      C.testRows,
      12,
      'test-junk',
    ),
  };
}

// ---- one run ----------------------------------------------------------------------------------------

interface RunResult {
  testLoss: number[];
  valLoss: number[];
  proportions: number[][];
  records: MixtureRoundRecord[];
  seconds: number;
}

const avgPpl = (losses: readonly number[], objective: readonly number[]) =>
  mean(objective.map((i) => Math.exp(losses[i]!)));

let runs = 0;
function makeRunner(data: ScenarioData, seed: number) {
  const spec = (runKey: string) =>
    ({
      model: { kind: 'lm', config: MODEL },
      data: { train: data.train, eval: data.val },
      optimizer: { kind: 'adamw', weightDecay: 0.01, decayMatricesOnly: true, clipNorm: 1 },
      schedule: { kind: 'rewarmedCosine', maxLr: 2e-3, warmupFraction: 0.1, minLrRatio: 0.1 },
      batchSize: BATCH,
      totalSteps: C.totalSteps,
      chunkSteps: C.totalSteps,
      seed,
      runKey,
    }) as TrainingSpecInput & { runKey: string };
  const losses = (ev: { groups: Record<string, { loss: number }> }) =>
    data.groups.map((g) => ev.groups[g]!.loss);
  const byGroup = (p: readonly number[]) => Object.fromEntries(data.groups.map((g, i) => [g, p[i]!]));

  /** Train `steps` on `mixture` from the seed's initial model; the losses on val. */
  async function shortRun(mixture: number[], steps: number, label: string): Promise<number[]> {
    const runKey = `bench-${label}-s${seed}-${runs++}`;
    const r = await training.trainChunk({
      spec: spec(runKey),
      fromStep: 0,
      steps,
      mixture: byGroup(mixture),
      exactMixture: steps > 0,
    });
    const out = losses(
      await training.evaluate({ checkpoint: r.checkpoint, data: data.val, groups: data.groups }),
    );
    rmSync(join(dir, 'checkpoints', runKey), { recursive: true, force: true });
    return out;
  }

  /** One training run of S steps driven by `provider`, then val and test losses per group. */
  async function run(provider: MixtureProvider, label: string): Promise<RunResult> {
    const runKey = `bench-${label}-s${seed}-${runs++}`;
    const t0 = Date.now();
    let step = 0;
    let checkpoint: ArtifactRef | undefined;
    let state = provider.initialState();
    const records: MixtureRoundRecord[] = [];
    const ops = {
      async train(p: number[], steps: number, exact: boolean) {
        const r = await training.trainChunk({
          spec: spec(runKey),
          fromStep: step,
          steps,
          mixture: byGroup(p),
          exactMixture: exact,
          ...(checkpoint ? { from: checkpoint } : {}),
        });
        step = r.step;
        checkpoint = r.checkpoint;
      },
      async evaluate() {
        if (!checkpoint) await ops.train(provider.initialState().proportions, 0, false); // step-0 state
        return losses(
          await training.evaluate({ checkpoint: checkpoint!, data: data.val, groups: data.groups }),
        );
      },
    };
    while (!provider.isComplete(state)) {
      const r = await runMixtureRound(provider, state, ops);
      state = r.state;
      records.push(r.record);
    }
    const valLoss = await ops.evaluate();
    const testLoss = losses(
      await training.evaluate({ checkpoint: checkpoint!, data: data.test, groups: data.groups }),
    );
    rmSync(join(dir, 'checkpoints', runKey), { recursive: true, force: true });
    const seconds = (Date.now() - t0) / 1000;
    const proportions = records.map((x) => x.proportions.map((v) => round(v)));
    log(
      `${label} seed ${seed}: test avg ppl ${avgPpl(testLoss, data.objective).toFixed(3)}, p by round ${JSON.stringify(proportions)} (${seconds.toFixed(0)} s, load ${load1()})`,
    );
    loads.push(load1());
    return { testLoss, valLoss, proportions, records, seconds };
  }
  return { run, shortRun };
}

/**
 * The spec's φ = 1 − ε + ε/m (ε = 0.75) rounded to what a batch realises exactly: c rows of every other
 * group, c = ⌊B·(1 − φ)/(m − 1)⌋ ≥ 1. B = 8: m = 3 → 0.5 (4/2/2), m = 4 → 0.625 (5/1/1/1).
 */
function batchOneHotFactor(m: number, batch: number): number {
  const rest = Math.max(1, Math.floor((batch * (1 - defaultOneHotFactor(m))) / (m - 1)));
  return (batch - rest * (m - 1)) / batch;
}

interface SeedScenarioResult {
  stratified: RunResult;
  aioli?: RunResult;
  doremi?: RunResult;
  skillit?: RunResult & { graph: number[][] };
  grid?: { proportions: number[]; run: RunResult }[];
}

async function runSeedScenario(scenario: Scenario, seed: number): Promise<SeedScenarioResult> {
  const data = await scenarioData(scenario);
  const { run, shortRun } = makeRunner(data, seed);
  const m = data.groups.length;
  const schedule = { groups: data.groups, totalSteps: C.totalSteps, roundSteps: C.roundSteps };
  const tag = (s: string) => `${scenario}-${s}`;
  const out: SeedScenarioResult = { stratified: await run(stratifiedProvider(schedule), tag('stratified')) };
  if (selected('aioli')) {
    const aioliCfg: AioliConfig = aioliConfig({
      ...schedule,
      oneHotFactor: batchOneHotFactor(m, BATCH),
      sweeps: SWEEPS,
      stepsPerInterval: LP_STEPS,
      eta: C.eta,
      ema: EMA,
      batchSize: BATCH,
      seed,
      estimator: ESTIMATOR,
      objective: data.objective,
    });
    out.aioli = await run(aioliProvider(aioliCfg), tag('aioli'));
  }
  if (selected('doremi'))
    out.doremi = await run(
      doremiProvider({ ...schedule, referenceLosses: out.stratified.valLoss, ...DOREMI }),
      tag('doremi'),
    );
  if (selected('skillit')) {
    const initial = await shortRun(new Array<number>(m).fill(1 / m), 0, tag('init'));
    const after: number[][] = [];
    for (let j = 0; j < m; j++)
      after.push(
        await shortRun(
          Array.from({ length: m }, (_x, l) => (l === j ? 1 : 0)),
          C.graphSteps,
          tag(`graph${j}`),
        ),
      );
    const graph = skillItGraphFromOneHotRuns(initial, after).map((row, i) =>
      data.objective.includes(i) ? row : row.map(() => 0),
    );
    out.skillit = {
      ...(await run(skillItProvider({ ...schedule, skillGraph: graph, ...SKILLIT }), tag('skillit'))),
      graph,
    };
  }
  if (selected('grid')) {
    // Grid (GS row of spec §3): the repo's Dirichlet-cover sweep points (its one-hot vertex dropped:
    // with few candidates it spends a run on a mixture that trains one group only), each trained at
    // the seed.
    const candidates = gridSearchMixtures(m, { runs: C.gridRuns + 1, seed: 0 })
      .slice(1)
      .map((p) => p.map((x) => x / p.reduce((a, b) => a + b, 0)));
    out.grid = [];
    for (const [n, proportions] of candidates.entries())
      out.grid.push({
        proportions,
        run: await run(staticMixtureProvider({ ...schedule, proportions, method: 'grid' }), tag(`grid${n}`)),
      });
  }
  return out;
}

if (childSeed !== undefined) {
  const out: Record<string, SeedScenarioResult> = {};
  for (const scenario of SCENARIOS as Scenario[]) out[scenario] = await runSeedScenario(scenario, childSeed);
  console.log(JSON.stringify({ seed: childSeed, scenarios: out }));
  process.exit(0);
}

// ---- parent: prepare the shared data, fan out one child per seed, aggregate -----------------------

for (const scenario of SCENARIOS as Scenario[]) await scenarioData(scenario); // memoised for the children
log(
  `config: scenarios ${SCENARIOS.join('+')}, S=${C.totalSteps} U=${C.roundSteps} η=${C.eta} k=${SWEEPS} s=${LP_STEPS} γ=${EMA} estimator=${ESTIMATOR} methods=${METHODS.join(',')} seeds=${SEEDS.join(',')} model=${JSON.stringify(MODEL)} batch=${BATCH}`,
);

/** Children run at most `cores` at a time (niced like the parent). */
function runSeed(seed: number): Promise<{ seed: number; scenarios: Record<string, SeedScenarioResult> }> {
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
      if (code === 0 && line.startsWith('{')) resolve(JSON.parse(line) as never);
      else reject(new Error(`seed ${seed}: child exited with ${code}`));
    });
  });
}
const parallel = Math.max(1, Math.min(SEEDS.length, cpus().length));
const queue = [...SEEDS];
const perSeed: { seed: number; scenarios: Record<string, SeedScenarioResult> }[] = [];
await Promise.all(
  Array.from({ length: parallel }, async () => {
    for (let seed = queue.shift(); seed !== undefined; seed = queue.shift())
      perSeed.push(await runSeed(seed));
  }),
);
perSeed.sort((a, b) => a.seed - b.seed);
loads.push(load1());

function summarise(scenario: Scenario) {
  const groups = scenario === 'natural' ? TEXT : [...TEXT, JUNK];
  const objective = TEXT.map((_g, i) => i);
  const rs = perSeed.map((p) => p.scenarios[scenario]!);
  const bestOfGrid = selected('grid')
    ? rs.map((r) =>
        r.grid!.reduce((a, b) =>
          avgPpl(b.run.valLoss, objective) < avgPpl(a.run.valLoss, objective) ? b : a,
        ),
      )
    : [];
  const runsOf = (m: Method): RunResult[] =>
    m === 'grid' ? bestOfGrid.map((b) => b.run) : rs.map((r) => r[m]!);
  const headline = (m: Method) => runsOf(m).map((r) => avgPpl(r.testLoss, objective));
  const arms: Partial<Record<Method, ReturnType<typeof armStats> & { per_group_test_loss: unknown }>> =
    Object.fromEntries(
      METHODS.map((m) => [
        m,
        {
          ...armStats(headline(m)),
          per_group_test_loss: Object.fromEntries(
            groups.map((g, i) => [g, armStats(runsOf(m).map((r) => r.testLoss[i]!))]),
          ),
        },
      ]),
    ) as never;
  const paired: Record<string, ReturnType<typeof pairedDifference>> = Object.fromEntries(
    METHODS.filter((m) => m !== 'stratified').map((m) => [
      `${m}_vs_stratified`,
      pairedDifference(headline(m), headline('stratified')),
    ]),
  );
  const proportionsPerRound = Object.fromEntries(
    (['aioli', 'doremi', 'skillit'] as const).filter(selected).map((m) => {
      const perSeedRounds = runsOf(m).map((r) => r.proportions);
      const rounds = perSeedRounds[0]!.length;
      return [
        m,
        {
          groups,
          mean: Array.from({ length: rounds }, (_x, t) =>
            groups.map((_g, i) => round(mean(perSeedRounds.map((p) => p[t]![i]!)))),
          ),
          per_seed: perSeedRounds,
        },
      ];
    }),
  );
  const junkIndex = groups.indexOf(JUNK);
  const finalShare = (m: Method) =>
    selected(m) ? round(mean(runsOf(m).map((r) => r.proportions.at(-1)![junkIndex]!))) : null;
  // Ā (normalised, rows = the objective's groups, columns = trained group), averaged over rounds and seeds.
  const aRecords = rs.flatMap((r) => r.aioli?.records.filter((x) => x.aNormalized !== null) ?? []);
  const aMean =
    aRecords.length === 0
      ? null
      : aRecords[0]!.aNormalized!.map((row, i) =>
          row.map((_v, j) => round(mean(aRecords.map((x) => x.aNormalized![i]![j]!)), 5)),
        );
  return {
    groups,
    objective_groups: TEXT,
    ...arms,
    grid_selection: {
      rule: 'per seed: the candidate with the best average validation perplexity',
      mixture_per_seed: bestOfGrid.map((b) => b.proportions.map((x) => round(x))),
    },
    paired,
    proportions_per_round: proportionsPerRound,
    ...(junkIndex >= 0
      ? {
          junk_share_final: {
            aioli: finalShare('aioli'),
            stratified: finalShare('stratified'),
            doremi: finalShare('doremi'),
            skillit: finalShare('skillit'),
          },
        }
      : {}),
    aioli_A_mean: aMean,
    skillit_graph_per_seed: rs.map((r) => r.skillit?.graph.map((row) => row.map((v) => round(v)))),
  };
}

const report = {
  bench: 'aioli',
  quick,
  metric:
    'average test perplexity over the text groups, (1/3)·Σ_i exp(mean per-window next-byte NLL of group i); paired = per-seed difference (negative = better), 95 % Student-t interval',
  scenarios: Object.fromEntries((SCENARIOS as Scenario[]).map((s) => [s, summarise(s)])),
  config: {
    seeds: SEEDS,
    totalSteps: C.totalSteps,
    roundSteps: C.roundSteps,
    methods: METHODS,
    aioli: {
      sweeps: SWEEPS,
      stepsPerInterval: LP_STEPS,
      eta: C.eta,
      ema: EMA,
      estimator: ESTIMATOR,
      oneHotFactor: { natural: batchOneHotFactor(3, BATCH), junk: batchOneHotFactor(4, BATCH) },
    },
    doremi: DOREMI,
    skillit: { ...SKILLIT, graphSteps: C.graphSteps },
    batchSize: BATCH,
    model: MODEL,
    optimizer: 'AdamW wd 0.01 (matrices), clip 1, cosine 2e-3 → 2e-4, 10 % warm-up',
    val_rows_per_group: C.valRows,
    test_rows_per_group: C.testRows,
    grid_candidates: C.gridRuns,
    junk: 'uniformly random bytes (seeded), as many train windows as the smallest text group',
  },
  seconds: round((Date.now() - started) / 1000, 1),
  machine: { cores: cpus().length, cpu: cpus()[0]?.model ?? '', node: process.version, loadavg_1m: loads },
};
rmSync(dir, { recursive: true, force: true });

if (!json) {
  for (const [name, s] of Object.entries(report.scenarios)) {
    console.log(`${name}: average test perplexity over the text groups (mean ± std over seeds)`);
    for (const m of METHODS) {
      const a = s[m] as { mean: number; std: number };
      console.log(`  ${m.padEnd(11)} ${a.mean.toFixed(3)} ± ${a.std.toFixed(3)}`);
    }
    const p = s.paired.aioli_vs_stratified;
    if (p) console.log(`  Aioli − stratified: ${p.mean} [${p.ci95.join(', ')}], wins ${p.wins}/${p.of}`);
  }
}
console.log(JSON.stringify(report, null, json ? 0 : 2));
