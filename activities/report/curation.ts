// Report section of the curation stage (dedupCorpus, and ingestCorpus with `dedup`/`filters`): rows
// removed per quality filter with examples, near-duplicate clusters with examples, and the LSH
// S-curve of the settings used (where the threshold sits on it).
import { lshCandidateProbability } from '../../ml/methods/dedup/index.js';
import type { CurationReportContent } from '../../schemas/report.js';
import { vegaLiteSvg } from './charts.js';
import type { Figure, Section } from './page.js';

export async function curationSection(c: CurationReportContent): Promise<Section> {
  const { rows, filters, dedup } = c.summary;
  const figures: Figure[] = [];
  if (dedup) {
    const { bands, rows: r, threshold } = dedup.settings;
    const curve = Array.from({ length: 101 }, (_, i) => ({
      similarity: i / 100,
      probability: lshCandidateProbability(i / 100, bands, r),
    }));
    figures.push({
      name: 'lsh-s-curve',
      caption: `Probability that a pair of documents with Jaccard similarity s becomes a candidate: 1 − (1 − s^${r})^${bands} (${bands} bands × ${r} rows). Candidates are then kept only if their exact similarity is at least the threshold ${threshold} (rule).`,
      svg: await vegaLiteSvg({
        width: 420,
        height: 220,
        layer: [
          {
            data: { values: curve },
            mark: { type: 'line' },
            encoding: {
              x: { field: 'similarity', type: 'quantitative', title: 'Jaccard similarity s' },
              y: { field: 'probability', type: 'quantitative', title: 'P(candidate)' },
            },
          },
          {
            data: { values: [{ threshold }] },
            mark: { type: 'rule', strokeDash: [4, 4] },
            encoding: { x: { field: 'threshold', type: 'quantitative' } },
          },
        ],
      }),
    });
  }
  const tables: NonNullable<Section['tables']> = [
    {
      caption: 'Rows',
      header: ['input', 'removed by filters', 'near-duplicates', 'duplicates of earlier partitions', 'kept'],
      rows: [[rows.input, rows.filtered, rows.duplicates, rows.previousDuplicates, rows.kept]],
    },
  ];
  if (filters.length)
    tables.push({
      caption: 'Quality filters (a row counts under the first filter it fails)',
      header: ['filter', 'removed', 'examples (id: value — text)'],
      rows: filters.map((f) => [
        f.filter,
        f.removed,
        f.examples.map((e) => `${e.id}: ${e.value} — ${e.text}`).join(' ‖ ') || '—',
      ]),
    });
  if (dedup)
    tables.push({
      caption: `Near-duplicates (${dedup.shards} signature shards, ${dedup.candidatePairs} candidate pairs, ${dedup.verifiedPairs} at or above the threshold, ${dedup.clusters} clusters)`,
      header: ['removed id', 'kept id', 'Jaccard', 'text'],
      rows: dedup.examples.map((e) => [e.id, e.keptId, e.jaccard, e.text]),
    });
  return { heading: 'Curation: quality filters and near-duplicates', figures, tables };
}
