// The one mean ± std of every distillation figure (DESIGN.md §8 "one convention"): the SAMPLE standard
// deviation, Σ(x − x̄)² / (n − 1) (Bessel's correction; numpy `std(ddof=1)`, pandas' default), because
// students and random subsets are a sample of what the method would give on other seeds. One value has
// std 0 (not NaN), so a single-student smoke run still prints a number.
export interface MeanStd {
  mean: number;
  /** Sample standard deviation (n − 1); 0 for n = 1. */
  std: number;
  n: number;
}

export const STD_CONVENTION = 'sample std (n - 1) over students/subsets';

export function meanStd(values: readonly number[]): MeanStd {
  const n = values.length;
  if (n === 0) throw new RangeError('meanStd: no values');
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const ss = values.reduce((a, b) => a + (b - mean) ** 2, 0);
  return { mean, std: n > 1 ? Math.sqrt(ss / (n - 1)) : 0, n };
}
