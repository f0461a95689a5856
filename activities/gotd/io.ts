// selectWarmup's I/O activities (queue `retort`): prepare (validate everything, preprocess pool and
// target alike, shard the pool at random) and merge (shard scores by id → top-K → the selected subset
// joined by id with the pool text). The compute activities are in compute.ts.
import { dropDuplicateTexts, packToFixedLength } from '../../ml/methods/gotd/preprocess.js';
import { type ShardScores, mergeShardScores, randomShardAssignment } from '../../ml/methods/gotd/index.js';
import { Rng, deriveSeed, sampleWithoutReplacement } from '../../ml/train/rng.js';
import {
  MAX_SHARDS,
  type MergeSelectionInput,
  type MergeSelectionResult,
  type PrepareSelectionInput,
  type PreparedSelection,
  type SolveStatsJson,
} from '../../schemas/gotd.js';
import { CANDIDATE_SCORES, SELECTED_SUBSET, contractFingerprint } from '../../schemas/tables.js';
import { buildTable, stringValues } from '../../storage/arrow-tables.js';
import type { ArtifactStore } from '../../storage/artifacts.js';
import { RetortDataError, emptyDataset } from '../../storage/errors.js';
import { decodeValidated, encodeParquet } from '../../storage/parquet.js';
import { type PendingArtifact, memoized } from '../memo.js';
import { sourceName } from '../text-corpus.js';
import {
  type EmbeddingRows,
  InputObject,
  type TextRows,
  checkSameDimension,
  countGroups,
  embeddedText,
  embeddingTableArtifact,
  invalidInput,
  readCommittedText,
  readEmbeddingRows,
  readTextRows,
  takeRows,
  textTableArtifact,
} from './data.js';

/** K from an absolute budget or a pool fraction; a budget above the pool is bad input. */
export function resolveBudget(
  budget: PrepareSelectionInput['budget'],
  poolRows: number,
  poolUri: string,
): number {
  const k = typeof budget === 'number' ? budget : Math.max(1, Math.round(budget.fraction * poolRows));
  if (k > poolRows) {
    throw invalidInput(
      `budget: ${k} rows exceeds the pool's ${poolRows} rows (after preprocessing and deduplication) in ${poolUri}`,
    );
  }
  return k;
}

/** Shard count: the requested parallelism, at least ⌈N / maxExactPool⌉ when chunked, chunks of ≥ 2 rows. */
export function planShards(
  input: Pick<PrepareSelectionInput, 'shards' | 'strategy' | 'maxExactPool'>,
  poolRows: number,
) {
  const strategy: 'exact' | 'chunked' =
    input.strategy === 'exact' || (input.strategy === 'auto' && poolRows <= input.maxExactPool)
      ? 'exact'
      : 'chunked';
  const wanted =
    strategy === 'chunked' ? Math.max(input.shards, Math.ceil(poolRows / input.maxExactPool)) : input.shards;
  // Calibration needs ≥ 2 rows per solved chunk; embedding shards only need ≥ 1.
  const shards = Math.max(
    1,
    Math.min(wanted, MAX_SHARDS, strategy === 'chunked' ? Math.floor(poolRows / 2) : poolRows),
  );
  return { strategy, shards };
}

interface Preprocessed {
  rows: Omit<TextRows, 'uri'>;
  short: number;
}

/** Applies the length rule (spec §4.1) to one side; `pack` cuts each group's concatenation separately. */
function preprocessRows(rows: TextRows, spec: PrepareSelectionInput['preprocess']): Preprocessed {
  const out: Omit<TextRows, 'uri'> = { ids: [], groups: [], texts: [], sources: [] };
  let short = 0;
  if (spec.kind === 'pack') {
    const byGroup = new Map<string, { id: string; text: string; source: string }[]>();
    rows.ids.forEach((id, i) => {
      const g = rows.groups[i]!;
      if (!byGroup.has(g)) byGroup.set(g, []);
      byGroup.get(g)!.push({ id, text: rows.texts[i]!, source: rows.sources[i]! });
    });
    for (const group of [...byGroup.keys()].sort()) {
      for (const piece of packToFixedLength(byGroup.get(group)!, { length: spec.length })) {
        out.ids.push(piece.id);
        out.groups.push(group);
        out.texts.push(piece.text);
        out.sources.push(piece.sources.join(','));
      }
    }
    // packToFixedLength drops only a group's final piece shorter than `length`.
    return { rows: out, short: 0 };
  }
  rows.ids.forEach((id, i) => {
    if (spec.kind === 'truncate' && rows.texts[i]!.length < spec.minLength) {
      short++;
      return;
    }
    out.ids.push(id);
    out.groups.push(rows.groups[i]!);
    out.texts.push(rows.texts[i]!);
    out.sources.push(rows.sources[i]!);
  });
  return { rows: out, short };
}

function pick(rows: Omit<TextRows, 'uri'>, positions: ArrayLike<number>): Omit<TextRows, 'uri'> {
  const at = (col: string[]) => Array.from(positions, (p) => col[p]!);
  return { ids: at(rows.ids), groups: at(rows.groups), texts: at(rows.texts), sources: at(rows.sources) };
}

/** Embedding rows in the order of `ids`, joined by id; a text row without an embedding is bad input. */
function joinEmbeddings(
  emb: EmbeddingRows,
  ids: readonly string[],
  textUri: string,
  field: string,
): Float32Array {
  const row = new Map<string, number>();
  emb.ids.forEach((id, r) => row.set(id, r));
  const positions = ids.map((id) => {
    const r = row.get(id);
    if (r === undefined)
      throw invalidInput(
        `${field}: row id ${JSON.stringify(id)} of ${textUri} has no embedding in ${emb.uri}`,
      );
    return r;
  });
  return takeRows(emb.flat, emb.dim, positions);
}

export function createGotdIoActivities({ artifacts }: { artifacts: ArtifactStore }) {
  return {
    /**
     * Reads and validates pool and target (and precomputed embeddings), applies the same
     * preprocessing to both, deduplicates the pool, subsamples the target, checks the budget, and
     * writes the pool as random shards. Nothing is written unless every check passes.
     */
    async prepareSelection(input: PrepareSelectionInput): Promise<PreparedSelection> {
      const pool = new InputObject(artifacts, input.pool);
      const target = new InputObject(artifacts, input.target);
      const emb = input.embeddings && {
        pool: new InputObject(artifacts, input.embeddings.pool),
        target: new InputObject(artifacts, input.embeddings.target),
      };
      const inputs = [
        await pool.identity(),
        await target.identity(),
        ...(emb ? [await emb.pool.identity(), await emb.target.identity()] : []),
      ];
      const config = {
        preprocess: input.preprocess,
        dedup: input.dedup,
        targetMaxRows: input.targetMaxRows,
        shards: input.shards,
        strategy: input.strategy,
        maxExactPool: input.maxExactPool,
      };
      const prepared = await memoized(
        artifacts,
        { activity: 'prepareSelection@1', inputs, config, seed: input.seed },
        input.cache,
        async () => {
          const poolText = await readTextRows(pool, 'pool');
          const targetText = await readTextRows(target, 'target');
          const embeddings = emb && {
            pool: await readEmbeddingRows(emb.pool, 'embedder.pool'),
            target: await readEmbeddingRows(emb.target, 'embedder.target'),
          };
          if (embeddings) checkSameDimension(embeddings.pool, embeddings.target, 'embedder');

          const p = preprocessRows(poolText, input.preprocess);
          let poolRows = p.rows;
          let duplicates = 0;
          if (input.dedup) {
            const rows = poolRows.ids.map((id, i) => ({
              i,
              text: embeddedText(poolRows.texts[i]!, input.preprocess),
            }));
            const kept = dropDuplicateTexts(rows).map((r) => r.i);
            duplicates = rows.length - kept.length;
            poolRows = pick(poolRows, kept);
          }
          const t = preprocessRows(targetText, input.preprocess);
          let targetRows = t.rows;
          const why = `(preprocess ${JSON.stringify(input.preprocess)})`;
          if (poolRows.ids.length === 0)
            throw emptyDataset(`pool: no rows of ${pool.uri} are left after preprocessing ${why}`);
          if (targetRows.ids.length === 0)
            throw emptyDataset(`target: no rows of ${target.uri} are left after preprocessing ${why}`);
          let targetSubsampled = 0;
          if (targetRows.ids.length > input.targetMaxRows) {
            const keep = sampleWithoutReplacement(
              targetRows.ids.length,
              input.targetMaxRows,
              new Rng(deriveSeed(input.seed, 'target-sample')),
            ).sort();
            targetSubsampled = targetRows.ids.length - keep.length;
            targetRows = pick(targetRows, keep);
          }
          resolveBudget(input.budget, poolRows.ids.length, pool.uri);

          const plan = planShards(input, poolRows.ids.length);
          const assignment = randomShardAssignment(
            poolRows.ids.length,
            plan.shards,
            deriveSeed(input.seed, 'pool-shards'),
          );
          const outputs: PendingArtifact[] = [textTableArtifact('target', targetRows)];
          assignment.forEach((positions, s) =>
            outputs.push(textTableArtifact(`pool-${s}`, pick(poolRows, positions))),
          );
          let dim = 0;
          if (embeddings) {
            dim = embeddings.pool.dim;
            // The input files by name: an artifact's bytes never depend on where the store lives.
            const meta = { source: sourceName(embeddings.target.uri) };
            outputs.push(
              embeddingTableArtifact(
                'target-embeddings',
                targetRows.ids,
                joinEmbeddings(embeddings.target, targetRows.ids, target.uri, 'embedder.target'),
                dim,
                meta,
              ),
            );
            assignment.forEach((positions, s) => {
              const ids = Array.from(positions, (q) => poolRows.ids[q]!);
              outputs.push(
                embeddingTableArtifact(
                  `pool-embeddings-${s}`,
                  ids,
                  joinEmbeddings(embeddings.pool, ids, pool.uri, 'embedder.pool'),
                  dim,
                  { source: sourceName(embeddings.pool.uri) },
                ),
              );
            });
          }
          const shards = assignment.length;
          return {
            outputs,
            result: (refs): Omit<PreparedSelection, 'budget'> => ({
              poolShards: Array.from({ length: shards }, (_, s) => refs[`pool-${s}`]!),
              target: refs.target!,
              poolRows: poolRows.ids.length,
              targetRows: targetRows.ids.length,
              poolGroups: countGroups(poolRows.groups),
              targetGroups: countGroups(targetRows.groups),
              ...(embeddings
                ? {
                    embeddings: {
                      poolShards: Array.from({ length: shards }, (_, s) => refs[`pool-embeddings-${s}`]!),
                      target: refs['target-embeddings']!,
                      dim,
                    },
                  }
                : {}),
              strategy: plan.strategy,
              dropped: { duplicates, short: p.short + t.short, targetSubsampled },
              sources: { pool: pool.uri, target: target.uri },
            }),
          };
        },
      );
      // The budget is not part of the prepared data's identity: check it on a memo hit too.
      return { ...prepared, budget: resolveBudget(input.budget, prepared.poolRows, pool.uri) };
    },

    /**
     * Merges shard scores by id (spec §4.5, §4.6: only calibrated values are compared across solves),
     * takes the top `budget`, and writes the selection joined BY ID with the pool text.
     */
    async mergeSelection(input: MergeSelectionInput): Promise<MergeSelectionResult> {
      const inputs = [...input.scores.map((r) => r.sha256), ...input.poolShards.map((r) => r.sha256)];
      return memoized(
        artifacts,
        { activity: 'mergeSelection@1', inputs, config: { budget: input.budget, mode: input.mode } },
        input.cache,
        async () => {
          const shards: ShardScores[] = [];
          for (const ref of input.scores) {
            const table = decodeValidated(await artifacts.read(ref), ref.uri, CANDIDATE_SCORES);
            shards.push({
              ids: stringValues(table, 'id'),
              potentialG: Float64Array.from(table.getChild('potential_g')!.toArray() as Float64Array),
              calibratedGrad: Float64Array.from(table.getChild('calibrated_grad')!.toArray() as Float64Array),
              stats: JSON.parse(table.schema.metadata.get('solve_stats')!) as SolveStatsJson,
            });
          }
          const merged = mergeShardScores(shards, { budget: input.budget, mode: input.mode });
          const selected = new Map<string, number>(); // id → rank
          merged.selection.forEach((id, r) => selected.set(String(id), r));
          const score = new Map<string, number>();
          merged.ids.forEach((id, k) => {
            if (selected.has(String(id))) score.set(String(id), merged.calibratedGrad[k]!);
          });

          const K = merged.selection.length;
          const out = {
            ids: new Array<string>(K),
            groups: new Array<string>(K),
            texts: new Array<string>(K),
            scores: new Float64Array(K),
          };
          const poolCounts = new Map<string, number>();
          const selectedCounts = new Map<string, number>();
          let found = 0;
          for (const ref of input.poolShards) {
            const rows = await readCommittedText(artifacts, ref);
            rows.ids.forEach((id, i) => {
              const g = rows.groups[i]!;
              poolCounts.set(g, (poolCounts.get(g) ?? 0) + 1);
              const r = selected.get(id);
              if (r === undefined) return;
              out.ids[r] = id;
              out.groups[r] = g;
              out.texts[r] = rows.texts[i]!;
              out.scores[r] = score.get(id)!;
              selectedCounts.set(g, (selectedCounts.get(g) ?? 0) + 1);
              found++;
            });
          }
          if (found !== K) {
            const missing = merged.selection.find((id) => !out.ids.includes(String(id)));
            throw new RetortDataError(
              'DatasetSchemaMismatch',
              `selected id ${JSON.stringify(missing)} is in the scores but in none of the pool shards ${input.poolShards.map((r) => r.uri).join(', ')}`,
            );
          }
          const table = buildTable(SELECTED_SUBSET, {
            id: out.ids,
            group: out.groups,
            text: out.texts,
            score: out.scores,
          });
          let min = Infinity;
          let max = -Infinity;
          for (const c of merged.calibratedGrad) {
            min = Math.min(min, c);
            max = Math.max(max, c);
          }
          const all = [...poolCounts].map(([group, pool]) => ({
            group,
            pool,
            selected: selectedCounts.get(group) ?? 0,
          }));
          const byName = (a: { group: string }, b: { group: string }) => (a.group < b.group ? -1 : 1);
          const listed = new Set([
            ...[...all].sort((a, b) => b.pool - a.pool || byName(a, b)).slice(0, 100),
            ...[...all]
              .filter((c) => c.selected > 0)
              .sort((a, b) => b.selected - a.selected || byName(a, b))
              .slice(0, 100),
          ]);
          const composition = [...listed].sort((a, b) => b.pool - a.pool || byName(a, b));
          return {
            outputs: [
              {
                output: 'selection',
                bytes: encodeParquet(table),
                kind: 'table',
                format: 'parquet',
                rows: K,
                schema: contractFingerprint(SELECTED_SUBSET),
              },
            ],
            result: (refs) => ({
              selection: refs.selection!,
              rows: K,
              composition,
              report: merged.report,
              scoreRange: { min, max, threshold: out.scores[K - 1]! },
            }),
          };
        },
      );
    },
  };
}
