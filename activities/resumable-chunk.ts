// The resume protocol of a chunked, checkpointed activity (DESIGN.md §3 "Checkpoints"): a chunk of
// steps [from, target) of one training run (`runKey`) first looks for a committed checkpoint at
// `target` (a retry after the commit, or a repeat of the same run: reuse it), then for a LATEST
// pointer strictly inside the chunk (a crashed attempt's progress: resume there); otherwise the
// caller starts from its own input. `load` decodes a checkpoint and throws `incompatible` when it
// belongs to another run (its identity differs), so a reused runKey never mixes two runs.
import type * as tf from '@tensorflow/tfjs-core';
import type { ArtifactRef } from '../schemas/artifact.js';
import type { CheckpointStore } from '../storage/checkpoints.js';

export type ChunkStart<T> =
  | { kind: 'done'; ref: ArtifactRef; value: T }
  | { kind: 'resume'; ref: ArtifactRef; step: number; value: T }
  | { kind: 'fresh' };

export async function findChunkStart<T>(opts: {
  checkpoints: CheckpointStore;
  runKey: string;
  from: number;
  target: number;
  load: (ref: ArtifactRef) => Promise<T>;
  /** Treat an unreadable LATEST pointer as absent (start from the input) instead of failing. */
  tolerateBadLatest?: boolean;
}): Promise<ChunkStart<T>> {
  const { checkpoints, runKey, from, target, load } = opts;
  const done = await checkpoints.find(runKey, target);
  if (done) return { kind: 'done', ref: done, value: await load(done) };
  const latest = opts.tolerateBadLatest
    ? await checkpoints.readLatest(runKey).catch(() => undefined)
    : await checkpoints.readLatest(runKey);
  if (latest && latest.step > from && latest.step < target)
    return {
      kind: 'resume',
      ref: latest.checkpoint,
      step: latest.step,
      value: await load(latest.checkpoint),
    };
  return { kind: 'fresh' };
}

/** Commits a checkpoint of `step` and moves LATEST to it (LATEST never moves backwards). */
export async function saveCheckpoint(
  checkpoints: CheckpointStore,
  runKey: string,
  step: number,
  artifacts: tf.io.ModelArtifacts,
): Promise<ArtifactRef> {
  const ref = await checkpoints.save(runKey, step, artifacts);
  await checkpoints.advanceLatest(runKey, step, ref);
  return ref;
}
