// Config defaults, validation and presets (spec §5, §6.5, §10).
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_TRAJECTORY_MATCHING,
  MTT_OVERRIDES,
  innerLossScale,
  mnistProfile,
  paperPreset,
  trajectoryMatchingConfig,
  trajectoryMatchingMethod,
} from '../../../ml/methods/trajectory-matching/index.js';
import { paramCount } from '../../../ml/models/convnet.js';

describe('trajectory matching config', () => {
  it('defaults are DATM (utils/cfg.py) with α in log space; MTT_OVERRIDES turn it into plain MTT', () => {
    const d = trajectoryMatchingConfig();
    expect(d).toEqual(DEFAULT_TRAJECTORY_MATCHING);
    expect(trajectoryMatchingMethod(d)).toBe('datm');
    expect(trajectoryMatchingMethod(trajectoryMatchingConfig(MTT_OVERRIDES))).toBe('mtt');
    expect(trajectoryMatchingMethod(trajectoryMatchingConfig({ ast: { innerMomentum: 0.9 } }))).toBe(
      'datm+ast',
    );
    expect(JSON.parse(JSON.stringify(d))).toEqual(d); // plain data
  });

  it('rejects bad values, naming the field', () => {
    expect(() => trajectoryMatchingConfig({ syntheticSteps: 0 })).toThrow(
      /syntheticSteps must be a positive integer/,
    );
    expect(() => trajectoryMatchingConfig({ minStartEpoch: 5, maxStartEpoch: 5 })).toThrow(
      /maxStartEpoch must be > minStartEpoch/,
    );
    expect(() => trajectoryMatchingConfig({ initialSynLr: 0 })).toThrow(/initialSynLr must be > 0/);
    expect(() => trajectoryMatchingConfig({ momentumImages: 1 })).toThrow(
      /momentumImages must be in \[0, 1\)/,
    );
    expect(() => trajectoryMatchingConfig({ net: { norm: 'batchnorm' } })).toThrow(/net.norm/);
    expect(() => trajectoryMatchingConfig({ batchSyn: 0 })).toThrow(/batchSyn/);
  });

  it('paper presets reproduce the §5 and §6.5 tables', () => {
    const c10 = paperPreset('datm', 'CIFAR-10', 10).distill;
    expect(c10).toMatchObject({
      syntheticSteps: 80,
      expertEpochs: 2,
      minStartEpoch: 0,
      initialMaxStartEpoch: 10,
      maxStartEpoch: 20,
      expansionEndIteration: 1000,
      sequentialGeneration: true,
      lrImages: 100,
      lrSynLr: 1e-5,
      lrLabels: 2,
      batchSyn: 100,
      updateThreshold: 1,
      synLrParametrisation: 'linear',
    });
    expect(paperPreset('datm', 'CIFAR-10', 1).distill).toMatchObject({
      sequentialGeneration: false,
      updateThreshold: 1.1,
    });
    expect(paperPreset('datm', 'CIFAR-100', 50).distill.init).toBe('real');
    expect(paperPreset('datm', 'TinyImageNet', 1).distill.net.depth).toBe(4);
    expect(paperPreset('mtt', 'CIFAR-100', 50).distill).toMatchObject({
      syntheticSteps: 80,
      batchSyn: 125,
      softLabels: false,
    });
    for (const ds of ['CIFAR-10', 'CIFAR-100', 'TinyImageNet'] as const)
      for (const ipc of [1, 10, 50]) {
        expect(() => paperPreset('mtt', ds, ipc)).not.toThrow();
        expect(() => paperPreset('datm', ds, ipc)).not.toThrow();
      }
    expect(() => paperPreset('mtt', 'CIFAR-10', 500)).toThrow(/no published setting/);
  });

  it('MNIST profiles: 28×28 W16 D3 (7,466 parameters) natively, 14×14 W8 D2 (1,426) for pure JS', () => {
    const native = mnistProfile(10);
    expect(paramCount(native.distill.net)).toBe(7466);
    expect(native.distill).toMatchObject({
      syntheticSteps: 10,
      batchSyn: 50,
      expertEpochs: 1,
      maxStartEpoch: 4,
    });
    expect(native.experts).toMatchObject({ count: 4, epochs: 6, imagesPerClass: 400 });
    // The window must fit the experts' epochs: T+ − 1 + M ≤ epochs.
    for (const ipc of [1, 10, 50] as const)
      for (const res of ['native-28', 'cpu-14'] as const) {
        const p = mnistProfile(ipc, 'datm', res);
        expect(p.distill.maxStartEpoch - 1 + p.distill.expertEpochs).toBeLessThanOrEqual(p.experts.epochs);
      }
    const cpu = mnistProfile(10, 'mtt', 'cpu-14');
    expect(paramCount(cpu.distill.net)).toBe(1426);
    // IPC 10 on 14×14 matches the later, longer segment: start epochs 2–3, M 4 in N 128 steps.
    expect(cpu.distill).toMatchObject({
      syntheticSteps: 128,
      expertEpochs: 4,
      minStartEpoch: 2,
      maxStartEpoch: 4,
      softLabels: false,
      init: 'real',
      updateThreshold: null,
    });
    expect(cpu.iterations).toBe(60);
    expect(mnistProfile(10, 'datm', 'cpu-14').distill).toMatchObject({
      minStartEpoch: 2,
      initialMaxStartEpoch: 3,
    });
    expect(mnistProfile(1, 'mtt', 'cpu-14').distill).toMatchObject({
      syntheticSteps: 10,
      minStartEpoch: 0,
      expertEpochs: 1,
    });
  });

  it('AST balanced inner loss factor s(t) (spec §7)', () => {
    const c = trajectoryMatchingConfig({ maxStartEpoch: 20, ast: { balancedInnerLoss: true } });
    expect(innerLossScale(c, 10)).toBeCloseTo(Math.log(8) / Math.log(5), 12);
    expect(innerLossScale(c, 13)).toBeCloseTo(Math.log(11) / Math.log(5), 12);
    expect(innerLossScale(c, 4)).toBeCloseTo(Math.log(5) / Math.log(14), 12);
    expect(innerLossScale({ ...c, ast: { ...c.ast, balancedInnerLoss: false } }, 4)).toBe(1);
  });
});
