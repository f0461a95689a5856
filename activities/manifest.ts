// The run manifest: written last, the commit point of a pipeline run (DESIGN.md §3).
import type { ArtifactRef } from '../schemas/artifact.js';
import { type ArtifactStore, CODE_VERSION, manifestKey, sha256Hex } from '../storage/artifacts.js';

export interface CommitManifestInput {
  workflowId: string;
  runId: string;
  workflowType: string;
  input: unknown;
  outputs: Record<string, unknown>;
}

export interface RunManifest extends CommitManifestInput {
  codeVersion: string;
  store: string;
  committedAt: string;
}

export function createManifestActivities({ artifacts }: { artifacts: ArtifactStore }) {
  return {
    /** Writes `runs/<workflowId>/manifest.json`; a rerun of the same workflow ID replaces it. */
    async commitManifest(input: CommitManifestInput): Promise<ArtifactRef> {
      const manifest: RunManifest = {
        ...input,
        codeVersion: CODE_VERSION,
        store: artifacts.store.root,
        committedAt: new Date().toISOString(),
      };
      const bytes = new TextEncoder().encode(JSON.stringify(manifest, null, 2));
      const key = manifestKey(input.workflowId);
      await artifacts.store.put(key, bytes, { contentType: 'application/json' });
      return {
        uri: artifacts.store.uri(key),
        kind: 'report',
        format: 'json',
        sha256: sha256Hex(bytes),
        bytes: bytes.byteLength,
      };
    },

    /** Reads a run's manifest (used by the client, schedules and tests). */
    async readManifest(workflowId: string): Promise<RunManifest | undefined> {
      const key = manifestKey(workflowId);
      if (!(await artifacts.store.head(key))) return undefined;
      return JSON.parse(new TextDecoder().decode(await artifacts.store.get(key))) as RunManifest;
    },
  };
}
