// The baselines every distilled set is compared with (DESIGN.md §8): `ipc` random real images per
// class. Each student gets its OWN subset — deriveSeed(seed, 'random-real', student, class) — so the
// reported std is the spread over subsets (± several points at IPC 1), not over student inits on one
// lucky or unlucky subset. The soft-label baseline relabels exactly these images with the teacher the
// method uses (the caller's relabelling), so that labels and images are credited separately.
import { Rng, deriveSeed, sampleWithoutReplacement } from '../train/rng.js';

/**
 * Row indices of student `student`'s random real subset: `ipc` rows of each class drawn without
 * replacement, class-major within each slot (slot j holds the j-th draw of classes 0..K−1, the layout
 * of a distilled set). Throws a RangeError naming the class when one has fewer than `ipc` rows.
 */
export function randomRealRows(
  labels: Int32Array,
  classes: number,
  ipc: number,
  seed: number,
  student: number,
): Int32Array {
  const byClass: number[][] = Array.from({ length: classes }, () => []);
  labels.forEach((y, r) => {
    if (!(Number.isInteger(y) && y >= 0 && y < classes))
      throw new RangeError(`random real subset: row ${r} has label ${y}, expected 0..${classes - 1}`);
    byClass[y]!.push(r);
  });
  const out = new Int32Array(ipc * classes);
  byClass.forEach((rows, c) => {
    if (rows.length < ipc)
      throw new RangeError(`random real subset: class ${c} has ${rows.length} images, IPC is ${ipc}`);
    const pick = sampleWithoutReplacement(
      rows.length,
      ipc,
      new Rng(deriveSeed(seed, 'random-real', student, c)),
    );
    for (let j = 0; j < ipc; j++) out[j * classes + c] = rows[pick[j]!]!;
  });
  return out;
}

/** The rows `indices` of HWC pixels and labels (copies). */
export function gatherImageRows(
  pixels: Float32Array,
  labels: Int32Array,
  size: number,
  indices: ArrayLike<number>,
): { pixels: Float32Array; labels: Int32Array } {
  const out = new Float32Array(indices.length * size);
  const ys = new Int32Array(indices.length);
  for (let i = 0; i < indices.length; i++) {
    const r = indices[i]!;
    out.set(pixels.subarray(r * size, (r + 1) * size), i * size);
    ys[i] = labels[r]!;
  }
  return { pixels: out, labels: ys };
}
