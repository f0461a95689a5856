// Resolving store roots and object URIs.
import { resolve } from 'node:path';
import { RetortDataError } from './errors.js';
import { FileStore } from './file-store.js';
import { type InputRoot, inputRootsFor, resolveInput } from './input-roots.js';
import type { ObjectStore } from './object-store.js';
import { S3Store } from './s3-store.js';

/** The embedded default store: `./.retort/store` under the working directory. */
export const DEFAULT_STORE = 'file://' + resolve('.retort/store');

/** Opens the store named by `uri` (default: `RETORT_STORE`, else the embedded default). */
export function openStore(uri: string = process.env.RETORT_STORE ?? DEFAULT_STORE): ObjectStore {
  if (uri.startsWith('file://')) return new FileStore(uri);
  if (uri.startsWith('s3://')) return new S3Store(uri);
  if (uri.startsWith('/') || uri.startsWith('./') || uri.startsWith('../'))
    return new FileStore(resolve(uri));
  throw new RetortDataError(
    'UnsupportedUri',
    `store URI "${uri}": unknown scheme (expected file:// or s3://)`,
  );
}

/**
 * Splits an object URI into a store and a key, reusing `home` when the URI lies under its root.
 * Every URI is confined to the allowed input roots (default: {@link inputRootsFor} `home`):
 * `file:///a/b/c.parquet` under an allowed root `/a` opens a FileStore at `/a` with key `b/c.parquet`;
 * anything else is refused with `UriRefused`. `field` names the input field in that error.
 */
export function resolveObject(
  uri: string,
  home?: ObjectStore,
  options: { roots?: readonly InputRoot[]; field?: string; prefix?: boolean } = {},
): { store: ObjectStore; key: string } {
  const base = home ?? openStore();
  return resolveInput(uri, base, options.roots ?? inputRootsFor(base), options);
}
