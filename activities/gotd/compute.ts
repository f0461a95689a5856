// selectWarmup activities: GOT-D warm-up selection (ml/methods/gotd/; specs/warmup-selection-gotd.md)
// as prepare → embed shards → score shards → merge → summarize. The compute activities here run on
// `retort-compute` (any number of workers share the shards); prepare and merge (io.ts)
// are I/O on `retort`.
// Every output is content-addressed and all-or-nothing (memo.ts); rows are joined by id, never by
// position (spec §9). Bad input fails before anything is committed, with a typed non-retryable error.
import { Context } from '@temporalio/activity';
import * as tf from '@tensorflow/tfjs-core';
import {
  type NgramDocumentFrequencies,
  embedHashedNgrams,
  mergeNgramDocumentFrequencies,
  ngramDocumentFrequencies,
} from '../../ml/methods/gotd/ngram-embedder.js';
import { lmEmbed } from '../../ml/models/lm.js';
import { meanSquaredEuclideanCost } from '../../ml/ops/sinkhorn.js';
import { Rng, deriveSeed, sampleWithoutReplacement } from '../../ml/train/rng.js';
import type { ArtifactRef } from '../../schemas/artifact.js';
import {
  type CountNgramsInput,
  type EmbedShardInput,
  type EmbedShardResult,
  type GroupComposition,
  type LmFineTuneData,
  type LmFineTuneDataInput,
  type MeanCostInput,
  type OtCostSummary,
  type ScoreShardInput,
  type ScoreShardResult,
  type SummarizeSelectionInput,
  type SummarizeSelectionResult,
} from '../../schemas/gotd.js';
import {
  CANDIDATE_SCORES,
  SELECTED_SUBSET,
  TOKEN_WINDOWS,
  contractFingerprint,
} from '../../schemas/tables.js';
import { buildTable, stringValues } from '../../storage/arrow-tables.js';
import type { ArtifactStore } from '../../storage/artifacts.js';
import { CheckpointStore } from '../../storage/checkpoints.js';
import { RetortDataError, emptyDataset } from '../../storage/errors.js';
import { decodeValidated, encodeParquet } from '../../storage/parquet.js';
import { otCostOffLoop, scoreShardOffLoop, type SolverThreadData } from './solver.js';
import { type PendingArtifact, memoized } from '../memo.js';
import {
  type EmbeddingRows,
  checkFinite,
  checkSameDimension,
  concatRows,
  configError,
  embeddedText,
  embeddingTableArtifact,
  invalidInput,
  nonFiniteValues,
  readCommittedEmbeddings,
  readCommittedText,
  takeRows,
  yieldToEventLoop,
} from './data.js';
import { tokenizeWindows } from '../text-corpus.js';
import { buildOptimizer, checkpointMeta, decodeState, disposeState } from '../training-state.js';

/** Rows per synchronous batch of embedding work between event-loop yields / heartbeats. */
const EMBED_BATCH = 256;

/**
 * Between synchronous batches: heartbeat, let the event loop deliver it (and any cancellation), and
 * stop if the activity was cancelled.
 */
async function batchDone(details: Record<string, unknown>): Promise<void> {
  let ctx: Context | undefined;
  try {
    ctx = Context.current();
  } catch {
    // not inside an activity (bench, unit tests)
  }
  ctx?.heartbeat(details);
  await yieldToEventLoop();
  if (ctx?.cancellationSignal.aborted) throw ctx.cancellationSignal.reason;
}

const utf8Bytes = (s: string) => new TextEncoder().encode(s).length;
const jsonArtifact = (output: string, value: unknown): PendingArtifact => ({
  output,
  bytes: new TextEncoder().encode(JSON.stringify(value, null, 2)),
  kind: 'report',
  format: 'json',
});

// -------------------------------------------------------------------------------------------------
// compute: n-gram statistics, embedding, scoring, summary.

function frequenciesToJson(f: NgramDocumentFrequencies) {
  return { ...f, df: Array.from(f.df) };
}

async function readFrequencies(
  artifacts: ArtifactStore,
  refs: readonly ArtifactRef[],
): Promise<NgramDocumentFrequencies> {
  const parts: NgramDocumentFrequencies[] = [];
  for (const ref of refs) {
    const raw = JSON.parse(new TextDecoder().decode(await artifacts.read(ref))) as ReturnType<
      typeof frequenciesToJson
    >;
    parts.push({ ...raw, df: Float64Array.from(raw.df) });
  }
  return mergeNgramDocumentFrequencies(parts);
}

/** Embeds `texts` with Retort's byte LM: mean of the masked mean-pooled windows of `ctx` bytes (spec §4.3). */
async function embedWithLm(
  checkpoints: CheckpointStore,
  spec: Extract<EmbedShardInput['embedder'], { kind: 'lm' }>,
  texts: readonly string[],
  name: string,
): Promise<{ flat: Float32Array; dim: number }> {
  const art = await checkpoints.load(spec.checkpoint);
  const meta = checkpointMeta(art, spec.checkpoint.uri);
  if (meta.model.kind !== 'lm')
    throw configError(
      `embedder.checkpoint ${spec.checkpoint.uri} holds a ${meta.model.kind}, not a language model`,
    );
  const model = meta.model;
  const state = decodeState(
    art,
    model,
    buildOptimizer({ kind: 'sgd', momentum: 0, weightDecay: 0, nesterov: false }),
    spec.checkpoint.uri,
    false,
  );
  const { ctx, dModel: dim } = model.config;
  try {
    // Every row becomes ⌈bytes/ctx⌉ windows (at least one); a row's embedding is the token-weighted
    // mean of its windows' masked means, i.e. the mean hidden state over all of its bytes.
    const windows: { row: number; ids: Int32Array; tokens: number }[] = [];
    const encoder = new TextEncoder();
    texts.forEach((text, row) => {
      const bytes = encoder.encode(text);
      for (let at = 0; at < Math.max(1, bytes.length); at += ctx) {
        const ids = new Int32Array(ctx);
        const piece = bytes.subarray(at, at + ctx);
        ids.set(piece);
        windows.push({ row, ids, tokens: piece.length });
      }
    });
    const sums = new Float64Array(texts.length * dim);
    const weights = new Float64Array(texts.length);
    for (let start = 0; start < windows.length; start += spec.batchSize) {
      const batch = windows.slice(start, start + spec.batchSize);
      const ids = new Int32Array(batch.length * ctx);
      const mask = new Float32Array(batch.length * ctx);
      batch.forEach((w, b) => {
        ids.set(w.ids, b * ctx);
        mask.fill(1, b * ctx, b * ctx + w.tokens);
      });
      const pooled = tf.tidy(() =>
        lmEmbed(
          model.config,
          state.params as Record<string, tf.Tensor>,
          tf.tensor2d(ids, [batch.length, ctx], 'int32'),
          tf.tensor2d(mask, [batch.length, ctx]),
        ),
      );
      const values = pooled.dataSync();
      pooled.dispose();
      batch.forEach((w, b) => {
        for (let d = 0; d < dim; d++) sums[w.row * dim + d]! += values[b * dim + d]! * w.tokens;
        weights[w.row]! += w.tokens;
      });
      await batchDone({
        embedding: name,
        windows: Math.min(start + batch.length, windows.length),
        of: windows.length,
      });
    }
    const flat = new Float32Array(texts.length * dim);
    for (let r = 0; r < texts.length; r++) {
      let norm = 0;
      for (let d = 0; d < dim; d++) {
        const v = weights[r]! > 0 ? sums[r * dim + d]! / weights[r]! : 0;
        flat[r * dim + d] = v;
        norm += v * v;
      }
      const scale = spec.normalize && norm > 0 ? 1 / Math.sqrt(norm) : 1;
      for (let d = 0; d < dim; d++) flat[r * dim + d]! *= scale;
    }
    return { flat, dim };
  } finally {
    disposeState(state);
  }
}

/** Every distinct embedded row once: the solve's canonical input order (exact mode) is by id. */
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
  const checkpoints = new CheckpointStore(artifacts.store);
  const solverBackend = backend.name as SolverThreadData['backend'];

  async function embeddingsOf(refs: readonly ArtifactRef[], name: string): Promise<EmbeddingRows> {
    const parts = [];
    for (const ref of refs) parts.push(await readCommittedEmbeddings(artifacts, ref));
    for (const p of parts) checkSameDimension(p, parts[0]!, name);
    return { uri: refs.map((r) => r.uri).join(', '), ...concatRows(parts) };
  }

  return {
    /** Per-bucket document frequencies of one text table (the n-gram embedder's IDF statistics). */
    async countNgrams(input: CountNgramsInput): Promise<ArtifactRef> {
      const { kind: _kind, ...config } = input.embedder;
      const identity = {
        activity: 'countNgrams@1',
        inputs: [input.table.sha256],
        config: { embedder: config, preprocess: input.preprocess },
      };
      return memoized(artifacts, identity, input.cache, async () => {
        const rows = await readCommittedText(artifacts, input.table);
        const parts: NgramDocumentFrequencies[] = [];
        for (let start = 0; start < rows.texts.length; start += EMBED_BATCH) {
          const texts = rows.texts
            .slice(start, start + EMBED_BATCH)
            .map((t) => embeddedText(t, input.preprocess));
          parts.push(ngramDocumentFrequencies(texts, config));
          await batchDone({
            counting: input.table.uri,
            rows: Math.min(start + EMBED_BATCH, rows.texts.length),
            of: rows.texts.length,
          });
        }
        const merged = parts.length
          ? mergeNgramDocumentFrequencies(parts)
          : ngramDocumentFrequencies([], config);
        return {
          outputs: [jsonArtifact('frequencies', frequenciesToJson(merged))],
          result: (refs) => refs.frequencies!,
        };
      });
    },

    /**
     * The LM embedder's light fine-tuning data (paper §3: the encoder is fine-tuned on the target task
     * first): the preprocessed target texts as byte windows of the checkpoint's context, and the
     * checkpoint's model config, for a `trainModel` child run that starts from the checkpoint.
     */
    async lmFineTuneData(input: LmFineTuneDataInput): Promise<LmFineTuneData> {
      const identity = {
        activity: 'lmFineTuneData@1',
        inputs: [input.checkpoint.sha256, input.target.sha256],
        config: { preprocess: input.preprocess },
      };
      return memoized(artifacts, identity, input.cache, async () => {
        const meta = checkpointMeta(await checkpoints.load(input.checkpoint), input.checkpoint.uri);
        if (meta.model.kind !== 'lm')
          throw configError(
            `embedder.checkpoint ${input.checkpoint.uri} holds a ${meta.model.kind}, not a language model`,
          );
        const { vocabSize: _vocab, ...model } = meta.model.config;
        const rows = await readCommittedText(artifacts, input.target);
        const corpus = rows.ids.map((id, i) => ({
          id,
          group: rows.groups[i]!,
          text: embeddedText(rows.texts[i]!, input.preprocess),
          source: rows.sources[i]!,
        }));
        const w = tokenizeWindows(corpus, model.ctx, 'train');
        if (w.ids.length === 0)
          throw emptyDataset(
            `target ${input.target.uri}: its texts make no window of ${model.ctx} bytes to fine-tune the LM on`,
          );
        const table = buildTable(
          TOKEN_WINDOWS,
          { id: w.ids, group: w.groups, input_ids: { flat: w.flat, size: model.ctx } },
          { ctx: String(model.ctx) },
        );
        return {
          outputs: [
            {
              output: 'windows',
              bytes: encodeParquet(table),
              kind: 'table',
              format: 'parquet',
              rows: w.ids.length,
              schema: contractFingerprint(TOKEN_WINDOWS),
            },
          ],
          result: (refs) => ({ windows: refs.windows!, model }),
        };
      });
    },

    /** Embeds one text table (the target or a pool shard) with the selection's embedder. */
    async embedShard(input: EmbedShardInput): Promise<EmbedShardResult> {
      const e = input.embedder;
      const inputs = [
        input.table.sha256,
        ...(e.kind === 'ngram' ? (input.frequencies ?? []).map((r) => r.sha256) : [e.checkpoint.sha256]),
      ];
      const { kind, ...embedderConfig } = e;
      const config = {
        kind,
        embedder:
          kind === 'lm'
            ? { ...embedderConfig, checkpoint: e.kind === 'lm' ? e.checkpoint.sha256 : null }
            : embedderConfig,
        preprocess: input.preprocess,
      };
      return memoized(artifacts, { activity: 'embedShard@1', inputs, config }, input.cache, async () => {
        const rows = await readCommittedText(artifacts, input.table);
        const texts = rows.texts.map((t) => embeddedText(t, input.preprocess));
        let flat: Float32Array;
        let dim: number;
        if (e.kind === 'ngram') {
          if (!input.frequencies?.length)
            throw configError(
              `embedShard ${input.name}: the n-gram embedder needs the document frequencies of pool and target`,
            );
          const frequencies = await readFrequencies(artifacts, input.frequencies);
          const { kind: _k, ...ngram } = e;
          dim = ngram.dim;
          flat = new Float32Array(texts.length * dim);
          for (let start = 0; start < texts.length; start += EMBED_BATCH) {
            flat.set(
              embedHashedNgrams(texts.slice(start, start + EMBED_BATCH), ngram, frequencies),
              start * dim,
            );
            await batchDone({
              embedding: input.name,
              rows: Math.min(start + EMBED_BATCH, texts.length),
              of: texts.length,
            });
          }
        } else {
          if (e.fineTuneSteps > 0)
            throw configError(
              `embedder.fineTuneSteps ${e.fineTuneSteps}: the workflow fine-tunes before embedding; embedShard takes the fine-tuned checkpoint with fineTuneSteps 0`,
            );
          ({ flat, dim } = await embedWithLm(checkpoints, e, texts, input.name));
          checkFinite(
            flat,
            dim,
            rows.ids,
            `embeddings of ${input.name} (${input.table.uri}) by checkpoint ${e.checkpoint.uri}`,
          );
        }
        const meta = {
          embedder: kind,
          source: input.table.uri,
          text_bytes: String(texts.reduce((n, t) => n + utf8Bytes(t), 0)),
        };
        return {
          outputs: [embeddingTableArtifact('embeddings', rows.ids, flat, dim, meta)],
          result: (refs) => ({ embeddings: refs.embeddings!, rows: rows.ids.length, dim }),
        };
      });
    },

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
              source: prepared.sources.pool,
              rows: prepared.poolRows,
              shards: prepared.shards,
              dropped: prepared.dropped,
            },
            target: { source: prepared.sources.target, rows: prepared.targetRows },
            budget: prepared.budget,
            strategy: prepared.strategy,
            selection: { uri: input.selection.uri, rows: merge.rows, scoreRange: merge.scoreRange },
            composition,
            otCost,
            solver: merge.report,
            config: input.config,
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
