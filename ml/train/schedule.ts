// The learning-rate schedule type every training loop takes. Schedules themselves belong to the method
// that defines them: ml/methods/rewarm.ts (re-warmed cosine, the constant no-re-warm baseline), and the
// distillation students' schedules beside their methods.

/** Learning rate as a function of the 0-based global step. */
export type LrSchedule = (step: number) => number;
