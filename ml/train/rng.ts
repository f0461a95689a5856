// Seeded randomness for everything in ml/ that must replay exactly: parameter init, data order,
// minibatch picks, augmentation draws. One 32-bit integer seed goes in; the stream is a pure
// function of it, so a retried activity that restores `state` continues bit-identically.
//
// Generator: mulberry32 (Tommy Ettinger's 32-bit mixer); seeds for sub-streams and for tfjs ops that
// take a `seed` argument come from splitmix32 hashing, so neighbouring seeds give unrelated streams.
// `fmix32` (murmur3's finaliser) is the hash for everything that is not a stream: n-gram buckets,
// Aioli's (seed, round) keys.
//
// No imports, no Node, no tfjs: the mixAioli workflow draws Aioli's LearnParams order from this
// module (through ml/methods/aioli/), so it must stay deterministic plain JS.

/** splitmix32 finaliser: a well-mixed uint32 from any uint32. */
function splitmix32(x: number): number {
  let z = (x + 0x9e3779b9) | 0;
  z = Math.imul(z ^ (z >>> 16), 0x21f0aaad);
  z = Math.imul(z ^ (z >>> 15), 0x735a2d97);
  return (z ^ (z >>> 15)) >>> 0;
}

/** murmur3's 32-bit finaliser: spreads every input bit over the output (e.g. FNV's weak low bits). */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function hashString(s: string): number {
  // FNV-1a over UTF-16 code units; only used to turn labels like "expert" into seed material.
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/**
 * A seed for an independent sub-stream, e.g. `deriveSeed(seed, 'expert', k)` or
 * `deriveSeed(seed, 'epoch', e)`. Deterministic, order-sensitive, uint32.
 */
export function deriveSeed(seed: number, ...path: (number | string)[]): number {
  let h = splitmix32(seed >>> 0);
  for (const part of path) {
    const v = typeof part === 'number' ? part >>> 0 : hashString(part);
    h = splitmix32((h ^ v) >>> 0);
  }
  return h;
}

/** Small seeded PRNG (mulberry32). `state` is one uint32: save it to resume the stream. */
export class Rng {
  state: number;

  constructor(seed: number) {
    // Hash the seed once so seeds 0, 1, 2, ... do not start with correlated outputs.
    this.state = splitmix32(seed >>> 0);
  }

  /** Resumes a stream from a saved `state` (not a seed). */
  static fromState(state: number): Rng {
    const rng = new Rng(0);
    rng.state = state >>> 0;
    return rng;
  }

  /** Next uint32. */
  nextUint32(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** Uniform in [0, 1) with 32 bits of resolution. */
  next(): number {
    return this.nextUint32() / 4294967296;
  }

  /** Uniform in [lo, hi). */
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  /** Uniform integer in [0, n). Rejection sampling keeps it exactly uniform for any n ≤ 2^32. */
  int(n: number): number {
    if (!Number.isInteger(n) || n <= 0 || n > 4294967296)
      throw new RangeError(`Rng.int(n): n must be an integer in [1, 2^32], got ${n}`);
    const limit = 4294967296 - (4294967296 % n);
    let u = this.nextUint32();
    while (u >= limit) u = this.nextUint32();
    return u % n;
  }

  /** Standard normal draw (Box–Muller; one value per call, the pair's twin is discarded for simplicity). */
  normal(mean = 0, std = 1): number {
    const u1 = 1 - this.next(); // (0, 1]: log is finite
    const u2 = this.next();
    return mean + std * Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }

  /** A fresh uint32 seed, e.g. for `tf.randomNormal(shape, 0, 1, 'float32', rng.nextSeed())`. */
  nextSeed(): number {
    return this.nextUint32();
  }
}

/** In-place Fisher–Yates shuffle; returns `a` for chaining. */
export function shuffleInPlace<T extends { length: number; [i: number]: unknown }>(a: T, rng: Rng): T {
  for (let i = a.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const tmp = a[i];
    a[i] = a[j];
    a[j] = tmp;
  }
  return a;
}

/** A uniformly random permutation of 0..n-1. */
export function permutation(n: number, rng: Rng): Int32Array {
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  return shuffleInPlace(p, rng);
}

/** k distinct indices from 0..n-1, uniformly (partial Fisher–Yates), in draw order. */
export function sampleWithoutReplacement(n: number, k: number, rng: Rng): Int32Array {
  if (k > n) throw new RangeError(`sampleWithoutReplacement: k=${k} exceeds n=${n}`);
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  for (let i = 0; i < k; i++) {
    const j = i + rng.int(n - i);
    const tmp = p[i]!;
    p[i] = p[j]!;
    p[j] = tmp;
  }
  return p.slice(0, k);
}

/** k indices from 0..n-1 with replacement. */
export function sampleWithReplacement(n: number, k: number, rng: Rng): Int32Array {
  const out = new Int32Array(k);
  for (let i = 0; i < k; i++) out[i] = rng.int(n);
  return out;
}

/**
 * One draw from a categorical distribution given non-negative weights (need not sum to 1), e.g.
 * picking a data group under mixture proportions.
 */
export function sampleCategorical(weights: ArrayLike<number>, rng: Rng): number {
  let total = 0;
  for (let i = 0; i < weights.length; i++) {
    const w = weights[i]!;
    if (!(w >= 0) || !Number.isFinite(w)) throw new RangeError(`sampleCategorical: weight ${i} is ${w}`);
    total += w;
  }
  if (!(total > 0)) throw new RangeError('sampleCategorical: weights sum to 0');
  let u = rng.next() * total;
  for (let i = 0; i < weights.length; i++) {
    u -= weights[i]!;
    if (u < 0) return i;
  }
  // Rounding left u at ~0: return the last category with positive weight.
  for (let i = weights.length - 1; i >= 0; i--) if (weights[i]! > 0) return i;
  return weights.length - 1;
}
