// The report stage every top-level pipeline ends with: one `writeReport` activity on the workflow's
// own queue, given refs and small JSON; the run's `report.html` ref goes into its result and manifest.
import { patched, workflowInfo } from '@temporalio/workflow';
import type { ArtifactRef } from '../schemas/artifact.js';
import type { ReportContent } from '../schemas/report.js';
import type { ioActivities } from './common.js';

export interface ReportStageOptions {
  dataset: string;
  contents: ReportContent[];
  /** The run's validated input (shown at the end of the report). */
  input: unknown;
  cache: boolean;
  /** Default true: a child of a pipeline leaves the report to its parent. */
  topLevelOnly?: boolean;
  /**
   * Called when the report is written (to mark the stage). Only then: marking a stage upserts search
   * attributes, a command an old history does not have.
   */
  onStage?: () => void;
}

/**
 * Writes the run's report; `{}` for a child (when `topLevelOnly`) and when replaying a history that
 * predates the report stage (`patched('report-stage')` is false there, so old runs replay unchanged).
 */
export async function reportStage(
  io: ReturnType<typeof ioActivities>,
  options: ReportStageOptions,
): Promise<{ reportHtml?: ArtifactRef }> {
  const info = workflowInfo();
  if ((options.topLevelOnly ?? true) && info.parent) return {};
  if (!patched('report-stage')) return {};
  options.onStage?.();
  const reportHtml = await io.writeReport({
    workflowType: info.workflowType,
    workflowId: info.workflowId,
    dataset: options.dataset,
    contents: options.contents,
    input: options.input,
    cache: options.cache,
  });
  return { reportHtml };
}
