// CV-DD checkpoints: named tensors plus JSON metadata under `retort.cvdd` (a member's parameters,
// BN buffers and optimizer state per epoch; a slot's images and Adam moments per recovery chunk).
import * as tf from '@tensorflow/tfjs-core';
import type { NamedTensors } from '../../ml/train/param-tree.js';
import { encodeRetortCheckpoint } from '../training-state.js';
import { incompatible } from '../failures.js';

export async function encodeCheckpoint(
  tensors: NamedTensors,
  meta: MemberMeta | SlotMeta,
): Promise<tf.io.ModelArtifacts> {
  const named = Object.entries(tensors)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, tensor]) => ({ name, tensor }));
  return encodeRetortCheckpoint(named, { cvdd: meta });
}

export function decodeCheckpoint<M>(
  art: tf.io.ModelArtifacts,
  where: string,
  kind: string,
): { tensors: NamedTensors; meta: M } {
  const meta = (art.userDefinedMetadata as { retort?: { cvdd?: M & { kind?: string } } } | undefined)?.retort
    ?.cvdd;
  if (!meta || meta.kind !== kind || !art.weightData || !art.weightSpecs)
    throw incompatible(`checkpoint ${where} is not a CV-DD ${kind} checkpoint`);
  return { tensors: tf.io.decodeWeights(art.weightData, art.weightSpecs), meta };
}

export interface MemberMeta {
  kind: 'member';
  id: string;
  epoch: number;
  step: number;
  optimizerStep: number;
  layers: number;
  valAcc: number | null;
  identity: string;
}

export interface SlotMeta {
  kind: 'slot';
  slot: number;
  iteration: number;
  adamStep: number;
  labels: number[];
  voters: number[];
  weights: number[];
  seed: number;
  last: { loss: number; ce: number[]; bn: number[] } | null;
  identity: string;
}

export const memberRunKey = (runKey: string, index: number) => `${runKey}.member-${index}`;
export const slotRunKey = (runKey: string, slot: number) => `${runKey}.slot-${slot}`;
