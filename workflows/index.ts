// Every workflow type, re-exported: this file is the workers' `workflowsPath`.
export { ingestCorpus } from './ingest-corpus.js';
export { trainModel } from './train-model.js';
export { mixAioli } from './mix-aioli.js';
export { selectWarmup } from './select-warmup.js';
export { distillTrajectory, trainExperts } from './trajectory-matching.js';
export { distillCvdd, distillDataset } from './distill-dataset.js';
export { continualPretrain } from './continual-pretrain.js';
export { curateCorpus } from './curate-corpus.js';
export { distillCommittee } from './cvdd.js';
