// Trajectory-matching checkpoints: named typed arrays plus `retort` metadata (an expert's θ_e and
// velocity per epoch; the distillation state, its iteration and the distill log per chunk).
import * as tf from '@tensorflow/tfjs-core';
import { type DistillStateArrays } from '../../ml/methods/trajectory-matching/index.js';
import { type DistillLogRow } from '../../schemas/trajectory-matching.js';
import { canonicalJson, sha256Hex } from '../../storage/artifacts.js';
import { encodeRetortCheckpoint } from '../training-state.js';
import { incompatible } from '../failures.js';

/** Named Float32 tensors (+ JSON metadata) → tfjs ModelArtifacts for CheckpointStore. */
export async function encodeArrays(
  arrays: Record<string, Float32Array | Int32Array>,
  meta: object,
): Promise<tf.io.ModelArtifacts> {
  const tensors = Object.entries(arrays).map(([name, a]) => ({
    name,
    tensor: a instanceof Int32Array ? tf.tensor1d(a, 'int32') : tf.tensor1d(a, 'float32'),
  }));
  try {
    return await encodeRetortCheckpoint(tensors, meta);
  } finally {
    tf.dispose(tensors.map((t) => t.tensor));
  }
}

/** ModelArtifacts → named typed arrays + the `retort` metadata, typed `M` as the caller wrote it. */
export function decodeArrays<M = Record<string, unknown>>(
  art: tf.io.ModelArtifacts,
  where: string,
): { arrays: Record<string, Float32Array | Int32Array>; meta: M } {
  const meta = (art.userDefinedMetadata as { retort?: Record<string, unknown> } | undefined)?.retort;
  if (!meta || !art.weightData || !art.weightSpecs)
    throw incompatible(`checkpoint ${where} has no retort metadata or weights`);
  const tensors = tf.io.decodeWeights(art.weightData, art.weightSpecs);
  const arrays: Record<string, Float32Array | Int32Array> = {};
  for (const [name, t] of Object.entries(tensors)) {
    arrays[name] = t.dataSync().slice() as Float32Array | Int32Array;
    t.dispose();
  }
  return { arrays, meta: meta as M };
}

export const identityHash = (value: unknown) => sha256Hex(canonicalJson(value));

export const CHECKPOINT_VERSION = 1;

export interface DistillCheckpointMeta {
  version: number;
  kind: 'distill';
  identity: string;
  iteration: number;
  log: DistillLogRow[];
}

export function stateArrays(a: DistillStateArrays): Record<string, Float32Array | Int32Array> {
  const out: Record<string, Float32Array | Int32Array> = {
    pixels: a.pixels,
    classes: a.classes,
    syn_lr: Float32Array.of(a.synLr),
    'velocity/pixels': a.velocity.pixels,
    'velocity/syn_lr': Float32Array.of(a.velocity.synLr),
  };
  if (a.labelLogits) out.label_logits = a.labelLogits;
  if (a.velocity.labelLogits) out['velocity/label_logits'] = a.velocity.labelLogits;
  return out;
}

export function arraysToState(
  arrays: Record<string, Float32Array | Int32Array>,
  iteration: number,
  where: string,
): DistillStateArrays {
  const f = (name: string): Float32Array => {
    const a = arrays[name];
    if (!(a instanceof Float32Array)) throw incompatible(`checkpoint ${where}: tensor "${name}" is missing`);
    return a;
  };
  const classes = arrays.classes;
  if (!(classes instanceof Int32Array))
    throw incompatible(`checkpoint ${where}: tensor "classes" is missing`);
  return {
    pixels: f('pixels'),
    classes,
    labelLogits: arrays.label_logits ? f('label_logits') : null,
    synLr: f('syn_lr')[0]!,
    velocity: {
      pixels: f('velocity/pixels'),
      labelLogits: arrays['velocity/label_logits'] ? f('velocity/label_logits') : null,
      synLr: f('velocity/syn_lr')[0]!,
    },
    iteration,
  };
}
