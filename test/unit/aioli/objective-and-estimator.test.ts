// The Aioli provider's `estimator` and `objective` knobs on the linear simulator, and Skill-It's
// graph from one-hot runs.
import { describe, expect, it } from 'vitest';
import { aioliConfig, aioliProvider, validateAioliConfig } from '../../../ml/methods/aioli/index.js';
import { skillItGraphFromOneHotRuns } from '../../../ml/methods/aioli/skillit-graph.js';
import { columnSums } from '../../../ml/methods/aioli/numerics.js';
import { LinearMixingLaw, runOnLinearLaw } from './linear-mixing-law.js';

// Groups 0–2 help each other a little; group 3 ("junk") lowers only its own loss, strongly.
const A_JUNK = [
  [3, 0.5, 0.5, 0],
  [0.5, 2, 0.5, 0],
  [0.5, 0.5, 4, 0],
  [0, 0, 0, 8],
].map((row) => row.map((v) => v * 1e-3));

const schedule = { groups: ['a', 'b', 'c', 'junk'], totalSteps: 1000, roundSteps: 200 };
const config = (over: Partial<ReturnType<typeof aioliConfig>> = {}) =>
  aioliConfig({ ...schedule, sweeps: 2, stepsPerInterval: 5, oneHotFactor: 0.625, eta: 1, ...over });

describe('Aioli objective and estimator', () => {
  it('with every group in the objective, a group that mostly helps itself is trained more', () => {
    const run = runOnLinearLaw(
      aioliProvider(config({ estimator: 'detrended' })),
      new LinearMixingLaw({ aStep: A_JUNK }),
    );
    expect(run.state.proportions[3]).toBeGreaterThan(0.25);
  });

  it('objective = the three text groups: junk’s row is left out of A and its share falls every round', () => {
    for (const estimator of ['repo', 'detrended'] as const) {
      const run = runOnLinearLaw(
        aioliProvider(config({ estimator, objective: [0, 1, 2] })),
        new LinearMixingLaw({ aStep: A_JUNK }),
        { roundTrip: true },
      );
      const junk = run.records.map((r) => r.proportions[3]!);
      junk.forEach((p, t) => expect(p).toBeLessThan(t === 0 ? 0.25 : junk[t - 1]!));
      for (const r of run.records) {
        expect(r.aRaw![3]).toEqual([0, 0, 0, 0]);
        expect(r.aNormalized!.flat().reduce((s, v) => s + v, 0)).toBeCloseTo(1, 12);
        // The detrended A is A up to a constant per row: each objective row sums to 0 before normalising.
        if (estimator === 'detrended')
          r.aRaw!.slice(0, 3).forEach((row) => expect(row.reduce((s, v) => s + v, 0)).toBeCloseTo(0, 12));
        expect(columnSums(r.aNormalized!)[3]).toBe(Math.min(...columnSums(r.aNormalized!)));
      }
    }
  });

  it('validation names the knob', () => {
    expect(validateAioliConfig(config({ objective: [0, 4] })).join()).toMatch(
      /objective must list distinct group indices in \[0, 4\)/,
    );
    expect(validateAioliConfig(config({ objective: [] })).join()).toMatch(/objective must list/);
    expect(validateAioliConfig(config({ estimator: 'detrended', diagonal: true })).join()).toMatch(
      /diagonal .* applies to estimator "repo" only/,
    );
    expect(validateAioliConfig(config({ estimator: 'bogus' as never })).join()).toMatch(
      /estimator must be "repo" or "detrended"/,
    );
  });
});

describe('skillItGraphFromOneHotRuns', () => {
  it('A^SG_ij = relative drop of group i after training only on j (rows evaluated)', () => {
    expect(
      skillItGraphFromOneHotRuns(
        [2, 2],
        [
          [1, 2],
          [2, 1.5],
        ],
      ),
    ).toEqual([
      [0.5, 0],
      [0, 0.25],
    ]);
    expect(() => skillItGraphFromOneHotRuns([2, 2], [[1, 2]])).toThrow(/need 2 runs of 2 losses/);
    expect(() =>
      skillItGraphFromOneHotRuns(
        [0, 2],
        [
          [1, 2],
          [2, 1],
        ],
      ),
    ).toThrow(/initial ones > 0/);
  });
});
