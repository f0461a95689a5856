// The report stage every top-level pipeline ends with: one `writeReport` activity on the workflow's
// own queue, given refs and small JSON; the run's `report.html` ref goes into its result and manifest.
import { patched, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { ArtifactRef } from '../schemas/artifact.js';
import type { ReportContent } from '../schemas/report.js';
import { RetortHeadline } from '../schemas/temporal.js';
import { meanStd } from '../ml/eval/mean-std.js';
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
  /**
   * The run's headline figure (`RetortHeadline`: accuracy of the distilled set in %, mean validation
   * loss, …), set once the report is written.
   */
  headline?: number | null;
}

/** Mean of a few losses (a headline figure); null for none. */
export const meanOf = (xs: readonly number[]): number | null => (xs.length ? meanStd(xs).mean : null);

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
  // Its own marker: runs recorded with a report stage but before the headline replay unchanged.
  const { headline } = options;
  if (typeof headline === 'number' && Number.isFinite(headline) && patched('headline-metric'))
    upsertSearchAttributes([{ key: RetortHeadline, value: headline }]);
  return { reportHtml };
}
