// Validation used by the workflow's `setMixture` update and at workflow entry.
import { describe, expect, it } from 'vitest';
import {
  AIOLI_REPO_PRESETS,
  aioliConfig,
  aioliProvider,
  validateAioliConfig,
} from '../../../ml/methods/aioli/index.js';
import { validateMixture } from '../../../ml/methods/aioli/lmo.js';

const GROUPS = ['arxiv', 'book', 'stackexchange'];

describe('validateMixture', () => {
  it('accepts a mixture by name and returns it in group order', () => {
    const v = validateMixture({ stackexchange: 0.5, arxiv: 0.2, book: 0.3 }, GROUPS);
    expect(v).toEqual({ ok: true, proportions: [0.2, 0.3, 0.5] });
    expect(validateMixture({ arxiv: 0, book: 0, stackexchange: 1 }, GROUPS).ok).toBe(true);
    const nearly = validateMixture({ arxiv: 0.2, book: 0.3, stackexchange: 0.5000005 }, GROUPS);
    expect(nearly.ok && nearly.proportions.reduce((s, x) => s + x, 0)).toBeCloseTo(1, 15);
  });

  it('rejects a mixture that does not sum to 1', () => {
    const v = validateMixture({ arxiv: 0.2, book: 0.3, stackexchange: 0.4 }, GROUPS);
    expect(v.ok).toBe(false);
    if (!v.ok)
      expect(v.message).toMatch(/^Invalid mixture: proportions sum to 0\.9\d*, expected 1 \(± 0\.000001\)$/);
    expect(validateMixture({ arxiv: 0.2, book: 0.3, stackexchange: 0.4 }, GROUPS, 0.2).ok).toBe(true);
  });

  it('names negative and non-finite entries by group', () => {
    const v = validateMixture({ arxiv: -0.1, book: 0.6, stackexchange: Number.NaN }, GROUPS);
    expect(v.ok).toBe(false);
    if (!v.ok) {
      expect(v.errors).toContain('proportion for group "arxiv" is negative (-0.1)');
      expect(v.errors).toContain('proportion for group "stackexchange" is not a finite number (NaN)');
    }
  });

  it('names unknown and missing groups', () => {
    const v = validateMixture({ arxiv: 0.5, github: 0.5 }, GROUPS);
    expect(v.ok).toBe(false);
    if (!v.ok) {
      expect(v.errors[0]).toBe('unknown group "github" (known: arxiv, book, stackexchange)');
      expect(v.errors[1]).toBe('missing groups "book", "stackexchange"');
    }
  });
});

describe('validateAioliConfig', () => {
  const base = aioliConfig({ groups: GROUPS, totalSteps: 2000, roundSteps: 200 });

  it('accepts the CPU defaults and the three repo presets', () => {
    expect(base.oneHotFactor).toBe(0.5);
    expect(base.sweeps).toBe(2);
    expect(validateAioliConfig(base)).toEqual([]);
    for (const preset of Object.values(AIOLI_REPO_PRESETS))
      expect(validateAioliConfig(aioliConfig(preset))).toEqual([]);
  });

  it('lists every problem in one message', () => {
    const bad = {
      ...base,
      groups: ['a', 'a'],
      totalSteps: 2000,
      roundSteps: 300,
      eta: -1,
      ema: 1,
      seed: 0.5,
    };
    const errors = validateAioliConfig(bad);
    expect(errors.join('\n')).toMatch(/names must be unique/);
    expect(errors.join('\n')).toMatch(/S = 2000\) must be divisible by roundSteps \(U = 300\)/);
    expect(errors.join('\n')).toMatch(/eta \(η\) must be a finite number ≥ 0/);
    expect(errors.join('\n')).toMatch(/ema \(γ\) must be null or in \[0, 1\)/);
    expect(errors.join('\n')).toMatch(/seed must be a safe integer/);
    expect(() => aioliProvider(bad)).toThrow(/^Invalid Aioli config: .*; .*/);
  });

  it('requires k·m·s < U and a sensible prior', () => {
    expect(validateAioliConfig({ ...base, sweeps: 10, stepsPerInterval: 10 }).join()).toMatch(
      /k·m·s = 10·3·10 = 300 steps per round, which must be < roundSteps \(U = 200\)/,
    );
    expect(validateAioliConfig({ ...base, prior: { proportions: [1, 0], steps: 200 } }).join()).toMatch(
      /prior.proportions: expected 3 entries/,
    );
    expect(validateAioliConfig({ ...base, prior: { proportions: [1, 1, 1], steps: 2000 } }).join()).toMatch(
      /prior.steps \(S_init\) must be an integer in \[0, S\)/,
    );
    expect(validateAioliConfig({ ...base, prior: { proportions: [1, 1, 1], steps: 400 } })).toEqual([]);
  });
});
