// Report sections of the text pipelines: ingest (bytes and windows per group and split) and GOT-D
// warm-up selection (group composition of pool, target and selection; the selected rows' scores).
import type { IngestReportContent, SelectWarmupReportContent } from '../../schemas/report.js';
import { SELECTED_SUBSET } from '../../schemas/tables.js';
import type { ArtifactStore } from '../../storage/artifacts.js';
import { decodeValidated } from '../../storage/parquet.js';
import { vegaLiteSvg } from './charts.js';
import type { Section } from './page.js';

const SPLITS = ['train', 'val', 'test'] as const;

export async function ingestSection(c: IngestReportContent): Promise<Section> {
  const rows = c.groups.flatMap((g) =>
    SPLITS.map((split, splitIndex) => ({
      group: g.group,
      split,
      splitIndex,
      bytes: g.bytes[split] ?? 0,
      windows: g.windows?.[split] ?? 0,
      passages: g.passages[split] ?? 0,
    })),
  );
  const bars = (field: 'bytes' | 'windows', title: string) =>
    vegaLiteSvg({
      title,
      width: 420,
      height: { step: 30 },
      data: { values: rows },
      mark: { type: 'bar' },
      encoding: {
        y: { field: 'group', type: 'nominal', title: null },
        x: { field, type: 'quantitative', title: field, stack: 'zero' },
        color: { field: 'split', type: 'nominal', sort: [...SPLITS], scale: { domain: [...SPLITS] } },
        order: { field: 'splitIndex', sort: 'ascending' },
      },
    });
  return {
    heading: 'Ingest: groups and splits',
    figures: [
      {
        name: 'bytes-per-group',
        caption: 'UTF-8 bytes of text per group, stacked by split.',
        svg: await bars('bytes', 'bytes per group'),
      },
      {
        name: 'windows-per-group',
        caption: 'Byte-level token windows per group, stacked by split (what training reads).',
        svg: await bars('windows', 'token windows per group'),
      },
    ],
    tables: [
      {
        caption: 'Per group and split',
        header: [
          'group',
          ...SPLITS.map((s) => `passages ${s}`),
          ...SPLITS.map((s) => `windows ${s}`),
          'bytes',
        ],
        rows: c.groups.map((g) => [
          g.group,
          ...SPLITS.map((s) => g.passages[s] ?? 0),
          ...SPLITS.map((s) => g.windows?.[s] ?? 0),
          SPLITS.reduce((n, s) => n + (g.bytes[s] ?? 0), 0),
        ]),
      },
    ],
  };
}

export async function selectWarmupSection(
  c: SelectWarmupReportContent,
  artifacts: ArtifactStore,
): Promise<Section> {
  const selection = decodeValidated(await artifacts.read(c.selection), c.selection.uri, SELECTED_SUBSET, {
    allowEmpty: true,
  });
  const scores = Array.from(selection.getChild('score')!.toArray() as Float64Array);
  const composition = c.composition.flatMap((g) => [
    { group: g.group, set: 'pool', share: 100 * g.poolShare, rows: g.pool },
    { group: g.group, set: 'target', share: 100 * g.targetShare, rows: g.target },
    { group: g.group, set: 'selection', share: 100 * g.selectedShare, rows: g.selected },
  ]);
  const compositionSvg = await vegaLiteSvg({
    title: 'group composition: pool vs target vs selection',
    width: 480,
    height: { step: 36 },
    data: { values: composition },
    mark: { type: 'bar' },
    encoding: {
      y: { field: 'set', type: 'nominal', sort: ['pool', 'target', 'selection'], title: null },
      x: { field: 'share', type: 'quantitative', stack: 'normalize', title: 'share of rows' },
      color: { field: 'group', type: 'nominal' },
      tooltip: [{ field: 'group' }, { field: 'rows', type: 'quantitative' }],
    },
  });
  const histogramSvg = await vegaLiteSvg({
    title: 'scores of the selected rows (calibrated OT gradient)',
    width: 480,
    height: 220,
    data: { values: scores.map((score) => ({ score })) },
    mark: { type: 'bar', color: '#4c78a8' },
    encoding: {
      x: { field: 'score', type: 'quantitative', bin: { maxbins: 30 }, title: 'score' },
      y: { aggregate: 'count', type: 'quantitative', title: 'rows' },
    },
  });
  const figures = [
    {
      name: 'composition',
      caption: 'Share of rows per group in the pool, the target and the selection.',
      svg: compositionSvg,
    },
    { name: 'score-histogram', caption: `Scores of the ${scores.length} selected rows.`, svg: histogramSvg },
  ];
  if (c.otCost) {
    const cost = [
      { when: 'target vs pool', cost: c.otCost.before },
      { when: 'target vs pool + selection', cost: c.otCost.after },
    ];
    figures.push({
      name: 'ot-cost',
      caption:
        "Entropic OT cost between the target and the pool sample, before and after adding the selection's mass.",
      svg: await vegaLiteSvg({
        title: 'OT cost before / after selection',
        width: 420,
        height: { step: 34 },
        data: { values: cost },
        mark: { type: 'bar', color: '#f58518' },
        encoding: {
          y: { field: 'when', type: 'nominal', sort: null, title: null },
          x: { field: 'cost', type: 'quantitative', title: 'OT cost' },
        },
      }),
    });
  }
  return {
    heading: 'Warm-up selection (GOT-D)',
    notes: [`${c.budget} of ${c.poolRows} pool rows selected toward ${c.targetRows} target rows.`],
    figures,
    tables: [
      {
        caption: 'Composition per group (rows, share %)',
        header: ['group', 'pool', 'target', 'selected', 'pool %', 'target %', 'selected %'],
        rows: c.composition.map((g) => [
          g.group,
          g.pool,
          g.target,
          g.selected,
          (100 * g.poolShare).toFixed(1),
          (100 * g.targetShare).toFixed(1),
          (100 * g.selectedShare).toFixed(1),
        ]),
      },
    ],
  };
}
