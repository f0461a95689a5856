// The "junk" group of `bench aioli --scenario junk`: windows of seeded uniformly random bytes. They
// carry no signal for any text group — the next byte is independent of every previous one and of the
// language — so every step spent on them is a step not spent on the groups the model is scored on.
// Random bytes rather than byte-shuffled text: a shuffle keeps the text's byte frequencies, which a
// byte-level model does learn from (its unigram distribution), so it would not be signal-free.
import { Rng } from '../ml/train/rng.js';
import type { ArtifactRef } from '../schemas/artifact.js';
import { TOKEN_WINDOWS, contractFingerprint } from '../schemas/tables.js';
import { buildTable, fixedSizeListValues, stringValues } from '../storage/arrow-tables.js';
import type { ArtifactStore } from '../storage/artifacts.js';
import { decodeParquet, encodeParquet } from '../storage/parquet.js';

/** The token-windows table `ref` plus `rows` windows of group `group` whose bytes are uniform on 0..255. */
export async function withRandomByteGroup(
  artifacts: ArtifactStore,
  ref: ArtifactRef,
  options: { group: string; rows: number; ctx: number; seed: number; name: string },
): Promise<ArtifactRef> {
  const { group, rows, ctx, seed, name } = options;
  const table = decodeParquet(await artifacts.read(ref), ref.uri);
  const ids = stringValues(table, 'id');
  const groups = stringValues(table, 'group');
  if (groups.includes(group)) throw new Error(`${ref.uri} already has a group "${group}"`);
  const { flat } = fixedSizeListValues<Int32Array>(table, 'input_ids');
  const rng = new Rng(seed);
  const junk = new Int32Array(rows * ctx);
  for (let k = 0; k < junk.length; k += 1) junk[k] = rng.int(256);
  const out = new Int32Array(flat.length + junk.length);
  out.set(flat, 0);
  out.set(junk, flat.length);
  const bytes = encodeParquet(
    buildTable(
      TOKEN_WINDOWS,
      {
        id: [...ids, ...Array.from({ length: rows }, (_, k) => `${group}-${seed}-${k}`)],
        group: [...groups, ...new Array<string>(rows).fill(group)],
        input_ids: { flat: out, size: ctx },
      },
      { ctx: String(ctx) },
    ),
  );
  return artifacts.commit(`inputs/${name}.parquet`, bytes, {
    kind: 'table',
    format: 'parquet',
    rows: ids.length + rows,
    schema: contractFingerprint(TOKEN_WINDOWS),
  });
}
