// Names shared by workflows, workers and the client: task queues, search attributes, timeouts.
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { z } from 'zod';

/** Workflows + I/O activities. */
export const TASK_QUEUE = 'retort';
/** tfjs activities: one slot per GPU, cores/2 on CPU. */
export const COMPUTE_TASK_QUEUE = 'retort-compute';

export const RetortPipeline = defineSearchAttributeKey('RetortPipeline', SearchAttributeType.KEYWORD);
export const RetortStage = defineSearchAttributeKey('RetortStage', SearchAttributeType.KEYWORD);
export const RetortDataset = defineSearchAttributeKey('RetortDataset', SearchAttributeType.KEYWORD);
/**
 * The pipeline's headline figure, set once when it finishes (README, _Temporal UI_, says which figure
 * each pipeline reports), so runs can be sorted and filtered by outcome (`RetortHeadline > 60`).
 */
export const RetortHeadline = defineSearchAttributeKey('RetortHeadline', SearchAttributeType.DOUBLE);
export const SEARCH_ATTRIBUTES = [RetortPipeline, RetortStage, RetortDataset, RetortHeadline] as const;
/** Set by Temporal on every run a Schedule starts (backfills and triggers too): its nominal time. */
export const TemporalScheduledStartTime = defineSearchAttributeKey(
  'TemporalScheduledStartTime',
  SearchAttributeType.DATETIME,
);

/**
 * Names that become search attributes, workflow IDs and UI summaries (`dataset`, `lineage`): short
 * enough that the server never refuses or terminates a run over them (keyword values, ID length).
 */
export const MAX_NAME_CHARS = 100;
export const DatasetName = z
  .string()
  .max(MAX_NAME_CHARS)
  .regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, ".", "_" and "-" only');

/** Input fields every workflow copies into search attributes or IDs. */
export const NAME_FIELDS = ['dataset', 'lineage'] as const;

/** The first name field longer than {@link MAX_NAME_CHARS}, for a message naming it. */
export function overlongNameField(input: unknown): { field: string; length: number } | undefined {
  if (!input || typeof input !== 'object') return undefined;
  for (const field of NAME_FIELDS) {
    const v = (input as Record<string, unknown>)[field];
    if (typeof v === 'string' && v.length > MAX_NAME_CHARS) return { field, length: v.length };
  }
  return undefined;
}

/** Activity timing profile: `test` makes crash detection take seconds instead of minutes. */
export const Profile = z.enum(['prod', 'test']).default('prod');
export type Profile = z.infer<typeof Profile>;

export interface ActivityTimeouts {
  startToCloseTimeout: string;
  heartbeatTimeout?: string;
  retry: {
    initialInterval: string;
    backoffCoefficient: number;
    maximumInterval: string;
    maximumAttempts: number;
  };
}

/** Error types a retry cannot fix (specs/temporal.md §c.2). */
export const NON_RETRYABLE_ERROR_TYPES = [
  'InvalidPipelineInput',
  'DatasetSchemaMismatch',
  'DatasetNotFound',
  'CorruptDataset',
  'EmptyDataset',
  'InvalidStoreKey',
  'UnsupportedUri',
  'UriRefused',
  'DatasetTooLarge',
  'InvalidPartitionName',
  'EmptyPartition',
  'ConfigError',
  'CheckpointIncompatible',
  'NonFiniteValues',
  'LossDiverged',
  // Image data / distillation settings (schemas/distill.ts IMAGE_ERROR_TYPES).
  'ImagePixelCountMismatch',
  'LabelOutOfRange',
  'IpcExceedsClassSize',
];

export const TIMEOUTS: Record<Profile, { io: ActivityTimeouts; compute: ActivityTimeouts }> = {
  prod: {
    io: {
      startToCloseTimeout: '30 minutes',
      heartbeatTimeout: '30s',
      retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 8 },
    },
    compute: {
      startToCloseTimeout: '24 hours',
      // A killed compute worker's activity is retried elsewhere within a minute: 45 s without a
      // heartbeat plus a 2 s first retry. Training steps heartbeat between steps and from a background
      // timer, and no single tfjs step blocks the event loop for anywhere near 45 s.
      heartbeatTimeout: '45s',
      retry: {
        initialInterval: '2s',
        backoffCoefficient: 2,
        maximumInterval: '10 minutes',
        maximumAttempts: 5,
      },
    },
  },
  test: {
    io: {
      startToCloseTimeout: '5 minutes',
      // Not shorter: a loaded test machine can hold a synchronous encode for several seconds.
      heartbeatTimeout: '30s',
      retry: { initialInterval: '500ms', backoffCoefficient: 2, maximumInterval: '2s', maximumAttempts: 4 },
    },
    compute: {
      startToCloseTimeout: '10 minutes',
      heartbeatTimeout: '10s',
      retry: { initialInterval: '500ms', backoffCoefficient: 2, maximumInterval: '2s', maximumAttempts: 5 },
    },
  },
};
