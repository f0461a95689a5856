// A small byte-level causal transformer LM, GPT-2 style (Radford et al. 2019; nanoGPT's model.py is
// the readability model): learned token and position embeddings, pre-LayerNorm blocks
//   x ← x + Attn(LN1(x));   x ← x + MLP(LN2(x)),   MLP = Linear(d, r·d) → GELU → Linear(r·d, d)
// and a final LayerNorm. The vocabulary is the 256 byte values, so no tokenizer artifact is needed.
//
// Defaults follow the CPU-scale preset of continual-pretraining-rewarm.md §7 (4 layers, d 256, 4 heads,
// context 128); mixing-aioli.md §6 uses 2 layers, d 128. Head: TIED to the token embedding by default
// (logits = h · wteᵀ, as GPT-2 and nanoGPT do: fewer parameters, and at vocab 256 an untied head buys
// nothing); `tieEmbeddings: false` adds a separate `head.w` [d, 256]. No dropout (rewarm spec §2).
//
// Parameters are a named map of tensors; `lmParamSpecs` fixes the order (= insertion order of
// `initLmParams`), so checkpoints serialise deterministically.
import * as tf from '@tensorflow/tfjs-core';
import type { LmModelConfig } from '../../schemas/training.js';
import {
  fusedOpsEnabled,
  gelu as fusedGelu,
  layerNorm as fusedLayerNorm,
  geluStock,
  layerNormStock,
  logSoftmax,
  softmaxCrossEntropy,
} from '../ops/index.js';
import { Rng, deriveSeed } from '../train/rng.js';

/** The contract's `LmModelConfig` (schemas/training.ts) with every field resolved. */
export interface LmConfig extends Required<LmModelConfig> {
  /** Byte-level: always 256. */
  vocabSize: number;
}

export const DEFAULT_LM: LmConfig = {
  vocabSize: 256,
  layers: 4,
  dModel: 256,
  heads: 4,
  ctx: 128,
  mlpRatio: 4,
  tieEmbeddings: true,
  initStd: 0.02,
  layerNormEps: 1e-5,
};

export function lmConfig(overrides: Partial<LmConfig> = {}): LmConfig {
  const config = { ...DEFAULT_LM, ...overrides };
  for (const k of ['vocabSize', 'layers', 'dModel', 'heads', 'ctx', 'mlpRatio'] as const) {
    if (!(Number.isInteger(config[k]) && config[k] > 0))
      throw new RangeError(`LM config: ${k} must be a positive integer, got ${config[k]}`);
  }
  if (config.dModel % config.heads !== 0)
    throw new RangeError(`LM config: dModel ${config.dModel} is not divisible by heads ${config.heads}`);
  return config;
}

export type LmParams = Record<string, tf.Tensor>;

export interface LmParamSpec {
  name: string;
  shape: number[];
  /** How `initLmParams` fills it. */
  init: 'normal' | 'residual' | 'zeros' | 'ones';
}

/** Every parameter's name, shape and init, in the canonical (checkpoint) order. */
export function lmParamSpecs(config: LmConfig): LmParamSpec[] {
  const { vocabSize: v, dModel: d, ctx, layers } = config;
  const hidden = config.mlpRatio * d;
  const specs: LmParamSpec[] = [
    { name: 'wte', shape: [v, d], init: 'normal' },
    { name: 'wpe', shape: [ctx, d], init: 'normal' },
  ];
  for (let i = 0; i < layers; i++) {
    specs.push(
      { name: `h${i}.ln1.g`, shape: [d], init: 'ones' },
      { name: `h${i}.ln1.b`, shape: [d], init: 'zeros' },
      { name: `h${i}.attn.wqkv`, shape: [d, 3 * d], init: 'normal' },
      { name: `h${i}.attn.bqkv`, shape: [3 * d], init: 'zeros' },
      { name: `h${i}.attn.wo`, shape: [d, d], init: 'residual' },
      { name: `h${i}.attn.bo`, shape: [d], init: 'zeros' },
      { name: `h${i}.ln2.g`, shape: [d], init: 'ones' },
      { name: `h${i}.ln2.b`, shape: [d], init: 'zeros' },
      { name: `h${i}.mlp.w1`, shape: [d, hidden], init: 'normal' },
      { name: `h${i}.mlp.b1`, shape: [hidden], init: 'zeros' },
      { name: `h${i}.mlp.w2`, shape: [hidden, d], init: 'residual' },
      { name: `h${i}.mlp.b2`, shape: [d], init: 'zeros' },
    );
  }
  specs.push({ name: 'lnf.g', shape: [d], init: 'ones' }, { name: 'lnf.b', shape: [d], init: 'zeros' });
  if (!config.tieEmbeddings) specs.push({ name: 'head.w', shape: [d, v], init: 'normal' });
  return specs;
}

/**
 * GPT-2 init: weights and embeddings N(0, 0.02²); the two projections that write into the residual
 * stream (attn.wo, mlp.w2) N(0, (0.02/√(2·layers))²) so the residual variance does not grow with
 * depth; biases 0, LayerNorm gains 1. Drawn in JS from `deriveSeed(seed, name)` per tensor, so values
 * are identical on every backend and do not shift when another tensor is added.
 */
export function initLmParams(config: LmConfig, seed: number): LmParams {
  const params: LmParams = {};
  const residualStd = config.initStd / Math.sqrt(2 * config.layers);
  for (const spec of lmParamSpecs(config)) {
    const size = spec.shape.reduce((a, b) => a * b, 1);
    const values = new Float32Array(size);
    if (spec.init === 'ones') values.fill(1);
    else if (spec.init === 'normal' || spec.init === 'residual') {
      const std = spec.init === 'normal' ? config.initStd : residualStd;
      const rng = new Rng(deriveSeed(seed, spec.name));
      for (let i = 0; i < size; i++) values[i] = rng.normal(0, std);
    }
    params[spec.name] = tf.tensor(values, spec.shape, 'float32');
  }
  return params;
}

// -----------------------------------------------------------------------------------------------
// Forward

function p(params: LmParams, name: string): tf.Tensor {
  const t = params[name];
  if (!t) throw new Error(`LM params: "${name}" missing`);
  return t;
}

/** Layer norm over the features: the fused op of ml/ops, or the stock primitives with fused ops off. */
function layerNorm(x: tf.Tensor2D, g: tf.Tensor, b: tf.Tensor, eps: number): tf.Tensor2D {
  return fusedOpsEnabled() ? fusedLayerNorm(x, g, b, eps) : layerNormStock(x, g, b, eps);
}

/** Exact GELU, 0.5·x·(1 + erf(x/√2)) (nn.GELU's default); fused op or stock primitives as above. */
function gelu(x: tf.Tensor): tf.Tensor {
  return fusedOpsEnabled() ? fusedGelu(x) : geluStock(x);
}

/** Additive mask [T, T]: 0 where key j ≤ query i, −1e9 above the diagonal (future positions). */
function causalBias(t: number): tf.Tensor2D {
  const bias = new Float32Array(t * t);
  for (let i = 0; i < t; i++) for (let j = i + 1; j < t; j++) bias[i * t + j] = -1e9;
  return tf.tensor2d(bias, [t, t]);
}

/** Multi-head causal self-attention on a residual stream flattened to [B·T, d]. */
function attention(
  config: LmConfig,
  params: LmParams,
  i: number,
  x: tf.Tensor2D,
  b: number,
  t: number,
  mask: tf.Tensor2D,
): tf.Tensor2D {
  const d = config.dModel;
  const nh = config.heads;
  const hd = d / nh;
  const qkv = tf.add(tf.matMul(x, p(params, `h${i}.attn.wqkv`) as tf.Tensor2D), p(params, `h${i}.attn.bqkv`));
  // [B·T, d] → [B, heads, T, headDim]
  const split = (m: tf.Tensor): tf.Tensor4D => tf.transpose(tf.reshape(m, [b, t, nh, hd]), [0, 2, 1, 3]);
  const [q, k, v] = tf.split(qkv, 3, 1).map(split) as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D];
  // 1/√hd applied to q ([B, heads, T, hd]) rather than to the scores ([B, heads, T, T]): less data
  // whenever the context is longer than a head (every preset).
  const scores = tf.add(tf.matMul(tf.mul(q, 1 / Math.sqrt(hd)), k, false, true), mask);
  const y = tf.matMul(tf.softmax(scores), v); // [B, heads, T, hd]
  const merged = tf.reshape(tf.transpose(y, [0, 2, 1, 3]), [b * t, d]);
  return tf.add(tf.matMul(merged, p(params, `h${i}.attn.wo`) as tf.Tensor2D), p(params, `h${i}.attn.bo`));
}

function mlp(params: LmParams, i: number, x: tf.Tensor2D): tf.Tensor2D {
  const h = gelu(tf.add(tf.matMul(x, p(params, `h${i}.mlp.w1`) as tf.Tensor2D), p(params, `h${i}.mlp.b1`)));
  return tf.add(
    tf.matMul(h as tf.Tensor2D, p(params, `h${i}.mlp.w2`) as tf.Tensor2D),
    p(params, `h${i}.mlp.b2`),
  );
}

function checkIds(config: LmConfig, inputIds: tf.Tensor): [number, number] {
  if (inputIds.rank !== 2 || inputIds.dtype !== 'int32')
    throw new Error(`LM input: expected int32 [B, T], got ${inputIds.dtype} [${inputIds.shape}]`);
  const [b, t] = inputIds.shape as [number, number];
  if (t > config.ctx) throw new Error(`LM input: sequence length ${t} exceeds context ${config.ctx}`);
  return [b, t];
}

/** Final hidden states after the last LayerNorm, flattened to [B·T, d]. */
function hidden(config: LmConfig, params: LmParams, inputIds: tf.Tensor2D): tf.Tensor2D {
  const [b, t] = checkIds(config, inputIds);
  const d = config.dModel;
  const tok = tf.gather(p(params, 'wte'), tf.reshape(inputIds, [b * t])); // [B·T, d]
  const pos = tf.tile(tf.slice(p(params, 'wpe'), [0, 0], [t, d]), [b, 1]); // [B·T, d]
  let x = tf.add(tok, pos) as tf.Tensor2D;
  const mask = causalBias(t);
  const eps = config.layerNormEps;
  for (let i = 0; i < config.layers; i++) {
    x = tf.add(
      x,
      attention(
        config,
        params,
        i,
        layerNorm(x, p(params, `h${i}.ln1.g`), p(params, `h${i}.ln1.b`), eps),
        b,
        t,
        mask,
      ),
    );
    x = tf.add(x, mlp(params, i, layerNorm(x, p(params, `h${i}.ln2.g`), p(params, `h${i}.ln2.b`), eps)));
  }
  return layerNorm(x, p(params, 'lnf.g'), p(params, 'lnf.b'), eps);
}

/** Next-byte logits [B, T, 256] for int32 ids [B, T] (position t sees ids[0..t] only). */
export function lmLogits(config: LmConfig, params: LmParams, inputIds: tf.Tensor2D): tf.Tensor3D {
  return tf.tidy(() => {
    const [b, t] = checkIds(config, inputIds);
    const h = hidden(config, params, inputIds);
    const logits = config.tieEmbeddings
      ? tf.matMul(h, p(params, 'wte') as tf.Tensor2D, false, true)
      : tf.matMul(h, p(params, 'head.w') as tf.Tensor2D);
    return tf.reshape(logits, [b, t, config.vocabSize]);
  });
}

/**
 * Per-sequence loss [B]: mean over positions 0..T−2 of −log p(ids[t+1] | ids[0..t]). Per-group
 * evaluation (Aioli §7: "mean over the group's sequences of the per-sequence mean token NLL") averages
 * these rows by group.
 */
export function lmPerExampleLoss(config: LmConfig, params: LmParams, inputIds: tf.Tensor2D): tf.Tensor1D {
  return tf.tidy(() => {
    const [b, t] = checkIds(config, inputIds);
    if (t < 2) throw new Error(`LM loss: needs sequences of at least 2 tokens, got ${t}`);
    const logits = tf.slice(lmLogits(config, params, inputIds), [0, 0, 0], [b, t - 1, config.vocabSize]);
    const targets = tf.oneHot(tf.slice(inputIds, [0, 1], [b, t - 1]), config.vocabSize);
    return tf.mean(softmaxCrossEntropy(logits, targets), 1) as tf.Tensor1D;
  });
}

/** Mean next-token cross-entropy over the batch (all sequences have T−1 targets, so this is also the token mean). */
export function lmLoss(config: LmConfig, params: LmParams, inputIds: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => tf.mean(lmPerExampleLoss(config, params, inputIds)) as tf.Scalar);
}

/** Per-position log-probabilities [B, T, 256] (e.g. for scoring text). */
export function lmLogProbs(config: LmConfig, params: LmParams, inputIds: tf.Tensor2D): tf.Tensor3D {
  return tf.tidy(() => logSoftmax(lmLogits(config, params, inputIds)) as tf.Tensor3D);
}

/**
 * Sequence embedding [B, d]: the final hidden state (after the final LayerNorm) mean-pooled over
 * positions (GOT-D spec §4.3: "mean-pooled last hidden state", pooled with the attention mask).
 * `mask` [B, T] (1 = real token, 0 = padding) excludes padding from the mean.
 */
export function lmEmbed(
  config: LmConfig,
  params: LmParams,
  inputIds: tf.Tensor2D,
  mask?: tf.Tensor2D,
): tf.Tensor2D {
  return tf.tidy(() => {
    const [b, t] = checkIds(config, inputIds);
    const h = tf.reshape(hidden(config, params, inputIds), [b, t, config.dModel]);
    if (!mask) return tf.mean(h, 1) as tf.Tensor2D;
    const m = tf.expandDims(tf.cast(mask, 'float32'), 2); // [B, T, 1]
    return tf.div(tf.sum(tf.mul(h, m), 1), tf.maximum(tf.sum(m, 1), 1e-9)) as tf.Tensor2D;
  });
}

/** Number of scalars in the model. */
export function lmParamCount(config: LmConfig): number {
  return lmParamSpecs(config).reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0);
}
