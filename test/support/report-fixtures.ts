// Inputs for `writeReport` built from real data (MNIST digits from the `mnist` package, the builtin
// text groups' counts), committed to a store the way the pipelines commit them: tables the report
// reads, plus the small JSON a workflow passes.
import { buildDistilledTable } from '../../storage/distilled-table.js';
import { loadMnist } from '../../activities/mnist.js';
import { DISTILL_LOG } from '../../schemas/trajectory-matching.js';
import type { ReportContent } from '../../schemas/report.js';
import {
  DISTILLED_IMAGES,
  HISTORY,
  IMAGES,
  SELECTED_SUBSET,
  contractFingerprint,
} from '../../schemas/tables.js';
import { buildTable } from '../../storage/arrow-tables.js';
import { ArtifactStore, sha256Hex } from '../../storage/artifacts.js';
import { encodeParquet } from '../../storage/parquet.js';
import type { HistoryRow } from '../../activities/aioli-history.js';
import { createRewarmIoActivities } from '../../activities/rewarm.js';
import { multiplicativeWeightsUpdate } from '../../ml/methods/aioli/lmo.js';
import { historyRows } from '../../workflows/aioli-config.js';

async function commitTable(
  artifacts: ArtifactStore,
  name: string,
  table: Parameters<typeof encodeParquet>[0],
  fingerprint: string,
) {
  const bytes = encodeParquet(table);
  return artifacts.commit(`artifacts/table/${sha256Hex(bytes)}-${name}.parquet`, bytes, {
    kind: 'table',
    format: 'parquet',
    rows: table.numRows,
    schema: fingerprint,
  });
}

/** `ipc` real digits per class as the "distilled" set (soft labels one-hot), and a decaying loss log. */
export async function distillFixtures(artifacts: ArtifactStore, ipc: number) {
  const mnist = loadMnist({ seed: 1, trainPerClass: 20, testCount: 10 });
  const pick: number[] = [];
  for (let k = 0; k < 10; k++)
    for (let i = 0, n = 0; i < mnist.train.labels.length && n < ipc; i++)
      if (mnist.train.labels[i] === k) {
        pick.push(i);
        n++;
      }
  const px = 28 * 28;
  const pixels = new Float32Array(pick.length * px);
  pick.forEach((row, j) => pixels.set(mnist.train.images.subarray(row * px, (row + 1) * px), j * px));
  const labels = Int32Array.from(pick, (row) => mnist.train.labels[row]!);
  const soft = new Float32Array(pick.length * 10);
  labels.forEach((l, j) => (soft[j * 10 + l] = 1));
  const ids = pick.map((r) => `syn-${r}`);
  const meta = { h: '28', w: '28', c: '1' };
  const distilled = await commitTable(
    artifacts,
    'distilled',
    buildDistilledTable({
      ids,
      labels,
      pixels,
      softLabels: soft,
      meta: {
        method: 'mtt',
        ipc,
        classes: 10,
        h: 28,
        w: 28,
        c: 1,
        downsample: 1,
        normalization: { mean: [0.1307], std: [0.3081] },
        labelKind: 'hard',
        temperature: 1,
      },
    }),
    contractFingerprint(DISTILLED_IMAGES),
  );
  const recovered = await commitTable(
    artifacts,
    'recovered',
    buildTable(IMAGES, { id: ids, label: labels, pixels: { flat: pixels, size: px } }, meta),
    contractFingerprint(IMAGES),
  );
  const n = 200;
  const it = Int32Array.from({ length: n }, (_x, i) => i);
  const log = await commitTable(
    artifacts,
    'log',
    buildTable(DISTILL_LOG, {
      iteration: it,
      expert: Int32Array.from(it, (i) => i % 5),
      start_epoch: Int32Array.from(it, (i) => i % 3),
      upper_bound: Int32Array.from(it, () => 4),
      loss: Float64Array.from(it, (i) => 0.9 * Math.exp(-i / 80) + 0.05 * Math.sin(i * 1.7) + 0.1),
      syn_lr: Float64Array.from(it, (i) => 0.01 + i * 1e-5),
      skipped: Int32Array.from(it, (i) => (i % 17 === 0 ? 1 : 0)),
    }),
    contractFingerprint(DISTILL_LOG),
  );
  return { distilled, recovered, log };
}

/** The four kinds of report content the pipelines write, on real digits and text-group counts. */
export async function reportContents(artifacts: ArtifactStore): Promise<Record<string, ReportContent>> {
  const { distilled, recovered, log } = await distillFixtures(artifacts, 3);
  const groups = ['code', 'novel', 'speeches'];
  const selectionRows = 120;
  const selection = await commitTable(
    artifacts,
    'selection',
    buildTable(SELECTED_SUBSET, {
      id: Array.from({ length: selectionRows }, (_x, i) => `row-${i}`),
      group: Array.from({ length: selectionRows }, (_x, i) => groups[i % 3]!),
      text: Array.from({ length: selectionRows }, (_x, i) => `text ${i}`),
      score: Float64Array.from(
        { length: selectionRows },
        (_x, i) => -1 + i / selectionRows + 0.1 * Math.sin(i),
      ),
    }),
    contractFingerprint(SELECTED_SUBSET),
  );
  // Aioli's history as mixAioli writes it (historyRows): 4 rounds of 50 steps, each an Â estimate
  // (training on `code` helps every group most) and the EGD step it implies on the weights.
  const aHat = [
    [0.6, 0.1, 0.05],
    [0.4, 0.5, 0.1],
    [0.3, 0.1, 0.4],
  ];
  let weights = [1, 1, 1];
  const rows: HistoryRow[] = [];
  for (let round = 0; round < 4; round++) {
    const z = weights.reduce((a, b) => a + b, 0);
    const losses = groups.map((_g, i) => 2.5 - 0.3 * round + 0.1 * i);
    const a = round === 0 ? null : aHat.map((r) => r.map((v) => v * (1 - 0.1 * round)));
    rows.push(
      ...historyRows(
        groups,
        {
          method: 'aioli',
          round,
          phase: 'main',
          stepStart: round * 50,
          mainSteps: 50,
          weights,
          proportions: weights.map((w) => w / z),
          beta: null,
          aRaw: a,
          aNormalized: a,
          aSmoothed: null,
          note: null,
        },
        losses,
        0.3,
        false,
      ),
    );
    if (a) weights = multiplicativeWeightsUpdate(weights, a, 0.3);
  }
  const history = await commitTable(
    artifacts,
    'history',
    buildTable(HISTORY, {
      step: BigInt64Array.from(rows.map((h) => BigInt(h.step))),
      key: rows.map((h) => h.key),
      value: Float64Array.from(rows.map((h) => h.value)),
    }),
    contractFingerprint(HISTORY),
  );
  // continualPretrain's metrics table, written by its own activity: 200 steps of the re-warmed cosine,
  // dense evaluations over the warm-up, the upstream loss rising a little while the downstream falls.
  const curve = [0, 1, 2, 3, 4, 25, 50, 75, 100, 125, 150, 175, 200].map((step) => ({
    step,
    tokens: step * 16 * 64,
    upstream: 2.0 + 0.15 * (1 - Math.exp(-step / 40)),
    downstream: 2.6 - 0.5 * (1 - Math.exp(-step / 60)),
    train: step === 0 ? null : 2.5 - 0.45 * (1 - Math.exp(-step / 60)),
  }));
  const metrics = await createRewarmIoActivities({ artifacts }).writeContinualMetrics({
    runKey: 'fixture',
    curve,
    schedule: { kind: 'rewarmedCosine', maxLr: 3e-3, warmupFraction: 0.05, minLrRatio: 0.1 },
    totalSteps: 200,
    cache: false,
  });
  return {
    mixing: { kind: 'mixing', history },
    continual: { kind: 'continual', metrics },
    curateEvaluation: {
      kind: 'curateEvaluation',
      partition: '2026-12-02',
      previousPartition: '2026-12-01',
      downstream: { code: 1.9, novel: 2.2, speeches: 2.1 },
      upstream: { code: 2.0, novel: 2.1, speeches: 2.0 },
    },
    trajectory: {
      kind: 'trajectory',
      method: 'datm',
      ipc: 3,
      distilled,
      log,
      accuracy: [
        { method: 'datm', ipc: 3, mean: 0.82, std: 0.012, values: [0.81, 0.83, 0.82], lr: 0.01, steps: 300 },
        {
          method: 'random_real',
          ipc: 3,
          mean: 0.61,
          std: 0.03,
          values: [0.58, 0.64, 0.61],
          lr: 0.01,
          steps: 300,
        },
        {
          method: 'full_data',
          ipc: null,
          mean: 0.97,
          std: 0.002,
          values: [0.97, 0.968, 0.972],
          lr: 0.01,
          steps: 300,
        },
      ],
    },
    cvdd: {
      kind: 'cvdd',
      ipc: 3,
      distilled: recovered,
      committee: [
        { index: 0, id: 'convnet-w16-d2', valAcc: 0.91, prior: 88 },
        { index: 1, id: 'convnet-w32-d2', valAcc: 0.93, prior: 90 },
        { index: 2, id: 'convnet-w16-d3', valAcc: 0.9, prior: 86 },
      ],
      recovery: [0, 1, 2].map((slot) => ({
        slot,
        voters: ['convnet-w16-d2', 'convnet-w32-d2']
          .slice(0, 2)
          .map((v, i) => (slot % 2 && i ? 'convnet-w16-d3' : v)),
        weights: [0.45, 0.55],
        ce: [0.2 + slot * 0.05, 0.15],
        bn: [1.2 - slot * 0.1, 0.9],
        accuracy: [1, 0.9],
      })),
      accuracy: [
        { method: 'committee', mean: 0.79, std: 0.02, values: [0.77, 0.79, 0.81] },
        { method: 'random_real', mean: 0.6, std: 0.04, values: [0.56, 0.6, 0.64] },
      ],
    },
    ingest: {
      kind: 'ingest',
      groups: groups.map((group, g) => ({
        group,
        passages: { train: 800 + 100 * g, val: 100, test: 100 },
        bytes: { train: 400_000 * (g + 1), val: 50_000, test: 50_000 },
        windows: { train: 1500 * (g + 1), val: 200, test: 200 },
      })),
    },
    curation: {
      kind: 'curation',
      summary: {
        rows: { input: 1200, filtered: 40, duplicates: 95, previousDuplicates: 12, kept: 1053 },
        filters: [
          { filter: 'words', removed: 31, examples: [{ id: 'doc-7', value: 12, text: 'Too short.' }] },
          {
            filter: 'duplicateLines',
            removed: 9,
            examples: [{ id: 'doc-9', value: 0.5, text: 'a\na\nb\nb' }],
          },
        ],
        dedup: {
          settings: {
            ngram: 5,
            numPerm: 100,
            bands: 20,
            rows: 5,
            threshold: 0.8,
            stripPunctuation: false,
            crossPartition: true,
            shardRows: 50_000,
          },
          previousTables: 1,
          shards: 3,
          candidatePairs: 240,
          verifiedPairs: 130,
          clusters: 80,
          examples: [{ id: 'doc-2~copy', keptId: 'doc-2', jaccard: 0.93, text: 'Fellow citizens …' }],
        },
      },
    },
    selectWarmup: {
      kind: 'selectWarmup',
      selection,
      composition: groups.map((group, g) => ({
        group,
        pool: 1000,
        selected: 20 + 40 * g,
        target: 10 + 90 * (g === 0 ? 1 : 0),
        poolShare: 1 / 3,
        selectedShare: (20 + 40 * g) / 180,
        targetShare: g === 0 ? 100 / 120 : 10 / 120,
      })),
      otCost: { before: 0.42, after: 0.31, lambda: 0.5 },
      budget: selectionRows,
      poolRows: 3000,
      targetRows: 120,
    },
  };
}
