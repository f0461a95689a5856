import { describe, expect, it } from 'vitest';
import {
  SingularSystemError,
  columnSums,
  leastSquares,
  randomPermutation,
  sampleDirichlet,
  seededUniform,
  solveLinearSystem,
  standardNormal,
  transpose,
} from '../../../ml/methods/aioli/numerics.js';

const matVec = (a: number[][], x: number[]) => a.map((row) => row.reduce((s, v, j) => s + v * x[j]!, 0));

describe('solveLinearSystem (Gaussian elimination with partial pivoting)', () => {
  it('solves a diagonal system', () => {
    expect(
      solveLinearSystem(
        [
          [2, 0],
          [0, 4],
        ],
        [2, 2],
      ),
    ).toEqual([1, 0.5]);
  });

  it('pivots past a zero leading entry', () => {
    const x = solveLinearSystem(
      [
        [0, 1],
        [1, 0],
      ],
      [3, 5],
    );
    expect(x[0]).toBeCloseTo(5, 15);
    expect(x[1]).toBeCloseTo(3, 15);
  });

  it('solves a random 6×6 diagonally dominant system to round-off', () => {
    const u = seededUniform(11);
    const a = Array.from({ length: 6 }, (_, i) =>
      Array.from({ length: 6 }, (_, j) => (i === j ? 6 : 0) + u() - 0.5),
    );
    const truth = Array.from({ length: 6 }, () => u() * 10 - 5);
    const x = solveLinearSystem(a, matVec(a, truth));
    x.forEach((v, i) => expect(Math.abs(v - truth[i]!)).toBeLessThan(1e-12));
  });

  it('does not modify its inputs', () => {
    const a = [
      [1, 2],
      [3, 4],
    ];
    const b = [5, 6];
    solveLinearSystem(a, b);
    expect(a).toEqual([
      [1, 2],
      [3, 4],
    ]);
    expect(b).toEqual([5, 6]);
  });

  it('rejects singular and mis-shaped systems', () => {
    expect(() =>
      solveLinearSystem(
        [
          [1, 2],
          [2, 4],
        ],
        [1, 2],
      ),
    ).toThrow(SingularSystemError);
    expect(() =>
      solveLinearSystem(
        [
          [0.5, 0.5],
          [0.5, 0.5],
        ],
        [1, 1],
      ),
    ).toThrow(/singular/);
    expect(() =>
      solveLinearSystem(
        [
          [1, 0],
          [0, 1],
        ],
        [1],
      ),
    ).toThrow(/n×n/);
  });
});

describe('leastSquares', () => {
  it('recovers the exact solution of a consistent overdetermined system', () => {
    const x = [
      [1, 0],
      [0, 1],
      [1, 1],
      [2, -1],
    ];
    const b = [
      [1, 2],
      [3, 4],
    ]; // 2×2 coefficients
    const y = x.map((row) => [0, 1].map((c) => row[0]! * b[0]![c]! + row[1]! * b[1]![c]!));
    const fit = leastSquares(x, y);
    fit.forEach((row, i) => row.forEach((v, c) => expect(v).toBeCloseTo(b[i]![c]!, 12)));
  });

  it('returns the mean for a constant model', () => {
    expect(leastSquares([[1], [1], [1]], [[1], [2], [6]])[0]![0]).toBeCloseTo(3, 14);
  });
});

describe('matrix helpers', () => {
  it('column sums and transpose', () => {
    expect(
      columnSums([
        [1, 2],
        [3, 4],
      ]),
    ).toEqual([4, 6]);
    expect(
      transpose([
        [1, 2, 3],
        [4, 5, 6],
      ]),
    ).toEqual([
      [1, 4],
      [2, 5],
      [3, 6],
    ]);
  });
});

describe('seeded randomness', () => {
  it('is deterministic per (seed, stream) and uniform in [0, 1)', () => {
    const a = seededUniform(42, 3);
    const b = seededUniform(42, 3);
    const xs = Array.from({ length: 1000 }, () => a());
    expect(Array.from({ length: 1000 }, () => b())).toEqual(xs);
    expect(xs.every((v) => v >= 0 && v < 1)).toBe(true);
    const mean = xs.reduce((s, v) => s + v, 0) / xs.length;
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.05);
    expect(seededUniform(42, 4)()).not.toBe(seededUniform(42, 3)());
    expect(seededUniform(43, 3)()).not.toBe(seededUniform(42, 3)());
    expect(seededUniform(2 ** 40 + 1)()).not.toBe(seededUniform(1)());
  });

  it('rejects non-integer seeds', () => {
    expect(() => seededUniform(0.5)).toThrow(/safe integers/);
  });

  it('draws permutations, normals and Dirichlet points', () => {
    const u = seededUniform(5);
    for (let t = 0; t < 20; t++) expect([...randomPermutation(7, u)].sort()).toEqual([0, 1, 2, 3, 4, 5, 6]);
    const z = Array.from({ length: 4000 }, () => standardNormal(u));
    const mean = z.reduce((s, v) => s + v, 0) / z.length;
    const variance = z.reduce((s, v) => s + (v - mean) ** 2, 0) / z.length;
    expect(Math.abs(mean)).toBeLessThan(0.06);
    expect(Math.abs(variance - 1)).toBeLessThan(0.08);
    for (const alpha of [
      [0.5, 0.5, 0.5],
      [1.5, 1.5, 1.5, 1.5],
    ]) {
      const p = sampleDirichlet(alpha, u);
      expect(p.reduce((s, v) => s + v, 0)).toBeCloseTo(1, 14);
      expect(p.every((v) => v >= 0)).toBe(true);
    }
  });
});
