// Curation activities: quality filters and MinHash LSH near-duplicate removal as a sharded stage
// (ml/methods/dedup/). `prepareCuration` (queue `retort`) validates the inputs, applies the filters
// and cuts the rows into shards; `minhashShard` (queue `retort-compute`, one per shard, in parallel
// on any compute worker) writes each shard's signatures; `resolveDuplicates` (queue `retort`) merges
// the band buckets of all shards (and of earlier partitions' signature tables), checks candidates,
// resolves clusters and writes the kept rows, their signatures and the removed ids.
import { z } from 'zod';
import { applyQualityFilters } from '../ml/methods/dedup/filters.js';
import {
  ESTIMATE_MARGIN,
  MINHASH_PRIME,
  bandKeys,
  candidatePairs,
  estimateJaccard,
  exactJaccard,
  loadShingleHash,
  minhashPermutations,
  minhashSignature,
  normalizeForShingles,
  resolveClusters,
  shingleHashes,
} from '../ml/methods/dedup/index.js';
import { ArtifactRef } from '../schemas/artifact.js';
import { CurationInput } from '../schemas/dedup-corpus.js';
import { DedupSettings, type FilterOutcome, QualityFilters } from '../schemas/dedup.js';
import { MINHASH_SIGNATURES, REMOVED_DUPLICATES, contractFingerprint } from '../schemas/tables.js';
import { buildTable, fixedSizeListValues, stringValues } from '../storage/arrow-tables.js';
import { type ArtifactStore, sha256Hex } from '../storage/artifacts.js';
import { emptyDataset } from '../storage/errors.js';
import { decodeValidated, encodeParquet } from '../storage/parquet.js';
import { configError } from './failures.js';
import { type TextRows, forField, invalidInput, readCommittedText, textTableArtifact } from './gotd/data.js';
import { type PendingArtifact, memoized } from './memo.js';
import { builtinIdentity, loadBuiltin, rowsFromUserFile } from './text-corpus.js';

export const PrepareCurationInput = z.object({
  inputs: z.array(CurationInput).min(1),
  filters: QualityFilters.optional(),
  shardRows: z.number().int().positive(),
  cache: z.boolean().default(true),
});
export type PrepareCurationInput = z.input<typeof PrepareCurationInput>;
export interface PrepareCurationResult {
  shards: ArtifactRef[];
  rows: { input: number; filtered: number };
  filters: FilterOutcome[];
}

/** What makes signatures comparable: recorded in the table's `minhash` metadata. */
const SignatureSettings = z.object({
  ngram: z.number().int().positive(),
  numPerm: z.number().int().positive(),
  stripPunctuation: z.boolean(),
  seed: z.number().int().nonnegative(),
});
type SignatureSettings = z.infer<typeof SignatureSettings>;
const signatureMetadata = (s: SignatureSettings) =>
  JSON.stringify({ ngram: s.ngram, numPerm: s.numPerm, stripPunctuation: s.stripPunctuation, seed: s.seed });

export const MinhashShardInput = z.object({
  shard: ArtifactRef,
  /** Shown in the activity's summary ("shard 3/20"). */
  name: z.string().default('shard'),
  settings: SignatureSettings,
  cache: z.boolean().default(true),
});
export type MinhashShardInput = z.input<typeof MinhashShardInput>;

export const ResolveDuplicatesInput = z.object({
  shards: z.array(ArtifactRef).min(1),
  /** One signature table per shard, same order; empty when only filters run. */
  signatures: z.array(ArtifactRef),
  dedup: DedupSettings.nullable(),
  seed: z.number().int().nonnegative(),
  cache: z.boolean().default(true),
});
export type ResolveDuplicatesInput = z.input<typeof ResolveDuplicatesInput>;
export interface ResolveDuplicatesResult {
  corpus: ArtifactRef;
  signatures?: ArtifactRef;
  removed?: ArtifactRef;
  kept: number;
  duplicates: number;
  previousDuplicates: number;
  candidatePairs: number;
  verifiedPairs: number;
  clusters: number;
  examples: { id: string; keptId: string; jaccard: number; text: string }[];
}

const EXAMPLE_CHARS = 160;
const excerpt = (text: string) => (text.length > EXAMPLE_CHARS ? `${text.slice(0, EXAMPLE_CHARS)}…` : text);

interface LoadedInput {
  rows: TextRows;
  identity: string;
}

export function createDedupIoActivities({ artifacts }: { artifacts: ArtifactStore }) {
  async function readInput(input: CurationInput, field: string): Promise<LoadedInput> {
    if (typeof input === 'object' && 'builtin' in input) {
      const groups = [...new Set(input.builtin)].sort();
      const rows = loadBuiltin(groups);
      return {
        rows: {
          uri: `builtin:${groups.join(',')}`,
          ids: rows.map((r) => r.id),
          groups: rows.map((r) => r.group),
          texts: rows.map((r) => r.text),
          sources: rows.map((r) => r.source),
        },
        identity: groups.map(builtinIdentity).join(','),
      };
    }
    return forField(field, async () => {
      const ref = typeof input === 'object' && 'sha256' in input ? input : undefined;
      const uri = typeof input === 'string' ? input : input.uri;
      const bytes = ref ? await artifacts.read(ref) : await artifacts.readUri(uri, field);
      const given = !ref && typeof input === 'object' ? input.format : undefined;
      const format = given === 'jsonl' || given === 'parquet' ? given : undefined;
      const rows = rowsFromUserFile(bytes, uri, format);
      return {
        rows: {
          uri,
          ids: rows.map((r) => r.id),
          groups: rows.map((r) => r.group),
          texts: rows.map((r) => r.text),
          sources: rows.map((r) => r.source),
        },
        identity: ref ? ref.sha256 : `${uri}#sha256=${sha256Hex(bytes)}`,
      };
    });
  }

  return {
    /**
     * Reads and validates every input (ids unique across all of them), applies the quality filters
     * and writes the kept rows, in input order, as shards of at most `shardRows` rows.
     */
    async prepareCuration(raw: PrepareCurationInput): Promise<PrepareCurationResult> {
      const input = PrepareCurationInput.parse(raw);
      const loaded: LoadedInput[] = [];
      for (const [i, source] of input.inputs.entries()) loaded.push(await readInput(source, `inputs.${i}`));
      return memoized(
        artifacts,
        {
          activity: 'prepareCuration@1',
          inputs: loaded.map((l) => l.identity),
          config: { filters: input.filters ?? null, shardRows: input.shardRows },
        },
        input.cache,
        async () => {
          const where = new Map<string, string>();
          const all: Omit<TextRows, 'uri'> = { ids: [], groups: [], texts: [], sources: [] };
          for (const { rows } of loaded) {
            rows.ids.forEach((id, r) => {
              const first = where.get(id);
              if (first !== undefined)
                throw invalidInput(
                  `inputs: id ${JSON.stringify(id)} occurs in ${first} and in ${rows.uri}; ids must be unique across the inputs`,
                );
              where.set(id, rows.uri);
              all.ids.push(id);
              all.groups.push(rows.groups[r]!);
              all.texts.push(rows.texts[r]!);
              all.sources.push(rows.sources[r]!);
            });
          }
          if (all.ids.length === 0) throw emptyDataset('inputs: no rows to curate');
          const { keep, outcomes } = input.filters
            ? applyQualityFilters(all.ids, all.texts, input.filters)
            : { keep: new Uint8Array(all.ids.length).fill(1), outcomes: [] };
          const kept = [...keep.keys()].filter((i) => keep[i]);
          if (kept.length === 0)
            throw emptyDataset(
              `inputs: the quality filters removed all ${all.ids.length} rows (${outcomes
                .filter((o) => o.removed > 0)
                .map((o) => `${o.filter}: ${o.removed}`)
                .join(', ')}); loosen or disable a filter`,
            );
          const outputs: PendingArtifact[] = [];
          for (let s = 0; s * input.shardRows < kept.length; s++) {
            const part = kept.slice(s * input.shardRows, (s + 1) * input.shardRows);
            const pick = (col: string[]) => part.map((i) => col[i]!);
            outputs.push(
              textTableArtifact(`shard-${String(s).padStart(5, '0')}`, {
                ids: pick(all.ids),
                groups: pick(all.groups),
                texts: pick(all.texts),
                sources: pick(all.sources),
              }),
            );
          }
          const filtered = all.ids.length - kept.length;
          return {
            outputs,
            result: (refs) => ({
              shards: outputs.map((o) => refs[o.output]!),
              rows: { input: all.ids.length, filtered },
              filters: outcomes,
            }),
          };
        },
      );
    },

    /**
     * Band buckets of every shard (and of the earlier partitions' signatures) → candidate pairs →
     * signature-estimate prefilter → Jaccard check (this run's pairs: exact, on shingle sets; pairs
     * with an earlier partition: the signature estimate, its texts are not kept) → clusters → kept
     * rows, their signatures, the removed ids. With `dedup: null` (filters only) the shards are
     * concatenated.
     */
    async resolveDuplicates(raw: ResolveDuplicatesInput): Promise<ResolveDuplicatesResult> {
      const input = ResolveDuplicatesInput.parse(raw);
      const dedup = input.dedup;
      if (dedup && input.signatures.length !== input.shards.length)
        throw configError(
          `resolveDuplicates: ${input.signatures.length} signature tables for ${input.shards.length} shards`,
        );
      const identity = [
        ...input.shards.map((r) => r.sha256),
        ...input.signatures.map((r) => r.sha256),
        ...(dedup?.previous ?? []).map((r) => r.sha256),
      ];
      const { previous: _previous, ...config } = dedup ?? { previous: [] };
      return memoized<ResolveDuplicatesResult>(
        artifacts,
        {
          activity: 'resolveDuplicates@1',
          inputs: identity,
          config: { dedup: dedup ? config : null },
          seed: input.seed,
        },
        input.cache,
        async () => {
          const texts: Omit<TextRows, 'uri'> = { ids: [], groups: [], texts: [], sources: [] };
          for (const ref of input.shards) {
            const t = await readCommittedText(artifacts, ref);
            for (const k of ['ids', 'groups', 'texts', 'sources'] as const)
              for (const v of t[k]) texts[k].push(v);
          }
          const n = texts.ids.length;
          if (!dedup) {
            return {
              outputs: [textTableArtifact('corpus', texts)],
              result: (refs) => ({
                corpus: refs.corpus!,
                kept: n,
                duplicates: 0,
                previousDuplicates: 0,
                candidatePairs: 0,
                verifiedPairs: 0,
                clusters: 0,
                examples: [],
              }),
            };
          }
          const settings = {
            ngram: dedup.ngram,
            numPerm: dedup.numPerm,
            stripPunctuation: dedup.stripPunctuation,
            seed: input.seed,
          };
          const K = dedup.numPerm;
          const readSignatures = async (ref: ArtifactRef, field: string) =>
            forField(field, async () => {
              const table = decodeValidated(await artifacts.read(ref), ref.uri, MINHASH_SIGNATURES, {
                allowEmpty: true,
                sizes: { signature: K },
              });
              const recorded = table.schema.metadata.get('minhash')!;
              if (recorded !== signatureMetadata(settings))
                throw configError(
                  `${field}: signatures in ${ref.uri} were made with ${recorded}, this run uses ${signatureMetadata(settings)}; they are not comparable`,
                );
              return {
                ids: stringValues(table, 'id'),
                flat: fixedSizeListValues<Int32Array>(table, 'signature').flat,
              };
            });
          // Earlier partitions first (tier 0), then this run's documents (tier 1).
          const prev = [];
          for (const [i, ref] of dedup.previous.entries())
            prev.push(await readSignatures(ref, `dedup.previous.${i}`));
          const p = prev.reduce((s, t) => s + t.ids.length, 0);
          const total = p + n;
          let sigs = new Int32Array(total * K);
          const ids: string[] = [];
          let o = 0;
          for (const t of prev) {
            sigs.set(t.flat, o * K);
            for (const id of t.ids) ids.push(id);
            o += t.ids.length;
          }
          for (const [s, ref] of input.signatures.entries()) {
            const t = await readSignatures(ref, `signatures.${s}`);
            sigs.set(t.flat, o * K);
            o += t.ids.length;
          }
          if (o !== total)
            throw configError(`resolveDuplicates: signature tables hold ${o - p} rows, the shards ${n}`);
          for (const id of texts.ids) ids.push(id);
          const tier = new Uint8Array(total).fill(1, p);
          let keys = new Uint32Array(total * dedup.bands);
          const skip = new Uint8Array(total);
          for (let d = 0; d < total; d++) {
            const sig = sigs.subarray(d * K, (d + 1) * K);
            if (sig[0] === MINHASH_PRIME) skip[d] = 1; // no shingles: never a duplicate
            bandKeys(sig, dedup.bands, dedup.rows, keys.subarray(d * dedup.bands, (d + 1) * dedup.bands));
          }
          let candidates = candidatePairs(keys, total, dedup.bands, skip);
          const candidateCount = candidates.length / 2;
          keys = new Uint32Array(0);
          const hash = await loadShingleHash();
          const shingleCache = new Map<number, Uint32Array>();
          const shingles = (d: number) => {
            let s = shingleCache.get(d);
            if (!s) {
              s = shingleHashes(
                normalizeForShingles(texts.texts[d - p]!, dedup.stripPunctuation),
                dedup.ngram,
                hash,
                input.seed,
              );
              shingleCache.set(d, s);
            }
            return s;
          };
          const sigOf = (d: number) => sigs.subarray(d * K, (d + 1) * K);
          const similarity = (i: number, j: number) =>
            tier[i] === 1 && tier[j] === 1
              ? exactJaccard(shingles(i), shingles(j))
              : estimateJaccard(sigOf(i), sigOf(j));
          const verified: [number, number][] = [];
          for (let k = 0; k < candidates.length; k += 2) {
            const i = candidates[k]!;
            const j = candidates[k + 1]!;
            if (tier[i] === 0 && tier[j] === 0) continue;
            if (estimateJaccard(sigOf(i), sigOf(j)) < dedup.threshold - ESTIMATE_MARGIN) continue;
            if (similarity(i, j) >= dedup.threshold) verified.push([i, j]);
          }
          const { keptAs, clusters } = resolveClusters(ids, verified, tier);
          const keptRows: number[] = [];
          const removed: { id: string; keptId: string; jaccard: number; row: number }[] = [];
          let previousDuplicates = 0;
          for (let d = p; d < total; d++) {
            const k = keptAs[d]!;
            if (k === d) {
              keptRows.push(d - p);
              continue;
            }
            if (tier[k] === 0) previousDuplicates++;
            removed.push({ id: ids[d]!, keptId: ids[k]!, jaccard: similarity(d, k), row: d - p });
          }
          removed.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
          const pick = (col: string[]) => keptRows.map((r) => col[r]!);
          let keptSigs = new Int32Array(keptRows.length * K);
          keptRows.forEach((r, i) => keptSigs.set(sigOf(r + p), i * K));
          // What is no longer needed goes before the outputs are encoded (the peak at a million rows).
          sigs = new Int32Array(0);
          candidates = new Uint32Array(0);
          shingleCache.clear();
          const signaturesBytes = encodeParquet(
            buildTable(
              MINHASH_SIGNATURES,
              { id: pick(texts.ids), signature: { flat: keptSigs, size: K } },
              { minhash: signatureMetadata(settings) },
            ),
          );
          keptSigs = new Int32Array(0);
          const outputs: PendingArtifact[] = [
            {
              output: 'signatures',
              bytes: signaturesBytes,
              kind: 'table',
              format: 'parquet',
              rows: keptRows.length,
              schema: contractFingerprint(MINHASH_SIGNATURES),
            },
            {
              output: 'removed',
              bytes: encodeParquet(
                buildTable(REMOVED_DUPLICATES, {
                  id: removed.map((r) => r.id),
                  kept_id: removed.map((r) => r.keptId),
                  jaccard: Float64Array.from(removed, (r) => r.jaccard),
                }),
              ),
              kind: 'table',
              format: 'parquet',
              rows: removed.length,
              schema: contractFingerprint(REMOVED_DUPLICATES),
            },
            textTableArtifact('corpus', {
              ids: pick(texts.ids),
              groups: pick(texts.groups),
              texts: pick(texts.texts),
              sources: pick(texts.sources),
            }),
          ];
          return {
            outputs,
            result: (refs) => ({
              corpus: refs.corpus!,
              signatures: refs.signatures!,
              removed: refs.removed!,
              kept: keptRows.length,
              duplicates: removed.length - previousDuplicates,
              previousDuplicates,
              candidatePairs: candidateCount,
              verifiedPairs: verified.length,
              clusters,
              examples: removed.slice(0, 3).map((r) => ({
                id: r.id,
                keptId: r.keptId,
                jaccard: Number(r.jaccard.toFixed(4)),
                text: excerpt(texts.texts[r.row]!),
              })),
            }),
          };
        },
      );
    },
  };
}

export function createDedupComputeActivities({ artifacts }: { artifacts: ArtifactStore }) {
  return {
    /** MinHash signatures of one shard's rows (`minhash_signatures` table, same row order). */
    async minhashShard(raw: MinhashShardInput): Promise<ArtifactRef> {
      const input = MinhashShardInput.parse(raw);
      const s = input.settings;
      return memoized(
        artifacts,
        { activity: 'minhashShard@1', inputs: [input.shard.sha256], config: { ...s }, seed: s.seed },
        input.cache,
        async () => {
          const rows = await readCommittedText(artifacts, input.shard);
          const hash = await loadShingleHash();
          const perms = minhashPermutations(s.numPerm, s.seed);
          const flat = new Int32Array(rows.ids.length * s.numPerm);
          rows.texts.forEach((text, i) => {
            const sh = shingleHashes(normalizeForShingles(text, s.stripPunctuation), s.ngram, hash, s.seed);
            flat.set(minhashSignature(sh, perms), i * s.numPerm);
          });
          const table = buildTable(
            MINHASH_SIGNATURES,
            { id: rows.ids, signature: { flat, size: s.numPerm } },
            { minhash: signatureMetadata(s) },
          );
          return {
            outputs: [
              {
                output: 'signatures',
                bytes: encodeParquet(table),
                kind: 'table',
                format: 'parquet',
                rows: rows.ids.length,
                schema: contractFingerprint(MINHASH_SIGNATURES),
              },
            ],
            result: (refs) => refs.signatures!,
          };
        },
      );
    },
  };
}
