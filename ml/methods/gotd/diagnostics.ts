// GOT-D's diagnostics around a selection (specs/warmup-selection-gotd.md): the optional domain screen
// (§4.2; paper App. C.2/D.2) and the OT distance before and after adding the selection (Theorem 1's
// quantity, Eq. 4). The selection itself is in index.ts.
import {
  type EmbeddingTable,
  type GotdSolverConfig,
  type RowId,
  type SolveStats,
  formatId,
  resolveEpsilon,
  scoreShard,
  tableName,
  validatePair,
} from './index.js';

// ---------------------------------------------------------------------------------------------------
// Optional domain screen (spec §4.2; paper App. C.2/D.2): keep the domains closest to the target.

export interface DomainRelevance {
  domain: string;
  nSampled: number;
  /** Entropic OT cost (dual objective, ott-jax's reg_ot_cost) between the target and the sample. */
  otCost: number;
  transportCost: number;
  converged: boolean;
  kept: boolean;
}

/** Repo settings for the screen: ε 0.5, ω 1.2, marginal error ≤ 0.05. */
export const DOMAIN_SCREEN_DEFAULTS = { epsilon: 0.5, omega: 1.2, tol: 0.05 } as const;

/**
 * Solves OT(target, sample_r) for each domain's (already drawn, equal-sized) sample and keeps the
 * `keep` domains with the smallest cost; ties by domain name. Costs of samples of different sizes
 * are not comparable (the entropic term depends on the sample size).
 */
export function screenDomains(
  target: EmbeddingTable,
  samples: Readonly<Record<string, EmbeddingTable>>,
  options: { keep: number } & Partial<GotdSolverConfig>,
): DomainRelevance[] {
  const domains = Object.keys(samples);
  if (domains.length === 0) throw new Error('screenDomains: no domain samples given');
  if (!Number.isInteger(options.keep) || options.keep < 1 || options.keep > domains.length) {
    throw new Error(`screenDomains: keep must be an integer in [1, ${domains.length}], got ${options.keep}`);
  }
  const solver = { ...DOMAIN_SCREEN_DEFAULTS, ...options };
  const rows = domains.map((domain) => {
    const sample = samples[domain]!;
    const stats = scoreShard(target, { ...sample, name: sample.name ?? `domain ${domain}` }, solver).stats;
    return {
      domain,
      nSampled: stats.nCandidates,
      otCost: stats.dualObjective,
      transportCost: stats.transportCost,
      converged: stats.converged,
    };
  });
  const kept = new Set(
    [...rows]
      .sort((p, q) => p.otCost - q.otCost || (p.domain < q.domain ? -1 : 1))
      .slice(0, options.keep)
      .map((r) => r.domain),
  );
  return rows.map((r) => ({ ...r, kept: kept.has(r.domain) }));
}

// ---------------------------------------------------------------------------------------------------
// Summary: the OT distance before and after adding the selection (Theorem 1's quantity).

export interface OtCostChange {
  /** OT(D_S, D_R) (dual objective ⟨a,f⟩ + ⟨b,g⟩, i.e. the entropic OT cost). */
  before: number;
  /** OT(λ·D_U + (1−λ)·D_S, D_R). */
  after: number;
  lambda: number;
  /** First-order prediction of after − before: λ·⟨D_U − D_S, g⟩ (Eq. 4). */
  firstOrderDelta: number;
  transportCostBefore: number;
  transportCostAfter: number;
  statsBefore: SolveStats;
  statsAfter: SolveStats;
}

/**
 * Re-solves OT against the pool with the selected rows' mass raised: pool weights
 * (1−λ)/N + λ/K on the K selected ids. λ defaults to K/(N+K), i.e. the selection added to the pool
 * once more. Selected ids are looked up by id; an id absent from the pool is an error.
 */
export function otCostWithSelection(
  target: EmbeddingTable,
  pool: EmbeddingTable,
  selectedIds: readonly RowId[],
  config: Partial<GotdSolverConfig> & { lambda?: number } = {},
): OtCostChange {
  validatePair(target, pool);
  const N = pool.ids.length;
  const K = selectedIds.length;
  if (K === 0) throw new Error('otCostWithSelection: the selection is empty');
  const lambda = config.lambda ?? K / (N + K);
  if (!(lambda > 0 && lambda < 1)) throw new Error(`lambda must lie in (0, 1), got ${lambda}`);
  const position = new Map<RowId, number>();
  pool.ids.forEach((id, row) => position.set(id, row));
  const inSelection = new Uint8Array(N);
  for (const id of selectedIds) {
    const row = position.get(id);
    if (row === undefined)
      throw new Error(`selection id ${formatId(id)} is not in "${tableName(pool, 'pool')}"`);
    if (inSelection[row]) throw new Error(`selection id ${formatId(id)} is listed twice`);
    inSelection[row] = 1;
  }
  const solver = { ...config, epsilon: resolveEpsilon(target, pool, config), relativeEpsilon: false };
  const before = scoreShard(target, pool, solver);
  const weights = Float64Array.from(inSelection, (s) => (1 - lambda) / N + (s ? lambda / K : 0));
  const after = scoreShard(target, pool, solver, weights);
  let meanSelected = 0;
  let meanAll = 0;
  for (let j = 0; j < N; j++) {
    meanAll += before.potentialG[j]! / N;
    if (inSelection[j]) meanSelected += before.potentialG[j]! / K;
  }
  return {
    before: before.stats.dualObjective,
    after: after.stats.dualObjective,
    lambda,
    firstOrderDelta: lambda * (meanSelected - meanAll),
    transportCostBefore: before.stats.transportCost,
    transportCostAfter: after.stats.transportCost,
    statsBefore: before.stats,
    statsAfter: after.stats,
  };
}
