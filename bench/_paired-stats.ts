// Statistics the multi-seed benches report: mean ± sample std per arm, and paired differences between
// arms run with the same seed (same initialisation, same data order) with a Student-t 95 % interval.

/** Two-sided 97.5 % quantiles of Student's t for 1..30 degrees of freedom (then the normal's 1.96). */
const T975 = [
  12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131,
  2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042,
];

export function studentT975(dof: number): number {
  if (!(Number.isInteger(dof) && dof >= 1)) throw new Error(`studentT975: dof must be ≥ 1, got ${dof}`);
  return T975[dof - 1] ?? 1.96;
}

const r4 = (x: number) => Number(x.toFixed(4));

export const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** Sample standard deviation (n − 1); 0 for fewer than two values. */
export const sampleStd = (xs: readonly number[]) =>
  xs.length < 2 ? 0 : Math.sqrt(xs.reduce((a, x) => a + (x - mean(xs)) ** 2, 0) / (xs.length - 1));

/** `{mean, std, per_seed}` of one arm's metric over seeds (rounded for the JSON report). */
export function armStats(perSeed: readonly number[]) {
  return { mean: r4(mean(perSeed)), std: r4(sampleStd(perSeed)), per_seed: perSeed.map(r4) };
}

/** The 95 % t-interval of the mean of `xs`; [mean, mean] for a single value (no spread to estimate). */
export function tInterval95(xs: readonly number[]): [number, number] {
  const m = mean(xs);
  if (xs.length < 2) return [m, m];
  const half = (studentT975(xs.length - 1) * sampleStd(xs)) / Math.sqrt(xs.length);
  return [m - half, m + half];
}

/**
 * Paired differences a − b per seed: mean, 95 % t-interval, and how many seeds `a` wins (lower is
 * better, as for perplexity and loss). Example: paired([9, 10], [10, 10.5]) → mean −0.75, wins 2 of 2.
 */
export function pairedDifference(a: readonly number[], b: readonly number[]) {
  if (a.length !== b.length || a.length === 0)
    throw new Error(`pairedDifference: need equal, non-empty seed lists, got ${a.length} and ${b.length}`);
  const d = a.map((x, i) => x - b[i]!);
  const [lo, hi] = tInterval95(d);
  return {
    mean: r4(mean(d)),
    ci95: [r4(lo), r4(hi)] as [number, number],
    wins: d.filter((x) => x < 0).length,
    of: d.length,
    per_seed: d.map(r4),
  };
}

/**
 * A direction check over seeds: `holds` is true when the mean difference has the expected sign and its
 * 95 % interval excludes the opposite sign, false when the interval lies wholly on the opposite side,
 * "inconclusive" otherwise. `expect` is the sign the claim predicts for the per-seed values.
 */
export function directionCheck(perSeed: readonly number[], expect: 'negative' | 'positive') {
  const [lo, hi] = tInterval95(perSeed);
  const m = mean(perSeed);
  const holds =
    perSeed.length < 2
      ? 'inconclusive'
      : expect === 'negative'
        ? m < 0 && hi < 0
          ? true
          : lo > 0
            ? false
            : 'inconclusive'
        : m > 0 && lo > 0
          ? true
          : hi < 0
            ? false
            : 'inconclusive';
  return {
    holds: holds as boolean | 'inconclusive',
    mean: r4(m),
    spread: { std: r4(sampleStd(perSeed)), ci95: [r4(lo), r4(hi)], per_seed: perSeed.map(r4) },
  };
}
