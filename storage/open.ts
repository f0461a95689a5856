// Resolving store roots and object URIs.
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RetortDataError } from './errors.js';
import { FileStore } from './file-store.js';
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
 * `file:///a/b/c.parquet` outside the home store opens a FileStore at `/a/b`.
 */
export function resolveObject(uri: string, home?: ObjectStore): { store: ObjectStore; key: string } {
  if (uri.split(/[\\/]/).some((segment) => segment === '..')) {
    throw new RetortDataError('InvalidStoreKey', `URI "${uri}": ".." path segments are not allowed`);
  }
  if (home && uri.startsWith(home.root + '/')) return { store: home, key: uri.slice(home.root.length + 1) };
  if (uri.startsWith('file://') || uri.startsWith('/')) {
    const path = uri.startsWith('file://') ? fileURLToPath(uri) : uri;
    return { store: new FileStore(dirname(path)), key: path.slice(dirname(path).length + 1) };
  }
  const s3 = /^s3:\/\/([^/]+)\/(.+)$/.exec(uri);
  if (s3) {
    const key = s3[2]!;
    const slash = key.lastIndexOf('/');
    const root = slash < 0 ? `s3://${s3[1]}` : `s3://${s3[1]}/${key.slice(0, slash)}`;
    return { store: new S3Store(root), key: key.slice(slash + 1) };
  }
  throw new RetortDataError(
    'UnsupportedUri',
    `URI "${uri}": unknown or missing scheme (expected file://, s3:// or an absolute path)`,
  );
}
