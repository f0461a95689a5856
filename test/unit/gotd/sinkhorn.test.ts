// Log-domain Sinkhorn (specs/warmup-selection-gotd.md §4.4): oracle 2 (1-D closed form), oracle 8
// (streaming equivalence), blocked vs full cost, weights, errors, tensor hygiene.
// Oracle 2's 1e-6 tolerances are below what float32 potentials can resolve, so that oracle runs on the
// float64 JS path (`precision: 'float64'`); the float32 path is checked against it at float32 tolerances.
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import {
  meanSquaredEuclideanCost,
  sinkhorn,
  squaredEuclideanCost,
  transportPlan,
  type PointCloud,
} from '../../../ml/ops/sinkhorn.js';
import { calibratedOtGradient } from '../../../ml/methods/gotd/index.js';
import { gaussianCloud, normalRng, twoClusterData } from './fixtures.js';

const cloud = (data: number[], dim: number): PointCloud => ({
  data: Float64Array.from(data),
  rows: data.length / dim,
  dim,
});

function maxAbs(v: ArrayLike<number>): number {
  let m = 0;
  for (let k = 0; k < v.length; k++) m = Math.max(m, Math.abs(v[k]!));
  return m;
}

function maxAbsDiff(p: ArrayLike<number>, q: ArrayLike<number>): number {
  expect(p.length).toBe(q.length);
  let m = 0;
  for (let k = 0; k < p.length; k++) m = Math.max(m, Math.abs(p[k]! - q[k]!));
  return m;
}

function relativeDiff(p: ArrayLike<number>, q: ArrayLike<number>): number {
  return maxAbsDiff(p, q) / Math.max(maxAbs(q), 1e-12);
}

const xs1d = cloud([0, 1, 2, 3], 1);
const ys1d = cloud([0.5, 1.5, 2.5, 3.5], 1);

describe('oracle 2: closed-form 1-D OT', () => {
  // x and y interleave, so x=1 is as close to 0.5 as to 1.5: the kernel is nearly bidiagonal and
  // plain Sinkhorn needs ~2·10^5 iterations (ε = 0.1) to reach 1e-9. Over-relaxation reaches the
  // same fixed point (the entropic optimum) in ~10^4; the oracle is a property of that optimum.
  it('⟨P, C⟩ = 0.250068 at ε = 0.1 (float64)', () => {
    const r = sinkhorn(xs1d, ys1d, {
      epsilon: 0.1,
      omega: 1.9,
      tol: 1e-10,
      maxIter: 100_000,
      precision: 'float64',
    });
    expect(r.converged).toBe(true);
    expect(Math.abs(r.transportCost - 0.250068)).toBeLessThan(1e-6); // measured 0.2500680947
  });

  it('⟨P, C⟩ = 0.250068 at ε = 0.1 with plain Sinkhorn (ω = 1, tol 1e-9, float64)', () => {
    const r = sinkhorn(xs1d, ys1d, { epsilon: 0.1, tol: 1e-9, maxIter: 300_000, precision: 'float64' });
    expect(r.converged).toBe(true);
    expect(Math.abs(r.transportCost - 0.250068)).toBeLessThan(1e-6);
  });

  it('⟨P, C⟩ is within 1e-6 of 0.25 at ε = 0.01 (float64)', () => {
    const r = sinkhorn(xs1d, ys1d, {
      epsilon: 0.01,
      omega: 1.9,
      tol: 1e-6,
      maxIter: 20_000,
      precision: 'float64',
    });
    expect(Math.abs(r.transportCost - 0.25)).toBeLessThan(1e-6);
  });

  it('the float32 path agrees at float32 tolerance', () => {
    // float32 potentials stall near a 1e-5 marginal error on this problem; tol 1e-6 is out of reach.
    const r = sinkhorn(xs1d, ys1d, { epsilon: 0.1, omega: 1.9, tol: 1e-4, maxIter: 5_000 });
    expect(r.precision).toBe('float32');
    expect(r.converged).toBe(true);
    expect(Math.abs(r.transportCost - 0.250068)).toBeLessThan(1e-5); // measured 0.2500666
  });

  it('with y in the order (3.5, 0.5, 2.5, 1.5) the plan ×n is the sorted matching (ε = 0.01)', () => {
    const y = cloud([3.5, 0.5, 2.5, 1.5], 1);
    const r = sinkhorn(xs1d, y, {
      epsilon: 0.01,
      omega: 1.9,
      tol: 1e-9,
      maxIter: 40_000,
      precision: 'float64',
    });
    const plan = transportPlan(xs1d, y, r);
    // x = 0, 1, 2, 3 → y positions 1 (0.5), 3 (1.5), 2 (2.5), 0 (3.5)
    const match = [1, 3, 2, 0];
    const expected = new Float64Array(16);
    match.forEach((j, i) => (expected[i * 4 + j] = 1));
    // Sinkhorn crawls on this chain (see above): 4·10^4 over-relaxed iterations leave ~2e-5 per entry.
    expect(
      maxAbsDiff(
        plan.map((p) => 4 * p),
        expected,
      ),
    ).toBeLessThan(1e-4);
  });
});

describe('oracle 8: streaming equivalence', () => {
  const normal = normalRng(8);
  const N = 30;
  const x: PointCloud = { data: gaussianCloud(12, [0, 0, 0, 0], 1, normal), rows: 12, dim: 4 };
  const y: PointCloud = { data: gaussianCloud(N, [0.5, 0, 0, 0], 1, normal), rows: N, dim: 4 };
  // A fixed iteration count (tol 0) so every variant does the same work.
  const solve = (blockSize: number, cache: boolean) =>
    sinkhorn(x, y, { epsilon: 0.5, tol: 0, maxIter: 12, blockSize, cacheCostLimit: cache ? 1e8 : 0 });

  it('block sizes 1, 7 and N give the same f, g to 1e-5 relative (float32), cached or streamed', () => {
    const reference = solve(N, true);
    expect(reference.blocks).toBe(1);
    expect(reference.cachedCost).toBe(true);
    for (const [blockSize, cache] of [
      [1, false],
      [7, true],
      [7, false],
      [N, false],
    ] as const) {
      const r = solve(blockSize, cache);
      expect(r.blocks).toBe(Math.ceil(N / blockSize));
      expect(r.cachedCost).toBe(cache);
      expect(r.iterations).toBe(12);
      expect(relativeDiff(r.f, reference.f)).toBeLessThan(1e-5);
      expect(relativeDiff(r.g, reference.g)).toBeLessThan(1e-5);
    }
  });

  it('the cached-cost path equals the streaming path exactly at equal block size', () => {
    for (const blockSize of [7, N]) {
      const cached = solve(blockSize, true);
      const streamed = solve(blockSize, false);
      expect(Array.from(streamed.f)).toEqual(Array.from(cached.f));
      expect(Array.from(streamed.g)).toEqual(Array.from(cached.g));
    }
  });

  it('the float64 path agrees with the float32 path (blocks 7 vs N)', () => {
    const r64 = sinkhorn(x, y, { epsilon: 0.5, tol: 0, maxIter: 12, blockSize: 7, precision: 'float64' });
    expect(relativeDiff(solve(N, true).g, r64.g)).toBeLessThan(1e-5);
  });
});

describe('squared Euclidean cost', () => {
  const normal = normalRng(11);
  const x: PointCloud = { data: gaussianCloud(9, [1, -2, 0.5], 1, normal), rows: 9, dim: 3 };
  const y: PointCloud = { data: gaussianCloud(23, [0, 0, 0], 2, normal), rows: 23, dim: 3 };
  const exact = new Float64Array(9 * 23);
  for (let i = 0; i < 9; i++) {
    for (let j = 0; j < 23; j++) {
      let c = 0;
      for (let d = 0; d < 3; d++) c += (x.data[i * 3 + d]! - y.data[j * 3 + d]!) ** 2;
      exact[i * 23 + j] = c;
    }
  }

  it('blocked cost blocks concatenate to the full matrix, which matches exact differences', () => {
    const before = tf.memory().numTensors;
    const xt = tf.tensor2d(Float32Array.from(x.data), [9, 3]);
    const yt = tf.tensor2d(Float32Array.from(y.data), [23, 3]);
    const full = squaredEuclideanCost(xt, yt);
    const blocks = tf.tidy(() =>
      tf.concat(
        [0, 7, 14, 21].map((start) =>
          squaredEuclideanCost(xt, tf.slice(yt, [start, 0], [Math.min(7, 23 - start), 3])),
        ),
        1,
      ),
    );
    expect(full.shape).toEqual([9, 23]);
    // Blocks and the full product may sum in different orders: float32 rounding only.
    expect(maxAbsDiff(blocks.dataSync(), full.dataSync())).toBeLessThan(1e-6 * maxAbs(exact));
    expect(maxAbsDiff(full.dataSync(), exact)).toBeLessThan(1e-4 * maxAbs(exact));
    tf.dispose([xt, yt, full, blocks]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('is clamped at zero for coincident points', () => {
    const c = tf.tidy(() =>
      squaredEuclideanCost(tf.tensor2d([[1e3, 1e3 + 1]]), tf.tensor2d([[1e3, 1e3 + 1]])).dataSync(),
    );
    expect(c[0]).toBeGreaterThanOrEqual(0);
  });

  it('meanSquaredEuclideanCost is the mean of all pairwise costs', () => {
    const mean = exact.reduce((acc, c) => acc + c, 0) / exact.length;
    expect(Math.abs(meanSquaredEuclideanCost(x, y) - mean)).toBeLessThan(1e-12 * mean);
    const r = sinkhorn(x, y, { epsilon: 0.5, relativeEpsilon: true, precision: 'float64' });
    expect(r.meanCost).toBeCloseTo(mean, 10);
    expect(r.epsilon).toBeCloseTo(0.5 * mean, 10);
  });
});

describe('marginals and weights', () => {
  const normal = normalRng(12);
  const x: PointCloud = { data: gaussianCloud(6, [0, 0], 1, normal), rows: 6, dim: 2 };
  const y: PointCloud = { data: gaussianCloud(10, [0.3, 0], 1, normal), rows: 10, dim: 2 };
  const b = Array.from({ length: 10 }, (_, j) => 1 + j);

  it('the plan has marginals a and b (given weights, normalised)', () => {
    const r = sinkhorn(x, y, {
      epsilon: 0.2,
      tol: 1e-12,
      maxIter: 10_000,
      candidateWeights: b,
      precision: 'float64',
    });
    expect(r.converged).toBe(true);
    const plan = transportPlan(x, y, r);
    const total = b.reduce((acc, v) => acc + v, 0);
    for (let i = 0; i < 6; i++)
      expect(plan.slice(i * 10, i * 10 + 10).reduce((acc, p) => acc + p, 0)).toBeCloseTo(1 / 6, 10);
    for (let j = 0; j < 10; j++) {
      let col = 0;
      for (let i = 0; i < 6; i++) col += plan[i * 10 + j]!;
      expect(col).toBeCloseTo(b[j]! / total, 10);
    }
    let pc = 0;
    for (let i = 0; i < 6; i++) {
      for (let j = 0; j < 10; j++) {
        const c = (x.data[2 * i]! - y.data[2 * j]!) ** 2 + (x.data[2 * i + 1]! - y.data[2 * j + 1]!) ** 2;
        pc += plan[i * 10 + j]! * c;
      }
    }
    expect(r.transportCost).toBeCloseTo(pc, 9);
  });

  it('listing a target row twice equals doubling its weight', () => {
    const twice: PointCloud = {
      data: Float64Array.from([...x.data, x.data[0]!, x.data[1]!]),
      rows: 7,
      dim: 2,
    };
    const dup = sinkhorn(twice, y, { epsilon: 0.2, tol: 1e-12, maxIter: 10_000, precision: 'float64' });
    const weighted = sinkhorn(x, y, {
      epsilon: 0.2,
      tol: 1e-12,
      maxIter: 10_000,
      targetWeights: [2, 1, 1, 1, 1, 1],
      precision: 'float64',
    });
    expect(maxAbsDiff(calibratedOtGradient(dup.g), calibratedOtGradient(weighted.g))).toBeLessThan(1e-9);
    // The potentials agree; the entropic cost does not: with ott-jax's −εH(P) regulariser, splitting
    // a row's mass w over two copies raises the plan entropy by w·log 2.
    expect(weighted.dualObjective - dup.dualObjective).toBeCloseTo(0.2 * (2 / 7) * Math.log(2), 9);
  });

  it('over-relaxation reaches the same calibrated potentials as plain Sinkhorn', () => {
    const plain = sinkhorn(x, y, { epsilon: 0.2, tol: 1e-12, maxIter: 10_000, precision: 'float64' });
    const fast = sinkhorn(x, y, {
      epsilon: 0.2,
      omega: 1.5,
      tol: 1e-12,
      maxIter: 10_000,
      precision: 'float64',
    });
    expect(fast.iterations).toBeLessThan(plain.iterations);
    expect(maxAbsDiff(calibratedOtGradient(fast.g), calibratedOtGradient(plain.g))).toBeLessThan(1e-9);
  });
});

describe('over-relaxation fallback (spec §10)', () => {
  it('an overshooting ω falls back to 1 and still reaches the plain-Sinkhorn potentials', () => {
    const data = twoClusterData({ dim: 2, nA: 90, nB: 10, tA: 10, tB: 10, seed: 3 });
    const x: PointCloud = { data: data.target.embeddings, rows: 20, dim: 2 };
    const y: PointCloud = { data: data.pool.embeddings, rows: 100, dim: 2 };
    const settings = { epsilon: 0.05, tol: 1e-6, maxIter: 20_000, precision: 'float64' } as const;
    const plain = sinkhorn(x, y, settings);
    const wild = sinkhorn(x, y, { ...settings, omega: 1.95 }); // overflows the row marginals at first
    expect(plain.omegaFellBack).toBe(false);
    expect(wild.omegaFellBack).toBe(true);
    expect(wild.omega).toBe(1);
    expect(wild.converged).toBe(true);
    expect(relativeDiff(calibratedOtGradient(wild.g), calibratedOtGradient(plain.g))).toBeLessThan(1e-4);
  });
});

describe('errors and tensor hygiene', () => {
  const x = cloud([0, 0, 1, 1], 2);

  it('rejects mismatched dimensions, non-finite values, bad weights and bad settings', () => {
    expect(() => sinkhorn(x, cloud([0, 0, 0], 3), { epsilon: 1 })).toThrow(
      'sinkhorn: target has dimension 2, candidates have 3',
    );
    expect(() => sinkhorn(x, cloud([0, NaN], 2), { epsilon: 1 })).toThrow(
      'candidates has non-finite value NaN at row 0, column 1',
    );
    expect(() => sinkhorn(x, cloud([0, 0], 2), { epsilon: 0 })).toThrow('epsilon must be positive');
    expect(() => sinkhorn(x, cloud([0, 0], 2), { epsilon: 1, omega: 2 })).toThrow('omega must lie in (0, 2)');
    expect(() => sinkhorn(x, cloud([0, 0, 1, 1], 2), { epsilon: 1, candidateWeights: [1, 0] })).toThrow(
      'candidate weight 1 is 0',
    );
    expect(() => sinkhorn(x, { data: new Float32Array(0), rows: 0, dim: 2 }, { epsilon: 1 })).toThrow(
      'candidates has 0 rows',
    );
  });

  it('accepts tensors and leaks none (cached and streamed, float32)', () => {
    const xt = tf.tensor2d([
      [0, 0],
      [1, 1],
      [2, 0],
    ]);
    const yt = tf.tensor2d([
      [0, 1],
      [1, 0],
      [2, 2],
      [3, 1],
      [0, 0],
    ]);
    const before = tf.memory().numTensors;
    const cached = sinkhorn(xt, yt, { epsilon: 0.3, blockSize: 2 });
    const streamed = sinkhorn(xt, yt, { epsilon: 0.3, blockSize: 2, cacheCostLimit: 0 });
    expect(tf.memory().numTensors).toBe(before);
    expect(cached.converged && streamed.converged).toBe(true);
    expect(Array.from(streamed.g)).toEqual(Array.from(cached.g));
    tf.dispose([xt, yt]);
  });

  it('is deterministic', () => {
    const normal = normalRng(13);
    const y: PointCloud = { data: gaussianCloud(50, [0, 0], 1, normal), rows: 50, dim: 2 };
    const p = sinkhorn(x, y, { epsilon: 0.1, blockSize: 16 });
    const q = sinkhorn(x, y, { epsilon: 0.1, blockSize: 16 });
    expect(Array.from(q.g)).toEqual(Array.from(p.g));
    expect(q.iterations).toBe(p.iterations);
  });
});
