// ingestCorpus: text groups → (with `filters`/`dedup`: quality filters and near-duplicate removal,
// workflows/dedup.ts) → deterministic train/val/test splits → byte-level token windows → per-group
// stats → run manifest. Only ArtifactRefs cross Temporal. Without those two options the commands are
// exactly those of earlier versions (recorded histories replay unchanged).
import { setHandler } from '@temporalio/workflow';
import { IngestCorpusInput, type IngestCorpusResult, type IngestProgress } from '../schemas/ingest.js';
import { progressQuery } from '../schemas/messages.js';
import {
  currentRun,
  enterStage,
  ioActivities,
  parseInput,
  progressDisplay,
  surfaceFailures,
} from './common.js';
import { curateRows } from './dedup.js';
import { reportStage } from './report-stage.js';
import type { CurationInput } from '../schemas/dedup-corpus.js';
import type { ReportContent } from '../schemas/report.js';

export async function ingestCorpus(rawInput: IngestCorpusInput): Promise<IngestCorpusResult> {
  const progress: IngestProgress = { stage: 'validate', step: 0, total: 3 };
  setHandler(progressQuery, () => ({ ...progress }));
  const input = parseInput(IngestCorpusInput, rawInput, 'ingestCorpus');
  const act = ioActivities(input.profile);

  const show = progressDisplay();
  const stage = (s: IngestProgress['stage'], step: number) => {
    progress.stage = s;
    progress.step = step;
    enterStage('ingestCorpus', input.dataset, s);
    show(`**ingestCorpus** \`${input.dataset}\`: ${s} (${step}/${progress.total})`, {
      stage: s,
      done: step,
      total: progress.total,
    });
  };

  const curating = input.dedup !== undefined || input.filters !== undefined;
  if (curating) progress.total = 4;
  const offset = curating ? 1 : 0;

  return surfaceFailures(async () => {
    let source = input.source;
    let curation: IngestCorpusResult['curation'];
    if (curating) {
      stage('curate', 0);
      const curated = await curateRows({
        inputs: ('builtin' in input.source
          ? [{ builtin: input.source.builtin }]
          : 'shards' in input.source
            ? input.source.shards
            : [
                input.source.format
                  ? { uri: input.source.uri, format: input.source.format }
                  : input.source.uri,
              ]) satisfies CurationInput[],
        dedup: input.dedup ?? null,
        filters: input.filters ?? null,
        seed: input.seed,
        cache: input.cache,
        profile: input.profile,
      });
      curation = { ...curated.refs, summary: curated.summary };
      source = { uri: curated.refs.corpus.uri, format: 'parquet' };
    }
    stage('ingest', offset);
    const ingested = await act.ingestTextCorpus({
      source,
      maxBytesPerGroup: input.maxBytesPerGroup,
      passageBytes: input.passageBytes,
      split: input.split,
      seed: input.seed,
      cache: input.cache,
    });
    stage('tokenize', offset + 1);
    const tokenized = await act.tokenizeCorpus({
      corpus: ingested.corpus,
      ctx: input.ctx,
      cache: input.cache,
    });
    const report = await reportStage(act, {
      dataset: input.dataset,
      contents: [
        ...(curation ? [{ kind: 'curation', summary: curation.summary } satisfies ReportContent] : []),
        { kind: 'ingest', groups: tokenized.groups },
      ],
      input,
      cache: input.cache,
      onStage: () => stage('report', offset + 2),
      headline: tokenized.groups.reduce((n, g) => n + (g.windows?.train ?? 0), 0),
    });
    stage('manifest', offset + 2);
    const outputs = {
      corpus: ingested.corpus,
      windows: tokenized.windows,
      stats: tokenized.stats,
      ...report,
    };
    const manifest = await act.commitManifest({
      ...currentRun(),
      input,
      outputs: curation ? { ...outputs, curation } : outputs,
    });
    stage('done', offset + 3);
    return {
      dataset: input.dataset,
      ...outputs,
      groups: tokenized.groups,
      manifest,
      ...(curation ? { curation } : {}),
    };
  });
}
