// Oracles of specs/continual-pretraining-rewarm.md §8 for the re-warmed cosine schedule (§3).
import { describe, expect, it } from 'vitest';
import {
  PAPER_DECAY_END_FRACTION,
  constantSchedule,
  resolveRewarmedCosine,
  rewarmPhase,
  rewarmedCosineSchedule,
  rewarmedCosineTable,
  stepsForTokens,
} from '../../../ml/methods/rewarm.js';
import { Rng } from '../../../ml/train/rng.js';

/** The spec's table prints 5–6 significant digits. */
function expectRel(got: number, want: number, rel = 5e-6): void {
  expect(Math.abs(got - want) / want, `lr ${got} vs ${want}`).toBeLessThanOrEqual(rel);
}

// S = 1000, w_frac = 0.01 → W = 10, D = 808, η_max = 3e-4, η_min = 3e-5.
const paperLike = {
  totalSteps: 1000,
  warmupFraction: 0.01,
  maxLr: 3e-4,
  minLrRatio: 0.1,
  decayEndFraction: PAPER_DECAY_END_FRACTION,
};

describe('rewarmedCosineSchedule (rewarm spec §3, §8)', () => {
  it('resolves W = 10 and D = 808 for S = 1000, w_frac = 0.01, D = round(S·240/297)', () => {
    expect(resolveRewarmedCosine(paperLike)).toEqual({
      totalSteps: 1000,
      warmupSteps: 10,
      decayEndStep: 808,
      maxLr: 3e-4,
      minLr: 3e-4 * 0.1,
    });
  });

  it('reproduces the §8 table', () => {
    const lr = rewarmedCosineSchedule(paperLike);
    const table: [number, number][] = [
      [0, 3.0e-5],
      [4, 1.5e-4],
      [9, 3.0e-4],
      [10, 3.0e-4],
      [11, 2.99999e-4],
      [409, 1.65e-4],
      [600, 7.27878e-5],
      [807, 3.0001e-5],
      [808, 3.0e-5],
      [809, 3.0e-5],
      [999, 3.0e-5],
    ];
    for (const [s, want] of table) expectRel(lr(s), want);
    // Exact where the spec's value is exact.
    expect(lr(9)).toBe(3e-4);
    expect(lr(10)).toBe(3e-4);
    for (const s of [808, 809, 999]) expect(lr(s)).toBe(3e-4 * 0.1);
  });

  it('gives the same table with an explicit minLr and decayEndStep', () => {
    const a = rewarmedCosineSchedule(paperLike);
    const b = rewarmedCosineSchedule({
      totalSteps: 1000,
      warmupFraction: 0.01,
      maxLr: 3e-4,
      minLr: 3e-5,
      decayEndStep: 808,
    });
    for (const s of [0, 5, 10, 200, 600, 807, 808, 999]) expectRel(b(s), a(s), 1e-12);
  });

  it('W = 0: the first update already uses η_max (§8 W = 0 row)', () => {
    const lr = rewarmedCosineSchedule({ ...paperLike, warmupFraction: 0 });
    expect(lr(0)).toBe(3e-4);
    expectRel(lr(1), 2.99999e-4);
    expectRel(lr(404), 1.65e-4);
    expectRel(lr(808), 3e-5, 1e-12);
    expectRel(lr(900), 3e-5, 1e-12);
  });

  it('clamps after D instead of rising again', () => {
    const lr = rewarmedCosineSchedule({
      totalSteps: 100,
      warmupFraction: 0.1,
      maxLr: 1,
      minLrRatio: 0.1,
      decayEndStep: 50,
    });
    for (let s = 50; s < 200; s++) expect(lr(s)).toBe(0.1);
  });

  it('defaults to D = S and r = 0.1', () => {
    const r = resolveRewarmedCosine({ totalSteps: 400, warmupFraction: 0.02, maxLr: 1e-3 });
    expect(r).toMatchObject({ warmupSteps: 8, decayEndStep: 400, minLr: 1e-4 });
  });

  it('holds the §8 properties on random valid configs', () => {
    const rng = new Rng(2023);
    for (let trial = 0; trial < 200; trial++) {
      const S = 1 + rng.int(3000);
      const wFrac = rng.next() < 0.2 ? 0 : rng.uniform(0, 0.3);
      const maxLr = 10 ** rng.uniform(-5, -1);
      const r = rng.uniform(0, 1);
      const W = Math.round(wFrac * S);
      const D = W + 1 + rng.int(Math.max(1, S - W));
      const config = { totalSteps: S, warmupFraction: wFrac, maxLr, minLrRatio: r, decayEndStep: D };
      const lr = rewarmedCosineSchedule(config);
      const minLr = r * maxLr;
      const where = JSON.stringify(config);
      const values = Array.from({ length: S + 5 }, (_x, s) => lr(s));
      // Collect violations in plain JS (one expect per config keeps the test fast).
      const violations: string[] = [];
      for (let s = 0; s < values.length; s++) {
        const v = values[s]!;
        const prev = values[s - 1];
        if (s >= 1 && s < W && !(v >= prev!)) violations.push(`decreases in warm-up at ${s}`);
        if (s > W && s < S && !(v <= prev!)) violations.push(`increases in decay at ${s}`);
        // §8 says "lr ≥ η_min everywhere", but the normative §3 warm-up η_max·(s+1)/W starts below η_min
        // whenever W > η_max/η_min (e.g. W = 1,416 at paper scale): the bound holds from W on.
        if (s < W && v !== maxLr * ((s + 1) / W)) violations.push(`warm-up value ${v} at ${s}`);
        if (s >= W && !(v >= minLr)) violations.push(`below η_min at ${s}`);
        if (s >= D && v !== minLr) violations.push(`not η_min at ${s} ≥ D`);
      }
      expect(violations.slice(0, 3), where).toEqual([]);
      if (W >= 1) {
        expect(lr(W - 1), where).toBe(maxLr);
        expect(lr(W), where).toBe(maxLr);
      }
      const table = rewarmedCosineTable(config, 2048);
      expect(table).toHaveLength(S);
      expect(table.map((row) => row.lr)).toEqual(values.slice(0, S));
    }
  });

  it('is horizon independent: a run stopped at 17% of S uses the first 17% of the full schedule', () => {
    const full = rewarmedCosineSchedule(paperLike);
    const stopAt = Math.round(0.17 * 1000);
    const stopped = Array.from({ length: stopAt }, (_x, s) => full(s));
    const firstPart = rewarmedCosineTable(paperLike, 1)
      .slice(0, stopAt)
      .map((r) => r.lr);
    expect(stopped).toEqual(firstPart);
    // Rebuilding the schedule for the shorter run (the §10 pitfall) would change the LR almost everywhere.
    const rebuilt = rewarmedCosineSchedule({ ...paperLike, totalSteps: stopAt });
    const differing = stopped.filter((v, s) => v !== rebuilt(s)).length;
    expect(differing).toBeGreaterThan(stopAt / 2);
  });

  it('labels phases and converts steps to tokens (tokens(s) = s·batch_seqs·ctx)', () => {
    const table = rewarmedCosineTable(paperLike, 16 * 128);
    expect(table[0]).toMatchObject({ step: 0, tokens: 0, phase: 'warmup' });
    expect(table[9]!.phase).toBe('warmup');
    expect(table[10]).toMatchObject({ step: 10, tokens: 10 * 2048, phase: 'decay' });
    expect(table[808]!.phase).toBe('decay');
    expect(table[809]!.phase).toBe('floor');
    expect(rewarmPhase(paperLike, 999)).toBe('floor');
  });

  it('converts the paper-scale budgets (2,097,152 tokens/step)', () => {
    const perStep = 1024 * 2048;
    expect(stepsForTokens(297e9, perStep)).toBe(141_621);
    expect(stepsForTokens(0.01 * 297e9, perStep)).toBe(1_416);
    expect(stepsForTokens(240e9, perStep)).toBe(114_441);
    expect(stepsForTokens(50e9, perStep)).toBe(23_842);
    // W = round(w_frac·S) at paper scale: 0.5% / 1% / 2% ≈ 708 / 1,416 / 2,832 steps.
    for (const [f, w] of [
      [0.005, 708],
      [0.01, 1416],
      [0.02, 2832],
    ] as const) {
      expect(resolveRewarmedCosine({ totalSteps: 141_621, warmupFraction: f, maxLr: 3e-4 }).warmupSteps).toBe(
        w,
      );
    }
  });

  it('constant baseline: every step equals the upstream final LR', () => {
    const lr = constantSchedule(3e-5);
    for (const s of [0, 1, 10, 808, 999, 10_000]) expect(lr(s)).toBe(3e-5);
  });

  it('rejects invalid configs and steps with the reason', () => {
    expect(() => rewarmedCosineSchedule({ totalSteps: 0, warmupFraction: 0, maxLr: 1 })).toThrow(
      /totalSteps/,
    );
    expect(() => rewarmedCosineSchedule({ totalSteps: 10, warmupFraction: 1.5, maxLr: 1 })).toThrow(
      /warmupFraction/,
    );
    expect(() =>
      rewarmedCosineSchedule({ totalSteps: 10, warmupFraction: 0.1, maxLr: 1, minLr: 0.1, minLrRatio: 0.1 }),
    ).toThrow(/not both/);
    expect(() => rewarmedCosineSchedule({ totalSteps: 10, warmupFraction: 0.1, maxLr: 1, minLr: 2 })).toThrow(
      /minLr/,
    );
    expect(() =>
      rewarmedCosineSchedule({ totalSteps: 10, warmupFraction: 0.5, maxLr: 1, decayEndStep: 5 }),
    ).toThrow(/decay end/);
    expect(() => rewarmedCosineSchedule(paperLike)(-1)).toThrow(/step/);
    expect(() => rewarmedCosineSchedule(paperLike)(1.5)).toThrow(/step/);
  });
});
