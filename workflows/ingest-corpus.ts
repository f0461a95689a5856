// ingestCorpus: text groups → deterministic train/val/test splits → byte-level token windows →
// per-group stats → run manifest. Only ArtifactRefs cross Temporal.
import { setHandler } from '@temporalio/workflow';
import { IngestCorpusInput, type IngestCorpusResult, type IngestProgress } from '../schemas/ingest.js';
import { progressQuery } from '../schemas/messages.js';
import {
  currentRun,
  enterStage,
  ioActivities,
  parseInput,
  surfaceFailures,
  progressDisplay,
} from './common.js';
import { reportStage } from './report-stage.js';

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

  return surfaceFailures(async () => {
    stage('ingest', 0);
    const ingested = await act.ingestTextCorpus({
      source: input.source,
      maxBytesPerGroup: input.maxBytesPerGroup,
      passageBytes: input.passageBytes,
      split: input.split,
      seed: input.seed,
      cache: input.cache,
    });
    stage('tokenize', 1);
    const tokenized = await act.tokenizeCorpus({
      corpus: ingested.corpus,
      ctx: input.ctx,
      cache: input.cache,
    });
    const report = await reportStage(act, {
      dataset: input.dataset,
      contents: [{ kind: 'ingest', groups: tokenized.groups }],
      input,
      cache: input.cache,
      onStage: () => stage('report', 2),
      headline: tokenized.groups.reduce((n, g) => n + (g.windows?.train ?? 0), 0),
    });
    stage('manifest', 2);
    const outputs = {
      corpus: ingested.corpus,
      windows: tokenized.windows,
      stats: tokenized.stats,
      ...report,
    };
    const manifest = await act.commitManifest({ ...currentRun(), input, outputs });
    stage('done', 3);
    return { dataset: input.dataset, ...outputs, groups: tokenized.groups, manifest };
  });
}
