// Ingest activities (queue `retort`): text corpus → deterministic splits → byte-level windows.
import type { Table } from 'apache-arrow';
import { z } from 'zod';
import { type ArtifactRef } from '../schemas/artifact.js';
import { type GroupCounts, SPLITS, type Split, SplitRefs, TextSource } from '../schemas/ingest.js';
import { GROUP_STATS, TEXT_CORPUS, TOKEN_WINDOWS, contractFingerprint } from '../schemas/tables.js';
import type { TextCorpusRow } from '../schemas/tables.js';
import { buildTable } from '../storage/arrow-tables.js';
import { type ArtifactStore, sha256Hex } from '../storage/artifacts.js';
import { decodeValidated, encodeParquet } from '../storage/parquet.js';
import { RetortDataError } from '../storage/errors.js';
import { type PendingArtifact, memoized } from './memo.js';
import {
  builtinIdentity,
  loadBuiltin,
  rowsFromTable,
  rowsFromUserFile,
  splitCorpus,
  tokenizeWindows,
} from './text-corpus.js';

export const IngestTextCorpusInput = z.object({
  source: TextSource,
  maxBytesPerGroup: z.number().int().positive(),
  passageBytes: z.number().int().positive(),
  split: z.object({ val: z.number(), test: z.number() }),
  seed: z.number().int(),
  cache: z.boolean().default(true),
});
export type IngestTextCorpusInput = z.input<typeof IngestTextCorpusInput>;

export interface IngestTextCorpusResult {
  corpus: SplitRefs;
  groups: GroupCounts[];
}

export const TokenizeCorpusInput = z.object({
  corpus: SplitRefs,
  ctx: z.number().int().min(2),
  cache: z.boolean().default(true),
});
export type TokenizeCorpusInput = z.input<typeof TokenizeCorpusInput>;
export interface TokenizeCorpusResult {
  windows: SplitRefs;
  stats: ArtifactRef;
  groups: GroupCounts[];
}

function corpusTableBytes(rows: readonly TextCorpusRow[]): Uint8Array {
  return encodeParquet(
    buildTable(TEXT_CORPUS, {
      id: rows.map((r) => r.id),
      group: rows.map((r) => r.group),
      text: rows.map((r) => r.text),
      source: rows.map((r) => r.source),
    }),
  );
}

function countGroups(splits: Record<Split, readonly TextCorpusRow[]>): GroupCounts[] {
  const groups = [...new Set(SPLITS.flatMap((s) => splits[s].map((r) => r.group)))].sort();
  return groups.map((group) => {
    const passages = { train: 0, val: 0, test: 0 };
    const bytes = { train: 0, val: 0, test: 0 };
    for (const s of SPLITS) {
      for (const r of splits[s]) {
        if (r.group !== group) continue;
        passages[s] += 1;
        bytes[s] += Buffer.byteLength(r.text, 'utf8');
      }
    }
    return { group, passages, bytes };
  });
}

export function createIngestActivities({ artifacts }: { artifacts: ArtifactStore }) {
  async function readUserCorpus(uri: string, format: 'parquet' | 'jsonl' | undefined, field = 'source.uri') {
    const bytes = await artifacts.readUri(uri, field);
    const rows = rowsFromUserFile(bytes, uri, format);
    return { rows, identity: `${uri}#sha256=${sha256Hex(bytes)}` };
  }

  /**
   * The shards of one corpus, in order, as one list of rows; each shard's identity is an input of the
   * artifact. An id in two shards is refused naming both files (the split keys passages by id).
   */
  async function readShards(uris: readonly string[]) {
    const rows: TextCorpusRow[] = [];
    const identities: string[] = [];
    const firstSeen = new Map<string, string>();
    for (const [i, uri] of uris.entries()) {
      const shard = await readUserCorpus(uri, undefined, `source.shards[${i}]`);
      for (const r of shard.rows) {
        const other = firstSeen.get(r.id);
        if (other !== undefined)
          throw new RetortDataError(
            'DatasetSchemaMismatch',
            `corpus id "${r.id}" in ${uri} also occurs in ${other === uri ? 'the same file' : other}; ids must be unique across the shards`,
          );
        firstSeen.set(r.id, uri);
      }
      rows.push(...shard.rows);
      identities.push(shard.identity);
    }
    return { rows, identities };
  }

  return {
    /** Loads builtin groups or a user corpus, splits it deterministically, writes one table per split. */
    async ingestTextCorpus(raw: IngestTextCorpusInput): Promise<IngestTextCorpusResult> {
      const input = IngestTextCorpusInput.parse(raw);
      const source = input.source;
      // Identity of the inputs without reading user data twice: builtin package versions, or the
      // user object's hash (read once here; the rows are reused below if we have to compute).
      let loaded: { rows: TextCorpusRow[]; identity: string } | undefined;
      let inputs: string[];
      if ('builtin' in source) {
        inputs = [...new Set(source.builtin)].sort().map(builtinIdentity);
      } else if ('shards' in source) {
        const shards = await readShards(source.shards);
        loaded = { rows: shards.rows, identity: shards.identities.join('\n') };
        inputs = shards.identities;
      } else {
        loaded = await readUserCorpus(source.uri, source.format);
        inputs = [loaded.identity];
      }
      const config = {
        source: 'builtin' in source ? { builtin: [...new Set(source.builtin)].sort() } : { user: true },
        maxBytesPerGroup: input.maxBytesPerGroup,
        passageBytes: input.passageBytes,
        split: input.split,
      };
      return memoized(
        artifacts,
        { activity: 'ingestTextCorpus@1', inputs, config, seed: input.seed },
        input.cache,
        async () => {
          const rows = loaded?.rows ?? loadBuiltin('builtin' in source ? source.builtin : []);
          const splits = splitCorpus(rows, {
            seed: input.seed,
            maxBytesPerGroup: input.maxBytesPerGroup,
            passageBytes: input.passageBytes,
            ...input.split,
          });
          for (const s of SPLITS) {
            if (splits[s].length === 0 && (s === 'train' || input.split[s] > 0)) {
              throw new RetortDataError(
                'EmptyDataset',
                `split "${s}" of the corpus has no documents (raise maxBytesPerGroup or the split fraction)`,
              );
            }
          }
          const outputs: PendingArtifact[] = SPLITS.map((s) => ({
            output: s,
            bytes: corpusTableBytes(splits[s]),
            kind: 'table',
            format: 'parquet',
            rows: splits[s].length,
            schema: contractFingerprint(TEXT_CORPUS),
          }));
          const groups = countGroups(splits);
          return {
            outputs,
            result: (refs) => ({ corpus: { train: refs.train!, val: refs.val!, test: refs.test! }, groups }),
          };
        },
      );
    },

    /** Cuts each corpus split into byte-level windows of `ctx` tokens and writes per-group stats. */
    async tokenizeCorpus(raw: TokenizeCorpusInput): Promise<TokenizeCorpusResult> {
      const input = TokenizeCorpusInput.parse(raw);
      const inputs = SPLITS.map((s) => input.corpus[s].sha256);
      return memoized(
        artifacts,
        { activity: 'tokenizeCorpus@1', inputs, config: { ctx: input.ctx } },
        input.cache,
        async () => {
          const splits = {} as Record<Split, TextCorpusRow[]>;
          for (const s of SPLITS) {
            const ref = input.corpus[s];
            const table: Table = decodeValidated(await artifacts.read(ref), ref.uri, TEXT_CORPUS, {
              allowEmpty: true,
            });
            splits[s] = rowsFromTable(table, ref.uri);
          }
          const groups = countGroups(splits).map((g) => ({ ...g, windows: { train: 0, val: 0, test: 0 } }));
          const outputs: PendingArtifact[] = [];
          for (const s of SPLITS) {
            const w = tokenizeWindows(splits[s], input.ctx, s);
            for (const g of w.groups) groups.find((x) => x.group === g)!.windows[s] += 1;
            const table = buildTable(
              TOKEN_WINDOWS,
              { id: w.ids, group: w.groups, input_ids: { flat: w.flat, size: input.ctx } },
              { ctx: String(input.ctx) },
            );
            outputs.push({
              output: s,
              bytes: encodeParquet(table),
              kind: 'table',
              format: 'parquet',
              rows: w.ids.length,
              schema: contractFingerprint(TOKEN_WINDOWS),
            });
          }
          const statRows = groups.flatMap((g) => SPLITS.map((s) => ({ g, s })));
          const stats = buildTable(GROUP_STATS, {
            group: statRows.map(({ g }) => g.group),
            split: statRows.map(({ s }) => s),
            passages: BigInt64Array.from(statRows.map(({ g, s }) => BigInt(g.passages[s]))),
            bytes: BigInt64Array.from(statRows.map(({ g, s }) => BigInt(g.bytes[s]))),
            windows: BigInt64Array.from(statRows.map(({ g, s }) => BigInt(g.windows[s]))),
          });
          outputs.push({
            output: 'stats',
            bytes: encodeParquet(stats),
            kind: 'table',
            format: 'parquet',
            rows: statRows.length,
            schema: contractFingerprint(GROUP_STATS),
          });
          return {
            outputs,
            result: (refs) => ({
              windows: { train: refs.train!, val: refs.val!, test: refs.test! },
              stats: refs.stats!,
              groups,
            }),
          };
        },
      );
    },
  };
}
