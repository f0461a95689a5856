// Memoized, all-or-nothing artifact production for activities (DESIGN.md §3).
import type { ArtifactRef } from '../schemas/artifact.js';
import { type ArtifactIdentity, type ArtifactStore, artifactKey } from '../storage/artifacts.js';

export interface PendingArtifact {
  output: string;
  bytes: Uint8Array;
  kind: ArtifactRef['kind'];
  format: ArtifactRef['format'];
  rows?: number;
  schema?: string;
}

/**
 * Runs `compute` unless a result with the same identity is committed, with all its outputs still
 * in the store (and `cache` is on).
 * `compute` returns every output's bytes before anything is written, so a failure leaves no
 * artifact behind; the activity's JSON result is committed last and is what a later call finds.
 */
export async function memoized<R>(
  artifacts: ArtifactStore,
  identity: Omit<ArtifactIdentity, 'output'>,
  cache: boolean,
  compute: () => Promise<{ outputs: PendingArtifact[]; result: (refs: Record<string, ArtifactRef>) => R }>,
): Promise<R> {
  const resultKey = artifactKey('report', 'json', { ...identity, output: '__result__' });
  if (cache) {
    const hit = await artifacts.lookup(resultKey);
    if (hit) {
      const value = JSON.parse(new TextDecoder().decode(await artifacts.read(hit))) as R;
      // A hit counts only if every output it names is still there with its recorded size;
      // otherwise (retention, a lifecycle rule, a manual delete) the work is done again.
      const missing = await artifacts.missingRefs(value);
      if (missing.length === 0) return value;
      // A truncated output would otherwise be kept by the create-if-absent commit below.
      for (const key of [...missing, resultKey]) await artifacts.forget(key);
    }
  }
  const { outputs, result } = await compute();
  const refs: Record<string, ArtifactRef> = {};
  for (const o of outputs) {
    const key = artifactKey(o.kind, o.format, { ...identity, output: o.output });
    refs[o.output] = await artifacts.commit(key, o.bytes, {
      kind: o.kind,
      format: o.format,
      ...(o.rows !== undefined ? { rows: o.rows } : {}),
      ...(o.schema !== undefined ? { schema: o.schema } : {}),
    });
  }
  const value = result(refs);
  await artifacts.commit(
    resultKey,
    new TextEncoder().encode(JSON.stringify(value)),
    { kind: 'report', format: 'json' },
    { memoEntry: true },
  );
  return value;
}
