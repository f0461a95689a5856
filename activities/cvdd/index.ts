// CV-DD activities on the compute queue (specs/distill-committee-voting.md §2): one file per activity,
// wired here to the worker's store. The property names are the activity types registered with
// Temporal; the math lives in ml/methods/cvdd/.
import type { ArtifactRef } from '../../schemas/artifact.js';
import type {
  EstimateCommitteePriorInput,
  ExportRecoveredInput,
  PostEvalCommitteeInput,
  RecoverSlotChunkInput,
  TrainCommitteeMemberInput,
} from '../../schemas/cvdd.js';
import type { ArtifactStore } from '../../storage/artifacts.js';
import { CheckpointStore } from '../../storage/checkpoints.js';
import { type ImageData, trainingTableReader } from '../training-data.js';
import { committeeLeases } from './committees.js';
import { checkLabels } from './config.js';
import type { CvddDeps } from './deps.js';
import { estimateCommitteePrior } from './estimate-prior.js';
import { exportRecovered } from './export-recovered.js';
import { postEvalCommittee } from './post-eval.js';
import { recoverSlotChunk } from './recover-slot.js';
import { trainCommitteeMember } from './train-member.js';

export { committeeArch, resolveCvddConfig } from './config.js';

export function createCvddActivities({ artifacts }: { artifacts: ArtifactStore }) {
  const checkpoints = new CheckpointStore(artifacts.store);
  const readTable = trainingTableReader(artifacts);
  const deps: CvddDeps = {
    artifacts,
    checkpoints,
    readTest: trainingTableReader(artifacts),
    leaseCommittee: committeeLeases(checkpoints),
    async readImages(ref: ArtifactRef, classes: number): Promise<ImageData> {
      const t = (await readTable(ref, 'images')) as ImageData;
      checkLabels(t, classes);
      return t;
    },
  };
  return {
    trainCommitteeMember: (input: TrainCommitteeMemberInput) => trainCommitteeMember(deps, input),
    recoverSlotChunk: (input: RecoverSlotChunkInput) => recoverSlotChunk(deps, input),
    exportRecovered: (input: ExportRecoveredInput) => exportRecovered(deps, input),
    estimateCommitteePrior: (input: EstimateCommitteePriorInput) => estimateCommitteePrior(deps, input),
    postEvalCommittee: (input: PostEvalCommitteeInput) => postEvalCommittee(deps, input),
  };
}
