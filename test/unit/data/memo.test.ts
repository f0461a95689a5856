// A memo hit must not point at missing data: outputs are checked (existence + recorded size) and
// the work is redone when one is gone or truncated. Real FileStore on a temp directory.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { memoized } from '../../../activities/memo.js';
import type { ArtifactRef } from '../../../schemas/artifact.js';
import { ArtifactStore } from '../../../storage/artifacts.js';
import { FileStore } from '../../../storage/file-store.js';

describe('memoized', () => {
  const store = new FileStore(mkdtempSync(join(tmpdir(), 'retort-memo-')));
  const artifacts = new ArtifactStore(store);
  let computed = 0;
  const run = () =>
    memoized(artifacts, { activity: 'memoTest@1', inputs: ['in'], config: {}, seed: 1 }, true, async () => {
      computed += 1;
      return {
        outputs: [
          { output: 'a', bytes: new TextEncoder().encode('alpha'), kind: 'table', format: 'parquet' },
          { output: 'b', bytes: new TextEncoder().encode('beta'), kind: 'table', format: 'parquet' },
        ],
        result: (refs: Record<string, ArtifactRef>) => ({ nested: { a: refs.a! }, list: [refs.b!] }),
      };
    });
  const keyOf = (ref: ArtifactRef) => ref.uri.slice(store.root.length + 1);

  it('a second call is a hit while every output is there', async () => {
    const first = await run();
    expect(await run()).toEqual(first);
    expect(computed).toBe(1);
  });

  it('a deleted output makes the next call recompute it, and the result is readable again', async () => {
    const before = await run();
    await store.delete(keyOf(before.list[0]!));
    const again = await run();
    expect(computed).toBe(2);
    expect(again).toEqual(before); // same bytes, same content-addressed refs
    expect(new TextDecoder().decode(await artifacts.read(again.list[0]!))).toBe('beta');
    expect(await run()).toEqual(before);
    expect(computed).toBe(2);
  });

  it('a truncated output (other size than recorded) is recomputed, not kept', async () => {
    const before = await run();
    await store.put(keyOf(before.nested.a), new TextEncoder().encode('alp'));
    const again = await run();
    expect(computed).toBe(3);
    expect(new TextDecoder().decode(await artifacts.read(again.nested.a))).toBe('alpha');
  });
});
