// distillDataset's input: one strict member per method family, picked by `method` (absent: datm).
// CV-DD's committee settings are accepted only with `method: 'cvdd'`, trajectory settings only with
// mtt / datm, and a bad field is named by its own path (what parseInput and `retort run` report).
import { describe, expect, it } from 'vitest';
import { DistillCvddInput, DistillDatasetInput } from '../../../schemas/distill.js';
import { WORKFLOW_INPUTS, workflowTypeFromFile } from '../../../client/workflow-types.js';
import example from '../../../examples/distill-cvdd.json' with { type: 'json' };
import { resolveCvddConfig } from '../../../activities/cvdd/config.js';
import { DEFAULT_RANDOM_RESIZED_CROP } from '../../../ml/methods/cvdd/augment.js';

const firstIssue = (r: {
  success: boolean;
  error?: { issues: { path: PropertyKey[]; message: string }[] };
}) => {
  expect(r.success).toBe(false);
  const i = r.error!.issues[0]!;
  return { path: i.path.join('.'), message: i.message };
};

describe('DistillDatasetInput', () => {
  it('defaults to datm with the trajectory member and its defaults', () => {
    const c = DistillDatasetInput.parse({});
    expect(c.method).toBe('datm');
    expect(c.ipc).toBe(1);
    if (c.method === 'cvdd') throw new Error('unreachable');
    expect(c.chunkIterations).toBe(25);
    expect(c.baselines).toEqual({ randomReal: true, fullData: false });
  });

  it('method cvdd takes the committee settings, with the §7.2 CPU defaults', () => {
    const c = DistillDatasetInput.parse({
      method: 'cvdd',
      committee: [
        { family: 'convnet', width: 8, depth: 1 },
        { family: 'mlp', hidden: [16] },
      ],
      settings: { iterations: 40 },
      seeds: 2,
    });
    expect(c.method).toBe('cvdd');
    if (c.method !== 'cvdd') throw new Error('unreachable');
    expect(c.ipc).toBe(10);
    expect(c.source).toEqual({ builtin: 'mnist', trainPerClass: 800, downsample: 2 });
    expect(c.committee).toHaveLength(2);
    expect(c.settings).toEqual({ iterations: 40 });
    expect(c.seeds).toBe(2);
  });

  it('cvdd recovery crop, flip and ranked init reach the ml/ config (resolveCvddConfig)', () => {
    const settings = {
      recoverCropScale: [0.5, 1],
      recoverFlip: true,
      initDifficulty: 'medium',
      initCandidates: 4,
    };
    const c = DistillDatasetInput.parse({ method: 'cvdd', settings });
    if (c.method !== 'cvdd') throw new Error('unreachable');
    const config = resolveCvddConfig({ ipc: c.ipc, classes: 10, settings: c.settings });
    expect(config.recoverAugment).toEqual({
      crop: { scale: [0.5, 1], ratio: DEFAULT_RANDOM_RESIZED_CROP.ratio },
      flip: true,
      jitter: 2,
    });
    expect([config.initDifficulty, config.initCandidates]).toEqual(['medium', 4]);
    const profile = resolveCvddConfig({ ipc: 10, classes: 10, settings: {} });
    expect(profile.recoverAugment).toEqual({ crop: null, flip: false, jitter: 2 });
    expect(profile.initDifficulty).toBeUndefined();
    expect(
      resolveCvddConfig({ ipc: 10, classes: 10, settings: { recoverCropScale: null } }).recoverAugment.crop,
    ).toBeNull();
  });

  it('rejects settings of the other method family, naming the key', () => {
    const cvddOnDatm = firstIssue(DistillDatasetInput.safeParse({ method: 'datm', committee: [] }));
    expect(cvddOnDatm.message).toContain('committee');
    const tmOnCvdd = firstIssue(DistillDatasetInput.safeParse({ method: 'cvdd', experts: { count: 2 } }));
    expect(tmOnCvdd.message).toContain('experts');
  });

  it('names the bad field inside the chosen member', () => {
    expect(firstIssue(DistillDatasetInput.safeParse({ method: 'cvdd', settings: { lr: -1 } })).path).toBe(
      'settings.lr',
    );
    expect(
      firstIssue(DistillDatasetInput.safeParse({ method: 'cvdd', settings: { nope: 1 } })).message,
    ).toContain('nope');
    expect(
      firstIssue(DistillDatasetInput.safeParse({ method: 'cvdd', student: { family: 'mlp', hidden: [8] } }))
        .path,
    ).toBe('student');
    const crop = firstIssue(
      DistillDatasetInput.safeParse({ method: 'cvdd', settings: { recoverCropScale: [0.9, 0.5] } }),
    );
    expect(crop).toEqual({
      path: 'settings.recoverCropScale',
      message: 'recoverCropScale: lo must not exceed hi',
    });
    expect(
      firstIssue(DistillDatasetInput.safeParse({ method: 'cvdd', settings: { initDifficulty: 'tricky' } }))
        .path,
    ).toBe('settings.initDifficulty');
    expect(firstIssue(DistillDatasetInput.safeParse({ method: 'mtt', ipc: 0 })).path).toBe('ipc');
    expect(firstIssue(DistillDatasetInput.safeParse({ method: 'sre2l' })).path).toBe('method');
  });
});

describe('DistillCvddInput (distillCvdd = distillDataset with method cvdd)', () => {
  it('examples/distill-cvdd.json maps to distillCvdd and parses the same as distillDataset with method cvdd', () => {
    expect(workflowTypeFromFile('examples/distill-cvdd.json')).toBe('distillCvdd');
    expect(WORKFLOW_INPUTS.distillCvdd).toBe(DistillCvddInput);
    const alias = DistillCvddInput.parse(example);
    const direct = DistillDatasetInput.parse({ ...example, method: 'cvdd' });
    expect(direct).toEqual({ ...alias, method: 'cvdd' });
  });

  it('has no method key of its own', () => {
    expect(firstIssue(DistillCvddInput.safeParse({ method: 'datm' })).message).toContain('method');
  });
});
