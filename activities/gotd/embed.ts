// GOT-D's embedding activities (queue `retort-compute`): n-gram IDF statistics per table, the LM
// embedder's fine-tuning data, and one table's embeddings (n-gram TF-IDF or a byte-LM checkpoint) as
// an `embeddings` table. Part of createGotdComputeActivities (compute.ts), which the worker registers.
import { Context } from '@temporalio/activity';
import * as tf from '@tensorflow/tfjs-core';
import {
  type NgramDocumentFrequencies,
  embedHashedNgrams,
  mergeNgramDocumentFrequencies,
  ngramDocumentFrequencies,
} from '../../ml/methods/gotd/ngram-embedder.js';
import { lmEmbed } from '../../ml/models/lm.js';
import type { ArtifactRef } from '../../schemas/artifact.js';
import {
  type CountNgramsInput,
  type EmbedShardInput,
  type EmbedShardResult,
  type LmFineTuneData,
  type LmFineTuneDataInput,
} from '../../schemas/gotd.js';
import { TOKEN_WINDOWS, contractFingerprint } from '../../schemas/tables.js';
import { buildTable } from '../../storage/arrow-tables.js';
import type { ArtifactStore } from '../../storage/artifacts.js';
import { CheckpointStore } from '../../storage/checkpoints.js';
import { emptyDataset } from '../../storage/errors.js';
import { encodeParquet } from '../../storage/parquet.js';
import { type PendingArtifact, memoized } from '../memo.js';
import {
  checkFinite,
  configError,
  embeddedText,
  embeddingTableArtifact,
  readCommittedText,
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
export async function batchDone(details: Record<string, unknown>): Promise<void> {
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
export const jsonArtifact = (output: string, value: unknown): PendingArtifact => ({
  output,
  bytes: new TextEncoder().encode(JSON.stringify(value, null, 2)),
  kind: 'report',
  format: 'json',
});

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

export function createGotdEmbedActivities({ artifacts }: { artifacts: ArtifactStore }) {
  const checkpoints = new CheckpointStore(artifacts.store);
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
          // The embedded table by hash, not URI: the bytes must not depend on the store's location.
          source_sha256: input.table.sha256,
          text_bytes: String(texts.reduce((n, t) => n + utf8Bytes(t), 0)),
        };
        return {
          outputs: [embeddingTableArtifact('embeddings', rows.ids, flat, dim, meta)],
          result: (refs) => ({ embeddings: refs.embeddings!, rows: rows.ids.length, dim }),
        };
      });
    },
  };
}
