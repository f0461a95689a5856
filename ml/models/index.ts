// ml/models: one model per file, each a config object with defaults and pure functions over tensors.
//   convnet.ts  the MTT ConvNet student / CV-DD committee member (flat parameter vector)
//   lm.ts       the byte-level GPT-2-style causal LM (named parameter map)
export * from './convnet.js';
export * from './lm.js';
