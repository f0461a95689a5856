// Exactly-once effects for at-least-once activities (DESIGN.md §3).
//
// An artifact's key is derived from what produced it (activity, code version, input hashes, config,
// seed), so a retried or repeated activity computes the same key: if it is already committed the
// existing ref is returned (memoization), otherwise the bytes are written with create-if-absent
// semantics (temp file + link on `file://`, `If-None-Match: *` on S3) and a small `.ref.json`
// sidecar records the ref. Readers verify the sha256 of what they read.
import { createHash } from 'node:crypto';
import { type ArtifactRef } from '../schemas/artifact.js';
import { RetortDataError, corrupt, notFound } from './errors.js';
import { uriRefused } from './input-roots.js';
import type { ObjectStore } from './object-store.js';
import { resolveObject } from './open.js';

/** Bumped when a change to any activity should invalidate every memoized artifact. */
export const CODE_VERSION = 'retort-0.1.0';

export interface ArtifactIdentity {
  /** Activity (and its own version), e.g. `ingestTextCorpus@1`. */
  activity: string;
  /** sha256 (or other immutable identity) of every input. */
  inputs: readonly string[];
  config: unknown;
  seed?: number;
  /** Which output of the activity, e.g. `train`. */
  output: string;
}

/** JSON with sorted object keys: the same value always hashes the same. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
        )
      : v,
  );
}

/**
 * `value` (JSON) with every URI or path inside the store made relative to it
 * (`<store>/inputs/pool.parquet`): for artifacts that echo a run's input, whose bytes must not
 * depend on where the store lives.
 */
export function storeRelative<T>(value: T, store: ObjectStore): T {
  const dir = (store as { dir?: unknown }).dir;
  const roots = [store.root, ...(typeof dir === 'string' ? [dir] : [])].map((r) => `${r}/`);
  return JSON.parse(JSON.stringify(value ?? null), (_k, v: unknown) => {
    if (typeof v !== 'string') return v;
    const root = roots.find((r) => v.startsWith(r));
    return root ? `<store>/${v.slice(root.length)}` : v;
  }) as T;
}

export const sha256Hex = (bytes: Uint8Array | string) => createHash('sha256').update(bytes).digest('hex');

export function artifactKey(
  kind: ArtifactRef['kind'],
  format: ArtifactRef['format'],
  id: ArtifactIdentity,
): string {
  const digest = sha256Hex(canonicalJson({ codeVersion: CODE_VERSION, ...id }));
  return `artifacts/${kind}/${digest}.${format}`;
}

/** The `.ref.json` beside a committed artifact: its ref (a memo lookup reads only this). */
export const sidecarKey = (key: string) => `${key}.ref.json`;
const sidecar = sidecarKey;

export class ArtifactStore {
  constructor(readonly store: ObjectStore) {}

  /** The committed ref at `key`, if any (memoization lookup). */
  async lookup(key: string): Promise<ArtifactRef | undefined> {
    const info = await this.store.head(sidecar(key));
    if (!info) return undefined;
    const { memoEntry: _, ...ref } = JSON.parse(
      new TextDecoder().decode(await this.store.get(sidecar(key))),
    ) as ArtifactRef & { memoEntry?: boolean };
    const object = await this.store.head(key);
    // A sidecar whose object vanished or changed size is stale: treat as absent and rewrite.
    return object && object.size === ref.bytes ? ref : undefined;
  }

  /**
   * Commits `bytes` at `key` (create-if-absent) and returns its ref. `memoEntry` marks the object as
   * an activity's memoized result in its sidecar, so `retort gc` keeps it while what it names is kept.
   */
  async commit(
    key: string,
    bytes: Uint8Array,
    meta: Pick<ArtifactRef, 'kind' | 'format'> & Partial<Pick<ArtifactRef, 'rows' | 'schema'>>,
    options: { memoEntry?: boolean } = {},
  ): Promise<ArtifactRef> {
    const digest = createHash('sha256').update(bytes);
    const sha256 = digest.copy().digest('hex');
    const outcome = await this.store.put(key, bytes, {
      ifNoneMatch: true,
      sha256Base64: digest.digest('base64'),
    });
    let ref: ArtifactRef = { uri: this.store.uri(key), sha256, bytes: bytes.byteLength, ...meta };
    if (outcome === 'exists') {
      // Someone committed this key first (a retry, or concurrent identical work): keep theirs.
      const existing = await this.store.get(key);
      ref = { ...ref, sha256: sha256Hex(existing), bytes: existing.byteLength };
    }
    const body = new TextEncoder().encode(
      JSON.stringify(options.memoEntry ? { ...ref, memoEntry: true } : ref),
    );
    await this.store.put(sidecar(key), body, { ifNoneMatch: false, contentType: 'application/json' });
    return ref;
  }

  /**
   * Keys of the refs inside `value` (any depth) that point into this store but whose object is gone
   * or has another size than recorded — a retention rule, a manual delete. Refs elsewhere are not
   * checked.
   */
  async missingRefs(value: unknown): Promise<string[]> {
    const refs: { uri: string; bytes: number }[] = [];
    const walk = (v: unknown): void => {
      if (!v || typeof v !== 'object') return;
      if (Array.isArray(v)) return v.forEach(walk);
      const o = v as Record<string, unknown>;
      if (typeof o.uri === 'string' && typeof o.sha256 === 'string' && typeof o.bytes === 'number')
        refs.push({ uri: o.uri, bytes: o.bytes });
      else Object.values(o).forEach(walk);
    };
    walk(value);
    const prefix = `${this.store.root}/`;
    const missing: string[] = [];
    for (const ref of refs) {
      if (!ref.uri.startsWith(prefix)) continue;
      const { store, key } = resolveObject(ref.uri, this.store);
      const info = await store.head(key);
      if (!info || info.size !== ref.bytes) missing.push(key);
    }
    return missing;
  }

  /** Removes a committed artifact and its sidecar (a stale memo entry before it is recomputed). */
  async forget(key: string): Promise<void> {
    await this.store.delete(sidecar(key));
    await this.store.delete(key);
  }

  /** Reads an artifact and verifies its sha256 (`field`: the input field that named it, for errors). */
  async read(ref: ArtifactRef, field?: string): Promise<Uint8Array> {
    const { store, key } = resolveObject(ref.uri, this.store, field ? { field } : {});
    const bytes = await sameRefusal(ref.uri, field, () => store.get(key));
    const got = sha256Hex(bytes);
    if (got !== ref.sha256)
      throw corrupt(`artifact ${ref.uri}: sha256 ${got} does not match its ref (${ref.sha256})`);
    return bytes;
  }

  /** Reads any object by URI (inputs supplied by users have no ref yet), under the allowed roots. */
  async readUri(uri: string, field?: string): Promise<Uint8Array> {
    const { store, key } = resolveObject(uri, this.store, field ? { field } : {});
    return sameRefusal(uri, field, async () => {
      const info = await store.head(key);
      if (!info) throw notFound(`${field ? `${field}: ` : ''}object ${uri} does not exist`);
      return store.get(key);
    });
  }
}

/** A symlink found while reading is refused with the same message as a URI outside the roots. */
async function sameRefusal<T>(uri: string, field: string | undefined, read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (err) {
    if (err instanceof RetortDataError && err.type === 'UriRefused') throw uriRefused(uri, field);
    throw err;
  }
}
