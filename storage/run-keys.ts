// Where a run's files live in the store: `runs/<key of workflowId>/<runId>/…` (DESIGN.md §3).
// The workflow-ID key must be injective — `a/b` and `a_b` are different runs and must not share a
// manifest — and readable in a file browser, so it is a sanitised prefix plus a hash of the whole ID.
import { createHash } from 'node:crypto';
import type { ObjectStore } from './object-store.js';

/** Longest readable prefix kept from a workflow ID (the hash keeps long IDs apart). */
const READABLE_CHARS = 80;

/** `<readable prefix>~<sha256 of the workflow ID, 32 hex>`: distinct IDs give distinct keys. */
export function workflowKey(workflowId: string): string {
  const readable = workflowId
    .slice(0, READABLE_CHARS)
    .replace(/[^A-Za-z0-9._-]/g, '_')
    .replace(/^\.+/, '_');
  const hash = createHash('sha256').update(workflowId, 'utf8').digest('hex').slice(0, 32);
  return `${readable || '_'}~${hash}`;
}

/** Everything written for one workflow ID, across its runs. */
export const runsPrefix = (workflowId: string) => `runs/${workflowKey(workflowId)}/`;

/**
 * `runs/<key>/<runId>/manifest.json`. `runId` is the run chain's first execution run ID (what a
 * client gets back when it starts the workflow; it survives continue-as-new).
 */
export function manifestKey(workflowId: string, runId: string): string {
  if (!/^[A-Za-z0-9-]{1,64}$/.test(runId)) throw new Error(`run ID "${runId}" is not a Temporal run ID`);
  return `${runsPrefix(workflowId)}${runId}/manifest.json`;
}

/** The keys of every manifest committed for `workflowId`, oldest run first (by commit time). */
export async function manifestKeys(store: ObjectStore, workflowId: string): Promise<string[]> {
  const keys = (await store.list(runsPrefix(workflowId)))
    .map((o) => o.key)
    .filter((k) => k.endsWith('/manifest.json'));
  const stamped = await Promise.all(
    keys.map(async (key) => {
      const m = JSON.parse(new TextDecoder().decode(await store.get(key))) as { committedAt?: string };
      return { key, at: m.committedAt ?? '' };
    }),
  );
  return stamped.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0)).map((s) => s.key);
}

/** The latest run's manifest key for `workflowId` (or for its run `runId`), if one is committed. */
export async function findManifestKey(
  store: ObjectStore,
  workflowId: string,
  runId?: string,
): Promise<string | undefined> {
  if (runId) {
    const key = manifestKey(workflowId, runId);
    return (await store.head(key)) ? key : undefined;
  }
  return (await manifestKeys(store, workflowId)).at(-1);
}
