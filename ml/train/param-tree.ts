// Parameters travel either as ONE flat tensor (the ConvNet: a trajectory row stores it as is) or as a
// named map of tensors (the LM: a checkpoint stores one entry per name). Optimizers and loops accept
// both through these few helpers. Map order is the insertion order the model's init produced, so
// iterating a map is deterministic and checkpoints serialise in a stable order.
import * as tf from '@tensorflow/tfjs-core';

export type NamedTensors = Record<string, tf.Tensor>;
export type ParamTree = tf.Tensor | NamedTensors;

/** Name used for the single leaf of a flat-tensor tree. */
export const FLAT_LEAF = '';

export function isFlat(tree: ParamTree): tree is tf.Tensor {
  return tree instanceof tf.Tensor;
}

/** Leaf names in stable order (`['']` for a flat tensor). */
export function leafNames(tree: ParamTree): string[] {
  return isFlat(tree) ? [FLAT_LEAF] : Object.keys(tree);
}

/** The leaf called `name`; throws with the name when it is missing. */
export function leaf(tree: ParamTree, name: string): tf.Tensor {
  if (isFlat(tree)) return tree;
  const t = tree[name];
  if (!t) throw new Error(`parameter "${name}" missing (have: ${Object.keys(tree).join(', ')})`);
  return t;
}

/** Leaves as a list, in `leafNames` order (the order `tf.grads` sees them). */
export function leaves(tree: ParamTree): tf.Tensor[] {
  return isFlat(tree) ? [tree] : Object.values(tree);
}

/** Rebuilds a tree shaped like `template` from leaves given in `leafNames(template)` order. */
export function fromLeaves<P extends ParamTree>(template: P, list: tf.Tensor[]): P {
  if (isFlat(template)) return list[0]! as P;
  const out: NamedTensors = {};
  Object.keys(template).forEach((name, i) => {
    out[name] = list[i]!;
  });
  return out as P;
}

/** Applies `fn(name, leafOfEachTree...)` leaf-wise over trees of the same structure. */
export function mapLeaves<P extends ParamTree>(
  trees: P[],
  fn: (name: string, ...xs: tf.Tensor[]) => tf.Tensor,
): P {
  const template = trees[0]!;
  return fromLeaves(
    template,
    leafNames(template).map((name) => fn(name, ...trees.map((t) => leaf(t, name)))),
  );
}

export function zerosLikeTree<P extends ParamTree>(tree: P): P {
  return mapLeaves([tree], (_n, x) => tf.zerosLike(x));
}

export function disposeTree(tree: ParamTree | null | undefined): void {
  if (tree) tf.dispose(leaves(tree));
}

/** Total number of scalars in the tree. */
export function treeSize(tree: ParamTree): number {
  return leaves(tree).reduce((n, t) => n + t.size, 0);
}
