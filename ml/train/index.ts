// ml/train: what a training activity needs besides the model.
//   rng.ts         seeded PRNG (mulberry32), derived seeds, shuffles and samplers
//   batches.ts     deterministic, step-addressable data order; typed-array rows → tensors
//   param-tree.ts  params as one flat tensor or a named map; leaf-wise helpers
//   optimizers.ts  functional SGD (momentum, weight decay) and AdamW; global-norm clipping; checkpoint form
//   loops.ts       trainSteps (the loop), trainConvNetSteps, trainLmSteps
//   schedule.ts    the LrSchedule type (the schedules live with their methods, e.g. ../methods/rewarm.ts)
export {
  Rng,
  deriveSeed,
  permutation,
  sampleCategorical,
  sampleWithReplacement,
  sampleWithoutReplacement,
  shuffleInPlace,
} from './rng.js';
export {
  BatchOrder,
  type BatchOrderConfig,
  type ImageShape,
  epochBatches,
  epochPermutation,
  gatherImages,
  gatherLabels,
  gatherRows,
  gatherTokenWindows,
  gatherVectors,
} from './batches.js';
export {
  FLAT_LEAF,
  type NamedTensors,
  type ParamTree,
  disposeTree,
  fromLeaves,
  isFlat,
  leaf,
  leafNames,
  leaves,
  mapLeaves,
  treeSize,
  zerosLikeTree,
} from './param-tree.js';
export {
  type AdamWConfig,
  DEFAULT_ADAMW,
  DEFAULT_SGD,
  type Optimizer,
  type OptimizerState,
  type SerializedOptimizerState,
  type SgdConfig,
  adamw,
  clipByGlobalNorm,
  decayMatricesOnly,
  deserializeOptimizerState,
  disposeOptimizerState,
  globalNorm,
  serializeOptimizerState,
  sgd,
} from './optimizers.js';
export {
  type ConvNetBatch,
  type ConvNetStepsInput,
  type ConvNetStepsResult,
  type LmStepsInput,
  type LmStepsResult,
  type LossResult,
  type StepInfo,
  type TrainStepsInput,
  type TrainStepsResult,
  classificationLoss,
  trainConvNetSteps,
  trainLmSteps,
  trainSteps,
} from './loops.js';
export type { LrSchedule } from './schedule.js';
