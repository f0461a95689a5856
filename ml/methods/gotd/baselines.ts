// Distribution-matching baseline for GOT-D (specs/warmup-selection-gotd.md §7.3, §8): nearest
// neighbours of the target embeddings, the "looks like the target" selection GOT-D is compared with
// (the paper's TAPT/c kNN baseline, DV4LLM `TAPT/selection_new.py`, in its simplest form).
import { type EmbeddingTable, type RowId, mulberry32, validateEmbeddingTable } from './index.js';

/**
 * Reference matching baseline of spec §7.3: visit the target rows in a seeded random order, round
 * robin, each taking its nearest pool row (squared Euclidean) not yet taken, until `budget` rows are
 * taken; ties go to the earlier pool row. Returns pool ids in the order they were taken.
 */
export function nearestNeighbourMatching(
  target: EmbeddingTable,
  pool: EmbeddingTable,
  budget: number,
  seed: number,
): RowId[] {
  validateEmbeddingTable(target, 'target');
  validateEmbeddingTable(pool, 'pool');
  const n = target.ids.length;
  const N = pool.ids.length;
  const dim = target.dim;
  if (pool.dim !== dim) throw new Error(`target has dimension ${dim}, pool ${pool.dim}`);
  if (!Number.isInteger(budget) || budget < 1 || budget > N)
    throw new Error(`budget must be an integer in [1, ${N}], got ${budget}`);
  const order = Array.from({ length: n }, (_, k) => k);
  const rand = mulberry32(seed);
  for (let k = n - 1; k > 0; k--) {
    const r = Math.floor(rand() * (k + 1));
    [order[k], order[r]] = [order[r]!, order[k]!];
  }
  // Each target row's pool rows by (cost, position), computed when the row is first visited; a later
  // visit resumes after the rows it has already passed (those are taken and stay taken).
  const ranked = new Map<number, { rows: Int32Array; next: number }>();
  const rankedFor = (i: number) => {
    let r = ranked.get(i);
    if (!r) {
      const cost = new Float64Array(N);
      for (let j = 0; j < N; j++) {
        let c = 0;
        for (let d = 0; d < dim; d++)
          c += (target.embeddings[i * dim + d]! - pool.embeddings[j * dim + d]!) ** 2;
        cost[j] = c;
      }
      const rows = Int32Array.from({ length: N }, (_, j) => j).sort((p, q) => cost[p]! - cost[q]! || p - q);
      r = { rows, next: 0 };
      ranked.set(i, r);
    }
    return r;
  };
  const taken = new Uint8Array(N);
  const picked: RowId[] = [];
  for (let step = 0; picked.length < budget; step++) {
    const r = rankedFor(order[step % n]!);
    while (taken[r.rows[r.next]!]) r.next++;
    const best = r.rows[r.next]!;
    taken[best] = 1;
    picked.push(pool.ids[best]!);
  }
  return picked;
}
