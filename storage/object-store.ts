// The object-store abstraction: a flat key space under a root URI. `file://` (the embedded
// default) and `s3://` implement it; everything above storage/ sees only this interface.
import { RetortDataError } from './errors.js';

export interface ObjectInfo {
  key: string;
  size: number;
  /** Last write, ms since the epoch (file mtime, S3 LastModified); set by `list` (what `retort gc` ages by). */
  modifiedMs?: number;
}

export interface PutOptions {
  /** Fail with `exists` instead of overwriting (S3 `If-None-Match: *`, rename-no-replace on files). */
  ifNoneMatch?: boolean;
  /** Base64 SHA-256 the server verifies (S3 `x-amz-checksum-sha256`), when supported. */
  sha256Base64?: string;
  contentType?: string;
}

export type PutResult = 'written' | 'exists';

export interface ObjectStore {
  /** Root URI, e.g. `file:///home/u/.retort/store` or `s3://bucket/prefix`. */
  readonly root: string;
  /** Full URI of a key. */
  uri(key: string): string;
  put(key: string, body: Uint8Array, options?: PutOptions): Promise<PutResult>;
  get(key: string): Promise<Uint8Array>;
  /** Bytes [start, end) — explicit ranges only, never suffix ranges (s3rver and some proxies get them wrong). */
  getRange(key: string, start: number, end: number): Promise<Uint8Array>;
  head(key: string): Promise<ObjectInfo | undefined>;
  list(prefix: string): Promise<ObjectInfo[]>;
  delete(key: string): Promise<void>;
}

/**
 * Keys are relative, '/'-separated paths that stay under the root: no empty segments, no `.`/`..`,
 * no leading '/', no backslashes or NUL. Throws `InvalidStoreKey` naming the key.
 */
export function validateKey(key: string): string {
  const bad = (why: string) => new RetortDataError('InvalidStoreKey', `object key "${key}": ${why}`);
  if (typeof key !== 'string' || key.length === 0) throw bad('empty');
  if (key.length > 1024) throw bad('longer than 1024 characters');
  if (key.startsWith('/')) throw bad('absolute keys are not allowed');
  if (/[\\\0]/.test(key)) throw bad('backslashes and NUL are not allowed');
  for (const segment of key.split('/')) {
    if (segment === '..') throw bad('".." would escape the store root');
    if (segment === '.' || segment === '') throw bad('empty or "." path segments are not allowed');
  }
  return key;
}
