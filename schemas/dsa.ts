// Differentiable siamese augmentation settings as JSON (ml/ops/dsa.ts `DsaConfig`; schemas/ may not
// import ml/). `false` turns augmentation off; an object overrides the digit defaults field by field
// (ml/ `DSA_DIGITS`: strategy color_crop_cutout_scale_rotate, ParamDiffAug's magnitudes).
import { z } from 'zod';

const TRANSFORM = '(color|crop|cutout|flip|scale|rotate)';
const finiteNonNeg = z.number().nonnegative().finite();

export const DsaSettings = z.union([
  z.literal(false),
  z.strictObject({
    /** Transform names joined by '_', e.g. 'color_crop_cutout_scale_rotate' (digits: no flip). */
    strategy: z
      .string()
      .regex(
        new RegExp(`^${TRANSFORM}(_${TRANSFORM})*$`),
        'transforms joined by _: color, crop, cutout, flip, scale, rotate',
      )
      .optional(),
    /** 'single': one transform per call (the papers' code); 'every': all of them in order. */
    mode: z.enum(['single', 'every']).optional(),
    scale: z.number().min(1).finite().optional(),
    rotateDegrees: finiteNonNeg.optional(),
    cropPad: finiteNonNeg.optional(),
    cutout: finiteNonNeg.optional(),
    brightness: finiteNonNeg.optional(),
    saturation: finiteNonNeg.optional(),
    contrast: finiteNonNeg.optional(),
    flipProbability: z.number().min(0).max(1).optional(),
  }),
]);
export type DsaSettings = z.infer<typeof DsaSettings>;

/** A resolved `DsaConfig` (every field set) or false, as it travels in activity inputs. */
export const DsaJson = z.union([z.literal(false), DsaSettings.options[1].required()]);
export type DsaJson = z.infer<typeof DsaJson>;
