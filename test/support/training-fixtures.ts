// Small seeded tables for training tests: an images table whose label is the brightest quadrant
// (learnable in a few steps) and a token-windows table with distinct per-group byte statistics.
import { Rng } from '../../ml/train/rng.js';
import type { ArtifactRef } from '../../schemas/artifact.js';
import type { IngestCorpusInput } from '../../schemas/ingest.js';
import { IMAGES, TEXT_CORPUS, TOKEN_WINDOWS, contractFingerprint } from '../../schemas/tables.js';
import { buildTable } from '../../storage/arrow-tables.js';
import { ArtifactStore, sha256Hex } from '../../storage/artifacts.js';
import type { ObjectStore } from '../../storage/object-store.js';
import { encodeParquet } from '../../storage/parquet.js';

export interface ImageTableOptions {
  n: number;
  side: number;
  classes?: number;
  seed: number;
  /** Put this value into row `row`'s first pixel (NaN tests). */
  poison?: { row: number; value: number };
}

export function quadrantImages({ n, side, classes = 4, seed, poison }: ImageTableOptions) {
  const rng = new Rng(seed);
  const pixels = new Float32Array(n * side * side);
  const labels = new Int32Array(n);
  const half = side / 2;
  for (let i = 0; i < n; i++) {
    const label = rng.int(classes);
    labels[i] = label;
    for (let r = 0; r < side; r++) {
      for (let c = 0; c < side; c++) {
        const quadrant = (r < half ? 0 : 2) + (c < half ? 0 : 1);
        pixels[i * side * side + r * side + c] = rng.normal(quadrant === label % 4 ? 1 : 0, 0.5);
      }
    }
  }
  if (poison) pixels[poison.row * side * side] = poison.value;
  return { ids: Array.from({ length: n }, (_x, i) => `img-${i}`), pixels, labels };
}

async function commitTable(
  store: ObjectStore,
  name: string,
  bytes: Uint8Array,
  rows: number,
  schema: string,
): Promise<ArtifactRef> {
  const key = `inputs/${name}-${sha256Hex(bytes).slice(0, 16)}.parquet`;
  return new ArtifactStore(store).commit(key, bytes, { kind: 'table', format: 'parquet', rows, schema });
}

/** Writes a seeded images table (h = w = side, c = 1) to the store and returns its ref. */
export async function writeImageTable(store: ObjectStore, options: ImageTableOptions): Promise<ArtifactRef> {
  const { ids, pixels, labels } = quadrantImages(options);
  const size = options.side * options.side;
  const table = buildTable(
    IMAGES,
    { id: ids, label: labels, pixels: { flat: pixels, size } },
    { h: String(options.side), w: String(options.side), c: '1' },
  );
  return commitTable(store, 'images', encodeParquet(table), options.n, contractFingerprint(IMAGES));
}

/** Writes token windows of `ctx` bytes for each group (group g repeats its own short alphabet). */
export async function writeTokenTable(
  store: ObjectStore,
  groups: Record<string, { rows: number; alphabet: string }>,
  ctx: number,
  seed: number,
): Promise<ArtifactRef> {
  const rng = new Rng(seed);
  const ids: string[] = [];
  const groupCol: string[] = [];
  const flat: number[] = [];
  for (const [g, { rows, alphabet }] of Object.entries(groups)) {
    for (let r = 0; r < rows; r++) {
      ids.push(`${g}/${r}`);
      groupCol.push(g);
      for (let t = 0; t < ctx; t++) flat.push(alphabet.charCodeAt(rng.int(alphabet.length)));
    }
  }
  const table = buildTable(
    TOKEN_WINDOWS,
    { id: ids, group: groupCol, input_ids: { flat: Int32Array.from(flat), size: ctx } },
    { ctx: String(ctx) },
  );
  return commitTable(store, 'windows', encodeParquet(table), ids.length, contractFingerprint(TOKEN_WINDOWS));
}

/** ingestCorpus of the builtin `code` group at a small, fast size (tests only). */
export const tinyCodeIngest = (dataset: string): IngestCorpusInput => ({
  dataset,
  source: { builtin: ['code'] },
  maxBytesPerGroup: 60_000,
  ctx: 32,
  seed: 3,
  profile: 'test',
});

/** curateCorpus at the smallest profile that still trains, evaluates and continues (tests only). */
export const TINY_CURATE = {
  ingest: { maxBytesPerGroup: 20_000, passageBytes: 512, split: { val: 0.2, test: 0.1 }, ctx: 32 },
  model: { layers: 1, dModel: 16, heads: 2 },
  schedule: { kind: 'rewarmedCosine', maxLr: 3e-3, warmupFraction: 0.25 },
  totalSteps: 4,
  chunkSteps: 2,
  batchSize: 4,
  profile: 'test',
} as const;

/** A user text corpus as Parquet (`id, group, text, source`), every row with the same `source`. */
export function textCorpusParquet(
  rows: readonly { id: string; group: string; text: string }[],
  source: string,
) {
  return encodeParquet(
    buildTable(TEXT_CORPUS, {
      id: rows.map((r) => r.id),
      group: rows.map((r) => r.group),
      text: rows.map((r) => r.text),
      source: rows.map(() => source),
    }),
  );
}
