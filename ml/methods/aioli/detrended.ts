// LearnParams that measures group interactions, not the loss trend (Aioli, Chen et al. 2024,
// arXiv:2411.05735, Algorithm 2; spec specs/mixing-aioli.md §5.2).
//
// The repo's `learn_params_subroutine` (HazyResearch/aioli a236112, trainer/aioli_trainer.py) trains
// k sweeps of the m smoothed one-hot mixtures q^(j), each sweep an independent random permutation,
// and credits each interval's sequential loss drop `previous − current` to the probed group j
// (β[:, j] += …, then β /= k, A[i, :] = W^{-1} β[i, :]). Every interval's drop is the mixture's
// effect PLUS the drop every group sees whatever it is trained on (the loss trend: warm-up, the LR
// schedule, the model still learning shared byte statistics). Early in training that trend is
// orders of magnitude larger than the interactions and it decays within a single LearnParams call,
// so the group probed first collects the largest drop: the column sums of A follow the probe order.
//
// This estimator keeps the repo's probes and their order — the same q^(j), k sweeps each an
// independent random permutation seeded per round, real training steps that are never rolled back,
// sequential measurements — and departs in the estimate only. Per evaluated group i, one
// least-squares fit over all k·m intervals of
//     drop_n[i] = (steps_n / s) · Σ_l a_il (q_n[l] − q_n[m−1])  +  τ_i(t_n),     Σ_l a_il = 0,
// where τ_i is a polynomial in the interval's time t_n (degree up to `maxTrendDegree`, lowered until
// the design identifies it). Each probe is thus differenced against the trend fitted through all
// intervals of the call (a smooth reference), not against the single interval before it; with k
// random orders the trend and the group contrasts are separable, which one fixed order would not be.
// Only mixture contrasts enter, so the fit returns A up to a constant per row: A_c = A − rowmean(A).
// That constant is the mixture-independent part of the linear law (Σ_j p_j = 1, so
// A·p = A_c·p + rowmean): it changes no column-sum difference and so no EGD step (p ∝ p·exp(η
// colsum) ignores a constant added to every column sum); what it did change is the repo
// normalisation Ā = A / ΣA, where a large trend constant shrinks every update towards nothing. A_c
// goes through the same normalisation (§5.3: shift by the most negative entry, divide by the sum).
// Mirrored sweep pairs (ABBA) were tried and rejected: they cancel a linear trend but make every
// even-degree trend term indistinguishable from the group effects, and warm-up trends are convex.
import { type Matrix, leastSquares } from './numerics.js';
import { assertFiniteVector, isPositiveInteger } from './lmo.js';

export interface ProbeInterval {
  trainedGroup: number;
  /** The shares actually trained on during the interval. */
  mixture: number[];
  steps: number;
  /** Every group's validation loss measured right after the interval. */
  losses: number[];
}

export interface DetrendedEstimate {
  /**
   * A_c per s steps, rows = evaluated group i (the order of the losses), columns = trained group j
   * (the order of the mixtures), each row summing to 0:
   * the mixture-dependent part of the linear law (A up to a constant per row).
   */
  aRaw: Matrix;
  /**
   * β[i][j], the mean trend-corrected drop of group i over the intervals that probed j, per s steps
   * (for logs and comparison with the repo's β; the fit does not use it).
   */
  beta: Matrix;
  /** The fitted trend of every evaluated group at every interval (drop per s steps). */
  trend: Matrix;
  /** Degree of the trend polynomial the fit used (0 = a constant per row). */
  trendDegree: number;
  /** Intervals minus fitted coefficients per row; > 0 means the residual averages noise. */
  residualDof: number;
}

/**
 * A_c from one LearnParams call: sequential drops fitted jointly with a smooth trend (see the file
 * header). Needs at least m intervals (a constant trend) and every group probed at least once;
 * lowers the trend degree until the design has full column rank.
 */
export function estimateInteractionsDetrended(
  initialLosses: readonly number[],
  intervals: readonly ProbeInterval[],
  options: { stepsPerInterval: number; maxTrendDegree?: number },
): DetrendedEstimate {
  // r evaluated groups (rows) need not be the m trained groups (columns): an objective may leave out
  // a group that is only trained on, and its row is then simply not measured.
  const r = initialLosses.length;
  const m = intervals[0]?.mixture.length ?? 0;
  const s = options.stepsPerInterval;
  if (m < 2) throw new Error(`LearnParams needs intervals over at least 2 trained groups, got ${m}`);
  if (!isPositiveInteger(s)) throw new Error(`stepsPerInterval must be a positive integer, got ${s}`);
  assertFiniteVector(initialLosses, r, 'LearnParams initialLosses');
  const drops: Matrix = [];
  const times: number[] = [];
  let previous = initialLosses;
  let clock = 0;
  const probed = new Array<number>(m).fill(0);
  intervals.forEach((iv, n) => {
    const where = `LearnParams interval ${n}`;
    if (!(Number.isInteger(iv.trainedGroup) && iv.trainedGroup >= 0 && iv.trainedGroup < m))
      throw new Error(`${where}: trainedGroup must be an integer in [0, ${m}), got ${iv.trainedGroup}`);
    if (!isPositiveInteger(iv.steps))
      throw new Error(`${where}: steps must be a positive integer, got ${iv.steps}`);
    assertFiniteVector(iv.mixture, m, `${where} mixture`);
    assertFiniteVector(iv.losses, r, `${where} losses`);
    // Drops per s steps, so intervals of other lengths enter on the same scale.
    drops.push(previous.map((v, i) => ((v - iv.losses[i]!) * s) / iv.steps));
    times.push(clock + iv.steps / 2);
    clock += iv.steps;
    probed[iv.trainedGroup]! += 1;
    previous = iv.losses;
  });
  const missing = probed.flatMap((c, j) => (c === 0 ? [j] : []));
  if (missing.length > 0)
    throw new Error(`LearnParams never probed group(s) ${missing.join(', ')}: every group needs an interval`);

  // Contrast regressors: a_il for l < m−1 multiply (q_l − q_{m−1}) once Σ_l a_il = 0 is imposed.
  const contrasts = intervals.map((iv) =>
    Array.from({ length: m - 1 }, (_, l) => iv.mixture[l]! - iv.mixture[m - 1]!),
  );
  // Time rescaled to [−1, 1] so the polynomial columns are on one scale.
  const half = clock / 2;
  const u = times.map((t) => (t - half) / half);
  const maxDegree = Math.min(options.maxTrendDegree ?? 2, intervals.length - m);
  for (let degree = maxDegree; degree >= 0; degree -= 1) {
    const design = contrasts.map((c, n) => [
      ...c,
      ...Array.from({ length: degree + 1 }, (_, d) => u[n]! ** d),
    ]);
    let coef: Matrix;
    try {
      coef = leastSquares(design, drops);
    } catch {
      continue; // the trend polynomial is confounded with the probe order: try a lower degree
    }
    if (!coef.flat().every(Number.isFinite) || illConditioned(design)) continue;
    const aRaw = Array.from({ length: r }, (_, i) => {
      const head = Array.from({ length: m - 1 }, (_, l) => coef[l]![i]!);
      return [...head, -head.reduce((a, b) => a + b, 0)];
    });
    const trend = Array.from({ length: r }, (_, i) =>
      design.map((row) => row.slice(m - 1).reduce((a, x, d) => a + x * coef[m - 1 + d]![i]!, 0)),
    );
    const beta = Array.from({ length: r }, (_, i) =>
      Array.from({ length: m }, (_, j) => {
        const ns = intervals.flatMap((iv, n) => (iv.trainedGroup === j ? [n] : []));
        return ns.reduce((a, n) => a + drops[n]![i]! - trend[i]![n]!, 0) / ns.length;
      }),
    );
    return { aRaw, beta, trend, trendDegree: degree, residualDof: intervals.length - (m + degree) };
  }
  throw new Error(
    `LearnParams: ${intervals.length} intervals over ${m} groups cannot separate the mixtures from a loss trend (need ≥ ${m + 1} intervals in an order that varies)`,
  );
}

/** Reject designs whose normal matrix is numerically near-singular (a confounded trend term). */
function illConditioned(design: Matrix): boolean {
  const p = design[0]!.length;
  const xtx = Array.from({ length: p }, (_, a) =>
    Array.from({ length: p }, (_, b) => design.reduce((s, row) => s + row[a]! * row[b]!, 0)),
  );
  // Smallest pivot of a Cholesky factorisation relative to the largest diagonal entry.
  const l: number[][] = Array.from({ length: p }, () => new Array<number>(p).fill(0));
  const scale = Math.max(...xtx.map((row, a) => row[a]!));
  for (let a = 0; a < p; a += 1) {
    let d = xtx[a]![a]!;
    for (let c = 0; c < a; c += 1) d -= l[a]![c]! ** 2;
    if (!(d > 1e-10 * scale)) return true;
    l[a]![a] = Math.sqrt(d);
    for (let b = a + 1; b < p; b += 1) {
      let v = xtx[b]![a]!;
      for (let c = 0; c < a; c += 1) v -= l[b]![c]! * l[a]![c]!;
      l[b]![a] = v / l[a]![a]!;
    }
  }
  return false;
}
