// CV-DD voting weights (spec §4.1) and the voters of each IPC slot (§5.1).
import { Rng, deriveSeed, sampleWithoutReplacement } from '../../train/rng.js';
import { type VoterType, type CommitteeVotingConfig } from './config.js';
import { type CommitteeMember } from './members.js';

export interface VotingWeightConfig {
  type: VoterType;
  /** τ: 5 during recovery, 10 during relabelling. */
  temperature: number;
  /** Only for type 'random'. */
  seed?: number;
}

/**
 * Weights of the members voting together, in the order of `priorsPercent` (load_recover_model in
 * utils_recover.py): 'prior' softmax(p/τ) with p in PERCENT (a 0..1 accuracy must be × 100 first, or the
 * weights come out uniform); 'equal' 1/|V|; 'random' uniform draws normalised.
 */
export function votingWeights(priorsPercent: readonly number[], config: VotingWeightConfig): number[] {
  const n = priorsPercent.length;
  if (n === 0) throw new RangeError('votingWeights: no voters');
  if (config.type === 'equal') return priorsPercent.map(() => 1 / n);
  if (config.type === 'random') {
    const rng = new Rng(config.seed ?? 0);
    const draws = priorsPercent.map(() => rng.next());
    const total = draws.reduce((a, b) => a + b, 0);
    return draws.map((d) => d / total);
  }
  if (!(config.temperature > 0))
    throw new RangeError(`votingWeights: temperature must be > 0, got ${config.temperature}`);
  priorsPercent.forEach((p, i) => {
    if (!Number.isFinite(p)) throw new RangeError(`votingWeights: prior ${i} is ${p}`);
  });
  const scaled = priorsPercent.map((p) => p / config.temperature);
  const max = Math.max(...scaled);
  const e = scaled.map((s) => Math.exp(s - max));
  const total = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / total);
}

function combinations(m: number, k: number): number[][] {
  const out: number[][] = [];
  const pick = (start: number, acc: number[]): void => {
    if (acc.length === k) {
      out.push([...acc]);
      return;
    }
    for (let i = start; i < m; i++) pick(i + 1, [...acc, i]);
  };
  pick(0, []);
  return out;
}

/**
 * Committee indices (ascending) voting on slot `slot`. 'cycle' enumerates subsets in lexicographic order,
 * e.g. for 5 members the code's IPC-10 list R18-R50, R18-SV2, …, MBV2-D121 (recover.py setting 5).
 */
export function slotVoters(
  slot: number,
  priorsPercent: readonly number[],
  config: Pick<CommitteeVotingConfig, 'ipc' | 'votersPerSlot' | 'voterSelection'>,
  seed: number,
): number[] {
  const m = priorsPercent.length;
  const k = Math.min(config.votersPerSlot, m);
  if (m === 0) throw new RangeError('slotVoters: empty committee');
  const subsets = combinations(m, k);
  let mode = config.voterSelection;
  if (mode === 'auto')
    mode = config.ipc === 1 ? 'top-prior' : config.ipc <= subsets.length ? 'cycle' : 'random';
  if (mode === 'top-prior') {
    // Highest priors first; ties by committee order.
    const order = priorsPercent.map((p, i) => [p, i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
    return order
      .slice(0, k)
      .map(([, i]) => i)
      .sort((a, b) => a - b);
  }
  if (mode === 'cycle') return subsets[slot % subsets.length]!;
  return Array.from(sampleWithoutReplacement(m, k, new Rng(deriveSeed(seed, 'voters', slot)))).sort(
    (a, b) => a - b,
  );
}

/** Voters and their recovery weights (τ = recoverWeightTemperature) for one slot. */
export function recoverySlotPlan(
  slot: number,
  committee: readonly Pick<CommitteeMember, 'prior'>[],
  config: CommitteeVotingConfig,
  seed: number,
): { voters: number[]; weights: number[] } {
  const priors = committee.map((c) => c.prior);
  const voters = slotVoters(slot, priors, config, seed);
  const weights = votingWeights(
    voters.map((i) => priors[i]!),
    {
      type: config.voterType,
      temperature: config.recoverWeightTemperature,
      seed: deriveSeed(seed, 'voter-weights', slot),
    },
  );
  return { voters, weights };
}

/** Relabel weights over the whole committee (τ = relabelWeightTemperature, relabel.py `save`). */
export function relabelWeights(
  committee: readonly Pick<CommitteeMember, 'prior'>[],
  config: CommitteeVotingConfig,
  seed = 0,
): number[] {
  return votingWeights(
    committee.map((c) => c.prior),
    {
      type: config.voterType,
      temperature: config.relabelWeightTemperature,
      seed: deriveSeed(seed, 'relabel-weights'),
    },
  );
}
