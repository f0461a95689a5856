// Report sections of curation: Aioli's mixture proportions, per-group validation loss and estimated
// interaction matrix Â per round (from mixAioli's long-format `history` table), continualPretrain's
// upstream/downstream loss with the LR (its `metrics` history table), and curateCorpus's per-group
// loss on this partition vs the previous one.
import type {
  ContinualReportContent,
  CurateEvaluationReportContent,
  MixingReportContent,
} from '../../schemas/report.js';
import type { ArtifactRef } from '../../schemas/artifact.js';
import type { ArtifactStore } from '../../storage/artifacts.js';
import { readHistoryRows } from '../aioli-history.js';
import { vegaLiteSvg } from './charts.js';
import type { Section } from './page.js';

/** Rows `{step, group, value}` of the history keys `<prefix>/<group>`. */
function series(rows: { step: number; key: string; value: number }[], prefix: string) {
  return rows
    .filter((r) => r.key.startsWith(`${prefix}/`) && r.key.split('/').length === 2)
    .map((r) => ({ step: r.step, group: r.key.slice(prefix.length + 1), value: r.value }));
}

const historyOf = async (ref: ArtifactRef, artifacts: ArtifactStore) =>
  readHistoryRows(await artifacts.read(ref), ref.uri);

/** Cells `{round, evaluated, trained, value}` of the normalised Â of each round (`a_normalized/<i>/<j>`). */
function interactionCells(rows: { step: number; key: string; value: number }[]) {
  const roundAt = new Map(rows.filter((r) => r.key === 'round').map((r) => [r.step, r.value]));
  return rows
    .filter((r) => r.key.startsWith('a_normalized/'))
    .map((r) => {
      const [, evaluated, trained] = r.key.split('/');
      return {
        round: `round ${roundAt.get(r.step) ?? r.step}`,
        step: r.step,
        evaluated,
        trained,
        value: r.value,
      };
    });
}

export async function mixingSection(c: MixingReportContent, artifacts: ArtifactStore): Promise<Section> {
  const rows = await historyOf(c.history, artifacts);
  const proportions = series(rows, 'proportion');
  const losses = series(rows, 'val_loss');
  const cells = interactionCells(rows);
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
      // Baselines without LearnParams (uniform, static) have no Â.
      ...(cells.length === 0
        ? []
        : [
            {
              name: 'a-hat',
              caption:
                'Â per round (normalised LearnParams estimate): how much training on a group (column) lowers the validation loss of a group (row). The EGD step raises the proportion of groups whose column sums are high.',
              svg: await vegaLiteSvg({
                title: 'estimated interaction matrix Â per round',
                data: { values: cells },
                facet: { column: { field: 'round', type: 'nominal', title: null, sort: { field: 'step' } } },
                spec: {
                  width: { step: 34 },
                  height: { step: 34 },
                  layer: [
                    {
                      mark: 'rect',
                      encoding: {
                        x: { field: 'trained', type: 'nominal', title: 'trained on' },
                        y: { field: 'evaluated', type: 'nominal', title: 'evaluated on' },
                        color: {
                          field: 'value',
                          type: 'quantitative',
                          title: 'Â',
                          scale: { scheme: 'redblue', domainMid: 0, reverse: true },
                        },
                      },
                    },
                    {
                      mark: { type: 'text', fontSize: 9 },
                      encoding: {
                        x: { field: 'trained', type: 'nominal' },
                        y: { field: 'evaluated', type: 'nominal' },
                        text: { field: 'value', type: 'quantitative', format: '.2f' },
                      },
                    },
                  ],
                },
              }),
            },
          ]),
    ],
  };
}

/** continualPretrain: upstream (old data) and downstream (new data) validation loss, and the LR per step. */
export async function continualSection(
  c: ContinualReportContent,
  artifacts: ArtifactStore,
): Promise<Section> {
  const rows = await historyOf(c.metrics, artifacts);
  const names: Record<string, string> = {
    upstream_val: 'upstream (previous data) val',
    downstream_val: 'downstream (new data) val',
    train: 'train (chunk mean)',
  };
  const losses = rows
    .filter((r) => r.key in names)
    .map((r) => ({ step: r.step, curve: names[r.key]!, loss: r.value }));
  const lr = rows.filter((r) => r.key === 'lr').map((r) => ({ step: r.step, lr: r.value }));
  const evaluations = losses.filter((l) => l.curve === names.downstream_val).length;
  return {
    heading: 'Continual pre-training',
    notes: [
      `${evaluations} evaluations over ${lr.length} steps; the init checkpoint is step 0. Forgetting shows as the upstream curve rising, adaptation as the downstream curve falling.`,
    ],
    figures: [
      {
        name: 'loss-and-lr',
        caption:
          'Validation loss on the previous and the new data, train loss, and the learning rate (right axis).',
        svg: await vegaLiteSvg({
          title: 'loss (left) and learning rate (right) per step',
          width: 600,
          height: 280,
          layer: [
            {
              data: { values: losses },
              mark: { type: 'line', point: true },
              encoding: {
                x: { field: 'step', type: 'quantitative', title: 'training step' },
                y: { field: 'loss', type: 'quantitative', title: 'loss (nats/byte)', scale: { zero: false } },
                color: { field: 'curve', type: 'nominal', title: null },
              },
            },
            {
              data: { values: lr },
              mark: { type: 'line', color: '#888', strokeDash: [4, 3] },
              encoding: {
                x: { field: 'step', type: 'quantitative' },
                y: {
                  field: 'lr',
                  type: 'quantitative',
                  title: 'learning rate (dashed)',
                  axis: { format: '.1e' },
                },
              },
            },
          ],
          resolve: { scale: { y: 'independent' } },
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
