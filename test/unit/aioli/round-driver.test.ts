// runMixtureRound (ml/methods/aioli/rounds.ts), the round driver mixAioli and bench/aioli.ts share:
// on the linear mixing law it reproduces the spec §8 oracle 4 numbers exactly as the synchronous
// reference loop does, asks for exact batches only on probes, and an operator override replaces
// one round's main-phase mixture, after which cumulative EGD continues from it.
import { describe, expect, it } from 'vitest';
import { aioliConfig, aioliProvider } from '../../../ml/methods/aioli/index.js';
import { stratifiedProvider } from '../../../ml/methods/aioli/baselines.js';
import type { MixtureProvider, MixtureRoundRecord } from '../../../ml/methods/aioli/lmo.js';
import type { Matrix } from '../../../ml/methods/aioli/numerics.js';
import { type MixtureRoundOptions, runMixtureRound } from '../../../ml/methods/aioli/rounds.js';
import { LinearMixingLaw } from './linear-mixing-law.js';

const ORACLE4_A: Matrix = [
  [0.004, 0.001],
  [0, 0.002],
];
const config = (eta: number) =>
  aioliConfig({
    groups: ['arxiv', 'stackexchange'],
    totalSteps: 5000,
    roundSteps: 250,
    sweeps: 4,
    stepsPerInterval: 4,
    oneHotFactor: 0.625,
    eta,
    batchSize: 8,
  });

async function drive(
  provider: MixtureProvider,
  law: LinearMixingLaw,
  options: (round: number) => MixtureRoundOptions = () => ({}),
) {
  let state = provider.initialState();
  const records: MixtureRoundRecord[] = [];
  const calls: { steps: number; exact: boolean; phase: string }[] = [];
  const ops = {
    train: async (p: number[], steps: number, exact: boolean, phase: 'probe' | 'main') => {
      calls.push({ steps, exact, phase });
      law.train(p, steps);
    },
    evaluate: async () => law.evaluate(),
  };
  while (!provider.isComplete(state)) {
    const r = await runMixtureRound(provider, state, ops, options(state.round));
    records.push(r.record);
    state = JSON.parse(JSON.stringify(r.state)) as typeof state; // as through Temporal history
  }
  return { records, calls, law };
}

describe('runMixtureRound', () => {
  it('oracle 4 (cumulative η=0.2 and η=1): p_0 after round 1 / 20; exact batches on probes only; S steps', async () => {
    for (const [eta, p1, p20] of [
      [0.2, 0.5071, 0.6391],
      [1, 0.5357, 0.9457],
    ] as const) {
      const { records, calls, law } = await drive(
        aioliProvider(config(eta)),
        new LinearMixingLaw({ aStep: ORACLE4_A }),
      );
      expect(records).toHaveLength(20);
      expect(Math.abs(records[0]!.proportions[0]! - p1)).toBeLessThan(5e-5);
      expect(Math.abs(records[19]!.proportions[0]! - p20)).toBeLessThan(5e-5);
      expect(law.step).toBe(5000);
      expect(law.evaluations).toBe(20 * 9); // 1 + k·m per round (oracle 8)
      expect(calls.filter((c) => c.phase === 'probe').every((c) => c.exact && c.steps === 4)).toBe(true);
      expect(calls.filter((c) => c.phase === 'main').every((c) => !c.exact && c.steps === 218)).toBe(true);
    }
  });

  it('an override trains that round on the given mixture and Aioli continues from it', async () => {
    const override = [0.2, 0.8];
    const { records } = await drive(
      aioliProvider(config(1)),
      new LinearMixingLaw({ aStep: ORACLE4_A }),
      (round) => (round === 3 ? { override } : {}),
    );
    expect(records[3]!.proportions).toEqual(override);
    expect(records[3]!.note).toMatch(
      /operator override \(setMixture\); the method proposed \[0\.6391, 0\.3609\]/,
    );
    // Round 4 = one EGD step from the override: p ∝ (0.2, 0.8) ⊙ exp(η colsum Ā), toward group 0.
    expect(records[4]!.proportions[0]).toBeGreaterThan(0.2);
    expect(records[4]!.proportions[0]).toBeLessThan(0.35);
  });

  it('providers without probes: optional start-of-round evaluation, U steps on the mixture', async () => {
    const law = new LinearMixingLaw({ aStep: ORACLE4_A });
    const provider = stratifiedProvider({ groups: ['a', 'b'], totalSteps: 500, roundSteps: 250 });
    const { records, calls } = await drive(provider, law, () => ({ evaluateAtStart: true }));
    expect(records.map((r) => r.proportions)).toEqual([
      [0.5, 0.5],
      [0.5, 0.5],
    ]);
    expect(calls).toEqual([
      { steps: 250, exact: false, phase: 'main' },
      { steps: 250, exact: false, phase: 'main' },
    ]);
    expect(law.evaluations).toBe(2);
  });
});
