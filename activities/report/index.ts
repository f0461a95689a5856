// `writeReport` (queue `retort`): the last stage of a pipeline renders its `report.html` — plots as
// inline SVG (Vega-Lite, rendered in Node), images as data: URIs — and commits it as an artifact
// (kind `report`, format `html`). Workflows pass refs and small JSON; the tables are read here.
import type { ArtifactRef } from '../../schemas/artifact.js';
import type { ReportContent, WriteReportInput } from '../../schemas/report.js';
import { type ArtifactStore, sha256Hex, storeRelative } from '../../storage/artifacts.js';
import { memoized } from '../memo.js';
import { ingestSection, selectWarmupSection } from './corpus.js';
import { cvddSection, trajectorySection } from './distill.js';
import { continualSection, curateEvaluationSection, mixingSection } from './mixing.js';
import { type Section, renderReportPage } from './page.js';
import { curationSection } from './curation.js';

export { renderReportPage, type Figure, type Section } from './page.js';
export { vegaLiteSvg } from './charts.js';

function section(c: ReportContent, artifacts: ArtifactStore): Promise<Section> {
  switch (c.kind) {
    case 'trajectory':
      return trajectorySection(c, artifacts);
    case 'cvdd':
      return cvddSection(c, artifacts);
    case 'ingest':
      return ingestSection(c);
    case 'selectWarmup':
      return selectWarmupSection(c, artifacts);
    case 'mixing':
      return mixingSection(c, artifacts);
    case 'continual':
      return continualSection(c, artifacts);
    case 'curateEvaluation':
      return curateEvaluationSection(c);
    case 'curation':
      return curationSection(c);
  }
}

/** Every ref a report reads (its memo identity). */
const refsOf = (v: unknown): string[] =>
  !v || typeof v !== 'object'
    ? []
    : typeof (v as ArtifactRef).sha256 === 'string' && typeof (v as ArtifactRef).uri === 'string'
      ? [(v as ArtifactRef).sha256]
      : Object.values(v).flatMap(refsOf);

/** The report page of a run, as HTML (exported for `retort report` and tests). */
export async function renderRunReport(input: Omit<WriteReportInput, 'cache'>, artifacts: ArtifactStore) {
  const sections: Section[] = [];
  for (const c of input.contents) sections.push(await section(c, artifacts));
  return renderReportPage({
    title: `${input.workflowType}: ${input.dataset}`,
    subtitle: `workflow ${input.workflowId}`,
    sections,
    // Store-relative, so a report's bytes do not depend on where the store lives.
    input: storeRelative(input.input, artifacts.store),
  });
}

export function createReportActivities({ artifacts }: { artifacts: ArtifactStore }) {
  return {
    async writeReport(input: WriteReportInput): Promise<ArtifactRef> {
      const { cache, ...rest } = input;
      return memoized(
        artifacts,
        {
          activity: 'writeReport@1',
          inputs: refsOf(input.contents),
          config: { digest: sha256Hex(JSON.stringify(rest)) },
        },
        cache,
        async () => ({
          outputs: [
            {
              output: 'report',
              bytes: new TextEncoder().encode(await renderRunReport(rest, artifacts)),
              kind: 'report',
              format: 'html',
            },
          ],
          result: (refs) => refs.report!,
        }),
      );
    },
  };
}
