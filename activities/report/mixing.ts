// Report sections of curation: Aioli's mixture proportions and per-group validation loss per round
// (from the long-format `history` table), and curateCorpus's per-group loss on this partition vs
// the previous one.
import type { CurateEvaluationReportContent, MixingReportContent } from '../../schemas/report.js';
import { HISTORY } from '../../schemas/tables.js';
import { stringValues } from '../../storage/arrow-tables.js';
import type { ArtifactStore } from '../../storage/artifacts.js';
import { decodeValidated } from '../../storage/parquet.js';
import { vegaLiteSvg } from './charts.js';
import type { Section } from './page.js';

/** Rows `{step, group, value}` of the history keys `<prefix>/<group>`. */
function series(rows: { step: number; key: string; value: number }[], prefix: string) {
  return rows
    .filter((r) => r.key.startsWith(`${prefix}/`) && r.key.split('/').length === 2)
    .map((r) => ({ step: r.step, group: r.key.slice(prefix.length + 1), value: r.value }));
}

export async function mixingSection(c: MixingReportContent, artifacts: ArtifactStore): Promise<Section> {
  const table = decodeValidated(await artifacts.read(c.history), c.history.uri, HISTORY, {
    allowEmpty: true,
  });
  const steps = table.getChild('step')!.toArray() as BigInt64Array;
  const values = table.getChild('value')!.toArray() as Float64Array;
  const rows = stringValues(table, 'key').map((key, i) => ({
    step: Number(steps[i]!),
    key,
    value: values[i]!,
  }));
  const proportions = series(rows, 'proportion');
  const losses = series(rows, 'val_loss');
  const rounds = new Set(proportions.map((p) => p.step)).size;
  return {
    heading: 'Data mixing (Aioli)',
    notes: [`${rounds} rounds; proportions as applied from each round's first training step.`],
    figures: [
      {
        name: 'proportions',
        caption: 'Mixture proportions per group over training (stacked to 1).',
        svg: await vegaLiteSvg({
          title: 'mixture proportions per round',
          width: 600,
          height: 260,
          data: { values: proportions },
          mark: { type: 'area', interpolate: 'step-after' },
          encoding: {
            x: { field: 'step', type: 'quantitative', title: 'training step' },
            y: { field: 'value', type: 'quantitative', stack: 'normalize', title: 'proportion' },
            color: { field: 'group', type: 'nominal' },
          },
        }),
      },
      {
        name: 'val-loss',
        caption: 'Validation loss per group at the end of each round.',
        svg: await vegaLiteSvg({
          title: 'per-group validation loss per round',
          width: 600,
          height: 260,
          data: { values: losses },
          mark: { type: 'line', point: true },
          encoding: {
            x: { field: 'step', type: 'quantitative', title: 'training step' },
            y: {
              field: 'value',
              type: 'quantitative',
              title: 'validation loss (nats/byte)',
              scale: { zero: false },
            },
            color: { field: 'group', type: 'nominal' },
          },
        }),
      },
    ],
  };
}

export async function curateEvaluationSection(c: CurateEvaluationReportContent): Promise<Section> {
  const values = [
    ...Object.entries(c.downstream).map(([group, loss]) => ({
      group,
      loss,
      on: `this partition (${c.partition})`,
    })),
    ...Object.entries(c.upstream ?? {}).map(([group, loss]) => ({
      group,
      loss,
      on: `previous partition (${c.previousPartition ?? '?'})`,
    })),
  ];
  return {
    heading: 'Evaluation per group',
    figures: [
      {
        name: 'group-loss',
        caption:
          'Validation loss of the trained checkpoint per group, on this partition and (when continued) the previous one.',
        svg: await vegaLiteSvg({
          title: 'validation loss per group',
          width: 420,
          height: { step: 20 },
          data: { values },
          mark: { type: 'bar' },
          encoding: {
            y: { field: 'group', type: 'nominal', title: null },
            yOffset: { field: 'on', type: 'nominal' },
            x: { field: 'loss', type: 'quantitative', title: 'loss (nats/byte)' },
            color: { field: 'on', type: 'nominal', title: null },
          },
        }),
      },
    ],
  };
}
