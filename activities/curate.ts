// curateCorpus I/O activities (queue `retort`): find the newest data partition under a prefix, read
// and advance a lineage's pointer to its latest checkpoint, and write the run report.
import type { ArtifactRef } from '../schemas/artifact.js';
import { LineageRecord, type PartitionInfo } from '../schemas/curate.js';
import { type ArtifactStore, sha256Hex } from '../storage/artifacts.js';
import { RetortDataError, notFound } from '../storage/errors.js';
import type { ObjectStore } from '../storage/object-store.js';
import { resolveObject } from '../storage/open.js';
import { manifestKey } from '../storage/run-keys.js';

const DATA_FILE = /\.(parquet|jsonl)$/;
export const lineageKey = (lineage: string) => `lineages/${lineage}/LATEST.json`;

/** The store and key prefix a prefix URI names, confined to the allowed input roots. */
function prefixLocation(prefixUri: string, home: ObjectStore): { store: ObjectStore; prefix: string } {
  const { store, key } = resolveObject(prefixUri.replace(/\/+$/, ''), home, {
    field: 'source.partitions',
    prefix: true,
  });
  return { store, prefix: key ? `${key}/` : '' };
}

/** Groups data files `<partition>/<file>` under a prefix by partition (first segment), sorted. */
export function partitionsOf(keys: readonly string[], prefix: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const key of keys) {
    const rest = key.slice(prefix.length);
    const slash = rest.indexOf('/');
    if (slash <= 0 || !DATA_FILE.test(rest)) continue;
    const partition = rest.slice(0, slash);
    out.set(partition, [...(out.get(partition) ?? []), key]);
  }
  return new Map([...out.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

export function createCurateIoActivities({ artifacts }: { artifacts: ArtifactStore }) {
  const home = artifacts.store;
  return {
    /** The greatest partition name under `prefix` (they sort by time) and its one data file. */
    async newestPartition({ prefix }: { prefix: string }): Promise<PartitionInfo> {
      const { store, prefix: keyPrefix } = prefixLocation(prefix, home);
      const parts = partitionsOf(
        (await store.list(keyPrefix)).map((o) => o.key),
        keyPrefix,
      );
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

    /** The lineage's latest run, or null before its first. */
    async readLineage({ lineage }: { lineage: string }): Promise<LineageRecord | null> {
      const key = lineageKey(lineage);
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
    },

    /** Points the lineage at this run's checkpoint (written after the run's manifest: its commit point). */
    async advanceLineage(record: LineageRecord): Promise<void> {
      await home.put(lineageKey(record.lineage), new TextEncoder().encode(JSON.stringify(record, null, 2)), {
        contentType: 'application/json',
      });
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
