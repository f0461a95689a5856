// Every workflow type, re-exported: this file is the workers' `workflowsPath`.
export { ingestCorpus } from './ingest-corpus.js';
export { trainModel } from './train-model.js';
export { mixAioli } from './aioli.js';
export { selectWarmup } from './gotd.js';
export { distillTrajectory, trainExperts } from './trajectory-matching.js';
export { distillCvdd, distillDataset } from './distill-dataset.js';
export { continualPretrain } from './rewarm.js';
export { curateCorpus } from './curate-corpus.js';
export { distillCommittee } from './cvdd.js';
export { dedupCorpus } from './dedup.js';
