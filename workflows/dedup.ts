// dedupCorpus: quality filters + MinHash LSH near-duplicate removal (ml/methods/dedup/) as a sharded
// stage. prepare (validate, filter, cut into shards) → one `minhashShard` per shard in parallel on the
// compute queue → resolve (band buckets merged, candidates checked, clusters, kept rows written) →
// report → run manifest. `curateRows` is the same stage inside ingestCorpus. Only refs and counts
// cross Temporal.
import { setCurrentDetails, setHandler } from '@temporalio/workflow';
import type { ArtifactRef } from '../schemas/artifact.js';
import type { CurationInput } from '../schemas/dedup-corpus.js';
import { DedupCorpusInput, type DedupCorpusResult, type DedupProgress } from '../schemas/dedup-corpus.js';
import type { CurationRefs, CurationSummary, DedupConfig, QualityFiltersConfig } from '../schemas/dedup.js';
import { progressQuery } from '../schemas/messages.js';
import type { Profile } from '../schemas/temporal.js';
import {
  computeActivities,
  currentRun,
  enterStage,
  ioActivities,
  parseInput,
  surfaceFailures,
} from './common.js';
import { reportStage } from './report-stage.js';

export interface CurateRowsOptions {
  inputs: CurationInput[];
  dedup: DedupConfig | null;
  filters: QualityFiltersConfig | null;
  seed: number;
  cache: boolean;
  profile: Profile;
  /** Called as each stage starts and as each signature shard finishes. */
  onStage?: (stage: 'prepare' | 'signatures' | 'resolve', shards?: { done: number; total: number }) => void;
}

function withoutPrevious(dedup: DedupConfig): Omit<DedupConfig, 'previous'> {
  const { previous: _previous, ...settings } = dedup;
  return settings;
}

/** Filters, then near-duplicates: the kept rows as one `text_corpus` table, and what was removed. */
export async function curateRows(
  options: CurateRowsOptions,
): Promise<{ refs: CurationRefs; summary: CurationSummary }> {
  const io = ioActivities(options.profile);
  options.onStage?.('prepare');
  const prepared = await io.prepareCuration({
    inputs: options.inputs,
    ...(options.filters ? { filters: options.filters } : {}),
    // Filters alone need no shards: one table.
    shardRows: options.dedup?.shardRows ?? 10_000_000,
    cache: options.cache,
  });
  const dedup = options.dedup;
  let signatures: ArtifactRef[] = [];
  if (dedup) {
    const compute = computeActivities(options.profile);
    const S = prepared.shards.length;
    const shards = { done: 0, total: S };
    options.onStage?.('signatures', shards);
    signatures = await Promise.all(
      prepared.shards.map((shard, s) =>
        compute
          .minhashShard({
            shard,
            name: `shard ${s + 1}/${S}`,
            settings: {
              ngram: dedup.ngram,
              numPerm: dedup.numPerm,
              stripPunctuation: dedup.stripPunctuation,
              seed: options.seed,
            },
            cache: options.cache,
          })
          .then((ref) => {
            shards.done += 1;
            options.onStage?.('signatures', shards);
            return ref;
          }),
      ),
    );
  }
  options.onStage?.('resolve');
  const resolved = await io.resolveDuplicates({
    shards: prepared.shards,
    signatures,
    dedup,
    seed: options.seed,
    cache: options.cache,
  });
  return {
    refs: {
      corpus: resolved.corpus,
      ...(resolved.signatures ? { signatures: resolved.signatures } : {}),
      ...(resolved.removed ? { removed: resolved.removed } : {}),
    },
    summary: {
      rows: {
        input: prepared.rows.input,
        filtered: prepared.rows.filtered,
        duplicates: resolved.duplicates,
        previousDuplicates: resolved.previousDuplicates,
        kept: resolved.kept,
      },
      filters: prepared.filters,
      dedup: dedup
        ? {
            settings: withoutPrevious(dedup),
            previousTables: dedup.previous.length,
            shards: prepared.shards.length,
            candidatePairs: resolved.candidatePairs,
            verifiedPairs: resolved.verifiedPairs,
            clusters: resolved.clusters,
            examples: resolved.examples,
          }
        : null,
    },
  };
}

export async function dedupCorpus(rawInput: DedupCorpusInput): Promise<DedupCorpusResult> {
  const progress: DedupProgress = { stage: 'validate', shard: { done: 0, total: 0 } };
  setHandler(progressQuery, () => ({ ...progress, shard: { ...progress.shard } }), {
    description: 'Curation stage, signature shards done of total',
  });
  const input = parseInput(DedupCorpusInput, rawInput, 'dedupCorpus');
  const io = ioActivities(input.profile);
  const stage = (s: DedupProgress['stage'], shards = { done: 0, total: 0 }) => {
    if (s !== progress.stage) enterStage('dedupCorpus', input.dataset, s);
    progress.stage = s;
    progress.shard = { ...shards };
    const n = shards.total ? ` (shard ${shards.done}/${shards.total})` : '';
    setCurrentDetails(`**dedupCorpus** \`${input.dataset}\`: ${s}${n}`);
  };

  return surfaceFailures(async () => {
    const { refs, summary } = await curateRows({
      inputs: input.inputs,
      dedup: input.dedup,
      filters: input.filters ?? null,
      seed: input.seed,
      cache: input.cache,
      profile: input.profile,
      onStage: stage,
    });
    const report = await reportStage(io, {
      dataset: input.dataset,
      contents: [{ kind: 'curation', summary }],
      input,
      cache: input.cache,
      onStage: () => stage('report'),
    });
    stage('manifest');
    const outputs = { ...refs, ...report };
    const manifest = await io.commitManifest({ ...currentRun(), input, outputs });
    stage('done');
    return { dataset: input.dataset, ...outputs, summary, manifest };
  });
}
