// `npm run bench -- gotd-effect [--json] [--quick] [--epsilon E] [--sweep-only]`
//
// Does a GOT-D warm-up selection help fine-tuning on real text? (spec §8 end-to-end check.)
// Builtin public-domain text groups (activities/text-corpus.ts): `speeches` (US State of the Union
// addresses), `novel` (Moby-Dick) and `code` (TypeScript's lib .d.ts files), cut into passages of
// exactly 1,000 characters (spec §4.1 packing) and split into disjoint parts by a fixed seed.
// - A small byte-level LM (ml/models/lm.ts) is pre-trained on `speeches` only.
// - Target D_R: a few hundred `novel` passages; target test D_T: other, disjoint `novel` passages.
// - Pool D_S: `speeches` and `code` passages with `novel` rare (RARE_SHARE of the pool), disjoint from
//   the pre-training, target and test passages.
// - Three selections of the same budget K from the pool:
//   gotd    — the real `selectWarmup` workflow (local Temporal dev server, in-process workers; the
//             model-free n-gram embedder, exact solve, the workflow's own defaults unless --epsilon);
//   random  — K pool rows drawn uniformly (seeded);
//   nearest — spec §7.3's matching baseline (ml/methods/gotd/baselines.ts) on the SAME n-gram
//             embeddings the workflow computed: round-robin over the shuffled target rows, each taking
//             its nearest untaken pool row.
// - Each selection: warm up the pre-trained LM on the selection (W steps), then fine-tune on the
//   target (F steps), then the mean next-byte loss (nats/byte) on the target test passages. Equal
//   steps, batch, LR and data order seed for every method. Also reported: the test loss right after
//   the warm-up (before fine-tuning), and `none` = fine-tuning without warm-up.
// - 3 seeds: each seed draws its own pool, target and training order; the pre-trained LM is shared.
// - ε evidence: the novel share of GOT-D selections for several ε on the same embeddings
//   (`selectWarmupData`, the exact path the workflow's scoring runs), and in the full run a second
//   GOT-D arm trained at the other ε (`gotd_alt_epsilon`).
// `--quick` (≤ 5 min on 2 cores) is a smaller pool, model and step count; the JSON has the same shape.
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import * as tf from '@tensorflow/tfjs-core';
import type { RunManifest } from '../activities/manifest.js';
import { readCommittedEmbeddings } from '../activities/gotd/data.js';
import { loadBuiltin, tokenizeWindows } from '../activities/text-corpus.js';
import { nearestNeighbourMatching } from '../ml/methods/gotd/baselines.js';
import { embedHashedNgrams, ngramDocumentFrequencies } from '../ml/methods/gotd/ngram-embedder.js';
import { packToFixedLength } from '../ml/methods/gotd/preprocess.js';
import { type EmbeddingTable, selectWarmupData } from '../ml/methods/gotd/index.js';
import { constantSchedule } from '../ml/methods/rewarm.js';
import { type LmConfig, type LmParams, initLmParams, lmConfig, lmPerExampleLoss } from '../ml/models/lm.js';
import { BatchOrder, gatherTokenWindows } from '../ml/train/batches.js';
import { trainLmSteps } from '../ml/train/loops.js';
import { adamw, disposeOptimizerState } from '../ml/train/optimizers.js';
import { disposeTree } from '../ml/train/param-tree.js';
import { Rng, deriveSeed, permutation, sampleWithoutReplacement } from '../ml/train/rng.js';
import type { ArtifactRef } from '../schemas/artifact.js';
import type { SelectWarmupInput, SelectWarmupResult } from '../schemas/gotd.js';
import { SELECTED_SUBSET, TEXT_CORPUS, type TextCorpusRow } from '../schemas/tables.js';
import { buildTable, stringValues } from '../storage/arrow-tables.js';
import { ArtifactStore } from '../storage/artifacts.js';
import { FileStore } from '../storage/file-store.js';
import { decodeValidated, encodeParquet } from '../storage/parquet.js';
import { initBackend } from '../workers/backend.js';
import { meanStd as sampleMeanStd } from '../ml/eval/mean-std.js';
import { startDevServer } from '../workers/dev-server.js';
import { createWorkers } from '../workers/workers.js';

const argv = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const k = argv.indexOf(name);
  return k >= 0 ? argv[k + 1] : undefined;
};
const opts = {
  json: argv.includes('--json'),
  quick: argv.includes('--quick'),
  /** GOT-D's ε for the `gotd` arm (default: the workflow's default for the n-gram embedder). */
  epsilon: flag('--epsilon') === undefined ? undefined : Number(flag('--epsilon')),
  /** Selections and the ε sweep only, no training (for looking at compositions). */
  sweepOnly: argv.includes('--sweep-only'),
  /** n-gram embedder dimension (default: the workflow's). */
  ngramDim: flag('--ngram-dim') === undefined ? undefined : Number(flag('--ngram-dim')),
};
const say = (msg: string): void => {
  process.stderr.write(`[gotd-effect ${((performance.now() - T0) / 1000).toFixed(0)} s] ${msg}\n`);
};
const T0 = performance.now();
const round = (x: number, digits = 4): number => Number(x.toFixed(digits));
const load1 = (): number => round(loadavg()[0]!, 2);

const PRETRAIN_GROUP = 'speeches';
const TARGET_GROUP = 'novel';
const OTHER_GROUP = 'code';
const SEEDS = [0, 1, 2];
/** Characters per passage (spec §4.1: 1,000 ≈ 256 tokens). */
const PIECE = 1000;
/** Disjoint parts of the packed passages: pre-training (speeches), test and target sources (novel). */
const PRETRAIN_PIECES = 1500;
const TEST_PIECES = 200;
const TARGET_PIECES = 400;
/** ε values whose selection composition is reported (same embeddings, same K). */
const EPSILON_SWEEP = [0.005, 0.01, 0.02, 0.05, 0.1, 0.2];

const PLAN = opts.quick
  ? {
      lm: { layers: 2, dModel: 64, heads: 2, ctx: 64 },
      batch: 16,
      lr: { pretrain: 3e-3, warmup: 1e-3, finetune: 1e-3 },
      steps: { pretrain: 100, warmup: 30, finetune: 20 },
      pool: { [PRETRAIN_GROUP]: 300, [OTHER_GROUP]: 300 },
      rareShare: 0.05,
      budgetShare: 0.05,
      targetRows: 200,
      testWindows: 200,
      altEpsilonArm: false,
      evidenceDims: [1024],
    }
  : {
      lm: { layers: 2, dModel: 64, heads: 2, ctx: 64 },
      batch: 16,
      lr: { pretrain: 3e-3, warmup: 1e-3, finetune: 1e-3 },
      steps: { pretrain: 500, warmup: 100, finetune: 60 },
      pool: { [PRETRAIN_GROUP]: 1200, [OTHER_GROUP]: 1200 },
      rareShare: 0.05,
      budgetShare: 0.05,
      targetRows: 300,
      testWindows: 600,
      altEpsilonArm: true,
      evidenceDims: [1024, 4096],
    };

type Json = Record<string, unknown>;
const errors: string[] = [];

// -------------------------------------------------------------------------------------------------
// Data

interface Corpus {
  pretrain: TextCorpusRow[];
  /** Pool candidates per group (disjoint from everything else). */
  poolSource: Record<string, TextCorpusRow[]>;
  targetSource: TextCorpusRow[];
  test: TextCorpusRow[];
}

/**
 * Every group's documents packed into pieces of exactly PIECE characters (`packToFixedLength`, the
 * spec §4.1 NLU rule, documents joined by a blank line), then a seeded split of each group's pieces
 * into disjoint parts: `speeches` → pre-training and pool; `novel` → test, target and pool; `code` → pool.
 */
function buildCorpus(): Corpus {
  const pieces = (group: string): TextCorpusRow[] => {
    const docs = loadBuiltin([group]);
    const packed = packToFixedLength(docs, { length: PIECE, separator: '\n\n' });
    const order = permutation(packed.length, new Rng(deriveSeed(0, 'pieces', group)));
    return Array.from(order, (k) => ({
      id: packed[k]!.id,
      group,
      text: packed[k]!.text,
      source: packed[k]!.sources.map(String).join(' '),
    }));
  };
  const speeches = pieces(PRETRAIN_GROUP);
  const novel = pieces(TARGET_GROUP);
  return {
    pretrain: speeches.slice(0, PRETRAIN_PIECES),
    poolSource: {
      [PRETRAIN_GROUP]: speeches.slice(PRETRAIN_PIECES),
      [OTHER_GROUP]: pieces(OTHER_GROUP),
      [TARGET_GROUP]: novel.slice(TEST_PIECES + TARGET_PIECES),
    },
    targetSource: novel.slice(TEST_PIECES, TEST_PIECES + TARGET_PIECES),
    test: novel.slice(0, TEST_PIECES),
  };
}

function sample<T>(rows: readonly T[], k: number, seed: number, label: string): T[] {
  if (k > rows.length) throw new Error(`${label}: wants ${k} rows, only ${rows.length} available`);
  return Array.from(
    sampleWithoutReplacement(rows.length, k, new Rng(deriveSeed(seed, label))),
    (i) => rows[i]!,
  );
}

interface SeedData {
  pool: TextCorpusRow[];
  target: TextCorpusRow[];
  budget: number;
}

function seedData(corpus: Corpus, seed: number): SeedData {
  const common = Object.values(PLAN.pool).reduce((a, b) => a + b, 0);
  const rare = Math.round((common * PLAN.rareShare) / (1 - PLAN.rareShare));
  const pool = [
    ...Object.entries(PLAN.pool).flatMap(([g, k]) => sample(corpus.poolSource[g]!, k, seed, `pool-${g}`)),
    ...sample(corpus.poolSource[TARGET_GROUP]!, rare, seed, `pool-${TARGET_GROUP}`),
  ];
  const target = sample(corpus.targetSource, PLAN.targetRows, seed, 'target');
  return { pool, target, budget: Math.round(pool.length * PLAN.budgetShare) };
}

const textTable = (rows: readonly TextCorpusRow[]) =>
  encodeParquet(
    buildTable(TEXT_CORPUS, {
      id: rows.map((r) => r.id),
      group: rows.map((r) => r.group),
      text: rows.map((r) => r.text),
      source: rows.map((r) => r.source),
    }),
  );

function composition(groups: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const g of groups) out[g] = (out[g] ?? 0) + 1;
  return out;
}

// -------------------------------------------------------------------------------------------------
// LM training and evaluation (the product's loop: trainLmSteps, adamw, BatchOrder)

const CONFIG: LmConfig = lmConfig(PLAN.lm);

function windowsOf(rows: readonly TextCorpusRow[]): Int32Array {
  return tokenizeWindows(rows, CONFIG.ctx, 'train').flat;
}

/** `steps` AdamW steps from `params` on `windows` (the caller keeps `params`; returns new ones). */
function train(params: LmParams, windows: Int32Array, steps: number, lr: number, seed: number): LmParams {
  const ctx = CONFIG.ctx;
  const order = new BatchOrder({ n: windows.length / ctx, batchSize: PLAN.batch, seed });
  const optimizer = adamw({ weightDecay: 0 });
  const optState = optimizer.init(params);
  const r = trainLmSteps({
    config: CONFIG,
    params,
    optimizer,
    optState,
    startStep: 0,
    steps,
    lr: constantSchedule(lr),
    clipNorm: 1,
    batchAt: (s) => gatherTokenWindows(windows, ctx, order.indicesAt(s)),
  });
  disposeOptimizerState(r.optState);
  disposeOptimizerState(optState);
  return r.params;
}

/** Mean next-byte loss (nats) over `windows`. */
function evalLoss(params: LmParams, windows: Int32Array): number {
  const ctx = CONFIG.ctx;
  const n = windows.length / ctx;
  let total = 0;
  for (let s = 0; s < n; s += 128) {
    const b = Math.min(128, n - s);
    const sum = tf.tidy(() =>
      tf.sum(
        lmPerExampleLoss(
          CONFIG,
          params,
          tf.tensor2d(windows.subarray(s * ctx, (s + b) * ctx), [b, ctx], 'int32'),
        ),
      ),
    );
    total += sum.dataSync()[0]!;
    sum.dispose();
  }
  return total / n;
}

/** At most `max` windows, evenly spaced over the test passages. */
function spread(windows: Int32Array, max: number): Int32Array {
  const ctx = CONFIG.ctx;
  const n = windows.length / ctx;
  if (n <= max) return windows;
  const out = new Int32Array(max * ctx);
  for (let k = 0; k < max; k++) {
    const w = Math.floor((k * n) / max);
    out.set(windows.subarray(w * ctx, (w + 1) * ctx), k * ctx);
  }
  return out;
}

interface ArmResult {
  after_warmup: number | null;
  test_loss: number;
}

function runArm(
  pretrained: LmParams,
  selection: readonly TextCorpusRow[] | null,
  targetWindows: Int32Array,
  testWindows: Int32Array,
  seed: number,
): ArmResult {
  let start = pretrained;
  let afterWarmup: number | null = null;
  if (selection) {
    start = train(
      pretrained,
      windowsOf(selection),
      PLAN.steps.warmup,
      PLAN.lr.warmup,
      deriveSeed(seed, 'warmup'),
    );
    afterWarmup = evalLoss(start, testWindows);
  }
  const tuned = train(
    start,
    targetWindows,
    PLAN.steps.finetune,
    PLAN.lr.finetune,
    deriveSeed(seed, 'finetune'),
  );
  const testLoss = evalLoss(tuned, testWindows);
  if (start !== pretrained) disposeTree(start);
  disposeTree(tuned);
  return { after_warmup: afterWarmup === null ? null : round(afterWarmup), test_loss: round(testLoss) };
}

// -------------------------------------------------------------------------------------------------
// Selections

interface Selections {
  budget: number;
  poolRows: number;
  byMethod: Record<string, string[]>;
  workflow: Json;
  sweep: Json[];
}

async function select(
  client: Client,
  store: FileStore,
  taskQueue: string,
  data: SeedData,
  seed: number,
): Promise<Selections> {
  const artifacts = new ArtifactStore(store);
  const key = (name: string) => `inputs/seed-${seed}/${name}.parquet`;
  await store.put(key('pool'), textTable(data.pool));
  await store.put(key('target'), textTable(data.target));
  const input: SelectWarmupInput = {
    dataset: 'gotd-effect',
    pool: store.uri(key('pool')),
    target: store.uri(key('target')),
    budget: data.budget,
    embedder: { kind: 'ngram', ...(opts.ngramDim ? { dim: opts.ngramDim } : {}) },
    ...(opts.epsilon !== undefined ? { epsilon: opts.epsilon } : {}),
    shards: 2,
    seed,
    profile: 'prod',
  };
  const workflowId = `gotd-effect-${seed}-${Date.now()}`;
  const t0 = performance.now();
  const result = (await client.workflow.execute('selectWarmup', {
    taskQueue,
    workflowId,
    args: [input],
  })) as SelectWarmupResult;
  const workflowS = (performance.now() - t0) / 1000;
  const selection = decodeValidated(
    await artifacts.read(result.selection),
    result.selection.uri,
    SELECTED_SUBSET,
  );
  const gotdIds = stringValues(selection, 'id');

  // The workflow's own embeddings (manifest outputs), for the matching baseline and the ε sweep.
  const manifest = JSON.parse(new TextDecoder().decode(await artifacts.read(result.manifest))) as RunManifest;
  const outputs = manifest.outputs as { targetEmbeddings: ArtifactRef; poolEmbeddings: ArtifactRef[] };
  const summary = JSON.parse(new TextDecoder().decode(await artifacts.read(result.summary))) as {
    config: { epsilon: number };
    solver: Json;
  };
  const t = await readCommittedEmbeddings(artifacts, outputs.targetEmbeddings);
  const parts = await Promise.all(outputs.poolEmbeddings.map((r) => readCommittedEmbeddings(artifacts, r)));
  const target: EmbeddingTable = { name: 'target', ids: t.ids, embeddings: t.flat, dim: t.dim };
  const poolIds = parts.flatMap((p) => p.ids);
  const poolFlat = new Float32Array(poolIds.length * t.dim);
  let o = 0;
  for (const p of parts) {
    poolFlat.set(p.flat, o);
    o += p.flat.length;
  }
  const pool: EmbeddingTable = { name: 'pool', ids: poolIds, embeddings: poolFlat, dim: t.dim };
  const K = result.budget;
  const nearest = nearestNeighbourMatching(target, pool, K, seed).map(String);
  const random = Array.from(
    sampleWithoutReplacement(poolIds.length, K, new Rng(deriveSeed(seed, 'random-selection'))),
    (i) => poolIds[i]!,
  );

  const groupOf = new Map(data.pool.map((r) => [r.id, r.group]));
  const share = (ids: readonly string[]) =>
    round(ids.filter((id) => groupOf.get(id) === TARGET_GROUP).length / ids.length, 3);
  const sweep: Json[] = [];
  const byMethod: Record<string, string[]> = { gotd: gotdIds, random, nearest };
  for (const epsilon of EPSILON_SWEEP) {
    const s0 = performance.now();
    const r = selectWarmupData(target, pool, { budget: K, epsilon });
    sweep.push({
      epsilon,
      novel_share: share(r.selection.map(String)),
      iterations: r.report.iterations,
      converged: r.report.converged,
      solve_s: round((performance.now() - s0) / 1000, 2),
    });
    byMethod[`gotd@${epsilon}`] = r.selection.map(String);
  }
  say(
    `seed ${seed}: workflow ${round(workflowS, 1)} s (ε ${summary.config.epsilon}), K ${K} of ${poolIds.length}; ` +
      `novel share gotd ${share(gotdIds)}, nearest ${share(nearest)}, random ${share(random)}; ` +
      `sweep ${sweep.map((s) => `${s.epsilon}:${s.novel_share}`).join(' ')}`,
  );
  return {
    budget: K,
    poolRows: poolIds.length,
    byMethod,
    workflow: {
      wall_s: round(workflowS, 1),
      epsilon: summary.config.epsilon,
      strategy: result.strategy,
      converged: result.converged,
      iterations: summary.solver.iterations,
      ot_cost: result.otCost,
    },
    sweep,
  };
}

// -------------------------------------------------------------------------------------------------
// ε for the n-gram embedder, on the spec §8 scenario: pool 90 % prose (speeches) / 10 % code, target
// half prose, half code (disjoint rows), K = the pool's code rows. The embedder and the solve are the
// functions the embedShard / scoreShard activities run (document frequencies over pool + target).

function epsilonEvidence(corpus: Corpus): Json {
  const prose = corpus.poolSource[PRETRAIN_GROUP]!;
  const code = corpus.poolSource[OTHER_GROUP]!;
  const pool = [...prose.slice(0, 900), ...code.slice(0, 100)];
  const target = [...prose.slice(900, 1000), ...code.slice(100, 200)];
  const K = 100;
  const rows: Json[] = [];
  for (const dim of PLAN.evidenceDims) {
    const df = ngramDocumentFrequencies(
      [...pool, ...target].map((r) => r.text),
      { dim },
    );
    const table = (name: string, rs: readonly TextCorpusRow[]): EmbeddingTable => ({
      name,
      ids: rs.map((r) => r.id),
      embeddings: embedHashedNgrams(
        rs.map((r) => r.text),
        { dim },
        df,
      ),
      dim,
    });
    const P = table('pool', pool);
    const T = table('target', target);
    const codeIds = new Set(code.slice(0, 100).map((r) => r.id));
    const share = (ids: readonly (string | number | bigint)[]) =>
      round(ids.filter((id) => codeIds.has(String(id))).length / ids.length, 3);
    const byEpsilon = EPSILON_SWEEP.map((epsilon) => {
      const r = selectWarmupData(T, P, { budget: K, epsilon });
      return {
        epsilon,
        code_share: share(r.selection),
        iterations: r.report.iterations,
        converged: r.report.converged,
        mean_cost: round(r.report.meanCost, 3),
      };
    });
    const nearest = share(nearestNeighbourMatching(T, P, K, 0));
    say(
      `ε evidence (dim ${dim}, pool 900 prose + 100 code, target 100 + 100, K ${K}): code share ` +
        `${byEpsilon.map((e) => `${e.epsilon}:${e.code_share} (${e.iterations} it)`).join(' ')}; nearest ${nearest}`,
    );
    rows.push({ dim, nearest_code_share: nearest, by_epsilon: byEpsilon });
  }
  return {
    scenario:
      'spec §8: pool 900 speeches + 100 code passages, target 100 + 100 other ones, K = 100, n-gram embedder (3–5-grams, TF-IDF over pool + target)',
    rows,
  };
}

// -------------------------------------------------------------------------------------------------

/** ml/eval's meanStd (sample std, n − 1), rounded for the JSON. */
function meanStd(xs: readonly number[]): { mean: number; std: number; n: number } {
  const r = sampleMeanStd(xs);
  return { mean: round(r.mean), std: round(r.std), n: r.n };
}

async function main(): Promise<Json> {
  const backend = await initBackend(process.env.RETORT_TF_BACKEND ?? 'tfjs-node');
  const corpus = buildCorpus();
  say(
    `corpus: pre-train ${corpus.pretrain.length} ${PRETRAIN_GROUP} passages; pool sources ` +
      `${Object.entries(corpus.poolSource)
        .map(([g, r]) => `${g} ${r.length}`)
        .join(', ')}; ` +
      `target source ${corpus.targetSource.length}, test ${corpus.test.length} ${TARGET_GROUP} passages`,
  );
  const testWindows = spread(windowsOf(corpus.test), PLAN.testWindows);
  const evidence = epsilonEvidence(corpus);

  // The dev server boots (a child process) while the LM pre-trains.
  const scratch = mkdtempSync(join(tmpdir(), 'retort-gotd-effect-'));
  const store = new FileStore(join(scratch, 'store'));
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const serverStarting = startDevServer({ uiPort: false, logFile: join(scratch, 'temporal.log') });
  serverStarting.catch(() => undefined);

  // Pre-train once (seed 0), shared by every seed and method.
  let t0 = performance.now();
  const init = initLmParams(CONFIG, 0);
  const pretrainWindows = windowsOf(corpus.pretrain);
  const pretrained = opts.sweepOnly
    ? init
    : train(init, pretrainWindows, PLAN.steps.pretrain, PLAN.lr.pretrain, 0);
  if (pretrained !== init) disposeTree(init);
  const pretrainS = (performance.now() - t0) / 1000;
  const pretrainedLoss = evalLoss(pretrained, testWindows);
  say(
    `pre-trained on ${PRETRAIN_GROUP} in ${round(pretrainS, 1)} s; ${TARGET_GROUP} test loss ${round(pretrainedLoss)}`,
  );

  t0 = performance.now();
  const server = await serverStarting;
  const native = await NativeConnection.connect({ address: server.address });
  const connection = await Connection.connect({ address: server.address });
  const taskQueue = `gotd-effect-${Date.now()}`;
  const workers = await createWorkers({ connection: native, store, taskQueue, queues: 'all' });
  const running = workers.map((w) => w.run());
  const client = new Client({ connection });
  say(`dev server and workers up in ${round((performance.now() - t0) / 1000, 1)} s`);

  const seeds: Json[] = [];
  const methods = ['gotd', 'random', 'nearest'];
  const results: Record<string, number[]> = {};
  const afterWarmup: Record<string, number[]> = {};
  let budget = 0;
  let altEpsilon: number | null = null;
  try {
    for (const seed of SEEDS) {
      const data = seedData(corpus, seed);
      const sel = await select(client, store, taskQueue, data, seed);
      budget = sel.budget;
      const rowsById = new Map(data.pool.map((r) => [r.id, r]));
      const rowsOf = (ids: readonly string[]) => ids.map((id) => rowsById.get(id)!);
      const workflowEps = sel.workflow.epsilon as number;
      altEpsilon = workflowEps === 0.1 ? 0.02 : 0.1;
      const arms: [string, string[] | null][] = methods.map((m) => [m, sel.byMethod[m]!]);
      if (PLAN.altEpsilonArm) arms.push(['gotd_alt_epsilon', sel.byMethod[`gotd@${altEpsilon}`]!]);
      arms.push(['none', null]);
      const seedJson: Json = {
        seed,
        pool_rows: sel.poolRows,
        pool_composition: composition(data.pool.map((r) => r.group)),
        target_rows: data.target.length,
        workflow: sel.workflow,
        epsilon_sweep: sel.sweep,
        composition: Object.fromEntries(
          arms.filter(([, ids]) => ids).map(([m, ids]) => [m, composition(rowsOf(ids!).map((r) => r.group))]),
        ),
        arms: {} as Record<string, ArmResult>,
      };
      if (!opts.sweepOnly) {
        const targetWindows = windowsOf(data.target);
        for (const [method, ids] of arms) {
          const a0 = performance.now();
          const r = runArm(pretrained, ids && rowsOf(ids), targetWindows, testWindows, seed);
          (seedJson.arms as Record<string, ArmResult>)[method] = r;
          (results[method] ??= []).push(r.test_loss);
          if (r.after_warmup !== null) (afterWarmup[method] ??= []).push(r.after_warmup);
          say(
            `seed ${seed} ${method}: after warm-up ${r.after_warmup ?? '—'}, after fine-tune ${r.test_loss} (${round((performance.now() - a0) / 1000, 1)} s)`,
          );
        }
      }
      seeds.push(seedJson);
    }
  } finally {
    for (const w of workers) w.shutdown();
    await Promise.all(running);
    await connection.close();
    await native.close();
    await server.stop();
    rmSync(scratch, { recursive: true, force: true });
  }

  const summary = (m: string) => (results[m] ? meanStd(results[m]) : null);
  const gotd = summary('gotd');
  const random = summary('random');
  const nearest = summary('nearest');
  return {
    bench: 'gotd-effect',
    quick: opts.quick,
    gotd,
    random,
    nearest,
    budget,
    none: summary('none'),
    gotd_alt_epsilon: PLAN.altEpsilonArm ? { epsilon: altEpsilon, ...summary('gotd_alt_epsilon') } : null,
    after_warmup: Object.fromEntries(Object.entries(afterWarmup).map(([m, xs]) => [m, meanStd(xs)])),
    gotd_beats_random: gotd && random ? gotd.mean < random.mean : null,
    gotd_minus_nearest: gotd && nearest ? round(gotd.mean - nearest.mean) : null,
    pretrained_test_loss: round(pretrainedLoss),
    epsilon_evidence: evidence,
    seeds,
    config: {
      backend: backend.name,
      groups: { pretrain: PRETRAIN_GROUP, target: TARGET_GROUP, other: OTHER_GROUP },
      ...PLAN,
      lm: CONFIG,
      piece_chars: PIECE,
      seeds: SEEDS,
      epsilon_sweep: EPSILON_SWEEP,
      test_windows: testWindows.length / CONFIG.ctx,
      loss: 'mean next-byte cross-entropy (nats/byte) on target test windows',
    },
    pretrain_s: round(pretrainS, 1),
  };
}

const machine: Json = {
  cpus: cpus().length,
  cpu_model: cpus()[0]?.model ?? null,
  node: process.version,
  load1_start: load1(),
};
let report: Json = {};
try {
  report = await main();
} catch (err) {
  errors.push((err as Error).stack ?? String(err));
}
report.machine = { ...machine, load1_end: load1() };
report.wall_s = round((performance.now() - T0) / 1000, 1);
report.errors = errors;
console.log(opts.json ? JSON.stringify(report) : JSON.stringify(report, null, 2));
process.exit(errors.length ? 1 : 0);
