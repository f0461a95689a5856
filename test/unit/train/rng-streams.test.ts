// Pinned values of every seeded stream a recorded run depends on. Aioli's LearnParams order is drawn
// inside the mixAioli workflow and GOT-D's shard assignment decides which rows an activity scores:
// a change to either stream would change what a replayed or resumed run computes without changing
// its command sequence, which replay tests cannot see. So these values never change.
import { describe, expect, it } from 'vitest';
import { aioliConfig, planLearnParams } from '../../../ml/methods/aioli/index.js';
import { seededUniform } from '../../../ml/methods/aioli/numerics.js';
import { nearestNeighbourMatching } from '../../../ml/methods/gotd/baselines.js';
import { randomShardAssignment } from '../../../ml/methods/gotd/index.js';
import { embedHashedNgrams } from '../../../ml/methods/gotd/ngram-embedder.js';

const take = (u: () => number, n: number) => Array.from({ length: n }, () => u());

describe('pinned seeded streams', () => {
  it("Aioli's (seed, stream) uniforms, high bits of the seed and the stream included", () => {
    expect(take(seededUniform(0, 0), 4)).toEqual([
      0.28353824838995934, 0.9939660129602998, 0.6634458820335567, 0.2983074791263789,
    ]);
    expect(take(seededUniform(42, 3), 4)).toEqual([
      0.6313549163751304, 0.5354278075974435, 0.09068417642265558, 0.7509782479610294,
    ]);
    expect(take(seededUniform(2 ** 40 + 1, 7), 4)).toEqual([
      0.6955425187479705, 0.331468052463606, 0.9773985447827727, 0.3489319982472807,
    ]);
    expect(take(seededUniform(-5, 2 ** 33), 4)).toEqual([
      0.6737861258443445, 0.6441331710666418, 0.6681547244079411, 0.41139865666627884,
    ]);
  });

  it("Aioli's LearnParams probe order per round (what mixAioli trains on)", () => {
    const config = aioliConfig({
      groups: ['a', 'b', 'c', 'd'],
      totalSteps: 400,
      roundSteps: 100,
      sweeps: 3,
      seed: 9,
    });
    const order = (round: number) => planLearnParams(config, round).map((p) => p.trainedGroup);
    expect(order(0)).toEqual([0, 2, 1, 3, 3, 0, 2, 1, 2, 0, 3, 1]);
    expect(order(1)).toEqual([2, 3, 1, 0, 0, 3, 2, 1, 2, 1, 0, 3]);
    expect(order(5)).toEqual([1, 2, 3, 0, 3, 0, 2, 1, 0, 1, 2, 3]);
  });

  it("GOT-D's random shard assignment and the matching baseline's visiting order", () => {
    expect(randomShardAssignment(11, 3, 1234).map((a) => Array.from(a))).toEqual([
      [1, 2, 4],
      [3, 5, 6, 10],
      [0, 7, 8, 9],
    ]);
    expect(randomShardAssignment(7, 2, 0).map((a) => Array.from(a))).toEqual([
      [2, 3, 4],
      [0, 1, 5, 6],
    ]);
    const table = (name: string, n: number, offset: number) => ({
      name,
      ids: Array.from({ length: n }, (_, i) => `${name}${i}`),
      embeddings: Float32Array.from({ length: n * 2 }, (_, i) => Math.sin(i * 1.7 + offset)),
      dim: 2,
    });
    expect(nearestNeighbourMatching(table('t', 6, 0), table('p', 12, 3), 7, 99)).toEqual([
      'p6',
      'p1',
      'p4',
      'p3',
      'p5',
      'p2',
      'p8',
    ]);
  });

  it("the n-gram embedder's hashed buckets (seeded FNV-1a, murmur3-finalised)", () => {
    const e = embedHashedNgrams(['Hello wörld'], { dim: 1 << 20, seed: 5 });
    expect(Array.from(e).flatMap((v, j) => (v !== 0 ? [j] : []))).toEqual([
      29136, 33453, 164074, 164823, 197933, 239842, 251007, 274750, 282168, 307028, 378797, 401552, 435768,
      437664, 439274, 473662, 484996, 541606, 571060, 649578, 721135, 750593, 836139, 848132, 862078, 887078,
      951120, 954949, 1018298, 1048567,
    ]);
  });
});
