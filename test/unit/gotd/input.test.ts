// selectWarmup input defaults that depend on the embedder (schemas/gotd.ts).
import { describe, expect, it } from 'vitest';
import { DEFAULT_EPSILON, SelectWarmupInput } from '../../../schemas/gotd.js';

const base = { pool: 'file:///pool.parquet', target: 'file:///target.parquet' };
const checkpoint = {
  uri: 'file:///ckpt/model.json',
  kind: 'checkpoint',
  format: 'json',
  sha256: 'a'.repeat(64),
  bytes: 1,
};

describe('selectWarmup ε default', () => {
  it('is 0.01 for the n-gram embedder (also when the embedder is left out)', () => {
    expect(DEFAULT_EPSILON.ngram).toBe(0.01);
    expect(SelectWarmupInput.parse(base).epsilon).toBe(0.01);
    expect(SelectWarmupInput.parse({ ...base, embedder: { kind: 'ngram', dim: 4096 } }).epsilon).toBe(0.01);
  });

  it("is the spec's 0.1 for LM and precomputed embeddings", () => {
    const lm = SelectWarmupInput.parse({ ...base, embedder: { kind: 'lm', checkpoint } });
    expect(lm.epsilon).toBe(0.1);
    const pre = SelectWarmupInput.parse({
      ...base,
      embedder: { kind: 'precomputed', pool: 'file:///p.parquet', target: 'file:///t.parquet' },
    });
    expect(pre.epsilon).toBe(0.1);
  });

  it('an explicit ε wins, and the parsed input parses to itself', () => {
    const parsed = SelectWarmupInput.parse({ ...base, epsilon: 0.3 });
    expect(parsed.epsilon).toBe(0.3);
    expect(SelectWarmupInput.parse(parsed)).toEqual(parsed);
    expect(SelectWarmupInput.safeParse({ ...base, epsilon: 0 }).success).toBe(false);
  });
});
