// Synthetic GOT-D data for bench/gotd-scale.ts: a seeded Gaussian mixture in R^d, L2-normalised
// (costs in [0, 4], the scale the spec's ε = 0.1 assumes). The pool over-represents the "common"
// components and has a rare one; the target draws half its rows from the rare component, so a
// correct selection is dominated by it (spec §8's direction, oracle 3 in d dimensions).
import { Rng, deriveSeed } from '../ml/train/rng.js';

export const COMPONENTS = 8;
/** The under-covered component (pool share RARE_POOL_SHARE, target share 0.5). */
export const RARE = COMPONENTS - 1;
export const RARE_POOL_SHARE = 0.05;

export interface SyntheticTable {
  ids: string[];
  /** Component of every row ("c0" … "c7"). */
  groups: string[];
  embeddings: Float32Array;
  dim: number;
}

/** Component centres: random unit directions, fixed by the seed (shared by pool and target). */
function centres(dim: number, seed: number): Float64Array {
  const rng = new Rng(deriveSeed(seed, 'centres'));
  const c = new Float64Array(COMPONENTS * dim);
  for (let k = 0; k < COMPONENTS; k++) {
    let norm = 0;
    for (let d = 0; d < dim; d++) norm += (c[k * dim + d] = rng.normal()) ** 2;
    for (let d = 0; d < dim; d++) c[k * dim + d]! /= Math.sqrt(norm);
  }
  return c;
}

/**
 * `rows` points: component k with probability `weights[k]`, centre + N(0, σ²I), then L2-normalised.
 * σ = 0.6/√d puts the within-component spread at about half the distance between centres.
 */
export function mixture(
  rows: number,
  dim: number,
  weights: readonly number[],
  seed: number,
  label: string,
  prefix: string,
): SyntheticTable {
  const c = centres(dim, seed);
  const rng = new Rng(deriveSeed(seed, label));
  const sigma = 0.6 / Math.sqrt(dim);
  const cumulative = weights.map((_, k) => weights.slice(0, k + 1).reduce((a, b) => a + b, 0));
  const total = cumulative[cumulative.length - 1]!;
  const embeddings = new Float32Array(rows * dim);
  const ids: string[] = [];
  const groups: string[] = [];
  const v = new Float64Array(dim);
  for (let i = 0; i < rows; i++) {
    const u = rng.next() * total;
    const k = cumulative.findIndex((x) => u < x);
    let norm = 0;
    for (let d = 0; d < dim; d++) norm += (v[d] = c[k * dim + d]! + sigma * rng.normal()) ** 2;
    for (let d = 0; d < dim; d++) embeddings[i * dim + d] = v[d]! / Math.sqrt(norm);
    ids.push(`${prefix}${i}`);
    groups.push(`c${k}`);
  }
  return { ids, groups, embeddings, dim };
}

/** Pool: the rare component at RARE_POOL_SHARE, the rest spread evenly. */
export function syntheticPool(rows: number, dim: number, seed: number): SyntheticTable {
  const common = (1 - RARE_POOL_SHARE) / (COMPONENTS - 1);
  return mixture(
    rows,
    dim,
    Array.from({ length: COMPONENTS }, (_, k) => (k === RARE ? RARE_POOL_SHARE : common)),
    seed,
    'pool',
    'p',
  );
}

/** Target: half from the rare component, half spread over the others. */
export function syntheticTarget(rows: number, dim: number, seed: number): SyntheticTable {
  const common = 0.5 / (COMPONENTS - 1);
  return mixture(
    rows,
    dim,
    Array.from({ length: COMPONENTS }, (_, k) => (k === RARE ? 0.5 : common)),
    seed,
    'target',
    't',
  );
}

export const rareShare = (
  ids: readonly (string | number | bigint)[],
  groupOf: (id: string) => string,
): number =>
  ids.length === 0 ? 0 : ids.filter((id) => groupOf(String(id)) === `c${RARE}`).length / ids.length;
