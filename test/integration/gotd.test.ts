// selectWarmup (GOT-D) end to end on the real dev server: the spec §8 direction on a small real-text
// case, selection joined by id, sharded = unsharded for the exact strategy, and bad input failing
// with a named non-retryable type before anything is committed.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client, Connection } from '@temporalio/client';
import { loadBuiltin } from '../../activities/text-corpus.js';
import { progressQuery } from '../../schemas/messages.js';
import type { SelectWarmupInput, SelectWarmupProgress, SelectWarmupResult } from '../../schemas/gotd.js';
import { EMBEDDINGS, SELECTED_SUBSET, TEXT_CORPUS } from '../../schemas/tables.js';
import { buildTable, stringValues } from '../../storage/arrow-tables.js';
import { ArtifactStore } from '../../storage/artifacts.js';
import type { FileStore } from '../../storage/file-store.js';
import { decodeParquet, decodeValidated, encodeParquet } from '../../storage/parquet.js';
import type { ArtifactRef } from '../../schemas/artifact.js';
import type { TrainModelResult } from '../../schemas/training.js';
import {
  connectClient,
  nonRetryableCause,
  startWorkers,
  tempFileStore,
  uniqueQueue,
} from '../support/temporal.js';
import { writeTokenTable } from '../support/training-fixtures.js';

let client: Client;
let connection: Connection;
beforeAll(async () => ({ client, connection } = await connectClient()));
afterAll(async () => connection?.close());

interface Row {
  id: string;
  group: string;
  text: string;
}

/**
 * `n` passages of `len` characters, round-robin over the group's documents (diverse sources), past
 * the first 1,200 characters (the TypeScript lib files share a licence header).
 */
function passages(group: 'novel' | 'code', n: number, len = 1000): Row[] {
  const docs = loadBuiltin([group]);
  const out: Row[] = [];
  for (let k = 0; out.length < n; k++) {
    const before = out.length;
    for (const d of docs) {
      const at = 1200 + 3 * k * len;
      if (at + len <= d.text.length && out.length < n)
        out.push({ id: `${d.id}@${at}`, group, text: d.text.slice(at, at + len) });
    }
    if (out.length === before)
      throw new Error(`builtin group ${group} has fewer than ${n} passages of ${len} characters`);
  }
  return out;
}

// Spec §8 in miniature: the pool (stand-in for pre-training data) is 90 % prose, 10 % code; the
// target is half prose, half code. GOT-D should spend the budget on the under-covered code.
// Passages of 1,000 characters (spec §4.1). The model-free n-gram embedder spreads its costs over a
// narrow band, so its default ε is 0.01 (schemas/gotd.ts DEFAULT_EPSILON) rather than the
// 0.1 the spec sets for sentence-encoder embeddings; at 0.1 the solve smooths towards "closest to the
// target" (§10). The input below relies on that default.
const prose = passages('novel', 200);
const code = passages('code', 40);
const POOL: Row[] = [
  ...prose.filter((_r, i) => i % 10 !== 0).slice(0, 180),
  ...code.filter((_r, i) => i % 2 === 0),
];
const TARGET: Row[] = [...prose.filter((_r, i) => i % 10 === 0), ...code.filter((_r, i) => i % 2 === 1)];

function textTable(rows: readonly Row[]): Uint8Array {
  return encodeParquet(
    buildTable(TEXT_CORPUS, {
      id: rows.map((r) => r.id),
      group: rows.map((r) => r.group),
      text: rows.map((r) => r.text),
      source: rows.map(() => 'test'),
    }),
  );
}

function embeddingTable(
  ids: readonly string[],
  dim: number,
  poison?: { row: number; value: number },
): Uint8Array {
  const flat = Float32Array.from({ length: ids.length * dim }, (_x, k) => Math.sin(k * 0.37) * 0.5);
  if (poison) flat[poison.row * dim] = poison.value;
  return encodeParquet(buildTable(EMBEDDINGS, { id: [...ids], embedding: { flat, size: dim } }));
}

/** Writes user inputs under `inputs/` (outside `artifacts/`, like files a user brings). */
async function putInput(store: FileStore, name: string, bytes: Uint8Array): Promise<string> {
  await store.put(`inputs/${name}`, bytes);
  return store.uri(`inputs/${name}`);
}

const selectInput = (pool: string, target: string): SelectWarmupInput => ({
  dataset: 'it-gotd',
  pool,
  target,
  budget: 20,
  embedder: { kind: 'ngram', dim: 4096 },
  profile: 'test',
});

async function runSelect(store: FileStore, name: string, input: SelectWarmupInput) {
  const taskQueue = uniqueQueue(name);
  const { runUntil } = await startWorkers(store, taskQueue, 'all');
  return runUntil(async () => {
    const handle = await client.workflow.start('selectWarmup', {
      taskQueue,
      workflowId: `select-${name}-${randomUUID()}`,
      args: [input],
    });
    const result = (await handle.result()) as SelectWarmupResult;
    const progress = (await handle.query(progressQuery)) as unknown as SelectWarmupProgress;
    return { result, progress };
  });
}

async function readSelection(store: FileStore, result: SelectWarmupResult) {
  const table = decodeValidated(
    await new ArtifactStore(store).read(result.selection),
    result.selection.uri,
    SELECTED_SUBSET,
  );
  return {
    ids: stringValues(table, 'id'),
    groups: stringValues(table, 'group'),
    texts: stringValues(table, 'text'),
    scores: Array.from(table.getChild('score')!.toArray() as Float64Array),
  };
}

/** Keys of committed artifacts whose metadata, string values or text contain the store's path. */
async function artifactsNamingTheStore(store: FileStore): Promise<string[]> {
  const leaks: string[] = [];
  for (const { key } of await store.list('artifacts/')) {
    const bytes = await store.get(key);
    const texts: string[] = [];
    if (key.endsWith('.parquet')) {
      const table = decodeParquet(bytes, key);
      texts.push(...table.schema.metadata.values());
      for (const field of table.schema.fields)
        if (String(field.type) === 'Utf8' || String(field.type).startsWith('Dictionary'))
          texts.push(...stringValues(table, field.name));
    } else if (!key.endsWith('.ref.json')) {
      // A memoized activity result is bookkeeping, not an artifact: it holds refs, and refs hold URIs.
      const sidecar = JSON.parse(new TextDecoder().decode(await store.get(`${key}.ref.json`))) as {
        memoEntry?: boolean;
      };
      if (sidecar.memoEntry) continue;
      texts.push(new TextDecoder().decode(bytes));
    }
    const hit = texts.find((t) => t.includes(store.dir));
    if (hit !== undefined)
      leaks.push(
        `${key}: …${hit.slice(Math.max(0, hit.indexOf(store.dir) - 80), hit.indexOf(store.dir) + 120)}…`,
      );
  }
  return leaks;
}

describe('selectWarmup', () => {
  const store = tempFileStore('select-warmup');
  let uris: { pool: string; target: string };
  let sharded: SelectWarmupResult;

  beforeAll(async () => {
    uris = {
      pool: await putInput(store, 'pool.parquet', textTable(POOL)),
      target: await putInput(store, 'target.parquet', textTable(TARGET)),
    };
  });

  it('spends the budget on the group the pool under-covers, joined by id with the pool text', async () => {
    const { result, progress } = await runSelect(store, 'direction', {
      ...selectInput(uris.pool, uris.target),
      shards: 4,
    });
    sharded = result;
    expect(result).toMatchObject({
      budget: 20,
      poolRows: 200,
      targetRows: 40,
      strategy: 'exact',
      shards: 4,
      converged: true,
    });
    expect(progress).toMatchObject({
      stage: 'done',
      poolRows: 200,
      budget: 20,
      strategy: 'exact',
      converged: true,
    });

    const sel = await readSelection(store, result);
    expect(sel.ids).toHaveLength(20);
    const codeShare = sel.groups.filter((g) => g === 'code').length / sel.ids.length;
    expect(codeShare).toBeGreaterThanOrEqual(0.9); // pool share 0.1, target share 0.5 (spec §8 (a))
    // Joined by id: each row's text and group are those of the pool row with that id.
    const byId = new Map(POOL.map((r) => [r.id, r]));
    sel.ids.forEach((id, i) => {
      expect(byId.get(id)?.text).toBe(sel.texts[i]);
      expect(byId.get(id)?.group).toBe(sel.groups[i]);
    });
    // Best first (clean mode: most negative calibrated gradient), ids unique.
    expect([...sel.scores].sort((a, b) => a - b)).toEqual(sel.scores);
    expect(new Set(sel.ids).size).toBe(20);

    const code = result.composition.find((c) => c.group === 'code')!;
    expect(code).toMatchObject({
      pool: 20,
      target: 20,
      selected: sel.groups.filter((g) => g === 'code').length,
    });
    // Adding the selection's mass lowers OT(pool, target) (paper Theorem 1).
    expect(result.otCost!.after).toBeLessThan(result.otCost!.before);
    const summary = JSON.parse(
      new TextDecoder().decode(await new ArtifactStore(store).read(result.summary)),
    ) as { composition: unknown[]; otCost: { firstOrderDelta: number }; config: { epsilon: number } };
    expect(summary.composition).toHaveLength(2);
    expect(summary.config.epsilon).toBe(0.01); // the n-gram embedder's default ε
    expect(summary.otCost.firstOrderDelta).toBeLessThan(0);
    // No artifact the run wrote names the store's location (metadata, string columns, JSON, HTML):
    // the same selection hashes the same wherever the store lives.
    expect(await artifactsNamingTheStore(store)).toEqual([]);
  });

  it('gives the same selection with 4 parallel shards as with 1 (exact strategy)', async () => {
    const { result } = await runSelect(store, 'one-shard', {
      ...selectInput(uris.pool, uris.target),
      shards: 1,
    });
    expect(result.shards).toBe(1);
    expect(result.selection.sha256).toBe(sharded.selection.sha256);
    // The chunked approximation (4 random chunks) keeps the composition (spec §4.6, oracle 6).
    const chunked = await runSelect(store, 'chunked', {
      ...selectInput(uris.pool, uris.target),
      shards: 4,
      strategy: 'chunked',
    });
    expect(chunked.result.strategy).toBe('chunked');
    const sel = await readSelection(store, chunked.result);
    expect(sel.groups.filter((g) => g === 'code').length / sel.ids.length).toBeGreaterThanOrEqual(0.8);
  });

  it('embeds with a byte-LM checkpoint, fine-tuned on the target by a trainModel child run', async () => {
    // A tiny LM checkpoint to start from (one training step on synthetic byte windows).
    const windows = await writeTokenTable(
      store,
      { a: { rows: 16, alphabet: 'abc ' }, b: { rows: 16, alphabet: 'xyz.' } },
      64,
      3,
    );
    const taskQueue = uniqueQueue('lm');
    const { runUntil } = await startWorkers(store, taskQueue, 'all');
    const { result, child } = await runUntil(async () => {
      const pretrained = (await client.workflow.execute('trainModel', {
        taskQueue,
        workflowId: `lm-base-${randomUUID()}`,
        args: [
          {
            model: { kind: 'lm', config: { layers: 1, dModel: 32, heads: 2, ctx: 64 } },
            data: { train: windows },
            totalSteps: 1,
            batchSize: 8,
            profile: 'test',
          },
        ],
      })) as TrainModelResult;
      const workflowId = `select-lm-${randomUUID()}`;
      const input: SelectWarmupInput = {
        ...selectInput(uris.pool, uris.target),
        embedder: { kind: 'lm', checkpoint: pretrained.checkpoint, fineTuneSteps: 2, batchSize: 16 },
        preprocess: { kind: 'truncate', length: 256 },
      };
      const result = (await client.workflow.execute('selectWarmup', {
        taskQueue,
        workflowId,
        args: [input],
      })) as SelectWarmupResult;
      const child = await client.workflow.getHandle(`${workflowId}/finetune`).describe();
      return { result, child };
    });
    expect(child.type).toBe('trainModel');
    expect(result).toMatchObject({ budget: 20, poolRows: 200, targetRows: 40 });
    const artifacts = new ArtifactStore(store);
    const manifest = JSON.parse(new TextDecoder().decode(await artifacts.read(result.manifest))) as {
      outputs: { targetEmbeddings: ArtifactRef };
    };
    const ref = manifest.outputs.targetEmbeddings;
    const emb = decodeValidated(await artifacts.read(ref), ref.uri, EMBEDDINGS, { sizes: { embedding: 32 } }); // d = the LM's dModel
    expect(emb.numRows).toBe(40);
    const sel = await readSelection(store, result);
    const byId = new Map(POOL.map((r) => [r.id, r.text]));
    sel.ids.forEach((id, i) => expect(byId.get(id)).toBe(sel.texts[i]));
  });
});

describe('selectWarmup rejects bad input before committing anything', () => {
  async function failure(name: string, build: (store: FileStore) => Promise<SelectWarmupInput>) {
    const store = tempFileStore(`select-bad-${name}`);
    const input = await build(store);
    const err = await runSelect(store, `bad-${name}`, input).then(
      () => undefined,
      (e: unknown) => e,
    );
    const cause = nonRetryableCause(err);
    expect((await store.list('artifacts/')).map((o) => o.key)).toEqual([]);
    expect(await store.pendingTempFiles()).toEqual([]);
    return cause;
  }
  const texts = async (store: FileStore) => ({
    pool: await putInput(store, 'pool.parquet', textTable(POOL)),
    target: await putInput(store, 'target.parquet', textTable(TARGET)),
  });

  it('embeddings of different dimensions → DatasetSchemaMismatch naming both files', async () => {
    const f = await failure('dim', async (store) => {
      const t = await texts(store);
      const pool = await putInput(
        store,
        'pool-emb.parquet',
        embeddingTable(
          POOL.map((r) => r.id),
          8,
        ),
      );
      const target = await putInput(
        store,
        'target-emb.parquet',
        embeddingTable(
          TARGET.map((r) => r.id),
          4,
        ),
      );
      return { ...selectInput(t.pool, t.target), embedder: { kind: 'precomputed', pool, target } };
    });
    expect(f.type).toBe('DatasetSchemaMismatch');
    expect(f.message).toMatch(/pool-emb\.parquet.*\[8\].*target-emb\.parquet.*\[4\]/);
  });

  it('an empty target → EmptyDataset naming the field and the file', async () => {
    const f = await failure('empty', async (store) => {
      const t = await texts(store);
      return selectInput(t.pool, await putInput(store, 'empty.parquet', textTable([])));
    });
    expect(f.type).toBe('EmptyDataset');
    expect(f.message).toMatch(/^target: .*empty\.parquet has no rows/);
  });

  it('a budget above the pool size → InvalidPipelineInput', async () => {
    const f = await failure('budget', async (store) => {
      const t = await texts(store);
      return { ...selectInput(t.pool, t.target), budget: 500 };
    });
    expect(f.type).toBe('InvalidPipelineInput');
    expect(f.message).toMatch(/budget: 500 rows exceeds the pool's 200 rows .*pool\.parquet/);
  });

  it('a NaN embedding → NonFiniteValues naming the file, the row id and the component', async () => {
    const f = await failure('nan', async (store) => {
      const t = await texts(store);
      const pool = await putInput(
        store,
        'pool-emb.parquet',
        embeddingTable(
          POOL.map((r) => r.id),
          8,
          { row: 7, value: NaN },
        ),
      );
      const target = await putInput(
        store,
        'target-emb.parquet',
        embeddingTable(
          TARGET.map((r) => r.id),
          8,
        ),
      );
      return { ...selectInput(t.pool, t.target), embedder: { kind: 'precomputed', pool, target } };
    });
    expect(f.type).toBe('NonFiniteValues');
    expect(f.message).toContain(
      `pool-emb.parquet: non-finite value NaN at row 7 (id ${JSON.stringify(POOL[7]!.id)}), component 0`,
    );
  });
});
