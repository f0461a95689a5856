// describeCheckpoint (compute queue): the model a retort checkpoint holds, so continualPretrain
// continues it as-is (the init checkpoint's model must match the spec's anyway).
import type { ArtifactRef } from '../schemas/artifact.js';
import type { ModelSpec } from '../schemas/training.js';
import type { ArtifactStore } from '../storage/artifacts.js';
import { CheckpointStore } from '../storage/checkpoints.js';
import { checkpointMeta, configError } from './training-state.js';

export interface DescribeCheckpointResult {
  model: ModelSpec;
  step: number;
}

export function createRewarmComputeActivities({ artifacts }: { artifacts: ArtifactStore }) {
  const checkpoints = new CheckpointStore(artifacts.store);
  return {
    /** The model spec and step recorded in a retort checkpoint (language models only). */
    async describeCheckpoint(ref: ArtifactRef): Promise<DescribeCheckpointResult> {
      const meta = checkpointMeta(await checkpoints.load(ref), ref.uri);
      if (meta.model.kind !== 'lm') {
        throw configError(
          `init checkpoint ${ref.uri} holds a ${meta.model.kind}; continual pre-training needs a language model`,
        );
      }
      const { vocabSize: _vocab, ...config } = meta.model.config;
      return { model: { kind: 'lm', config }, step: meta.step };
    },
  };
}
