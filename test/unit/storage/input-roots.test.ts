// User URIs are confined to the allowed input roots, decoded before the check, and no symbolic link
// below a file:// root is followed on read or write. Real files, real symlinks.
import { mkdirSync, mkdtempSync, readdirSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ArtifactStore } from '../../../storage/artifacts.js';
import { RetortDataError } from '../../../storage/errors.js';
import { FileStore } from '../../../storage/file-store.js';
import { defaultInputRoots, inputRootsFor, locateUri, resolveInput } from '../../../storage/input-roots.js';
import { S3Store } from '../../../storage/s3-store.js';

/** A scratch layout: <base>/store (the store), <base>/inputs (beside it), <base>/private (neither). */
function layout() {
  const base = realpathSync(mkdtempSync(join(tmpdir(), 'retort-roots-')));
  for (const d of ['store', 'inputs', 'private']) mkdirSync(join(base, d));
  writeFileSync(join(base, 'private', 'x.jsonl'), '{"id":"secret","group":"g","text":"t"}\n');
  writeFileSync(join(base, 'inputs', 'ok.jsonl'), '{"id":"a","group":"g","text":"t"}\n');
  const store = new FileStore(join(base, 'store'));
  return { base, store, artifacts: new ArtifactStore(store) };
}

async function refusal(read: () => Promise<unknown>): Promise<RetortDataError> {
  const err = await read().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RetortDataError);
  expect((err as RetortDataError).type).toBe('UriRefused');
  return err as RetortDataError;
}

describe('allowed input roots', () => {
  it('default roots: the store and an inputs/ folder beside it; S3 buckets only when listed', () => {
    const { base, store } = layout();
    expect(defaultInputRoots(store)).toEqual([
      { kind: 'file', dir: join(base, 'store') },
      { kind: 'file', dir: join(base, 'inputs') },
    ]);
    const s3 = new S3Store('s3://b/team/store');
    expect(defaultInputRoots(s3)).toEqual([
      { kind: 's3', bucket: 'b', prefix: 'team/store/' },
      { kind: 's3', bucket: 'b', prefix: 'team/inputs/' },
    ]);
    expect(inputRootsFor(store, 's3://other, /data/x/')).toEqual([
      { kind: 'file', dir: join(base, 'store') },
      { kind: 's3', bucket: 'other', prefix: '' },
      { kind: 'file', dir: '/data/x' },
    ]);
  });

  it('reads a file in inputs/ beside the store', async () => {
    const { base, artifacts } = layout();
    const bytes = await artifacts.readUri(pathToFileURL(join(base, 'inputs', 'ok.jsonl')).href, 'source.uri');
    expect(new TextDecoder().decode(bytes)).toContain('"a"');
  });

  it('percent-encoded ".." is decoded and refused, not followed out of the root', async () => {
    const { base, artifacts } = layout();
    for (const uri of [
      `file://${base}/inputs/%2E%2E/private/x.jsonl`,
      `file://${base}/inputs/%2e%2e/private/x.jsonl`,
      `file://${base}/inputs/..%2Fprivate/x.jsonl`,
      `file://${base}/inputs/../private/x.jsonl`,
      `${base}/inputs/../private/x.jsonl`,
    ]) {
      const err = await refusal(() => artifacts.readUri(uri, 'source.uri'));
      expect(err.message).toMatch(/^source\.uri: URI ".*" is refused/);
    }
    // The URL parser alone would have resolved this one to a path outside every root.
    expect(new URL(`file://${base}/inputs/%2E%2E/private/x.jsonl`).pathname).toBe(`${base}/private/x.jsonl`);
  });

  it('an absolute path outside the roots is refused with the same message whether or not it exists', async () => {
    const { base, artifacts } = layout();
    const present = await refusal(() => artifacts.readUri(`file://${base}/private/x.jsonl`, 'source.uri'));
    const absent = await refusal(() => artifacts.readUri(`file://${base}/private/nope.jsonl`, 'source.uri'));
    const norm = (e: Error) => e.message.replace(/x\.jsonl|nope\.jsonl/, 'F');
    expect(norm(present)).toBe(norm(absent));
    await refusal(() => artifacts.readUri('/etc/passwd'));
    await refusal(() => artifacts.readUri('file://otherhost/etc/passwd'));
    await refusal(() =>
      artifacts.read({
        uri: 'file:///etc/passwd',
        kind: 'table',
        format: 'parquet',
        sha256: '0'.repeat(64),
        bytes: 1,
      }),
    );
  });

  it('an S3 bucket that is not listed is refused before any request', async () => {
    const { artifacts } = layout();
    await refusal(() => artifacts.readUri('s3://someone-elses-bucket/data.parquet', 'pool'));
    await refusal(() => artifacts.readUri('s3://b/a/%2E%2E/b.parquet'));
    const s3home = new S3Store('s3://b/team/store');
    expect(() => resolveInput('s3://b/team/other/x', s3home, defaultInputRoots(s3home))).toThrow(/refused/);
    expect(resolveInput('s3://b/team/inputs/x.parquet', s3home, defaultInputRoots(s3home)).key).toBe(
      'x.parquet',
    );
  });

  it('locateUri decodes percent escapes before anything else', () => {
    expect(locateUri('file:///a/b%20c/d.parquet')).toEqual({ kind: 'file', path: '/a/b c/d.parquet' });
    expect(() => locateUri('file:///a/%2Fetc/passwd')).toThrow(/refused/);
    expect(() => locateUri('file:///a/b%00.parquet')).toThrow(/refused/);
  });
});

describe('no symbolic links below a file:// root', () => {
  it('a link inside inputs/ to a private file is refused on read', async () => {
    const { base, artifacts } = layout();
    symlinkSync(join(base, 'private', 'x.jsonl'), join(base, 'inputs', 'link.jsonl'));
    symlinkSync(join(base, 'private'), join(base, 'inputs', 'dir'));
    const a = await refusal(() => artifacts.readUri(`file://${base}/inputs/link.jsonl`, 'source.uri'));
    const b = await refusal(() => artifacts.readUri(`file://${base}/inputs/dir/x.jsonl`, 'source.uri'));
    expect(a.message).toMatch(/^source\.uri: /);
    expect(b.message).toMatch(/^source\.uri: /);
  });

  it('a link at runs/<id> does not redirect a write outside the store; nothing is written there', async () => {
    const { base, store } = layout();
    mkdirSync(join(store.dir, 'runs'));
    symlinkSync(join(base, 'private'), join(store.dir, 'runs', 'victim'));
    await expect(
      store.put('runs/victim/r1/manifest.json', new TextEncoder().encode('{}'), { ifNoneMatch: true }),
    ).rejects.toMatchObject({ type: 'UriRefused' });
    await expect(
      store.put('runs/victim/manifest.json', new TextEncoder().encode('{}')),
    ).rejects.toMatchObject({
      type: 'UriRefused',
    });
    expect(readdirSync(join(base, 'private'))).toEqual(['x.jsonl']);
    expect(await store.pendingTempFiles()).toEqual([]);
  });

  it('a link as the object itself is refused on read, head, write and delete', async () => {
    const { base, store } = layout();
    symlinkSync(join(base, 'private', 'x.jsonl'), join(store.dir, 'x.jsonl'));
    for (const op of [
      () => store.get('x.jsonl'),
      () => store.getRange('x.jsonl', 0, 4),
      () => store.head('x.jsonl'),
      () => store.put('x.jsonl', new Uint8Array([1])),
      () => store.delete('x.jsonl'),
    ])
      await expect(op()).rejects.toMatchObject({ type: 'UriRefused' });
    expect(readdirSync(join(base, 'private'))).toEqual(['x.jsonl']);
  });

  it('a linked temp directory is refused before any byte is written', async () => {
    const { base, store } = layout();
    symlinkSync(join(base, 'private'), join(store.dir, '.tmp'));
    await expect(store.put('a.txt', new Uint8Array([1]))).rejects.toMatchObject({ type: 'UriRefused' });
    expect(readdirSync(join(base, 'private'))).toEqual(['x.jsonl']);
  });
});
