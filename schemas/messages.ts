// Query / signal / update definitions: one object each, imported by workflows and the client alike.
import { defineQuery, defineSignal } from '@temporalio/workflow';

/** Every Retort workflow answers `progress` with a small JSON object describing where it is. */
export const progressQuery = defineQuery<Record<string, unknown>>('progress');

/** A child's progress as its parent's `progress` query and current details show it. */
export interface ChildProgress {
  workflowId: string;
  workflowType: string;
  stage: string;
  done: number;
  total: number;
  /** The child's current-details line (markdown), with its latest metric. */
  details: string;
}

/** Sent by a child to its parent when its stage changes or it advances by a twentieth. */
export const childProgressSignal = defineSignal<[ChildProgress]>('childProgress');
