// CV-DD run settings → the ml/ config and committee architectures, and the image checks every CV-DD
// activity makes (labels in range, the members' seeded validation hold-out).
import { convNetConfig } from '../../ml/models/convnet.js';
import { DEFAULT_RANDOM_RESIZED_CROP } from '../../ml/methods/cvdd/augment.js';
import { committeeMlpConfig } from '../../ml/methods/cvdd/mlp.js';
import { type ImageSet, subsetImages, validationSplit } from '../../ml/methods/cvdd/index.js';
import {
  type CommitteeArch,
  type CommitteeVotingConfig,
  mnistCpuConfig,
  validateCommitteeVotingConfig,
} from '../../ml/methods/cvdd/index.js';
import { deriveSeed } from '../../ml/train/rng.js';
import type { ArtifactRef } from '../../schemas/artifact.js';
import type { CommitteeArchSpec, CvddRunConfig } from '../../schemas/cvdd.js';
import { type ImageData } from '../training-data.js';
import { configError, labelOutOfRange } from '../failures.js';

/** The §7.2 profile for the run's IPC with its overrides, validated (ConfigError names the keys). */
export function resolveCvddConfig(run: CvddRunConfig): CommitteeVotingConfig {
  const {
    jitter,
    recoverCropScale,
    recoverFlip,
    studentRoll,
    mlpBnTerm,
    priorSource: _priorSource,
    ...overrides
  } = run.settings;
  const profile = run.ipc === 1 ? 1 : run.ipc <= 10 ? 10 : 50;
  const base = mnistCpuConfig(profile);
  const defined = Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined));
  const config: CommitteeVotingConfig = {
    ...base,
    ...defined,
    ipc: run.ipc,
    classes: run.classes,
    ...(mlpBnTerm !== undefined ? { bnTermFamilies: mlpBnTerm ? ['convnet', 'mlp'] : ['convnet'] } : {}),
    recoverAugment: {
      ...base.recoverAugment,
      ...(jitter !== undefined ? { jitter } : {}),
      ...(recoverFlip !== undefined ? { flip: recoverFlip } : {}),
      ...(recoverCropScale !== undefined
        ? { crop: recoverCropScale && { ...DEFAULT_RANDOM_RESIZED_CROP, scale: recoverCropScale } }
        : {}),
    },
    studentAugment: { ...base.studentAugment, ...(studentRoll !== undefined ? { roll: studentRoll } : {}) },
  };
  const errors = validateCommitteeVotingConfig(config);
  if (errors.length) throw configError(`CV-DD settings: ${errors.join('; ')}`);
  return config;
}

export function committeeArch(
  spec: CommitteeArchSpec,
  data: { h: number; w: number; c: number },
  classes: number,
): CommitteeArch {
  const { h, w, c } = data;
  try {
    return spec.family === 'convnet'
      ? {
          family: 'convnet',
          config: convNetConfig({
            h,
            w,
            c,
            classes,
            width: spec.width,
            depth: spec.depth,
            norm: 'batchnorm',
            firstPadding: 1,
          }),
        }
      : { family: 'mlp', config: committeeMlpConfig({ h, w, c, classes, hidden: spec.hidden }) };
  } catch (err) {
    if (err instanceof RangeError)
      throw configError(`committee architecture ${JSON.stringify(spec)} on ${h}×${w}×${c}: ${err.message}`);
    throw err;
  }
}

export const asImageSet = (t: ImageData): ImageSet => ({
  pixels: t.pixels,
  labels: t.labels,
  h: t.h,
  w: t.w,
  c: t.c,
});

export function checkLabels(t: ImageData, classes: number): void {
  for (let i = 0; i < t.labels.length; i++) {
    const y = t.labels[i]!;
    if (!(y >= 0 && y < classes))
      throw labelOutOfRange(
        `Parquet column "label" in ${t.uri}: label ${y} at row ${i} (id "${t.ids[i]}") is outside [0, ${classes}) (field "classes")`,
      );
  }
}

/** The members' seeded per-class validation hold-out (ConfigError naming valPerClass when too large). */
export function splitValidation(
  table: ImageData,
  input: { run: CvddRunConfig; valPerClass: number; seed: number; train: ArtifactRef },
): { train: ImageSet; val: ImageSet } {
  let split: { train: Int32Array; val: Int32Array };
  try {
    split = validationSplit(
      table.labels,
      input.run.classes,
      input.valPerClass,
      deriveSeed(input.seed, 'validation'),
    );
  } catch (err) {
    if (err instanceof RangeError)
      throw configError(`field "valPerClass" = ${input.valPerClass} with ${input.train.uri}: ${err.message}`);
    throw err;
  }
  const all = asImageSet(table);
  return { train: subsetImages(all, split.train), val: subsetImages(all, split.val) };
}
