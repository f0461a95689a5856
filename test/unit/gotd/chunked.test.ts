// Chunked (sharded) GOT-D, spec §4.6 and oracle 6: random shards scored separately against the full
// target, calibrated within the shard, merged by id.
import { beforeAll, describe, expect, it } from 'vitest';
import {
  mergeShardScores,
  randomShardAssignment,
  resolveEpsilon,
  scoreShard,
  selectWarmupData,
  splitIntoShards,
  type GotdScores,
  type ShardScores,
} from '../../../ml/methods/gotd/index.js';
import { screenDomains } from '../../../ml/methods/gotd/diagnostics.js';
import { overlap, share, spearman, twoClusterData } from './fixtures.js';

describe('oracle 6: chunked vs exact (8-D, pool 3,600 A + 400 B, target 200 + 200, ε = 0.5, 4 chunks)', () => {
  const data = twoClusterData({ dim: 8, nA: 3600, nB: 400, tA: 200, tB: 200, seed: 6 });
  let exact: GotdScores;
  let chunked: GotdScores;
  beforeAll(() => {
    exact = selectWarmupData(data.target, data.pool, { budget: 400, epsilon: 0.5, strategy: 'exact' });
    chunked = selectWarmupData(data.target, data.pool, {
      budget: 400,
      epsilon: 0.5,
      strategy: 'chunked',
      chunks: 4,
      seed: 0,
    });
  });

  it('reports the mode', () => {
    expect(exact.report).toMatchObject({ mode: 'exact', chunks: 1, nCandidates: 4000, converged: true });
    expect(chunked.report).toMatchObject({
      mode: 'chunked',
      chunks: 4,
      nCandidates: 4000,
      converged: true,
      epsilon: 0.5,
    });
  });

  it('selects the same composition (all B) for every K ≤ 400', () => {
    for (const K of [50, 100, 200, 300, 400]) {
      expect(share(exact.selection.slice(0, K), data.rare)).toBe(1);
      expect(share(chunked.selection.slice(0, K), data.rare)).toBe(1);
    }
  });

  it('overlaps the exact top-K (≥ 0.6 at K = N_B/4) and ranks alike overall', () => {
    // measured with this draw and chunk seed 0: 0.73 (K = 100), 0.85 (200), 1.0 (400); spec ≈ 0.68, 0.89, 1.0
    expect(overlap(exact.selection.slice(0, 100), chunked.selection.slice(0, 100))).toBeGreaterThanOrEqual(
      0.6,
    );
    expect(overlap(exact.selection.slice(0, 200), chunked.selection.slice(0, 200))).toBeGreaterThanOrEqual(
      0.75,
    );
    expect(overlap(exact.selection, chunked.selection)).toBe(1);
    // joined by id: the chunked scores come back in shard order, not pool order
    const byId = new Map(chunked.ids.map((id, k) => [id, chunked.calibratedGrad[k]!]));
    const aligned = exact.ids.map((id) => byId.get(id)!);
    expect(spearman(exact.calibratedGrad, aligned)).toBeGreaterThan(0.98); // measured 0.9927
  });
});

describe('shard API (what the fan-out activities call)', () => {
  const data = twoClusterData({ dim: 2, nA: 270, nB: 30, tA: 30, tB: 30, seed: 21 });

  it('random shards partition the pool, are balanced and seeded', () => {
    const shards = randomShardAssignment(300, 4, 5);
    expect(shards.map((s) => s.length)).toEqual([75, 75, 75, 75]);
    expect(new Set(shards.flatMap((s) => Array.from(s))).size).toBe(300);
    expect(randomShardAssignment(300, 4, 5)).toEqual(shards);
    expect(randomShardAssignment(300, 4, 6)).not.toEqual(shards);
    // not domain-sorted: every shard holds some of the rare rows (rows 270..299)
    for (const s of shards) expect(Array.from(s).some((row) => row >= 270)).toBe(true);
    expect(() => randomShardAssignment(3, 4, 0)).toThrow('shards must be an integer in [1, 3], got 4');
  });

  it('ids travel with their embeddings', () => {
    const shards = splitIntoShards(data.pool, 3, 1);
    expect(shards.map((s) => s.name)).toEqual(['pool shard 0', 'pool shard 1', 'pool shard 2']);
    const row = new Map(data.pool.ids.map((id, k) => [id, k]));
    for (const shard of shards) {
      expect(shard.embeddings).toBeInstanceOf(Float64Array);
      shard.ids.forEach((id, k) => {
        const j = row.get(id)!;
        expect(Array.from(shard.embeddings.subarray(k * 2, k * 2 + 2))).toEqual(
          Array.from(data.pool.embeddings.subarray(j * 2, j * 2 + 2)),
        );
      });
    }
  });

  it('merging is by id: shard order does not change the selection', () => {
    const epsilon = resolveEpsilon(data.target, data.pool, { epsilon: 0.05, relativeEpsilon: true });
    const scored: ShardScores[] = splitIntoShards(data.pool, 3, 2).map((s) =>
      scoreShard(data.target, s, { epsilon }),
    );
    const forward = mergeShardScores(scored, { budget: 30 });
    const backward = mergeShardScores([...scored].reverse(), { budget: 30 });
    expect(backward.selection).toEqual(forward.selection);
    expect(share(forward.selection, data.rare)).toBe(1);
    expect(forward.report).toMatchObject({ mode: 'chunked', chunks: 3, nCandidates: 300 });
    // every score row is the shard's own row for that id
    const byId = new Map(scored.flatMap((s) => s.ids.map((id, k) => [id, s.calibratedGrad[k]!] as const)));
    forward.ids.forEach((id, k) => expect(forward.calibratedGrad[k]).toBe(byId.get(id)));
  });

  it('relative ε is resolved once over the whole pool, so all chunks share it', () => {
    const r = selectWarmupData(data.target, data.pool, {
      budget: 10,
      epsilon: 0.05,
      relativeEpsilon: true,
      strategy: 'chunked',
      chunks: 3,
    });
    expect(r.report.epsilon).toBeCloseTo(
      resolveEpsilon(data.target, data.pool, { epsilon: 0.05, relativeEpsilon: true }),
      12,
    );
  });

  it('auto strategy chunks pools above maxExactPool', () => {
    const r = selectWarmupData(data.target, data.pool, { budget: 10, epsilon: 0.5, maxExactPool: 100 });
    expect(r.report).toMatchObject({ mode: 'chunked', chunks: 3 });
  });

  it('rejects ids scored in two shards, budgets above the merged pool and ragged score lists', () => {
    const [a, b] = splitIntoShards(data.pool, 2, 3).map((s) => scoreShard(data.target, s, { epsilon: 0.5 }));
    const id = a!.ids[0]!;
    expect(() => mergeShardScores([a!, b!, { ...a! }], { budget: 3 })).toThrow(
      `id ${JSON.stringify(id)} appears in shard 0 and shard 2`,
    );
    expect(() => mergeShardScores([a!, b!], { budget: 301 })).toThrow('budget 301 exceeds pool size 300');
    expect(() =>
      mergeShardScores([{ ...a!, calibratedGrad: a!.calibratedGrad.subarray(1) }], { budget: 1 }),
    ).toThrow('shard 0: 150 ids but 150 potentials and 149 gradients');
    expect(() => mergeShardScores([], { budget: 1 })).toThrow('no shard scores given');
  });
});

describe('domain screen (spec §4.2)', () => {
  it('keeps the domains closest to the target', () => {
    const near = twoClusterData({ dim: 2, nA: 200, nB: 0, tA: 40, tB: 0, seed: 31 });
    const far = twoClusterData({ dim: 2, nA: 0, nB: 200, tA: 0, tB: 0, seed: 32 });
    const mixed = twoClusterData({ dim: 2, nA: 100, nB: 100, tA: 0, tB: 0, seed: 33 });
    const report = screenDomains(
      near.target,
      { far: far.pool, near: near.pool, mixed: mixed.pool },
      { keep: 2 },
    );
    expect(report.map((r) => [r.domain, r.kept])).toEqual([
      ['far', false],
      ['near', true],
      ['mixed', true],
    ]);
    const cost = Object.fromEntries(report.map((r) => [r.domain, r.otCost]));
    expect(cost.near!).toBeLessThan(cost.mixed!);
    expect(cost.mixed!).toBeLessThan(cost.far!);
    expect(report.every((r) => r.nSampled === 200)).toBe(true);
    expect(() => screenDomains(near.target, { near: near.pool }, { keep: 2 })).toThrow(
      'keep must be an integer in [1, 1], got 2',
    );
  });
});
