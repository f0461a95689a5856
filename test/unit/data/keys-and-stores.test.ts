import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileStore } from '../../../storage/file-store.js';
import { validateKey } from '../../../storage/object-store.js';
import { openStore, resolveObject } from '../../../storage/open.js';
import { RetortDataError } from '../../../storage/errors.js';
import { ArtifactStore, artifactKey, canonicalJson } from '../../../storage/artifacts.js';

const errType = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    return e instanceof RetortDataError ? e.type : `other: ${String(e)}`;
  }
  return 'no error';
};

describe('object keys', () => {
  it('accepts ordinary relative keys', () => {
    for (const k of ['a', 'artifacts/table/abc.parquet', 'runs/x_y/manifest.json', 'a.b/c-d_e'])
      expect(validateKey(k)).toBe(k);
  });
  it.each(['', '/etc/passwd', '../x', 'a/../../b', 'a/./b', 'a//b', 'a\\b', 'a\0b'])('rejects %j', (k) => {
    expect(errType(() => validateKey(k))).toBe('InvalidStoreKey');
  });
  it('resolveObject refuses ".." anywhere in a URI and unknown schemes', () => {
    expect(errType(() => resolveObject('file:///store/a/../../etc/passwd'))).toBe('UriRefused');
    expect(errType(() => resolveObject('s3://bucket/a/../b'))).toBe('UriRefused');
    expect(errType(() => resolveObject('ftp://host/file'))).toBe('UnsupportedUri');
    expect(errType(() => openStore('gs://bucket'))).toBe('UnsupportedUri');
  });
});

describe('FileStore', () => {
  const store = new FileStore(mkdtempSync(join(tmpdir(), 'retort-fs-')));
  const bytes = new TextEncoder().encode('hello world');

  it('puts atomically, create-if-absent, and reads ranges', async () => {
    expect(await store.put('a/b.txt', bytes, { ifNoneMatch: true })).toBe('written');
    expect(await store.put('a/b.txt', new TextEncoder().encode('other'), { ifNoneMatch: true })).toBe(
      'exists',
    );
    expect(new TextDecoder().decode(await store.get('a/b.txt'))).toBe('hello world');
    expect(new TextDecoder().decode(await store.getRange('a/b.txt', 6, 11))).toBe('world');
    expect(await store.head('a/b.txt')).toEqual({ key: 'a/b.txt', size: 11 });
    expect((await store.list('a/')).map((o) => o.key)).toEqual(['a/b.txt']);
    expect(await store.pendingTempFiles()).toEqual([]);
  });

  it('a missing object is DatasetNotFound naming its URI', async () => {
    await expect(store.get('nope.parquet')).rejects.toMatchObject({
      type: 'DatasetNotFound',
      message: expect.stringContaining('nope.parquet'),
    });
    expect(await store.head('nope.parquet')).toBeUndefined();
  });

  it('a checksum mismatch writes nothing', async () => {
    await expect(store.put('c.txt', bytes, { sha256Base64: 'AAAA' })).rejects.toThrow(/checksum/);
    expect(await store.head('c.txt')).toBeUndefined();
    expect(await store.pendingTempFiles()).toEqual([]);
  });
});

describe('artifacts', () => {
  it('keys depend on every part of the identity, not on key order', () => {
    const id = { activity: 'x@1', inputs: ['a'], config: { b: 1, a: 2 }, seed: 1, output: 'o' };
    expect(artifactKey('table', 'parquet', id)).toBe(
      artifactKey('table', 'parquet', { ...id, config: { a: 2, b: 1 } }),
    );
    expect(artifactKey('table', 'parquet', id)).not.toBe(artifactKey('table', 'parquet', { ...id, seed: 2 }));
    expect(artifactKey('table', 'parquet', id)).not.toBe(
      artifactKey('table', 'parquet', { ...id, inputs: ['b'] }),
    );
    expect(canonicalJson({ b: [1, { d: 1, c: 2 }], a: 1 })).toBe('{"a":1,"b":[1,{"c":2,"d":1}]}');
  });

  it('commit is create-if-absent; lookup finds it; read verifies the hash', async () => {
    const store = new FileStore(mkdtempSync(join(tmpdir(), 'retort-art-')));
    const artifacts = new ArtifactStore(store);
    const key = 'artifacts/table/x.parquet';
    expect(await artifacts.lookup(key)).toBeUndefined();
    const ref = await artifacts.commit(key, new TextEncoder().encode('one'), {
      kind: 'table',
      format: 'parquet',
      rows: 1,
    });
    expect(await artifacts.lookup(key)).toEqual(ref);
    // A second commit of different bytes keeps the first (exactly-once effect) and reports it.
    const again = await artifacts.commit(key, new TextEncoder().encode('two'), {
      kind: 'table',
      format: 'parquet',
      rows: 1,
    });
    expect(again.sha256).toBe(ref.sha256);
    expect(new TextDecoder().decode(await artifacts.read(ref))).toBe('one');
    await store.put(key, new TextEncoder().encode('tampered'));
    await expect(artifacts.read(ref)).rejects.toMatchObject({ type: 'CorruptDataset' });
  });
});
