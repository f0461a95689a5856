// Query / signal / update definitions: one object each, imported by workflows and the client alike.
import { defineQuery } from '@temporalio/workflow';

/** Every Retort workflow answers `progress` with a small JSON object describing where it is. */
export const progressQuery = defineQuery<Record<string, unknown>>('progress');
