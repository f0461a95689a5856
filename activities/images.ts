// Image data for distillation (queue `retort`): `ingestImages` writes the `images` table (DESIGN.md §2:
// id utf8, label int32, pixels FixedSizeList<float32>[h·w·c], metadata h, w, c) as a deterministic
// train/test split, either of the bundled MNIST digits (activities/mnist.ts) or of a user Parquet.
// Bad data fails before anything is written, with a non-retryable failure naming field and file:
//   ImagePixelCountMismatch  a row's pixel count is not h·w·c of the file's metadata
//   LabelOutOfRange          a label outside [0, classes)
//   IpcExceedsClassSize      a class has fewer train images than the run's IPC needs
// `planDistillation` resolves the §10.2 MNIST profile plus the run's overrides into the plain-JSON
// configs the workflows pass on (workflows cannot import ml/).
import { createRequire } from 'node:module';
import { ApplicationFailure } from '@temporalio/common';
import { DataType, type FixedSizeList, type Table } from 'apache-arrow';
import { convNetConfig, paramCount } from '../ml/models/convnet.js';
import {
  type MnistIpc,
  type TrajectoryMatchingOverrides,
  lastEpochNeeded,
  mnistProfile,
  trajectoryMatchingConfig,
  trajectoryMatchingMethod,
} from '../ml/methods/trajectory-matching/index.js';
import { Rng, deriveSeed, permutation } from '../ml/train/rng.js';
import {
  type DistillationPlan,
  type NetConfigJson,
  PlanDistillationInput,
  type TmConfigJson,
} from '../schemas/trajectory-matching.js';
import { IMAGE_ERROR_TYPES, IngestImagesInput, type IngestImagesResult } from '../schemas/images.js';
import { IMAGES, type TableContract, contractFingerprint } from '../schemas/tables.js';
import { buildTable, fixedSizeListValues, stringValues, validateTable } from '../storage/arrow-tables.js';
import { type ArtifactStore, sha256Hex } from '../storage/artifacts.js';
import { decodeParquet, encodeParquet } from '../storage/parquet.js';
import { MNIST_NORMALIZATION, loadMnist } from './mnist.js';
import { forField } from './failures.js';
import { type PendingArtifact, memoized } from './memo.js';
import { metadataInt, nonFinite } from './training-data.js';
import { configError } from './training-state.js';

/** Rows of an image split: ids, labels, HWC pixels. */
export interface ImageRows {
  ids: string[];
  labels: Int32Array;
  pixels: Float32Array;
}

export const pixelCountMismatch = (message: string) =>
  ApplicationFailure.nonRetryable(message, IMAGE_ERROR_TYPES.pixelCount);
export const labelOutOfRange = (message: string) =>
  ApplicationFailure.nonRetryable(message, IMAGE_ERROR_TYPES.labelRange);
export const ipcExceedsClassSize = (message: string) =>
  ApplicationFailure.nonRetryable(message, IMAGE_ERROR_TYPES.ipc);
export const pixelTypeUnsupported = (message: string) =>
  ApplicationFailure.nonRetryable(message, IMAGE_ERROR_TYPES.pixelType);

/** Per-class counts; throws LabelOutOfRange naming the row, its id and the file. */
export function countClasses(
  labels: Int32Array,
  ids: readonly string[],
  classes: number,
  source: string,
): number[] {
  const counts = new Array<number>(classes).fill(0);
  labels.forEach((y, row) => {
    if (!(Number.isInteger(y) && y >= 0 && y < classes))
      throw labelOutOfRange(
        `Parquet column "label" in ${source}: label ${y} at row ${row} (id "${ids[row]}") is outside [0, ${classes}) (field "classes" = ${classes})`,
      );
    counts[y]! += 1;
  });
  return counts;
}

/** IPC check against the smallest class of a train split (IpcExceedsClassSize naming field and file). */
export function checkImagesPerClass(
  counts: readonly number[],
  ipc: number,
  field: string,
  source: string,
): void {
  const smallest = Math.min(...counts);
  if (ipc > smallest) {
    const c = counts.indexOf(smallest);
    throw ipcExceedsClassSize(
      `field "${field}" = ${ipc} exceeds the smallest class of ${source}: class ${c} has ${smallest} train images`,
    );
  }
}

/**
 * The pixel column of a user table: FixedSizeList or List, every row exactly h·w·c values, of floats
 * (taken as they are) or of uint8 (0–255, divided by 255: `scale` 'uint8/255', recorded in the images
 * table's metadata with the identity normalisation). Both list kinds are read the same way; any other
 * item type is refused with ImagePixelTypeUnsupported naming the column, its type and the file.
 */
function userPixels(
  table: Table,
  size: number,
  ids: string[],
  source: string,
): { pixels: Float32Array; scale: 'uint8/255' | null } {
  const field = table.schema.fields.find((f) => f.name === 'pixels');
  const item =
    field && (DataType.isFixedSizeList(field.type) || DataType.isList(field.type))
      ? field.type.children[0]!.type
      : null;
  const uint8 = item !== null && DataType.isInt(item) && item.bitWidth === 8 && !item.isSigned;
  if (item !== null && !uint8 && !DataType.isFloat(item))
    throw pixelTypeUnsupported(
      `Parquet column "pixels" in ${source}: items are ${String(item).toLowerCase()}, expected float32/float64 (pixels as they are) or uint8 (0–255, divided by 255)`,
    );
  const pixels = listPixels(table, field, size, ids, source);
  if (uint8) for (let i = 0; i < pixels.length; i++) pixels[i] = pixels[i]! / 255;
  return { pixels, scale: uint8 ? 'uint8/255' : null };
}

function listPixels(
  table: Table,
  field: Table['schema']['fields'][number] | undefined,
  size: number,
  ids: string[],
  source: string,
): Float32Array {
  if (field && DataType.isFixedSizeList(field.type) && (field.type as FixedSizeList).listSize !== size) {
    throw pixelCountMismatch(
      `Parquet column "pixels" in ${source}: every row has ${(field.type as FixedSizeList).listSize} values, but metadata h·w·c = ${size}`,
    );
  }
  const floatFsl =
    field &&
    DataType.isFixedSizeList(field.type) &&
    DataType.isFloat(field.type.children[0]!.type) &&
    field.type.children[0]!.type.precision === 1;
  if (field && (DataType.isList(field.type) || (DataType.isFixedSizeList(field.type) && !floatFsl))) {
    const vec = table.getChild('pixels')!;
    const out = new Float32Array(table.numRows * size);
    for (let row = 0; row < table.numRows; row++) {
      const v = vec.get(row) as { length: number; toArray(): ArrayLike<number> } | null;
      const n = v?.length ?? 0;
      if (n !== size)
        throw pixelCountMismatch(
          `Parquet column "pixels" in ${source}: row ${row} (id "${ids[row]}") has ${n} values, but metadata h·w·c = ${size}`,
        );
      out.set(v!.toArray(), row * size);
    }
    return out;
  }
  validateTable(table, IMAGES, source, { sizes: { pixels: size } });
  return fixedSizeListValues<Float32Array>(table, 'pixels').flat;
}

const USER_IMAGE_KEYS: TableContract = {
  name: 'user_images',
  columns: IMAGES.columns.slice(0, 2),
  metadata: ['h', 'w', 'c'],
};

/** Decodes and validates a user image table (see the file comment for the errors). */
export function readUserImages(bytes: Uint8Array, source: string, classes: number) {
  const table = decodeParquet(bytes, source);
  validateTable(table, USER_IMAGE_KEYS, source);
  const h = metadataInt(table, 'h', source);
  const w = metadataInt(table, 'w', source);
  const c = metadataInt(table, 'c', source);
  const ids = stringValues(table, 'id');
  const { pixels, scale } = userPixels(table, h * w * c, ids, source);
  const labels = Int32Array.from(table.getChild('label')!.toArray() as ArrayLike<number>);
  const counts = countClasses(labels, ids, classes, source);
  for (let i = 0; i < pixels.length; i++) {
    if (!Number.isFinite(pixels[i]!)) {
      const row = Math.floor(i / (h * w * c));
      throw nonFinite(
        `Parquet column "pixels" in ${source}: value ${pixels[i]} at row ${row} (id "${ids[row]}")`,
      );
    }
  }
  return { rows: { ids, labels, pixels }, h, w, c, counts, scale };
}

/** Seeded, class-stratified split: round(n_c · testFraction) test rows per class (≥ 1 when n_c ≥ 2). */
export function stratifiedSplit(
  rows: ImageRows,
  size: number,
  classes: number,
  testFraction: number,
  seed: number,
) {
  const byClass: number[][] = Array.from({ length: classes }, () => []);
  rows.labels.forEach((y, i) => byClass[y]!.push(i));
  const train: number[] = [];
  const test: number[] = [];
  byClass.forEach((members, c) => {
    const order = permutation(members.length, new Rng(deriveSeed(seed, 'images-split', c)));
    const k = members.length < 2 ? 0 : Math.max(1, Math.round(members.length * testFraction));
    order.forEach((j, r) => (r < k ? test : train).push(members[j]!));
  });
  const take = (idx: number[], name: string): ImageRows => {
    const order = permutation(idx.length, new Rng(deriveSeed(seed, 'images-order', name)));
    const picked = Array.from(order, (j) => idx[j]!);
    const pixels = new Float32Array(picked.length * size);
    picked.forEach((r, i) => pixels.set(rows.pixels.subarray(r * size, (r + 1) * size), i * size));
    return {
      ids: picked.map((r) => rows.ids[r]!),
      labels: Int32Array.from(picked, (r) => rows.labels[r]!),
      pixels,
    };
  };
  return { train: take(train, 'train'), test: take(test, 'test') };
}

/** An `images` table's Parquet bytes. */
export function imageTableBytes(
  rows: ImageRows,
  shape: { h: number; w: number; c: number },
  meta: Record<string, string>,
): Uint8Array {
  const table = buildTable(
    IMAGES,
    { id: rows.ids, label: rows.labels, pixels: { flat: rows.pixels, size: shape.h * shape.w * shape.c } },
    { h: String(shape.h), w: String(shape.w), c: String(shape.c), ...meta },
  );
  return encodeParquet(table);
}

const mnistVersion = () =>
  `mnist@${(createRequire(import.meta.url)('mnist/package.json') as { version: string }).version}`;

export function createImageActivities({ artifacts }: { artifacts: ArtifactStore }) {
  return {
    /** MNIST or a user image Parquet → `images` tables for train and test (memoized, all-or-nothing). */
    async ingestImages(raw: IngestImagesInput): Promise<IngestImagesResult> {
      const input = IngestImagesInput.parse(raw);
      const { source, classes, seed } = input;
      let user: ReturnType<typeof readUserImages> | undefined;
      let inputs: string[];
      let sourceName: string;
      if ('builtin' in source) {
        sourceName = mnistVersion();
        inputs = [sourceName];
      } else {
        const bytes = await artifacts.readUri(source.uri, 'source.uri');
        user = await forField('source.uri', async () => readUserImages(bytes, source.uri, classes));
        sourceName = `${source.uri}#sha256=${sha256Hex(bytes)}`;
        inputs = [sourceName];
      }
      const check = (r: IngestImagesResult) => {
        if (input.minTrainPerClass !== undefined)
          checkImagesPerClass(
            r.trainPerClass,
            input.minTrainPerClass,
            input.minTrainPerClassField,
            `the train split of ${'uri' in source ? source.uri : sourceName} (${r.train.uri})`,
          );
      };
      const config = {
        source: 'builtin' in source ? source : { user: true, testFraction: source.testFraction },
        classes,
      };
      const result = await memoized(
        artifacts,
        { activity: 'ingestImages@2', inputs, config, seed },
        input.cache,
        async () => {
          let split: { train: ImageRows; test: ImageRows };
          let shape: { h: number; w: number; c: number };
          let meta: Record<string, string>;
          if ('builtin' in source) {
            let data: ReturnType<typeof loadMnist>;
            try {
              data = loadMnist({
                seed,
                trainPerClass: source.trainPerClass,
                downsample: source.downsample,
                ...(source.testCount ? { testCount: source.testCount } : {}),
              });
            } catch (err) {
              if (err instanceof RangeError) throw configError(`ingestImages (mnist): ${err.message}`);
              throw err;
            }
            shape = { h: data.h, w: data.w, c: data.c };
            const rows = (s: typeof data.train): ImageRows => ({
              ids: Array.from(s.ids, (id) => `mnist-${id}`),
              labels: s.labels,
              pixels: s.images,
            });
            split = { train: rows(data.train), test: rows(data.test) };
            meta = {
              normalization: JSON.stringify(MNIST_NORMALIZATION),
              source: sourceName,
              downsample: String(source.downsample),
            };
            countClasses(split.train.labels, split.train.ids, classes, `the ${sourceName} package`);
          } else {
            shape = { h: user!.h, w: user!.w, c: user!.c };
            split = stratifiedSplit(
              user!.rows,
              shape.h * shape.w * shape.c,
              classes,
              source.testFraction,
              seed,
            );
            // uint8 sources were divided by 255: the table says so, with the identity normalisation
            // (pixels = x in [0, 1]) that distilled exports inherit and clip to.
            meta = user!.scale
              ? {
                  source: sourceName,
                  pixel_scale: user!.scale,
                  normalization: JSON.stringify({
                    mean: new Array<number>(shape.c).fill(0),
                    std: new Array<number>(shape.c).fill(1),
                  }),
                }
              : { source: sourceName };
          }
          const perClass = (labels: Int32Array) => {
            const n = new Array<number>(classes).fill(0);
            labels.forEach((y) => (n[y]! += 1));
            return n;
          };
          const trainPerClass = perClass(split.train.labels);
          // Checked before anything is committed: a failing IPC leaves no artifact behind.
          if (input.minTrainPerClass !== undefined)
            checkImagesPerClass(
              trainPerClass,
              input.minTrainPerClass,
              input.minTrainPerClassField,
              `the train split of ${'uri' in source ? source.uri : sourceName}`,
            );
          const outputs: PendingArtifact[] = (['train', 'test'] as const).map((s) => ({
            output: s,
            bytes: imageTableBytes(split[s], shape, { ...meta, classes: String(classes), split: s }),
            kind: 'table',
            format: 'parquet',
            rows: split[s].labels.length,
            schema: contractFingerprint(IMAGES),
          }));
          return {
            outputs,
            result: (refs) => ({
              train: refs.train!,
              test: refs.test!,
              ...shape,
              classes,
              trainPerClass,
              testPerClass: perClass(split.test.labels),
              source: sourceName,
            }),
          };
        },
      );
      check(result); // a memoized hit is checked too
      return result;
    },

    /** The §10.2 MNIST profile for (method, IPC, preset) with the run's overrides, as plain JSON. */
    async planDistillation(raw: PlanDistillationInput): Promise<DistillationPlan> {
      const input = PlanDistillationInput.parse(raw);
      try {
        const bucket: MnistIpc = input.ipc <= 1 ? 1 : input.ipc <= 10 ? 10 : 50;
        const base = mnistProfile(bucket, input.method, input.preset);
        const { minTrainPerClass, ...shape } = input.data;
        const net = convNetConfig({ ...base.distill.net, ...shape, ...input.net });
        const iterations = input.iterations ?? base.iterations;
        const experts = { ...base.experts, ...input.experts };
        if (minTrainPerClass !== undefined && experts.imagesPerClass > minTrainPerClass) {
          if (input.experts.imagesPerClass !== undefined)
            throw configError(
              `field "experts.imagesPerClass" = ${experts.imagesPerClass} exceeds the smallest class of the train split (${minTrainPerClass} images)`,
            );
          experts.imagesPerClass = minTrainPerClass; // the profile's default, capped to the data
        }
        const evaluation = { ...base.evaluation, ...input.evaluation };
        const { net: _n, ast, ...baseDistill } = base.distill;
        const overrides: TrajectoryMatchingOverrides = {
          ...baseDistill,
          ast,
          ...input.distill,
          net,
          ipc: input.ipc,
          seed: input.seed,
        };
        if (input.iterations !== undefined && input.distill.expansionEndIteration === undefined)
          overrides.expansionEndIteration = Math.max(1, Math.floor(iterations / 2));
        const maxStart = overrides.maxStartEpoch!;
        // A maxStartEpoch at or below the profile's window start opens the window at epoch 0.
        if (input.distill.minStartEpoch === undefined && overrides.minStartEpoch! >= maxStart)
          overrides.minStartEpoch = 0;
        const minStart = overrides.minStartEpoch!;
        if (input.distill.initialMaxStartEpoch === undefined)
          overrides.initialMaxStartEpoch = Math.max(
            minStart + 1,
            Math.min(overrides.initialMaxStartEpoch!, maxStart),
          );
        if (overrides.initialMaxStartEpoch! >= maxStart && input.distill.sequentialGeneration === undefined)
          overrides.sequentialGeneration = false;
        const distill = trajectoryMatchingConfig(overrides);
        // The experts see the augmentation the student unroll uses (buffer.py and distill.py share --dsa).
        if (distill.dsa) experts.dsa = distill.dsa;
        const needed = lastEpochNeeded(distill);
        if (needed > experts.epochs)
          throw configError(
            `field "experts.epochs" = ${experts.epochs}: start epochs below maxStartEpoch ${distill.maxStartEpoch} with expertEpochs ${distill.expertEpochs} need trajectories up to epoch ${needed}`,
          );
        return {
          methodTag: trajectoryMatchingMethod(distill),
          profileName: base.name,
          net: net as unknown as NetConfigJson,
          distill: distill as unknown as TmConfigJson,
          iterations,
          experts,
          evaluation,
          paramCount: paramCount(net),
        };
      } catch (err) {
        if (err instanceof RangeError) throw configError(`planDistillation: ${err.message}`);
        throw err;
      }
    },
  };
}
