// selectWarmup activities: GOT-D warm-up selection (ml/methods/gotd/; specs/warmup-selection-gotd.md)
// as prepare → embed shards → score shards → merge → summarize. The compute activities run on
// `retort-compute` (any number of workers share the shards): embedding in embed.ts; here the pool-wide
// mean cost, the OT scoring of a shard and the selection's summary. Prepare and merge (io.ts) are I/O
// on `retort`. Every output is content-addressed and all-or-nothing (memo.ts); rows are joined by id,
// never by position (spec §9). Bad input fails before anything is committed, with a typed
// non-retryable error.
import { meanSquaredEuclideanCost } from '../../ml/ops/sinkhorn.js';
import { Rng, deriveSeed, sampleWithoutReplacement } from '../../ml/train/rng.js';
import type { ArtifactRef } from '../../schemas/artifact.js';
import {
  type GroupComposition,
  type MeanCostInput,
  type OtCostSummary,
  type ScoreShardInput,
  type ScoreShardResult,
  type SummarizeSelectionInput,
  type SummarizeSelectionResult,
} from '../../schemas/gotd.js';
import { CANDIDATE_SCORES, SELECTED_SUBSET, contractFingerprint } from '../../schemas/tables.js';
import { buildTable, stringValues } from '../../storage/arrow-tables.js';
import { type ArtifactStore, storeRelative } from '../../storage/artifacts.js';
import { RetortDataError, emptyDataset } from '../../storage/errors.js';
import { decodeValidated, encodeParquet } from '../../storage/parquet.js';
import { batchDone, createGotdEmbedActivities, jsonArtifact } from './embed.js';
import { otCostOffLoop, scoreShardOffLoop, type SolverThreadData } from './solver.js';
import { memoized } from '../memo.js';
import { sourceName } from '../text-corpus.js';
import {
  type EmbeddingRows,
  checkFinite,
  checkSameDimension,
  concatRows,
  invalidInput,
  nonFiniteValues,
  readCommittedEmbeddings,
  takeRows,
} from './data.js';

function sortedById(rows: { ids: string[]; flat: Float32Array; dim: number }) {
  const order = Int32Array.from(rows.ids.keys()).sort((a, b) =>
    rows.ids[a]! < rows.ids[b]! ? -1 : rows.ids[a]! > rows.ids[b]! ? 1 : 0,
  );
  return {
    ids: Array.from(order, (k) => rows.ids[k]!),
    flat: takeRows(rows.flat, rows.dim, order),
    dim: rows.dim,
  };
}

/**
 * Classifies an error thrown by the GOT-D math (plain Errors) after the activity's own checks: data
 * faults become typed non-retryable failures naming the files; anything else is retried.
 */
function mathFailure(err: unknown, files: string): unknown {
  if (!(err instanceof Error) || err.name !== 'Error') return err;
  const m = err.message;
  if (/non-finite|NaN|Infinity|marginal error became/.test(m)) return nonFiniteValues(`${m} (${files})`);
  if (/dimension/.test(m)) return new RetortDataError('DatasetSchemaMismatch', `${m} (${files})`);
  if (/empty|0 rows/.test(m)) return emptyDataset(`${m} (${files})`);
  if (/budget|duplicate|must be|must lie/.test(m)) return invalidInput(`${m} (${files})`);
  return err;
}

export function createGotdComputeActivities({
  artifacts,
  backend,
}: {
  artifacts: ArtifactStore;
  backend: { name: string };
}) {
  const solverBackend = backend.name as SolverThreadData['backend'];

  async function embeddingsOf(refs: readonly ArtifactRef[], name: string): Promise<EmbeddingRows> {
    const parts = [];
    for (const ref of refs) parts.push(await readCommittedEmbeddings(artifacts, ref));
    for (const p of parts) checkSameDimension(p, parts[0]!, name);
    return { uri: refs.map((r) => r.uri).join(', '), ...concatRows(parts) };
  }
  return {
    ...createGotdEmbedActivities({ artifacts }),
    /**
     * mean_ij ‖x_i − y_j‖² over the whole pool, one shard in memory at a time: the pool-wide mean
     * is the row-weighted mean of the per-shard means (the target term is the same in each).
     */
    async poolMeanCost(input: MeanCostInput): Promise<number> {
      const target = await readCommittedEmbeddings(artifacts, input.target);
      let total = 0;
      let rows = 0;
      for (const ref of input.pool) {
        const shard = await readCommittedEmbeddings(artifacts, ref);
        checkSameDimension(shard, target);
        total +=
          shard.ids.length *
          meanSquaredEuclideanCost(
            { data: target.flat, rows: target.ids.length, dim: target.dim },
            { data: shard.flat, rows: shard.ids.length, dim: shard.dim },
          );
        rows += shard.ids.length;
        await batchDone({ meanCost: ref.uri });
      }
      return total / rows;
    },

    /**
     * One OT solve of the target against one pool shard (chunked) or the whole pool (exact): potentials
     * and calibrated gradients by id.
     */
    async scoreShard(input: ScoreShardInput): Promise<ScoreShardResult> {
      const inputs = [input.target.sha256, ...input.pool.map((r) => r.sha256)];
      const config = { epsilon: input.epsilon, solver: input.solver };
      return memoized(artifacts, { activity: 'scoreShard@1', inputs, config }, input.cache, async () => {
        const target = await readCommittedEmbeddings(artifacts, input.target);
        const pool = await embeddingsOf(input.pool, input.name);
        checkSameDimension(pool, target);
        checkFinite(target.flat, target.dim, target.ids, `target embeddings ${input.target.uri}`);
        checkFinite(pool.flat, pool.dim, pool.ids, `${input.name} embeddings ${pool.uri}`);
        // Rows in id order: the solve, and so every score, is the same however the pool was sharded.
        const candidates = sortedById(pool);
        const files = `target ${input.target.uri}, ${input.name} ${pool.uri}`;
        const solved = await scoreShardOffLoop(
          solverBackend,
          { name: 'target', ids: target.ids, embeddings: Float32Array.from(target.flat), dim: target.dim },
          { name: input.name, ids: candidates.ids, embeddings: candidates.flat, dim: candidates.dim },
          { ...input.solver, epsilon: input.epsilon, relativeEpsilon: false },
        ).catch((err: unknown) => {
          throw mathFailure(err, files);
        });
        const table = buildTable(
          CANDIDATE_SCORES,
          { id: candidates.ids, potential_g: solved.potentialG, calibrated_grad: solved.calibratedGrad },
          { solve_stats: JSON.stringify(solved.stats) },
        );
        return {
          outputs: [
            {
              output: 'scores',
              bytes: encodeParquet(table),
              kind: 'table',
              format: 'parquet',
              rows: candidates.ids.length,
              schema: contractFingerprint(CANDIDATE_SCORES),
            },
          ],
          result: (refs) => ({ scores: refs.scores!, stats: solved.stats }),
        };
      });
    },

    /**
     * The selection's JSON summary: group composition of selection vs pool vs target, and the OT cost
     * before and after adding the selection's mass (Theorem 1's quantity; `otCostWithSelection`).
     */
    async summarizeSelection(input: SummarizeSelectionInput): Promise<SummarizeSelectionResult> {
      const inputs = [
        input.selection.sha256,
        input.targetEmbeddings.sha256,
        ...input.poolEmbeddings.map((r) => r.sha256),
      ];
      const config = {
        epsilon: input.epsilon,
        solver: input.solver,
        summaryMaxPool: input.summaryMaxPool,
        config: input.config,
      };
      return memoized(
        artifacts,
        { activity: 'summarizeSelection@1', inputs, config, seed: input.seed },
        input.cache,
        async () => {
          const target = await readCommittedEmbeddings(artifacts, input.targetEmbeddings);
          const selectionTable = decodeValidated(
            await artifacts.read(input.selection),
            input.selection.uri,
            SELECTED_SUBSET,
          );
          const selectedIds = stringValues(selectionTable, 'id');

          // Above `summaryMaxPool` rows, a seeded uniform sample of the pool stands in for it; shards are
          // read one at a time and only their sampled rows kept.
          const N = input.prepared.poolRows;
          const sample =
            N > input.summaryMaxPool
              ? sampleWithoutReplacement(
                  N,
                  input.summaryMaxPool,
                  new Rng(deriveSeed(input.seed, 'summary-sample')),
                ).sort()
              : Int32Array.from({ length: N }, (_, k) => k);
          const parts: EmbeddingRows[] = [];
          let offset = 0;
          let at = 0;
          for (const ref of input.poolEmbeddings) {
            const shard = await readCommittedEmbeddings(artifacts, ref);
            checkSameDimension(shard, target);
            const local: number[] = [];
            for (; at < sample.length && sample[at]! < offset + shard.ids.length; at++)
              local.push(sample[at]! - offset);
            parts.push({
              uri: shard.uri,
              ids: local.map((k) => shard.ids[k]!),
              flat: takeRows(shard.flat, shard.dim, local),
              dim: shard.dim,
            });
            offset += shard.ids.length;
            await batchDone({ summary: ref.uri });
          }
          if (offset !== N)
            throw new RetortDataError(
              'DatasetSchemaMismatch',
              `pool embeddings hold ${offset} rows, the prepared pool ${N}`,
            );
          const pool = { uri: input.poolEmbeddings.map((r) => r.uri).join(', '), ...concatRows(parts) };
          const sampleIds = pool.ids;
          const inSample = new Set(sampleIds);
          const selectedInSample = selectedIds.filter((id) => inSample.has(id));
          let otCost: OtCostSummary | null = null;
          if (selectedInSample.length > 0 && selectedInSample.length < sampleIds.length) {
            const c = await otCostOffLoop(
              solverBackend,
              {
                name: 'target',
                ids: target.ids,
                embeddings: Float32Array.from(target.flat),
                dim: target.dim,
              },
              { name: 'pool', ids: sampleIds, embeddings: pool.flat, dim: pool.dim },
              selectedInSample,
              { ...input.solver, epsilon: input.epsilon, relativeEpsilon: false },
            ).catch((err: unknown) => {
              throw mathFailure(err, `target ${input.targetEmbeddings.uri}, pool ${pool.uri}`);
            });
            otCost = {
              before: c.before,
              after: c.after,
              lambda: c.lambda,
              firstOrderDelta: c.firstOrderDelta,
              transportCostBefore: c.transportCostBefore,
              transportCostAfter: c.transportCostAfter,
              poolRows: sampleIds.length,
              selectedRows: selectedInSample.length,
              converged: c.statsBefore.converged && c.statsAfter.converged,
            };
          }

          const { prepared, merge } = input;
          const targetCounts = new Map(prepared.targetGroups.map((g) => [g.group, g.rows]));
          const groups = [...new Set([...merge.composition.map((c) => c.group), ...targetCounts.keys()])];
          const byGroup = new Map(merge.composition.map((c) => [c.group, c]));
          const composition: GroupComposition[] = groups
            .map((group) => {
              const c = byGroup.get(group) ?? { pool: 0, selected: 0 };
              const t = targetCounts.get(group) ?? 0;
              return {
                group,
                pool: c.pool,
                selected: c.selected,
                target: t,
                poolShare: c.pool / prepared.poolRows,
                selectedShare: c.selected / merge.rows,
                targetShare: t / prepared.targetRows,
              };
            })
            .sort((a, b) => b.pool - a.pool || b.target - a.target || (a.group < b.group ? -1 : 1));
          const summary = {
            method: 'GOT-D (Kang et al., ICLR 2024), specs/warmup-selection-gotd.md',
            pool: {
              // Inputs by file name and the selection by hash: the summary's bytes must not
              // depend on where the store lives.
              source: sourceName(prepared.sources.pool),
              rows: prepared.poolRows,
              shards: prepared.shards,
              dropped: prepared.dropped,
            },
            target: { source: sourceName(prepared.sources.target), rows: prepared.targetRows },
            budget: prepared.budget,
            strategy: prepared.strategy,
            selection: { sha256: input.selection.sha256, rows: merge.rows, scoreRange: merge.scoreRange },
            composition,
            otCost,
            solver: merge.report,
            config: storeRelative(input.config, artifacts.store),
          };
          return {
            outputs: [jsonArtifact('summary', summary)],
            result: (refs) => ({ summary: refs.summary!, composition, otCost }),
          };
        },
      );
    },
  };
}
