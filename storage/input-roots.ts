// Where user-supplied URIs may be read from (DESIGN.md §4). A workflow input names files by URI, and
// whoever can start a workflow could otherwise make a worker read any file its user can: every URI
// is decoded and checked against a short list of allowed roots before anything touches the disk or
// the network. A refusal is one error type with one message shape, the same whether or not the
// object exists, so it cannot be used to probe the worker's host.
import { dirname, isAbsolute, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RetortDataError } from './errors.js';
import { FileStore } from './file-store.js';
import type { ObjectStore } from './object-store.js';
import { S3Store } from './s3-store.js';

export type InputRoot = { kind: 'file'; dir: string } | { kind: 's3'; bucket: string; prefix: string };

/** Where a URI points, after decoding: an absolute local path, or an S3 bucket and key. */
export type ObjectLocation = { kind: 'file'; path: string } | { kind: 's3'; bucket: string; key: string };

/** The one refusal: names the field and the URI as given, never what is (or is not) there. */
export function uriRefused(uri: string, field?: string): RetortDataError {
  return new RetortDataError(
    'UriRefused',
    `${field ? `${field}: ` : ''}URI "${uri}" is refused: Retort reads only under its allowed input roots (RETORT_INPUT_ROOTS) and follows no symbolic links`,
  );
}

const dotSegment = (s: string) => s === '.' || s === '..';

/**
 * Decodes a `file://` URI, an absolute path or an `s3://` URI into a location. `.`/`..` segments
 * (also percent-encoded ones), NUL and encoded slashes are refused rather than normalised away.
 */
export function locateUri(uri: string, field?: string): ObjectLocation {
  const refuse = () => uriRefused(uri, field);
  if (uri.includes('\0')) throw refuse();
  if (uri.startsWith('s3://')) {
    const m = /^s3:\/\/([^/]+)\/(.+)$/.exec(uri);
    if (!m) throw refuse();
    const key = m[2]!;
    for (const segment of key.split('/')) {
      let decoded: string;
      try {
        decoded = decodeURIComponent(segment);
      } catch {
        throw refuse();
      }
      if (segment === '' || dotSegment(segment) || dotSegment(decoded)) throw refuse();
    }
    return { kind: 's3', bucket: m[1]!, key };
  }
  let raw: string;
  let encoded: boolean;
  if (uri.startsWith('file://')) {
    const rest = uri.slice('file://'.length);
    // Only local files: `file:///path` or `file://localhost/path`; no query or fragment.
    const path = rest.startsWith('/') ? rest : rest.startsWith('localhost/') ? rest.slice(9) : undefined;
    if (path === undefined || /[?#]/.test(path)) throw refuse();
    raw = path;
    encoded = true;
  } else if (uri.startsWith('/')) {
    raw = uri;
    encoded = false;
  } else {
    throw new RetortDataError(
      'UnsupportedUri',
      `${field ? `${field}: ` : ''}URI "${uri}": unknown or missing scheme (expected file://, s3:// or an absolute path)`,
    );
  }
  const segments = raw.split('/').slice(1);
  const decoded: string[] = [];
  for (const segment of segments) {
    let d = segment;
    if (encoded) {
      try {
        d = decodeURIComponent(segment);
      } catch {
        throw refuse();
      }
    }
    if (d.includes('/') || d.includes('\\') || d.includes('\0') || dotSegment(d)) throw refuse();
    if (d === '' && segment !== segments.at(-1)) throw refuse();
    decoded.push(d);
  }
  if (decoded.at(-1) === '') decoded.pop();
  return { kind: 'file', path: resolve('/', ...decoded) };
}

function parseRoot(entry: string): InputRoot {
  const trimmed = entry.trim().replace(/\/+$/, '');
  if (trimmed.startsWith('s3://')) {
    const m = /^s3:\/\/([^/]+)\/?(.*)$/.exec(trimmed);
    if (!m) throw new Error(`RETORT_INPUT_ROOTS: "${entry}" is not an s3://bucket[/prefix] URI`);
    return { kind: 's3', bucket: m[1]!, prefix: m[2] ? `${m[2]}/` : '' };
  }
  const path = trimmed.startsWith('file://') ? fileURLToPath(trimmed) : trimmed;
  if (!isAbsolute(path))
    throw new Error(`RETORT_INPUT_ROOTS: "${entry}" must be file://, s3:// or an absolute path`);
  return { kind: 'file', dir: resolve(path) };
}

/** The store's own root plus an `inputs/` folder beside it (for `s3://bucket` alone: the bucket). */
export function defaultInputRoots(store: ObjectStore): InputRoot[] {
  if (store instanceof FileStore)
    return [
      { kind: 'file', dir: store.dir },
      { kind: 'file', dir: join(dirname(store.dir), 'inputs') },
    ];
  if (store instanceof S3Store) {
    const prefix = store.prefix.replace(/\/$/, '');
    const parent = prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/') + 1) : '';
    const roots: InputRoot[] = [{ kind: 's3', bucket: store.bucket, prefix: store.prefix }];
    if (prefix) roots.push({ kind: 's3', bucket: store.bucket, prefix: `${parent}inputs/` });
    return roots;
  }
  return [];
}

/**
 * The allowed roots: `RETORT_INPUT_ROOTS` (comma-separated `file://…`, absolute paths, `s3://bucket`
 * or `s3://bucket/prefix`) when set, else {@link defaultInputRoots}. The store itself is always
 * allowed: it holds the artifacts every later stage reads.
 */
export function inputRootsFor(
  store: ObjectStore,
  env: string | undefined = process.env.RETORT_INPUT_ROOTS,
): InputRoot[] {
  const configured = (env ?? '')
    .split(',')
    .filter((s) => s.trim() !== '')
    .map(parseRoot);
  const own = defaultInputRoots(store);
  return configured.length ? [own[0]!, ...configured] : own;
}

const under = (path: string, dir: string) =>
  path === dir || path.startsWith(dir.endsWith(sep) ? dir : dir + sep);

/**
 * Resolves a user URI to a store and key inside one of `roots`, or throws {@link uriRefused}.
 * Inside the home store the home store itself is returned (its credentials, its symlink checks);
 * other roots get a store opened at the root, so the key is checked relative to the root.
 */
export function resolveInput(
  uri: string,
  home: ObjectStore | undefined,
  roots: readonly InputRoot[],
  options: { field?: string; prefix?: boolean } = {},
): { store: ObjectStore; key: string } {
  const { field } = options;
  const loc = locateUri(uri, field);
  if (loc.kind === 'file') {
    // A prefix may be a root itself (key ""); an object must lie strictly below one.
    const inside = (dir: string) => under(loc.path, dir) && (options.prefix || loc.path !== dir);
    const keyUnder = (dir: string) =>
      loc.path === dir
        ? ''
        : loc.path
            .slice(dir.length + (dir.endsWith(sep) ? 0 : 1))
            .split(sep)
            .join('/');
    if (home instanceof FileStore && inside(home.dir)) return { store: home, key: keyUnder(home.dir) };
    for (const root of roots) {
      if (root.kind === 'file' && inside(root.dir))
        return { store: new FileStore(root.dir), key: keyUnder(root.dir) };
    }
    throw uriRefused(uri, field);
  }
  const { bucket, key } = loc;
  const s3Inside = (prefix: string) =>
    key.startsWith(prefix) || (options.prefix === true && `${key}/` === prefix);
  const keyBelow = (prefix: string) => (key.startsWith(prefix) ? key.slice(prefix.length) : '');
  if (home instanceof S3Store && bucket === home.bucket && s3Inside(home.prefix))
    return { store: home, key: keyBelow(home.prefix) };
  for (const root of roots) {
    if (root.kind === 's3' && root.bucket === bucket && s3Inside(root.prefix)) {
      // Same bucket as the home store: reuse its client (endpoint, credentials).
      const store =
        home instanceof S3Store && home.bucket === root.bucket
          ? home.at(root.prefix)
          : new S3Store(`s3://${root.bucket}/${root.prefix}`);
      return { store, key: keyBelow(root.prefix) };
    }
  }
  throw uriRefused(uri, field);
}
