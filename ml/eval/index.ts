// The one student evaluator and the one mean ± std of every distillation figure (DESIGN.md §1, §8).
export { type MeanStd, STD_CONVENTION, meanStd } from './mean-std.js';
export { gatherImageRows, randomRealRows } from './baselines.js';
export {
  DEFAULT_STUDENT_PROTOCOL,
  type ImageShape,
  type StopReason,
  type StudentArch,
  type StudentProtocol,
  type StudentResult,
  type StudentTestSet,
  type StudentTrainSet,
  protocolStudents,
  studentAccuracy,
  studentScores,
  studentArchId,
  trainStudent,
} from './student.js';
