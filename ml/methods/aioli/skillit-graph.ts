// Skill-It's skills graph learned from short one-hot runs (Chen et al., "Skill-It! A Data-Driven
// Skills Framework", 2023; read through Aioli's LMO framework, specs/mixing-aioli.md §3 table):
// A^SG_ij = relative drop of evaluated group i's validation loss after training only on group j,
// from the same starting model. Orientation is the LMO one (rows evaluated, columns trained); the
// repo stores the transpose (`skillItGraphFromRepo`).
import type { Matrix } from './numerics.js';

/**
 * `initial[i]`: every group's loss before; `after[j][i]`: group i's loss after training only on j.
 * Example: initial [2, 2], after [[1, 2], [2, 1.5]] → [[0.5, 0], [0, 0.25]].
 */
export function skillItGraphFromOneHotRuns(
  initial: readonly number[],
  after: readonly (readonly number[])[],
): Matrix {
  const m = initial.length;
  if (after.length !== m || after.some((row) => row.length !== m))
    throw new Error(`skillItGraphFromOneHotRuns: need ${m} runs of ${m} losses, got ${after.length}`);
  if (!initial.every((l) => Number.isFinite(l) && l > 0) || !after.flat().every(Number.isFinite))
    throw new Error('skillItGraphFromOneHotRuns: losses must be finite and the initial ones > 0');
  return initial.map((l0, i) => after.map((run) => (l0 - run[i]!) / l0));
}
