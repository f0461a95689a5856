// The run manifest: written last, the commit point of a pipeline run (DESIGN.md §3).
import type { ArtifactRef } from '../schemas/artifact.js';
import { type ArtifactStore, CODE_VERSION, sha256Hex } from '../storage/artifacts.js';
import { findManifestKey, manifestKey } from '../storage/run-keys.js';

export interface CommitManifestInput {
  workflowId: string;
  runId: string;
  /** The run chain's first run ID (survives continue-as-new); keys the manifest. Default: runId. */
  firstExecutionRunId?: string;
  workflowType: string;
  input: unknown;
  outputs: Record<string, unknown>;
}

export interface RunManifest extends CommitManifestInput {
  codeVersion: string;
  store: string;
  committedAt: string;
}

const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

export function createManifestActivities({ artifacts }: { artifacts: ArtifactStore }) {
  const store = artifacts.store;
  return {
    /**
     * Writes `runs/<key of workflowId>/<first run ID>/manifest.json`, create-if-absent: a retried
     * activity finds the manifest its first attempt wrote and returns it; nothing is replaced.
     */
    async commitManifest(input: CommitManifestInput): Promise<ArtifactRef> {
      const manifest: RunManifest = {
        ...input,
        codeVersion: CODE_VERSION,
        store: store.root,
        committedAt: new Date().toISOString(),
      };
      const key = manifestKey(input.workflowId, input.firstExecutionRunId ?? input.runId);
      let bytes: Uint8Array = new TextEncoder().encode(JSON.stringify(manifest, null, 2));
      const outcome = await store.put(key, bytes, { ifNoneMatch: true, contentType: 'application/json' });
      if (outcome === 'exists') bytes = await store.get(key);
      return {
        uri: store.uri(key),
        kind: 'report',
        format: 'json',
        sha256: sha256Hex(bytes),
        bytes: bytes.byteLength,
      };
    },

    /** Reads a run's manifest (the latest run's without `runId`; used by the client and tests). */
    async readManifest(workflowId: string, runId?: string): Promise<RunManifest | undefined> {
      const key = await findManifestKey(store, workflowId, runId);
      return key ? (JSON.parse(decode(await store.get(key))) as RunManifest) : undefined;
    },
  };
}
