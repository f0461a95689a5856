// The `writeReport` activity's contract: what a pipeline hands over to have its `report.html`
// written (refs and small JSON only — the activity reads the tables itself).
import type { ArtifactRef } from './artifact.js';
import type { AccuracyRow } from './trajectory-matching.js';
import type { CommitteeMemberRef, CvddAccuracy, ExportRecoveredResult } from './cvdd.js';
import type { GroupCounts } from './ingest.js';
import type { GroupComposition } from './gotd.js';
import type { CurationSummary } from './dedup.js';

/** Trajectory matching (MTT / DATM): distilled images, the matching-loss log, accuracy per arm. */
export interface TrajectoryReportContent {
  kind: 'trajectory';
  method: string;
  ipc: number;
  distilled: ArtifactRef;
  log: ArtifactRef;
  accuracy: AccuracyRow[];
}

/** Committee voting (CV-DD): recovered images, members with priors, per-slot voting, accuracy per arm. */
export interface CvddReportContent {
  kind: 'cvdd';
  ipc: number;
  distilled: ArtifactRef;
  committee: Pick<CommitteeMemberRef, 'index' | 'id' | 'valAcc' | 'prior' | 'priorSource'>[];
  recovery: ExportRecoveredResult['slots'];
  accuracy: CvddAccuracy[];
}

/** Ingest: per-group passages, bytes and windows per split. */
export interface IngestReportContent {
  kind: 'ingest';
  groups: GroupCounts[];
}

/** GOT-D warm-up selection: composition per group, OT cost, and the selected rows (for their scores). */
export interface SelectWarmupReportContent {
  kind: 'selectWarmup';
  selection: ArtifactRef;
  composition: GroupComposition[];
  otCost: { before: number; after: number; lambda: number } | null;
  budget: number;
  poolRows: number;
  targetRows: number;
}

/** Aioli mixing: proportions and per-group validation loss per round (long-format history table). */
export interface MixingReportContent {
  kind: 'mixing';
  history: ArtifactRef;
}

/** continualPretrain: upstream/downstream validation loss and the LR per step (its `metrics` history table). */
export interface ContinualReportContent {
  kind: 'continual';
  metrics: ArtifactRef;
}

/** curateCorpus: loss per group on this partition's validation windows and the previous one's. */
export interface CurateEvaluationReportContent {
  kind: 'curateEvaluation';
  partition: string;
  previousPartition: string | null;
  downstream: Record<string, number>;
  upstream: Record<string, number> | null;
}

/** Curation (dedupCorpus, ingestCorpus with `dedup`/`filters`): rows removed per filter and as duplicates. */
export interface CurationReportContent {
  kind: 'curation';
  summary: CurationSummary;
}

export type ReportContent =
  | TrajectoryReportContent
  | CvddReportContent
  | IngestReportContent
  | SelectWarmupReportContent
  | MixingReportContent
  | ContinualReportContent
  | CurateEvaluationReportContent
  | CurationReportContent;

export interface WriteReportInput {
  /** The workflow type, and the run the report belongs to (shown in its header). */
  workflowType: string;
  workflowId: string;
  dataset: string;
  /** Sections in order; a pipeline with several stages (curateCorpus) passes several. */
  contents: ReportContent[];
  /** The run's input, shown at the end of the report. */
  input: unknown;
  cache: boolean;
}
