// curateCorpus I/O activities (queue `retort`): find a data partition under a prefix and its data
// files, read and advance a lineage's pointer (in partition order), and write the run report.
//
// What a partitioned prefix holds (`source.partitions`):
//   <prefix>/<partition>/<file>          partition = the first folder below the prefix, named as
//                                        schemas/curate.ts PartitionName (YYYY-MM-DD or YYYY-MM-DDTHH);
//                                        one granularity per prefix
//   …/<file>.parquet, …/<file>.jsonl     data, at any depth below the partition folder
//   any path segment starting with _ or . ignored: Hadoop/Spark markers (_SUCCESS, _temporary/,
//                                        _committed_*), checksum and editor files (.part-0.crc, .DS_Store)
//   a plain file directly under <prefix> ignored (a README, a top-level _SUCCESS)
// Anything else is refused rather than skipped, so no data file is silently left out: a folder that is
// not a partition name (InvalidPartitionName), a visible file that is neither Parquet nor JSONL
// (DatasetSchemaMismatch), a partition without data files (EmptyPartition).
import type { ArtifactRef } from '../schemas/artifact.js';
import {
  type LineageAdvance,
  LineageRecord,
  MAX_LISTED_PARTITIONS,
  type PartitionFiles,
  type PartitionInfo,
  isPartitionName,
} from '../schemas/curate.js';
import { MAX_SOURCE_SHARDS } from '../schemas/ingest.js';
import { type ArtifactStore, sha256Hex } from '../storage/artifacts.js';
import { RetortDataError, notFound } from '../storage/errors.js';
import type { ObjectStore } from '../storage/object-store.js';
import { resolveObject } from '../storage/open.js';
import { manifestKey } from '../storage/run-keys.js';

const DATA_FILE = /\.(parquet|jsonl)$/;
const hidden = (segment: string) => segment.startsWith('_') || segment.startsWith('.');
/** URI characters of one partition's shard list: it travels in the ingest child's input (≤ 64 KiB). */
const MAX_SHARD_URI_CHARS = 40_000;

export const lineageKey = (lineage: string) => `lineages/${lineage}/LATEST.json`;
/** Every partition a lineage has processed keeps its record: a backfill starts from the one before it. */
const partitionRecordPrefix = (lineage: string) => `lineages/${lineage}/partitions/`;
export const partitionRecordKey = (lineage: string, partition: string) =>
  `${partitionRecordPrefix(lineage)}${partition}.json`;

/** The store and key prefix a prefix URI names, confined to the allowed input roots. */
function prefixLocation(prefixUri: string, home: ObjectStore): { store: ObjectStore; prefix: string } {
  const { store, key } = resolveObject(prefixUri.replace(/\/+$/, ''), home, {
    field: 'source.partitions',
    prefix: true,
  });
  return { store, prefix: key ? `${key}/` : '' };
}

/**
 * The partitions under a prefix (rules at the top of this file), oldest first, each with its data
 * file keys sorted; a partition holding only ignored files maps to no keys. `where` names the prefix
 * in errors.
 */
export function partitionsOf(keys: readonly string[], prefix: string, where = prefix): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const key of keys) {
    const segments = key.slice(prefix.length).split('/');
    const [partition, ...path] = segments;
    if (path.length === 0 || hidden(partition!)) continue;
    if (!isPartitionName(partition!))
      throw new RetortDataError(
        'InvalidPartitionName',
        `folder "${partition}" under ${where} is not a partition name: expected YYYY-MM-DD or YYYY-MM-DDTHH (UTC; a leading _ or . hides a folder)`,
      );
    const files = out.get(partition!) ?? [];
    out.set(partition!, files);
    if (path.some(hidden)) continue;
    if (!DATA_FILE.test(key))
      throw new RetortDataError(
        'DatasetSchemaMismatch',
        `file ${key.slice(prefix.length)} under ${where} is neither Parquet (.parquet) nor JSONL (.jsonl); a leading _ or . marks a file that is not data`,
      );
    files.push(key);
  }
  const sorted = [...out.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const daily = sorted.find(([name]) => name.length === 10)?.[0];
  const hourly = sorted.find(([name]) => name.length === 13)?.[0];
  if (daily && hourly)
    throw new RetortDataError(
      'InvalidPartitionName',
      `${where} mixes daily and hourly partition names ("${daily}", "${hourly}"); use one granularity per prefix`,
    );
  return new Map(sorted.map(([name, files]) => [name, files.sort()]));
}

export function createCurateIoActivities({ artifacts }: { artifacts: ArtifactStore }) {
  const home = artifacts.store;

  async function listPartitions(prefix: string) {
    const { store, prefix: keyPrefix } = prefixLocation(prefix, home);
    const keys = (await store.list(keyPrefix)).map((o) => o.key);
    return { store, parts: partitionsOf(keys, keyPrefix, prefix) };
  }

  async function readRecord(key: string): Promise<LineageRecord | null> {
    if (!(await home.head(key))) return null;
    const raw: unknown = JSON.parse(new TextDecoder().decode(await home.get(key)));
    const parsed = LineageRecord.safeParse(raw);
    if (!parsed.success) {
      throw new RetortDataError(
        'CorruptDataset',
        `lineage pointer ${home.uri(key)}: ${parsed.error.issues[0]!.path.join('.')}: ${parsed.error.issues[0]!.message}`,
      );
    }
    return parsed.data;
  }

  return {
    /** Runs that predate whole partitions: the newest partition and its one data file. */
    async newestPartition({ prefix }: { prefix: string }): Promise<PartitionInfo> {
      const { store, parts } = await listPartitions(prefix);
      const names = [...parts.keys()];
      const newest = names.at(-1);
      if (!newest)
        throw notFound(
          `no partition under ${prefix}: expected <prefix>/<partition>/<file>.parquet or .jsonl`,
        );
      const files = parts.get(newest)!;
      if (files.length !== 1) {
        throw new RetortDataError(
          'DatasetSchemaMismatch',
          `partition "${newest}" under ${prefix} holds ${files.length} data files (${files.join(', ')}); curateCorpus ingests exactly one per partition`,
        );
      }
      return { partition: newest, uri: store.uri(files[0]!), partitions: names };
    },

    /** `partition` (else the newest) under `prefix` and all of its data files. */
    async resolvePartition({
      prefix,
      partition,
    }: {
      prefix: string;
      partition?: string;
    }): Promise<PartitionFiles> {
      const { store, parts } = await listPartitions(prefix);
      const names = [...parts.keys()];
      const chosen = partition ?? names.at(-1);
      if (!chosen)
        throw notFound(
          `no partition under ${prefix}: expected <prefix>/<YYYY-MM-DD>/<file>.parquet or .jsonl`,
        );
      const files = parts.get(chosen);
      if (!files)
        throw notFound(
          `partition "${chosen}" does not exist under ${prefix} (${names.length ? `${names.length} partitions, ${names[0]} to ${names.at(-1)}` : 'no partitions'})`,
        );
      if (files.length === 0)
        throw new RetortDataError(
          'EmptyPartition',
          `partition "${chosen}" under ${prefix} holds no data file (.parquet or .jsonl), only files starting with _ or .`,
        );
      const uris = files.map((k) => store.uri(k));
      const chars = uris.reduce((n, u) => n + u.length + 3, 0);
      if (uris.length > MAX_SOURCE_SHARDS || chars > MAX_SHARD_URI_CHARS)
        throw new RetortDataError(
          'DatasetTooLarge',
          `partition "${chosen}" under ${prefix} holds ${uris.length} data files (${chars} characters of URIs); one run reads at most ${MAX_SOURCE_SHARDS} files and ${MAX_SHARD_URI_CHARS} characters: compact it into fewer files`,
        );
      return {
        partition: chosen,
        uris,
        partitions: names.slice(-MAX_LISTED_PARTITIONS),
        partitionCount: names.length,
      };
    },

    /**
     * The lineage's latest run (null before its first), or with `before` the record of the newest
     * partition older than `before` that the lineage has processed (null if none): what a run on
     * partition `before` continues, so a backfill sees the model as it stood before its partition.
     */
    async readLineage({
      lineage,
      before,
    }: {
      lineage: string;
      before?: string;
    }): Promise<LineageRecord | null> {
      const latest = await readRecord(lineageKey(lineage));
      if (before === undefined) return latest;
      const prefix = partitionRecordPrefix(lineage);
      const older = (await home.list(prefix))
        .map((o) => o.key.slice(prefix.length).replace(/\.json$/, ''))
        .filter((name) => isPartitionName(name) && name < before)
        .sort()
        .at(-1);
      // A pointer written before per-partition records existed still counts for its partition.
      const latestOlder = latest && isPartitionName(latest.partition) && latest.partition < before;
      if (latestOlder && (older === undefined || latest.partition >= older)) return latest;
      return older === undefined ? null : readRecord(partitionRecordKey(lineage, older));
    },

    /**
     * Records this run for its partition, then points the lineage at it unless the pointer already
     * names a newer partition: the pointer only moves forward in partition order, so a late backfill
     * never moves it back. Written after the run's manifest (its commit point). Two runs finishing at
     * the same moment may both read the old pointer; the later write wins (object stores offer no
     * compare-and-swap on overwrite).
     */
    async advanceLineage(record: LineageRecord): Promise<LineageAdvance> {
      const body = new TextEncoder().encode(JSON.stringify(record, null, 2));
      const ordered = isPartitionName(record.partition);
      if (ordered)
        await home.put(partitionRecordKey(record.lineage, record.partition), body, {
          contentType: 'application/json',
        });
      const current = await readRecord(lineageKey(record.lineage));
      if (current && ordered && isPartitionName(current.partition) && record.partition < current.partition)
        return { advanced: false, latest: current.partition };
      await home.put(lineageKey(record.lineage), body, { contentType: 'application/json' });
      return { advanced: true, latest: record.partition };
    },

    /** The run report (JSON): what ran on which data, from which checkpoint, with which losses. */
    async writeCurateReport({
      workflowId,
      report,
    }: {
      workflowId: string;
      report: Record<string, unknown>;
    }): Promise<ArtifactRef> {
      const bytes = new TextEncoder().encode(JSON.stringify(report, null, 2));
      // Beside the run's manifest: the workflow puts its run identity into the report.
      const runId = String(report.firstExecutionRunId ?? report.runId ?? 'unknown-run');
      const key = manifestKey(workflowId, runId).replace(/manifest\.json$/, 'curate-report.json');
      await home.put(key, bytes, { contentType: 'application/json' });
      return {
        uri: home.uri(key),
        kind: 'report',
        format: 'json',
        sha256: sha256Hex(bytes),
        bytes: bytes.byteLength,
      };
    },
  };
}
