// The workflow types a client can start, with the zod schema of each one's single argument.
import { IngestCorpusInput } from '../schemas/ingest.js';
import { TrainingSpec } from '../schemas/training.js';
import { MixAioliInput } from '../schemas/aioli.js';
import { SelectWarmupInput } from '../schemas/gotd.js';
import { DistillCvddInput, DistillDatasetInput } from '../schemas/distill.js';
import { DistillTrajectoryInput, TrainExpertsInput } from '../schemas/trajectory-matching.js';
import { ContinualPretrainInput } from '../schemas/rewarm.js';
import { CurateCorpusInput } from '../schemas/curate.js';
import { DistillCommitteeInput } from '../schemas/cvdd.js';
import { DedupCorpusInput } from '../schemas/dedup-corpus.js';
import type { z } from 'zod';

export const WORKFLOW_INPUTS = {
  ingestCorpus: IngestCorpusInput,
  trainModel: TrainingSpec,
  mixAioli: MixAioliInput,
  selectWarmup: SelectWarmupInput,
  trainExperts: TrainExpertsInput,
  distillTrajectory: DistillTrajectoryInput,
  distillDataset: DistillDatasetInput,
  continualPretrain: ContinualPretrainInput,
  curateCorpus: CurateCorpusInput,
  distillCommittee: DistillCommitteeInput,
  distillCvdd: DistillCvddInput,
  dedupCorpus: DedupCorpusInput,
} as const satisfies Record<string, z.ZodType>;

export type WorkflowType = keyof typeof WORKFLOW_INPUTS;

export const isWorkflowType = (name: string): name is WorkflowType => Object.hasOwn(WORKFLOW_INPUTS, name);

/** `examples/ingest-corpus.json` → `ingestCorpus`. */
export function workflowTypeFromFile(path: string): WorkflowType | undefined {
  const base = path
    .split('/')
    .pop()!
    .replace(/\.json$/, '');
  const camel = base.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());
  return isWorkflowType(camel) ? camel : undefined;
}
