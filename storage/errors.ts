// Data-plane errors. Each carries a `type` that activities turn into a non-retryable Temporal
// ApplicationFailure of the same type (specs/temporal.md §c.2): retrying cannot fix bad data.

export type DataErrorType =
  | 'DatasetSchemaMismatch'
  | 'DatasetNotFound'
  | 'CorruptDataset'
  | 'EmptyDataset'
  | 'InvalidStoreKey'
  | 'UnsupportedUri'
  | 'InvalidPipelineInput'
  | 'UriRefused'
  | 'DatasetTooLarge'
  /** A folder under a partitioned prefix whose name is not a partition name (schemas/curate.ts). */
  | 'InvalidPartitionName'
  /** A partition that holds no data file (only markers such as `_SUCCESS`, or nothing). */
  | 'EmptyPartition';

export class RetortDataError extends Error {
  readonly nonRetryable = true;
  constructor(
    readonly type: DataErrorType,
    message: string,
  ) {
    super(message);
    this.name = type;
  }
}

export const schemaMismatch = (message: string) => new RetortDataError('DatasetSchemaMismatch', message);
export const notFound = (message: string) => new RetortDataError('DatasetNotFound', message);
export const corrupt = (message: string) => new RetortDataError('CorruptDataset', message);
export const emptyDataset = (message: string) => new RetortDataError('EmptyDataset', message);
