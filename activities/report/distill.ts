// Report sections of dataset distillation: the distilled images as a class-labelled grid, test
// accuracy of every arm with error bars, the matching loss (trajectory matching) or the committee's
// priors, voting weights and per-voter recovery terms (CV-DD).
import type { Table } from 'apache-arrow';
import { DISTILL_LOG } from '../../schemas/trajectory-matching.js';
import type { CvddReportContent, TrajectoryReportContent } from '../../schemas/report.js';
import { DISTILLED_IMAGES, IMAGES } from '../../schemas/tables.js';
import { fixedSizeListValues } from '../../storage/arrow-tables.js';
import type { ArtifactStore } from '../../storage/artifacts.js';
import { decodeValidated } from '../../storage/parquet.js';
import { encodeGrayPng } from '../distill-report.js';
import { accuracyBarsSpec, vegaLiteSvg } from './charts.js';
import type { Section } from './page.js';

/** Images shown per class: enough to judge them, few enough to keep the grid on a screen. */
const MAX_PER_CLASS = 10;
/** Each image is drawn this many pixels wide (28-px MNIST digits: 3×). */
const CELL = 84;

/** One image (channel mean when c > 1), min–max scaled on its own, as a PNG data URI. */
function imageDataUri(pixels: Float32Array, offset: number, h: number, w: number, c: number): string {
  const gray = new Float32Array(h * w);
  for (let p = 0; p < h * w; p++) {
    let s = 0;
    for (let ch = 0; ch < c; ch++) s += pixels[offset + p * c + ch]!;
    gray[p] = s / c;
  }
  let lo = Infinity;
  let hi = -Infinity;
  for (const x of gray) {
    lo = Math.min(lo, x);
    hi = Math.max(hi, x);
  }
  const span = hi > lo ? hi - lo : 1;
  const bytes = Uint8Array.from(gray, (x) => Math.round((255 * (x - lo)) / span));
  return `data:image/png;base64,${Buffer.from(encodeGrayPng(bytes, w, h)).toString('base64')}`;
}

/** The grid: one row per class (labelled), up to MAX_PER_CLASS images per row. */
export async function imageGridFigure(table: Table, name: string, caption: string) {
  const md = table.schema.metadata;
  const [h, w, c] = ['h', 'w', 'c'].map((k) => Number(md.get(k))) as [number, number, number];
  const { flat } = fixedSizeListValues<Float32Array>(table, 'pixels');
  const labels = table.getChild('label')!.toArray() as Int32Array;
  const seen = new Map<number, number>();
  const values: { label: string; slot: number; url: string }[] = [];
  for (let i = 0; i < table.numRows; i++) {
    const label = labels[i]!;
    const slot = seen.get(label) ?? 0;
    seen.set(label, slot + 1);
    if (slot < MAX_PER_CLASS)
      values.push({ label: String(label), slot: slot + 1, url: imageDataUri(flat, i * h * w * c, h, w, c) });
  }
  const perClass = Math.max(...seen.values());
  const shown = Math.min(perClass, MAX_PER_CLASS);
  const svg = await vegaLiteSvg({
    title: `${values.length} images, ${seen.size} classes`,
    width: shown * (CELL + 6),
    height: seen.size * (CELL + 6),
    data: { values },
    mark: { type: 'image', width: CELL, height: CELL, smooth: false },
    encoding: {
      x: { field: 'slot', type: 'ordinal', title: 'image per class', axis: { labelAngle: 0 } },
      y: {
        field: 'label',
        type: 'ordinal',
        title: 'class',
        sort: [...seen.keys()].sort((a, b) => a - b).map(String),
      },
      url: { field: 'url', type: 'nominal' },
    },
  });
  return {
    name,
    caption: `${caption}${perClass > MAX_PER_CLASS ? ` (first ${MAX_PER_CLASS} of ${perClass} per class)` : ''}; each image min–max scaled on its own.`,
    svg,
  };
}

export async function trajectorySection(
  c: TrajectoryReportContent,
  artifacts: ArtifactStore,
): Promise<Section> {
  const distilled = decodeValidated(await artifacts.read(c.distilled), c.distilled.uri, DISTILLED_IMAGES);
  const log = decodeValidated(await artifacts.read(c.log), c.log.uri, DISTILL_LOG, { allowEmpty: true });
  const col = (n: string) => Array.from(log.getChild(n)!.toArray() as ArrayLike<number>);
  const [it, loss, skipped, synLr] = ['iteration', 'loss', 'skipped', 'syn_lr'].map(col) as number[][];
  const lossValues = it!.map((x, i) => ({
    iteration: x,
    loss: loss![i]!,
    synLr: synLr![i]!,
    status: skipped![i] ? 'skipped (DATM gate)' : 'matched',
  }));
  const accuracy = accuracyBarsSpec(
    `test accuracy, ${c.method.toUpperCase()} IPC ${c.ipc} vs baselines`,
    c.accuracy.map((r) => ({
      arm: `${r.method}${r.ipc ? ` (IPC ${r.ipc})` : ''}`,
      mean: r.mean,
      std: r.std,
      n: r.values.length,
    })),
  );
  const point = { type: 'point', filled: true, size: 18 };
  const lossSpec = {
    title: 'matching loss per outer iteration',
    width: 640,
    height: 280,
    data: { values: lossValues },
    layer: [
      {
        mark: point,
        encoding: {
          x: { field: 'iteration', type: 'quantitative', title: 'outer iteration' },
          y: {
            field: 'loss',
            type: 'quantitative',
            title: 'normalised matching loss',
            scale: { zero: false },
          },
          color: { field: 'status', type: 'nominal', title: null, scale: { range: ['#4c78a8', '#e45756'] } },
        },
      },
      {
        mark: { type: 'line', color: '#222', strokeWidth: 2 },
        transform: [{ window: [{ op: 'mean', field: 'loss', as: 'rolling' }], frame: [-10, 10] }],
        encoding: {
          x: { field: 'iteration', type: 'quantitative' },
          y: { field: 'rolling', type: 'quantitative' },
        },
      },
    ],
  };
  return {
    heading: `Distillation: ${c.method.toUpperCase()}, IPC ${c.ipc}`,
    notes: [
      `${distilled.numRows} synthetic images; ${lossValues.length} outer iterations; learned synthetic LR ${lossValues.length ? lossValues[lossValues.length - 1]!.synLr.toPrecision(3) : '—'}.`,
    ],
    figures: [
      await imageGridFigure(distilled, 'distilled-images', 'The distilled set, one row per class'),
      {
        name: 'accuracy',
        caption:
          'Mean test accuracy of students trained on each arm; bars span ± one population std over students.',
        svg: await vegaLiteSvg(accuracy),
      },
      {
        name: 'matching-loss',
        caption:
          'Trajectory-matching loss per outer iteration (points), with a 21-iteration moving mean (line).',
        svg: await vegaLiteSvg(lossSpec),
      },
    ],
    tables: [
      {
        caption: 'Test accuracy (%) per arm',
        header: ['arm', 'IPC', 'mean', 'std', 'students', 'student LR', 'steps'],
        rows: c.accuracy.map((r) => [
          r.method,
          r.ipc ?? 'all',
          (100 * r.mean).toFixed(2),
          (100 * r.std).toFixed(2),
          r.values.length,
          r.lr.toPrecision(3),
          r.steps,
        ]),
      },
    ],
  };
}

export async function cvddSection(c: CvddReportContent, artifacts: ArtifactStore): Promise<Section> {
  const distilled = decodeValidated(await artifacts.read(c.distilled), c.distilled.uri, IMAGES);
  const members = c.committee.map((m) => ({
    member: `${m.index}: ${m.id}`,
    prior: m.prior,
    valAcc: 100 * m.valAcc,
  }));
  // Voting weight each member received, averaged over the slots it voted in (§4.2's softmax of priors).
  const weights = new Map<string, { sum: number; n: number }>();
  const terms: { slot: number; voter: string; term: string; value: number }[] = [];
  for (const s of c.recovery)
    s.voters.forEach((v, i) => {
      const w = weights.get(v) ?? { sum: 0, n: 0 };
      weights.set(v, { sum: w.sum + s.weights[i]!, n: w.n + 1 });
      terms.push({ slot: s.slot, voter: v, term: 'cross-entropy', value: s.ce[i]! });
      terms.push({ slot: s.slot, voter: v, term: 'BN statistics', value: s.bn[i]! });
    });
  const weightRows = [...weights].map(([voter, w]) => ({ voter, weight: w.sum / w.n, slots: w.n }));
  const priorSpec = {
    title: 'committee members: voting prior vs own validation accuracy',
    width: 420,
    height: { step: 22 },
    data: {
      values: members.flatMap((m) => [
        { member: m.member, what: 'prior (%)', value: m.prior },
        { member: m.member, what: 'validation top-1 (%)', value: m.valAcc },
      ]),
    },
    mark: { type: 'bar' },
    encoding: {
      y: { field: 'member', type: 'nominal', title: null },
      yOffset: { field: 'what', type: 'nominal' },
      x: { field: 'value', type: 'quantitative', title: '%', scale: { domain: [0, 100] } },
      color: { field: 'what', type: 'nominal', title: null },
    },
  };
  const weightSpec = {
    title: 'mean voting weight per voter (over the slots it voted in)',
    width: 420,
    height: { step: 26 },
    data: { values: weightRows },
    mark: { type: 'bar', color: '#72b7b2' },
    encoding: {
      y: { field: 'voter', type: 'nominal', title: null },
      x: { field: 'weight', type: 'quantitative', title: 'weight', scale: { domain: [0, 1] } },
      tooltip: [{ field: 'slots', type: 'quantitative' }],
    },
  };
  const termSpec = {
    title: 'recovery terms at the final images, per slot and voter',
    width: 300,
    height: 220,
    data: { values: terms },
    mark: { type: 'point', filled: true, size: 40 },
    encoding: {
      column: { field: 'term', type: 'nominal', title: null },
      x: { field: 'slot', type: 'ordinal', title: 'IPC slot', axis: { labelAngle: 0 } },
      y: { field: 'value', type: 'quantitative', title: 'loss' },
      color: { field: 'voter', type: 'nominal' },
    },
    resolve: { scale: { y: 'independent' } },
  };
  const accuracy = accuracyBarsSpec(
    `test accuracy, CV-DD IPC ${c.ipc} vs random real`,
    c.accuracy.map((r) => ({ arm: r.method, mean: r.mean, std: r.std, n: r.values.length })),
  );
  return {
    heading: `Distillation: CV-DD committee voting, IPC ${c.ipc}`,
    notes: [
      `${distilled.numRows} recovered images from a committee of ${c.committee.length}; priors from ${c.committee[0]?.priorSource ?? 'validation'}.`,
    ],
    figures: [
      await imageGridFigure(distilled, 'distilled-images', 'The recovered set, one row per class'),
      {
        name: 'accuracy',
        caption:
          'Mean test accuracy of students (committee: KL on committee soft labels; random real: hard labels); bars span ± one sample std over seeds.',
        svg: await vegaLiteSvg(accuracy),
      },
      {
        name: 'member-priors',
        caption: 'Each member’s voting prior and its validation accuracy.',
        svg: await vegaLiteSvg(priorSpec),
      },
      {
        name: 'voting-weights',
        caption: 'Weights the voters received when recovering the IPC slots.',
        svg: await vegaLiteSvg(weightSpec),
      },
      {
        name: 'recovery-terms',
        caption: 'Cross-entropy and BN-statistics terms of each voter at the final recovered images.',
        svg: await vegaLiteSvg(termSpec),
      },
    ],
    tables: [
      {
        caption: 'Test accuracy (%) per arm',
        header: ['arm', 'mean', 'std', 'seeds'],
        rows: c.accuracy.map((r) => [
          r.method,
          (100 * r.mean).toFixed(2),
          (100 * r.std).toFixed(2),
          r.values.length,
        ]),
      },
    ],
  };
}
